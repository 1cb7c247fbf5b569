"""``forecourt senders``: register webhook senders, rotate their secrets, say who may post for whom."""

from __future__ import annotations

import json
from typing import Any, cast

import click

from forecourt.cli.output import console, emit, errors, fail
from forecourt.local import stack

KINDS = ["lead_provider", "oem_site", "dealer_crm"]

_dealers_option = click.option(
    "--dealers",
    "dealers",
    multiple=True,
    metavar="ID[,ID…]",
    help="Dealer the sender may post for (repeat the option, or separate ids with commas).",
)
_all_option = click.option(
    "--all", "all_dealers", is_flag=True, help="May post for every dealer, and for leads that name none."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print as JSON.")


def _connect() -> None:
    try:
        stack.connect()
    except stack.StackNotRunning as exc:
        fail(str(exc))


def _dealer_ids(values: tuple[str, ...], all_dealers: bool) -> list[str]:
    """The ids given with --dealers (repeated or comma-separated); exactly one of them or --all."""
    ids = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if bool(ids) == all_dealers:
        fail("give the dealers the sender may post for (--dealers ID[,ID…]) or --all, not both")
    return ids


def _refused(exc: Exception) -> str:
    """A sender error or a pydantic validation error as one line."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            (f"{'.'.join(map(str, e['loc']))}: " if e["loc"] else "") + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
    return str(exc)


def _row(sender: Any, rotating: bool | None = None) -> dict[str, Any]:
    row = sender.model_dump(mode="json")
    if rotating is not None:
        row["rotation_in_progress"] = rotating
    return row


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    rotating = {True: "yes", False: "", None: "secret missing"}[row.get("rotation_in_progress", False)]
    return row | {
        "dealers": "all" if row["all_dealers"] else ", ".join(row["dealers"]),
        "rotating": rotating,
        "created_at": row["created_at"][:19].replace("T", " ") + " UTC",
    }


_TABLE_COLUMNS = ["name", "kind", "dealers", "rotating", "created_at"]


def _show_secret(name: str, secret: str, *, as_json: bool, payload: dict[str, Any]) -> None:
    warning = (
        f"This secret is shown once and cannot be shown again: give it to {name} now "
        f"(lost it? `forecourt senders rotate {name}`)."
    )
    if as_json:
        click.echo(json.dumps(payload | {"secret": secret}, indent=2))
        errors.print(f"[bold yellow]warning:[/] {warning}")
        return
    console.print(f"secret of sender [bold]{name}[/]:")
    click.echo(f"  {secret}")
    console.print(f"[bold yellow]warning:[/] {warning}")


@click.group()
def senders() -> None:
    """Register webhook senders (lead providers, OEM sites, dealer CRMs) and rotate their secrets.

    A sender signs every request with its secret (header `Forecourt-Signature: t=…,v1=…`, see the
    README) and may post only for the dealers it is registered for, or for all with --all.
    """


@senders.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What the sender is.")
@_dealers_option
@_all_option
@_json_option
def senders_add(name: str, kind: str, dealers: tuple[str, ...], all_dealers: bool, as_json: bool) -> None:
    """Register sender NAME and print its new secret (once)."""
    from pydantic import ValidationError

    from forecourt import senders as registry

    ids = _dealer_ids(dealers, all_dealers)
    _connect()
    try:
        sender, secret = registry.add_sender(name, cast("registry.SenderKind", kind), ids, all_dealers)
    except (ValidationError, registry.SenderError) as exc:
        fail(_refused(exc))
        return
    if not as_json:
        scope = "every dealer" if sender.all_dealers else ", ".join(sender.dealers)
        console.print(f"sender {sender.name} ({sender.kind}) registered; may post for {scope}")
    _show_secret(name, secret, as_json=as_json, payload={"sender": _row(sender)})


@senders.command("rotate")
@click.argument("name")
@click.option("--finish", is_flag=True, help="End the rotation: only the newest secret verifies from now on.")
@_json_option
def senders_rotate(name: str, finish: bool, as_json: bool) -> None:
    """Give sender NAME a new secret (both verify until --finish), or finish its rotation."""
    from forecourt import senders as registry

    _connect()
    if finish:
        _finish_rotation(name, as_json)
        return
    try:
        secret = registry.rotate(name)
    except registry.SenderError as exc:
        fail(str(exc))
        return
    if not as_json:
        console.print(
            f"new secret for {name}. The new and the previous secret both verify until "
            f"`forecourt senders rotate {name} --finish`; until the sender has switched, it can sign "
            f"with both (one v1= each). Running webhooks see the new secret within "
            f"{registry.SECRET_CACHE_SECONDS:.0f} s."
        )
    _show_secret(name, secret, as_json=as_json, payload={"sender": name, "rotation_in_progress": True})


def _finish_rotation(name: str, as_json: bool) -> None:
    from forecourt import senders as registry

    try:
        finished = registry.finish_rotation(name)
    except registry.SenderError as exc:
        fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps({"sender": name, "finished": finished}, indent=2))
    elif finished:
        console.print(
            f"rotation of {name} finished: only its newest secret verifies (running webhooks stop "
            f"accepting the old one within {registry.SECRET_CACHE_SECONDS:.0f} s)"
        )
    else:
        console.print(f"no rotation of {name} was in progress: nothing changed")


@senders.command("list")
@_json_option
def senders_list(as_json: bool) -> None:
    """List registered senders, the dealers each may post for, and unfinished rotations."""
    from forecourt import senders as registry

    _connect()
    rows = []
    for sender in registry.list_senders():
        try:
            rotating: bool | None = registry.rotation_in_progress(sender.name)
        except registry.SenderNotFound:
            rotating = None
        rows.append(_row(sender, rotating))
    if as_json:
        emit(rows, as_json=True)
        return
    emit([_table_row(r) for r in rows], as_json=False, title="Webhook senders", columns=_TABLE_COLUMNS)


@senders.command("update")
@click.argument("name")
@_dealers_option
@_all_option
@_json_option
def senders_update(name: str, dealers: tuple[str, ...], all_dealers: bool, as_json: bool) -> None:
    """Replace the dealers sender NAME may post for."""
    from pydantic import ValidationError

    from forecourt import senders as registry

    ids = _dealer_ids(dealers, all_dealers)
    _connect()
    try:
        sender = registry.update_dealers(name, ids, all_dealers)
    except (ValidationError, registry.SenderError) as exc:
        fail(_refused(exc))
        return
    row = _row(sender)
    if as_json:
        click.echo(json.dumps(row, indent=2))
        return
    columns = [c for c in _TABLE_COLUMNS if c != "rotating"]
    emit([_table_row(row)], as_json=False, title="Webhook sender updated", columns=columns)
