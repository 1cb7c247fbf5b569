"""``forecourt report``: one self-contained HTML page for the OEM analyst (issue 7).

Funnel, speed-to-lead per dealer, campaign cost per sale, quarantine reasons over time and identity
overlap between dealers, each as charts with the table of its figures, its definitions and the
Athena SQL that made it (``queries/report/``, run on the engine of ``forecourt query``). The page
needs no network and runs no script: charts are inline SVG drawn here, styles are inline, and a
Content-Security-Policy forbids any fetch. Every value from the lake is escaped (Jinja2 autoescape,
``markupsafe`` in the charts). Next to ``index.html``, ``data/<query>.csv`` holds each query's full
result (formula cells defused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from forecourt import analytics
from forecourt.config import settings
from forecourt.report import page, queries, sections
from forecourt.report.queries import Runner, Tables
from forecourt.report.sections import Section

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
WEEKLY_AFTER = timedelta(days=92)
"""Quarantine is charted per day up to this span of arrivals, per week beyond."""


@dataclass
class Report:
    """What ``build`` wrote."""

    path: Path
    sections: list[Section] = field(default_factory=list)
    csv_files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[Section]:
        """Sections shown with an error instead of charts."""
        return [s for s in self.sections if s.error]


def build(
    out_dir: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    tables: Tables = None,
    lake: str | None = None,
    now: datetime | None = None,
) -> Report:
    """Run the report's queries over ``[since, until)`` (all data by default) and write
    ``out_dir/index.html`` with ``out_dir/data/*.csv``.

    ``tables`` are the query engine's tables (default: the lake's Iceberg tables, as ``forecourt
    query``); ``lake`` says in the page where the data came from. A section whose queries fail is
    written with the reason (see ``Report.failed``); so is the coverage table.
    """
    made = (now or datetime.now(UTC)).astimezone(UTC)
    runner = Runner({"since": since or EARLIEST, "until": until or LATEST}, tables)
    try:
        coverage: queries.Query | None = runner.run("coverage")
        coverage_error = None
    except analytics.QueryError as exc:
        coverage, coverage_error = None, str(exc)
    spans = {str(r["dataset"]): r for r in queries.records(coverage)} if coverage else {}
    period = _period(since, until)
    unit = _quarantine_unit(since, until, spans.get("quarantine", {}))
    parts = [
        sections.guarded(
            "funnel", "Lead funnel", lambda: sections.funnel(runner, period), ["funnel_by_dealer"]
        ),
        sections.guarded(
            "speed-to-lead",
            "Speed-to-lead per dealer",
            lambda: sections.speed_to_lead(runner, period),
            ["speed_to_lead"],
        ),
        sections.guarded(
            "campaigns",
            "Campaign cost per sale",
            lambda: sections.campaigns(runner, period),
            ["campaign_cost_per_sale"],
        ),
        sections.guarded(
            "quarantine",
            "Quarantine reasons over time",
            lambda: sections.quarantine(runner, period, unit),
            ["quarantine_over_time"],
        ),
        sections.guarded(
            "identity-overlap",
            "Identity overlap between dealers",
            lambda: sections.identity_overlap(runner, period),
            ["identity_overlap", "dealers_per_person", "identity_by_dealer"],
        ),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    ran = [q for s in parts for q in s.queries]
    csv_files = page.write_data(out_dir / "data", [coverage, *ran] if coverage else ran)
    html = page.render(
        made=made,
        lake=lake or describe_lake(),
        period=period,
        coverage=_coverage_rows(spans),
        coverage_error=coverage_error,
        sections=parts,
    )
    path = out_dir / "index.html"
    path.write_text(html, encoding="utf-8")
    return Report(path, parts, csv_files)


def describe_lake() -> str:
    """Where ``forecourt query`` reads: the Glue database and lake bucket, and the endpoint when local."""
    config = settings()
    where = f"local stack at {config.endpoint_url}" if config.endpoint_url else f"AWS {config.region}"
    return f"Glue database {config.glue_database}, bucket s3://{config.lake_bucket} ({where})"


def _period(since: datetime | None, until: datetime | None) -> str:
    if since is None and until is None:
        return "all data in the lake"
    start = "the first record" if since is None else f"{since:%Y-%m-%d %H:%M} UTC"
    end = "the last record" if until is None else f"{until:%Y-%m-%d %H:%M} UTC (excluded)"
    return f"from {start} to {end}"


def _quarantine_unit(since: datetime | None, until: datetime | None, span: dict[str, Any]) -> str:
    first, last = since or span.get("first_at"), until or span.get("last_at")
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return "day"
    return "week" if _utc(last) - _utc(first) > WEEKLY_AFTER else "day"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _coverage_rows(spans: dict[str, dict[str, Any]]) -> list[list[str]]:
    def when(value: Any) -> str:
        return f"{_utc(value):%Y-%m-%d %H:%M} UTC" if isinstance(value, datetime) else ""

    return [
        [name, str(r["time_column"]), f"{int(r['row_count']):,}", when(r["first_at"]), when(r["last_at"])]
        for name, r in spans.items()
    ]


__all__ = ["Report", "build", "describe_lake"]
