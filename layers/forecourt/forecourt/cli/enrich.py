"""``forecourt enrich``: tags, lead scores and outbound dealer files from the resolved lake."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from forecourt.cli.output import emit, errors, fail

if TYPE_CHECKING:
    from forecourt.enrich.rules import Rules


@click.group()
def enrich() -> None:
    """Tags per person, lead scores with reasons, attribution and per-dealer outbound files.

    Run after `forecourt identity run`: enrichment reads the persons it resolved. The rules (tags
    and their parameters, score weights, attribution window) are data: queries/enrich/rules.json.
    """


def _rules(path: Path | None) -> Rules:
    from pydantic import ValidationError

    from forecourt.enrich import rules

    try:
        return rules.load(path)
    except (ValidationError, ValueError, OSError) as exc:
        fail(f"{path or rules.RULES}: {exc}")
        raise  # unreachable: fail exits


def _moment(value: str | None, default: datetime) -> datetime:
    from forecourt.enrich.job import moment

    try:
        return moment(value, default)
    except ValueError as exc:
        fail(f"--as-of {exc}")
        raise


RULES_OPTION = click.option(
    "--rules", "rules_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rules JSON (default: queries/enrich/rules.json).",
)  # fmt: skip


@enrich.command("run")
@click.option("--as-of", "as_of", help="Evaluate as of this moment (ISO 8601; default: now).")
@RULES_OPTION
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the commits.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def enrich_run(as_of: str | None, rules_path: Path | None, timeout: float, as_json: bool) -> None:
    """Tag persons, score recent leads, and write each dealer's outbound files of what changed.

    Results: `forecourt query "SELECT * FROM enriched_leads"`, `… FROM lead_tags`; files under
    outbound/dealer=<id>/enriched-leads/<date>/ in the lake bucket (CSV and ADF XML)."""
    from forecourt.cli.data import _connect
    from forecourt.enrich.job import run
    from forecourt.local import stack

    rules = _rules(rules_path)
    running = _connect()
    now = datetime.now(UTC).replace(microsecond=0)
    with errors.status("reading the lake, tagging, scoring, writing outbound files…"):
        done = run(now, _moment(as_of, now), rules)
        stack.wait_idle(running, timeout=timeout)
    summary = {
        "as_of": done.as_of.isoformat(),
        "records read": done.activity,
        "tags": done.tags,
        "leads enriched": done.leads,
        "leads exported (new or changed), per dealer": done.exported,
        "files": done.files,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    emit([{"tag": tag, "persons": n} for tag, n in done.tags.items()], as_json=False, title="Tags (persons)")
    emit(
        [{"dealer": dealer, "leads exported": n} for dealer, n in done.exported.items()]
        or [{"dealer": "(none)", "leads exported": 0}],
        as_json=False,
        title=f"Outbound: {done.leads} leads enriched as of {done.as_of:%Y-%m-%d %H:%M} UTC; "
        "only new or changed ones go out",
    )
    for key in done.files:
        click.echo(key)


@enrich.command("calibrate")
@click.option("--as-of", "as_of", required=True, help="Score the leads as of this past moment (ISO 8601).")
@click.option(
    "--days", default=14, show_default=True, type=click.IntRange(1), help="Days after it to look for sales."
)
@RULES_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the bands as JSON.")
def enrich_calibrate(as_of: str, days: int, rules_path: Path | None, as_json: bool) -> None:
    """Backtest the lead score: leads scored as of --as-of (seeing only what was known then), by
    score band, against the share whose person bought at any dealer in the --days after."""
    from forecourt.cli.data import _connect
    from forecourt.enrich.calibrate import calibrate

    rules = _rules(rules_path)
    _connect()
    moment = _moment(as_of, datetime.now(UTC))
    with errors.status("scoring as of then, reading the sales since…"):
        bands = calibrate(moment, days, rules)
    rows = [
        {"score": b.scores, "leads": b.leads, "bought": b.bought, "rate": round(b.rate, 3)} for b in bands
    ]
    emit(
        rows, as_json=as_json, title=f"Leads scored as of {moment:%Y-%m-%d}, bought in the {days} days after"
    )
