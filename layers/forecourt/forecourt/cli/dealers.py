"""``forecourt dealers add | update | list``: onboard a dealer in one command, change it, list them.

Every setting is checked before anything is saved (``registry.Dealer`` for shapes, ``onboarding``
for the world around the dealer); a dealer delivered by signed JSON gets its webhook secret in
Secrets Manager before it is saved, and the secret is printed once. The same boto3 code runs on the
local stack and, with ``--stack NAME``, on a deployed one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import click

from forecourt.cli.data import _connect
from forecourt.cli.output import console, emit, errors, fail
from forecourt.local import stack

METHODS = ["adf_http", "adf_email", "json_webhook", "file"]


def _settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options add and update share (update changes only those given)."""
    options = [
        click.option("--name", default=None, help="The dealer's name (ADF e-mail subjects name it)."),
        click.option(
            "--feed",
            "feeds",
            multiple=True,
            metavar="NAME[,NAME…]",
            help="Feed the dealer sends (repeat or comma-separate; `forecourt feeds`); replaces the list.",
        ),
        click.option(
            "--timezone", default=None, help="IANA time zone of the dealer's systems [America/New_York]."
        ),
        click.option(
            "--country", default=None, help="ISO country code: default for phones and addresses [US]."
        ),
        click.option(
            "--zip", "zip_code", default=None, help="The dealer's location (5-digit zip), for distance."
        ),
        click.option(
            "--territory",
            multiple=True,
            metavar="ZIP[,ZIP…]",
            help="Territory zips (repeat or comma-separate); replaces the list. `--territory ''` clears it.",
        ),
        click.option("--delivery", type=click.Choice(METHODS), default=None, help="How leads reach the CRM."),
        click.option(
            "--endpoint",
            default=None,
            help="https:// URL (adf_http, json_webhook) or lead-intake e-mail (adf_email).",
        ),
        click.option(
            "--duplicates",
            type=click.Choice(["update", "suppress"]),
            default=None,
            help="What a repeat lead becomes.",
        ),
        click.option(
            "--hours",
            default=None,
            help="Business hours, e.g. 'mon-fri=09:00-19:00,sat=09:00-18:00' (days not named are closed).",
        ),
        click.option("--active/--inactive", default=None, help="Whether leads may be routed to the dealer."),
        click.option(
            "--allow-overlap",
            is_flag=True,
            help="Accept territory zips another active dealer has (the lowest dealer id gets their leads).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the dealer as JSON."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group()
def dealers() -> None:
    """Onboard, change and list dealers (the dealer registry)."""


@dealers.command("add")
@click.argument("dealer_id")
@_settings_options
def dealers_add(dealer_id: str, allow_overlap: bool, as_json: bool, **given: Any) -> None:
    """Register dealer DEALER_ID with everything routing and delivery need, after checking it all.

    \b
    forecourt dealers add D1001 --name "Lakeside Chevrolet" --feed vinsolutions-leads,cdk-sales \\
        --timezone America/Chicago --zip 60601 --territory 60601,60602,60603 \\
        --delivery json_webhook --endpoint https://crm.lakeside.example/leads
    """
    from forecourt import registry

    running = _connect()
    if not given["name"]:
        fail(f"give the dealer's name: forecourt dealers add {dealer_id} --name NAME …")
    changes = _changes(given)
    dealer = _validated(dealer_id, {"dealer_id": dealer_id} | changes)
    others = registry.list_dealers()
    if any(d.dealer_id == dealer_id for d in others):
        fail(str(registry.DealerExists(dealer_id)))
    _check(dealer, others, running, allow_overlap)
    secret = _issue_secret(dealer, new=True)
    try:
        registry.add_dealer(dealer)
    except registry.DealerExists as exc:
        fail(str(exc))
    _report(dealer, f"dealer {dealer_id} registered", secret, as_json)


@dealers.command("update")
@click.argument("dealer_id")
@_settings_options
def dealers_update(dealer_id: str, allow_overlap: bool, as_json: bool, **given: Any) -> None:
    """Change dealer DEALER_ID: only the options given change, with the same checks as add."""
    from forecourt import registry

    running = _connect()
    dealer = registry.get_dealer(dealer_id)
    if dealer is None or dealer_id == "oem":
        fail(f"dealer {dealer_id} is not registered; add it with `forecourt dealers add {dealer_id}`")
        return
    changes = _changes(given, dealer)
    updated = _validated(dealer_id, dealer.model_dump() | changes)
    if changes:  # an overlap already registered is not this change's to refuse
        unchanged_territory = not {"territory_zips", "active"} & set(changes)
        _check(updated, registry.list_dealers(), running, allow_overlap or unchanged_territory)
    secret = _issue_secret(updated, new=False)
    registry.put_dealer(updated)
    _report(
        updated,
        f"dealer {dealer_id} updated: {', '.join(sorted(changes)) or 'nothing to change'}",
        secret,
        as_json,
    )


@dealers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (every setting; never a secret).")
def dealers_list(as_json: bool) -> None:
    """List registered dealers with what routing and delivery use, and their webhook secret's state."""
    from forecourt import registry

    _connect()
    rows = [_listed(dealer) for dealer in registry.list_dealers()]
    if as_json:
        emit(rows, as_json=True)
        return
    table = [
        row
        | {
            "feeds": ", ".join(row["feeds"]) or "detected",
            "territory": _territory(row["territory_zips"]),
            "delivery": f"{row['delivery']['method']} {row['delivery']['endpoint'] or ''}".strip()
            if row["delivery"]
            else "none (fallback queue)",
            "active": "yes" if row["active"] else "no",
        }
        for row in rows
    ]
    columns = [
        "dealer_id",
        "name",
        "active",
        "feeds",
        "timezone",
        "zip",
        "territory",
        "delivery",
        "webhook_secret",
    ]
    emit(table, as_json=False, title="Dealers", columns=columns)


# --- helpers --------------------------------------------------------------------------------------


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _changes(given: dict[str, Any], dealer: Any = None) -> dict[str, Any]:
    """The registry fields the options given set (``dealer``: the registered one, for update)."""
    changes: dict[str, Any] = {}
    for option, field in (("name", "name"), ("timezone", "timezone"), ("zip_code", "zip")):
        if given[option] is not None:
            changes[field] = given[option].strip()
    if given["country"] is not None:
        changes["country"] = given["country"].strip().upper()
    if given["feeds"]:
        changes["feeds"] = _split(given["feeds"])
    if given["territory"]:
        changes["territory_zips"] = _split(given["territory"])
    if given["active"] is not None:
        changes["active"] = given["active"]
    if given["duplicates"] is not None:
        changes["duplicate_policy"] = given["duplicates"]
    if given["delivery"] is not None or given["endpoint"] is not None:
        current = dealer.delivery.model_dump() if dealer is not None and dealer.delivery else {}
        if given["delivery"] is not None and given["delivery"] != current.get("method"):
            current = {}  # a new method: the old endpoint (a URL, an address) does not carry over
        chosen = (("method", given["delivery"]), ("endpoint", given["endpoint"]))
        changes["delivery"] = current | {k: v for k, v in chosen if v is not None}
    if given["hours"] is not None:
        try:
            changes["business_hours"] = _parse_hours(given["hours"])
        except ValueError as exc:
            fail(str(exc))
    return changes


def _validated(dealer_id: str, fields: dict[str, Any]) -> Any:
    """A ``registry.Dealer`` of ``fields``, or a failure listing every problem of its shape."""
    from pydantic import ValidationError

    from forecourt import onboarding, registry

    try:
        return registry.Dealer.model_validate(fields)
    except ValidationError as exc:
        fail(str(onboarding.DealerRefused(dealer_id, onboarding.model_problems(exc))))
    except KeyError as exc:  # an unknown feed (feeds.get names the known ones)
        fail(str(onboarding.DealerRefused(dealer_id, [onboarding.Problem("--feed", str(exc.args[0]))])))
    raise AssertionError("unreachable")


def _check(dealer: Any, others: list[Any], running: stack.StackInfo, allow_overlap: bool) -> None:
    from forecourt import onboarding

    try:
        onboarding.check(dealer, others, local=not running.deployed, allow_overlap=allow_overlap)
    except onboarding.DealerRefused as exc:
        fail(str(exc))


def _issue_secret(dealer: Any, *, new: bool) -> str | None:
    """For a dealer delivered by signed JSON: its webhook secret when it was just made (before the
    dealer is saved, so that no delivery runs without one); None when it had one or needs none."""
    if dealer.delivery is None or dealer.delivery.method != "json_webhook":
        return None
    from forecourt import dealer_secrets

    return dealer_secrets.issue(dealer.dealer_id) if new else dealer_secrets.ensure_secret(dealer.dealer_id)


def _report(dealer: Any, said: str, secret: str | None, as_json: bool) -> None:
    if as_json:
        shown = json.loads(dealer.model_dump_json())
        click.echo(json.dumps(shown | ({"webhook_secret": secret} if secret else {}), indent=2))
    else:
        console.print(said)
        if dealer.delivery is None:
            errors.print(
                f"note: no delivery set: leads routed to {dealer.dealer_id} wait in the OEM fallback queue "
                f"until `forecourt dealers update {dealer.dealer_id} --delivery METHOD --endpoint …`"
            )
    if secret:
        from forecourt.cli.dealer_secrets import show_webhook_secret

        show_webhook_secret(dealer.dealer_id, secret, as_json=as_json)


def _listed(dealer: Any) -> dict[str, Any]:
    """What an operator needs of a dealer, never a secret: an endpoint's query string (some CRMs take
    a key there) is masked, and the webhook secret is only said to be set, rotating or missing."""
    from forecourt import dealer_secrets

    row: dict[str, Any] = json.loads(dealer.model_dump_json())
    if dealer.delivery and dealer.delivery.endpoint and "://" in dealer.delivery.endpoint:
        url = urlsplit(dealer.delivery.endpoint)
        row["delivery"]["endpoint"] = url._replace(query="…" if url.query else "").geturl()
    row["webhook_secret"] = ""
    if dealer.delivery and dealer.delivery.method == "json_webhook":
        try:
            row["webhook_secret"] = (
                "rotating" if dealer_secrets.rotation_in_progress(dealer.dealer_id) else "set"
            )
        except dealer_secrets.DealerSecretMissing:
            row["webhook_secret"] = "MISSING"  # noqa: S105 (a state, not a secret)
    return row


def _territory(zips: list[str]) -> str:
    if len(zips) <= 3:
        return ", ".join(zips)
    return f"{len(zips)} zips ({', '.join(zips[:2])}…)"


def _parse_hours(text: str) -> dict[str, str]:
    """``mon-fri=09:00-19:00,sat=09:00-18:00`` → one entry per day."""
    from forecourt.registry import WEEKDAYS

    hours: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        days, _, span = part.partition("=")
        first, _, last = days.strip().lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS) or not span:
            raise ValueError(f"--hours {part!r}: use DAY[-DAY]=HH:MM-HH:MM with days mon..sun")
        start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        for day in WEEKDAYS[start : end + 1]:
            hours[day] = span.strip()
    return hours
