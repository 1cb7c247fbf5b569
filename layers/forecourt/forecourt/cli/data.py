"""Verbs that talk to the lake: ingest, feeds, query, catalog, schemas, timings."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from forecourt.cli.output import console, emit, fail
from forecourt.local import stack


def _connect() -> stack.StackInfo:
    try:
        return stack.connect()
    except stack.StackNotRunning as exc:
        fail(str(exc))
        raise


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--dealer", "dealer_id", help="Dealer the files belong to.")
@click.option("--oem", is_flag=True, help="The files are OEM-level data (campaigns, spend).")
@click.option("--feed", help="Feed profile to use; detected from content and headers when omitted.")
@click.option(
    "--arrival-date",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Arrival date for raw/ (default today, UTC).",
)
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for each upload's report.")
@click.option("--json", "as_json", is_flag=True, help="Print the upload reports as JSON.")
def ingest(
    files: tuple[Path, ...],
    dealer_id: str | None,
    oem: bool,
    feed: str | None,
    arrival_date: Any,
    timeout: float,
    as_json: bool,
) -> None:
    """Send FILES to the lake's raw zone and report what became of them."""
    from forecourt import feeds, lake, uploader

    if bool(dealer_id) == oem:
        fail("give exactly one of --dealer ID or --oem")
    if feed:
        try:
            feeds.get(feed)
        except KeyError as exc:
            fail(str(exc.args[0]))
    running = _connect()
    owner = lake.OEM_DEALER_ID if oem else str(dealer_id)
    arrival: date | None = arrival_date.date() if arrival_date else None
    reports = []
    with console.status("uploading…") as progress:
        for i, path in enumerate(files, 1):
            progress.update(f"[{i}/{len(files)}] {path.name}: uploading and waiting for ingest…")
            _, upload = uploader.put_file(path, owner, feed=feed, arrival=arrival)
            reports.append(uploader.wait_report(owner, upload, timeout=timeout))
        stack.wait_idle(running, timeout=timeout)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json", exclude={"files"}) for r in reports], indent=2))
        return
    for report in reports:
        _print_report(report)


def _print_report(report: Any) -> None:
    how = "detected" if report.feed_detected else "named"
    console.print(f"\n[bold]{report.object_key}[/]  upload {report.upload_id}")
    console.print(f"  status      {report.status}" + (f" — {report.message}" if report.message else ""))
    if report.feed:
        console.print(f"  feed        {report.feed} ({how}) → {report.dataset} v{report.schema_version}")
    console.print(
        f"  file        {report.format}, {report.encoding}, compression {report.compression}"
        + (f", delimiter {report.delimiter!r}" if report.delimiter else "")
    )
    console.print(
        f"  rows        in {report.rows_in:,} = curated {report.rows_curated:,}"
        f" + quarantined {report.rows_quarantined:,}"
    )
    for reason, count in sorted(report.quarantine_reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  quarantined {count:>7,}  {reason}")
    for issue, count in sorted(report.field_issues.items(), key=lambda kv: -kv[1])[:10]:
        console.print(f"  nulled      {count:>7,}  {issue}")
    if report.ignored_columns:
        console.print(f"  ignored     {', '.join(report.ignored_columns)} (kept in extras)")
    if report.missing_columns:
        console.print(f"  missing     {', '.join(report.missing_columns)}")


@click.command("feeds")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def feeds_cmd(as_json: bool) -> None:
    """List the feed profiles (format + dialect + dataset)."""
    from forecourt import feeds

    rows = [
        {
            "feed": p.name,
            "format": p.format,
            "dataset": " + ".join([p.dataset, *p.companions]),
            "source_system": p.source_system,
            "description": p.description,
        }
        for p in feeds.load_all().values()
    ]
    emit(rows, as_json=as_json, title="Feeds")


@click.command()
@click.argument("sql", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--tables", is_flag=True, help="List the tables an analyst can query.")
@click.option("--max-rows", default=1000, show_default=True, help="Rows to print at most.")
@click.option(
    "--explain",
    is_flag=True,
    help="Do not run: estimate the bytes Athena would scan (Parquet footers) and the cost.",
)
@click.option("--named", "named", default=None, help="Run the saved query queries/named/NAME.sql.")
def query(
    sql: str | None, fmt: str, as_json: bool, tables: bool, max_rows: int, explain: bool, named: str | None
) -> None:
    """Run Athena (Trino) SQL on the local lake with DuckDB.

    With --format csv, cells that a spreadsheet would run as a formula are defused (safe_csv)."""
    import sys

    from forecourt import analytics, named_queries, schemas, views

    if tables:
        rows = [
            {"table": f"{d.name}", "kind": d.kind, "columns": len(d.columns), "description": d.description}
            for d in schemas.load_all().values()
        ] + [
            {"table": v.name, "kind": "view", "columns": None, "description": v.summary}
            for v in views.load_all().values()
        ]
        emit(rows, as_json=as_json or fmt == "json", title="Tables (database forecourt)")
        return
    if named is not None:
        saved = named_queries.load_all()
        if sql or named not in saved:
            fail(f"--named takes one of {', '.join(saved)} (and no SQL)")
        sql = saved[named].sql
    if not sql:
        fail('give a SQL statement, e.g. forecourt query "SELECT dealer_id, count(*) FROM leads GROUP BY 1"')
    _connect()
    if explain:
        _explain(str(sql), as_json or fmt == "json")
        return
    try:
        result = analytics.run_query(str(sql), max_rows=max_rows)
    except analytics.QueryError as exc:
        fail(str(exc))
        return
    records = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    if as_json or fmt == "json":
        emit(records, as_json=True)
    elif fmt == "csv":
        from forecourt.safe_csv import write_rows

        write_rows(result.columns, result.rows, sys.stdout)
    else:
        emit(records, as_json=False, columns=result.columns)


def _explain(sql: str, as_json: bool) -> None:
    from forecourt import analytics, scan_cost

    try:
        found = scan_cost.estimate(sql)
    except analytics.QueryError as exc:
        fail(str(exc))
        return
    emit(scan_cost.as_rows(found), as_json=as_json, title="Estimated Athena scan ($5 per TB, 10 MB minimum)")
    if not as_json:  # the table shows the columns of the per-table rows: the bill goes below it
        click.echo(
            f"scanned {found.bytes_scanned:,} bytes; billed {found.billed_bytes:,} bytes "
            f"(at least 10 MB a query): ${found.cost_usd:.8f}"
        )


@click.group("catalog")
def catalog_cmd() -> None:
    """Manage the Glue catalog's Iceberg tables."""


@catalog_cmd.command("migrate")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def catalog_migrate(as_json: bool) -> None:
    """Create missing tables, add new columns and column comments, from schemas/; then create or
    replace the analysts' views of queries/views in Athena (run after every deploy)."""
    from forecourt import athena_views, catalog, views

    _connect()
    rows = [
        {"object": r.table, "kind": "table", "action": r.action, "added": ", ".join(r.added_columns)}
        for r in catalog.migrate()
    ]
    try:
        deployed = athena_views.create_views()
    except (views.ViewError, athena_views.ViewDeployError) as exc:
        emit(rows, as_json=as_json, title="Catalog migration")
        fail(str(exc))
        return
    rows += [{"object": d.view, "kind": "view", "action": "replaced", "added": ""} for d in deployed]
    emit(rows, as_json=as_json, title="Catalog migration")


@click.group("schemas")
def schemas_cmd() -> None:
    """Work with the dataset schemas (schemas/*.json)."""


@schemas_cmd.command("generate")
@click.option("--check", is_flag=True, help="Only check that the generated files are up to date.")
def schemas_generate(check: bool) -> None:
    """Regenerate what derives from schemas/ and queries/ (docs/datasets.md, docs/views.md,
    docs/quarantine-reasons.md, queries/views/*_current.sql, template.yaml's named queries)."""
    from forecourt import docs
    from forecourt.local.resources import REPO_ROOT

    changed = docs.generate(REPO_ROOT, check=check)
    if check and changed:
        fail("stale: " + ", ".join(str(p) for p in changed) + "; run `forecourt schemas generate`")
    console.print("up to date" if check else f"wrote {len(changed)} file(s)")


@click.command("timings")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def timings_cmd(as_json: bool) -> None:
    """Delivery latency (ours: receipt → CRM acknowledgement) and speed-to-lead (theirs: request →
    first `contacted` event), per dealer: median and p90 minutes, actual and in business hours."""
    from forecourt import timings

    _connect()
    with console.status("computing lead timings…"):
        rows = [t.as_row() for t in timings.lake_timings()]
    emit(
        rows,
        as_json=as_json,
        title="Lead timings (minutes)",
        columns=[
            "measure",
            "dealer_id",
            "count",
            "median_minutes",
            "p90_minutes",
            "business_median_minutes",
            "business_p90_minutes",
        ],
    )
