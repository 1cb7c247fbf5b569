"""``forecourt conversions``: lead outcomes (appointment set, shown, sold) back to the ad platforms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from forecourt.cli.output import emit, fail

if TYPE_CHECKING:
    from forecourt.conversions.sync import ConversionSync

PLATFORMS = ("meta", "google")


@click.group()
def conversions() -> None:
    """Lead stages dealers report, sent back to Meta (Conversions API) and Google Ads (offline
    conversions) so that their bidding learns which leads turn into visits and sales."""


@conversions.command("sync")
@click.option(
    "--platform", type=click.Choice(PLATFORMS), help="Only this platform (default: every one connected)."
)
@click.option(
    "--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path),
    help="Write each request body to DIR/<platform>/request-NNNN.json and send nothing.",
)  # fmt: skip
@click.option(
    "--since",
    help="Stages whose first occurrence is from this moment on (ISO 8601; default: 7 days for Meta, "
    "90 for Google).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def conversions_sync(platform: str | None, dry_run: Path | None, since: str | None, as_json: bool) -> None:
    """Send each lead's new stages (appointment_set, shown, sold with its value, from lead_events) to
    the platforms, each stage of each lead once (ledger/conversions/<platform>/ in the lake bucket).

    Meta: CRM events (action_source system_generated, the stage as event_name, Meta's lead id for a
    lead from Meta lead ads, hashed e-mail and phone, an event_id per lead and stage) to the dataset
    of the secret <prefix>/platforms/meta (dataset_id). Google Ads: a click conversion with the
    lead's gclid, else an enhanced conversion for leads on hashed e-mail and phone, for the
    conversion action of each stage (conversion_actions in <prefix>/platforms/google). Only people
    the audiences' consent gate lets through leave; run `forecourt identity run` first (a lead not
    resolved yet waits). A dry run needs no credentials."""
    from forecourt.cli.data import _connect
    from forecourt.cli.enrich import _moment
    from forecourt.cli.output import errors
    from forecourt.conversions import sync

    _connect()
    now = _now()
    start = _moment(since, now) if since else None
    rows: list[dict[str, object]] = []
    for name in [platform] if platform else list(PLATFORMS):
        try:
            with errors.status(f"{name}: " + ("sending…" if dry_run is None else "writing the requests…")):
                done = sync.run_connected(name, now, since=start, dry_run=dry_run)
        except LookupError as exc:
            if platform:
                fail(str(exc))
            rows.append({"platform": name, "sent": f"not connected ({exc})"})
            continue
        except (ValueError, sync.SyncStopped) as exc:
            fail(str(exc))
            raise
        held = {reason: n for reason, n in done.excluded.items() if n}
        rows.append(
            {"platform": name, "since": done.since.isoformat(), "stages": done.considered,
             "kept back": ", ".join(f"{r} {n}" for r, n in held.items()) or "none",
             "already sent": done.already_sent, "sent": _sent(done, dry_run is not None),
             "requests": done.batches}
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    title = f"requests written to {dry_run}, nothing sent" if dry_run else "conversions synced"
    emit(rows, as_json=False, title=title)


def _sent(done: ConversionSync, dry: bool) -> str:
    if dry:
        bodies = [r["body"] for r in done.requests]
        return f"{sum(len(b.get('data') or b.get('conversions') or []) for b in bodies)} written"
    return ", ".join(f"{outcome} {n}" for outcome, n in done.outcomes.items()) or "nothing new"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
