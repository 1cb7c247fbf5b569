"""``forecourt dealers rotate-secret`` and how a dealer's new webhook secret is shown (once)."""

from __future__ import annotations

import json

import click

from forecourt.cli.output import console, errors, fail
from forecourt.local import stack


def show_webhook_secret(dealer_id: str, secret: str, *, as_json: bool) -> None:
    """Print a dealer's new webhook secret with the warning that it is shown once (only the warning,
    on stderr, with --json: the secret is then part of the JSON document the caller printed)."""
    warning = (
        f"This secret is shown once and cannot be shown again: give it to dealer {dealer_id}'s CRM now, "
        f"to verify our Forecourt-Signature (lost it? `forecourt dealers rotate-secret {dealer_id}`)."
    )
    if as_json:
        errors.print(f"[bold yellow]warning:[/] {warning}")
        return
    console.print(f"webhook secret of dealer [bold]{dealer_id}[/]:")
    click.echo(f"  {secret}")
    console.print(f"[bold yellow]warning:[/] {warning}")


@click.command("rotate-secret")
@click.argument("dealer_id")
@click.option("--finish", is_flag=True, help="End the rotation: sign with the newest secret only.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def dealers_rotate_secret(dealer_id: str, finish: bool, as_json: bool) -> None:
    """Give dealer DEALER_ID a new webhook signing secret (deliveries are signed with the new and the
    previous one until --finish), or finish the rotation."""
    from forecourt import dealer_secrets

    try:
        stack.connect()
    except stack.StackNotRunning as exc:
        fail(str(exc))
    if finish:
        _finish(dealer_id, as_json)
        return
    try:
        secret = dealer_secrets.rotate(dealer_id)
    except dealer_secrets.DealerSecretMissing as exc:
        fail(str(exc))
        return
    if as_json:
        payload = {"dealer_id": dealer_id, "rotation_in_progress": True, "webhook_secret": secret}
        click.echo(json.dumps(payload, indent=2))
    else:
        console.print(
            f"new webhook secret for dealer {dealer_id}. Deliveries carry a signature with the new and "
            f"one with the previous secret (two v1=) until `forecourt dealers rotate-secret {dealer_id} "
            "--finish`: switch the dealer's CRM to the new secret, then finish."
        )
    show_webhook_secret(dealer_id, secret, as_json=as_json)


def _finish(dealer_id: str, as_json: bool) -> None:
    from forecourt import dealer_secrets

    try:
        finished = dealer_secrets.finish_rotation(dealer_id)
    except dealer_secrets.DealerSecretMissing as exc:
        fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps({"dealer_id": dealer_id, "finished": finished}, indent=2))
    elif finished:
        console.print(
            f"rotation of dealer {dealer_id}'s webhook secret finished: deliveries are signed with the "
            f"newest secret only (by running functions within {dealer_secrets.SECRET_CACHE_SECONDS:.0f} s)"
        )
    else:
        console.print(f"no rotation of dealer {dealer_id}'s webhook secret was in progress: nothing changed")
