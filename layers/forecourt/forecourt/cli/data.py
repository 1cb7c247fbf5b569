"""Verbs that talk to the lake: dealers, ingest, feeds, query, catalog, schemas, uploads."""

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


@click.group()
def dealers() -> None:
    """Register and list dealers (the dealer registry)."""


@dealers.command("add")
@click.argument("dealer_id")
@click.option("--name", default="", help="Display name.")
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    help="Feed the dealer sends (repeat for several); see `forecourt feeds`.",
)
@click.option(
    "--timezone",
    default="America/New_York",
    show_default=True,
    help="IANA time zone of the dealer's systems.",
)
@click.option(
    "--country", default="US", show_default=True, help="ISO country code: default for phones and addresses."
)
@click.option("--zip", "zip_code", default=None, help="The dealer's zip code.")
def dealers_add(
    dealer_id: str, name: str, feeds: tuple[str, ...], timezone: str, country: str, zip_code: str | None
) -> None:
    """Register (or update) dealer DEALER_ID."""
    from pydantic import ValidationError

    from forecourt import registry

    _connect()
    try:
        dealer = registry.Dealer(
            dealer_id=dealer_id,
            name=name,
            feeds=list(feeds),
            timezone=timezone,
            country=country.upper(),
            zip=zip_code,
        )
    except (ValidationError, KeyError) as exc:
        fail(str(exc))
        return
    registry.put_dealer(dealer)
    console.print(f"dealer {dealer_id} registered (feeds: {', '.join(feeds) or 'detected per file'})")


@dealers.command("update")
@click.argument("dealer_id")
@click.option("--active/--inactive", default=None, help="Whether leads may be routed to the dealer.")
@click.option("--zip", "zip_code", default=None, help="The dealer's location (5-digit zip), for distance.")
@click.option(
    "--territory",
    "territory",
    multiple=True,
    help="Territory zips (repeat or comma-separate); replaces the list. `--territory ''` clears it.",
)
@click.option(
    "--delivery",
    type=click.Choice(["adf_http", "adf_email", "json_webhook", "file"]),
    default=None,
    help="How leads reach the dealer's CRM.",
)
@click.option(
    "--endpoint", default=None, help="URL (adf_http, json_webhook) or lead-intake e-mail (adf_email)."
)
@click.option(
    "--duplicates",
    type=click.Choice(["update", "suppress"]),
    default=None,
    help="What a repeat lead becomes.",
)
@click.option(
    "--hours",
    default=None,
    help="Business hours, e.g. 'mon-fri=09:00-19:00,sat=09:00-18:00' (days not named are closed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the dealer as JSON.")
def dealers_update(
    dealer_id: str,
    active: bool | None,
    zip_code: str | None,
    territory: tuple[str, ...],
    delivery: str | None,
    endpoint: str | None,
    duplicates: str | None,
    hours: str | None,
    as_json: bool,
) -> None:
    """Set what routing and delivery need for dealer DEALER_ID (only the options given change)."""
    from pydantic import ValidationError

    from forecourt import registry

    _connect()
    dealer = registry.get_dealer(dealer_id)
    if dealer is None or dealer_id == "oem":
        fail(f"dealer {dealer_id} is not registered; add it with `forecourt dealers add {dealer_id}`")
        return
    changes: dict[str, object] = {}
    if active is not None:
        changes["active"] = active
    if zip_code is not None:
        changes["zip"] = zip_code
    if territory:
        changes["territory_zips"] = [z.strip() for t in territory for z in t.split(",") if z.strip()]
    if delivery is not None or endpoint is not None:
        current = dealer.delivery.model_dump() if dealer.delivery else {}
        changes["delivery"] = current | {
            k: v for k, v in (("method", delivery), ("endpoint", endpoint)) if v is not None
        }
    if duplicates is not None:
        changes["duplicate_policy"] = duplicates
    try:
        if hours is not None:
            changes["business_hours"] = _parse_hours(hours)
        updated = registry.Dealer.model_validate(dealer.model_dump() | changes)
    except (ValidationError, ValueError) as exc:
        fail(str(exc))
        return
    secret = _webhook_secret(updated)
    registry.put_dealer(updated)
    if as_json:
        shown = json.loads(updated.model_dump_json())
        click.echo(json.dumps(shown | ({"webhook_secret": secret} if secret else {}), indent=2))
    else:
        console.print(f"dealer {dealer_id} updated: {', '.join(sorted(changes)) or 'nothing to change'}")
    if secret:
        from forecourt.cli.dealer_secrets import show_webhook_secret

        show_webhook_secret(dealer_id, secret, as_json=as_json)


def _webhook_secret(dealer: Any) -> str | None:
    """For a dealer delivered by signed JSON: its webhook secret when it was just created (before
    the dealer is saved, so no delivery runs without one); None when it had one or needs none."""
    if dealer.delivery is None or dealer.delivery.method != "json_webhook":
        return None
    from forecourt import dealer_secrets

    return dealer_secrets.ensure_secret(dealer.dealer_id)


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


@dealers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def dealers_list(as_json: bool) -> None:
    """List registered dealers."""
    from forecourt import registry

    _connect()
    rows = [d.model_dump() | {"feeds": ", ".join(d.feeds)} for d in registry.list_dealers()]
    emit(
        rows,
        as_json=as_json,
        title="Dealers",
        columns=["dealer_id", "name", "feeds", "timezone", "country", "zip"],
    )


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
@click.option("--named", "named", default=None, help="Run the saved query queries/named/NAME.sql.")
def query(sql: str | None, fmt: str, as_json: bool, tables: bool, max_rows: int, named: str | None) -> None:
    """Run Athena (Trino) SQL on the local lake with DuckDB."""
    import csv
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
    try:
        result = analytics.run_query(str(sql), max_rows=max_rows)
    except analytics.QueryError as exc:
        fail(str(exc))
        return
    records = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    if as_json or fmt == "json":
        emit(records, as_json=True)
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        emit(records, as_json=False, columns=result.columns)


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


@click.command()
@click.option("--dealer", "dealer_id", default=None, help="Only this dealer's uploads.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def uploads(dealer_id: str | None, limit: int, as_json: bool) -> None:
    """List recent uploads with their counts (from the uploads table)."""
    from forecourt import analytics

    _connect()
    where = "WHERE dealer_id = '" + dealer_id.replace("'", "''") + "'" if dealer_id else ""
    result = analytics.run_query(
        "SELECT CAST(received_at AS date) AS received, dealer_id AS dealer, "
        "regexp_extract(object_key, '[^/]+$') AS file, "
        'feed, status, rows_in AS "in", rows_curated AS curated, rows_quarantined AS quarantined '
        f"FROM uploads {where} ORDER BY received_at DESC, object_key LIMIT {int(limit)}"
    )
    emit([dict(zip(result.columns, r, strict=True)) for r in result.rows], as_json=as_json, title="Uploads")


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
