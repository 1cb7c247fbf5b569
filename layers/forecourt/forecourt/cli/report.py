"""``forecourt report``: the analyst's HTML report of the lake (forecourt.report)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from forecourt.cli.output import console, emit, fail
from forecourt.local import stack


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write index.html and data/*.csv into (made when missing).",
)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Only what happened from this UTC date or time on (default: all data).",
)
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Only what happened before this UTC date or time (excluded).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def report_cmd(out_dir: Path, since: datetime | None, until: datetime | None, as_json: bool) -> None:
    """Write a self-contained HTML report (funnel, speed-to-lead, campaign cost per sale, quarantine
    reasons over time, identity overlap between dealers) from the lake, as `forecourt query` reads it.

    Open OUT/index.html in any browser: it needs no network. Each section shows its Athena SQL
    (queries/report/) and OUT/data/ holds every query's full result as CSV.
    """
    from forecourt import report

    start, end = (None if t is None else t.replace(tzinfo=UTC) for t in (since, until))
    if start and end and start >= end:
        fail("--since must be before --until")
    try:
        stack.connect()
    except stack.StackNotRunning as exc:
        fail(str(exc))
    with console.status("running the report's queries…"):
        made = report.build(out_dir, since=start, until=end)
    rows = [
        {
            "section": s.title,
            "status": f"error: {s.error.split(';')[0]}" if s.error else "ok",
            "charts": len(s.charts),
        }
        for s in made.sections
    ]
    if as_json:
        emit([{"path": str(made.path), "sections": rows}], as_json=True)
    else:
        emit(rows, as_json=False, title=f"Report written: {made.path}")
    if len(made.failed) == len(made.sections):
        fail(f"no section could be made (first reason: {made.failed[0].error}); see {made.path}")
    if made.failed:
        console.print(f"[yellow]{len(made.failed)} section(s) could not be made; the page says why.[/]")
