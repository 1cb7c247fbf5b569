"""``forecourt catalog compact``: the compaction job (``forecourt.compact``) on the local stack."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import click

from forecourt.cli.output import emit, errors


@click.command("compact")
@click.option(
    "--table", "tables", multiple=True, help="A table to compact (repeat for several); default: all."
)
@click.option(
    "--day",
    "days",
    multiple=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="A partition (day of received_at) to compact (repeat for several); default: all.",
)
@click.option(
    "--target-mb", default=256.0, show_default=True, help="Size of the files written (128–512 suits Athena)."
)
@click.option(
    "--min-age-minutes",
    default=60.0,
    show_default=True,
    help="Leave files committed more recently than this for the next run.",
)
@click.option(
    "--expire-days",
    default=5.0,
    show_default=True,
    help="Expire snapshots older than this (never the current one) and delete files only they held.",
)
@click.option(
    "--orphan-days",
    default=30.0,
    show_default=True,
    help="Delete data files no snapshot references written more than this ago (over 18: a commit "
    "request waits up to 4 days in its queue and 14 in the dead-letter queue).",
)
@click.option("--dry-run", is_flag=True, help="Only print what would be compacted.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the commits.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def catalog_compact(
    tables: tuple[str, ...],
    days: tuple[datetime, ...],
    target_mb: float,
    min_age_minutes: float,
    expire_days: float,
    orphan_days: float,
    dry_run: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Rewrite each partition's small data files into large ones, sorted by dealer and event time,
    one atomic commit per partition through the commit queue; then expire old snapshots and delete
    data files that no snapshot references (attempts that never committed).

    Rows are checked (count and checksum) before the commit; a partition whose files changed
    meanwhile (a replayed upload, an erasure) is left as it was. Running it again changes nothing."""
    import time

    from pydantic import ValidationError

    from forecourt import commits, compact, schemas
    from forecourt.cli.data import _connect
    from forecourt.cli.output import fail

    unknown = sorted(set(tables) - set(schemas.load_all()))
    if unknown:
        fail(f"no such table: {', '.join(unknown)}; tables: {', '.join(sorted(schemas.load_all()))}")
    try:
        options = compact.CompactionOptions(
            tables=list(tables),
            days=[d.date() for d in days],
            target_mb=target_mb,
            min_age_minutes=min_age_minutes,
            expire_days=expire_days,
            orphan_days=orphan_days,
        )
    except ValidationError as exc:
        fail(str(exc))
        return
    _connect()

    def wait(pending: list[Any]) -> None:
        deadline = time.monotonic() + timeout
        commits.wait_landed(pending, lambda: deadline - time.monotonic(), poll_seconds=0.5)

    with errors.status("planning, rewriting and committing…"):
        results = compact.run(datetime.now(UTC), options, wait, dry_run=dry_run)
    rows = [
        {"table": result.table, **{k: _plain(v) for k, v in group.items()}}
        for result in results
        for group in result.groups
    ]
    expired = [result.table for result in results if result.expired]
    orphans = {result.table: result.orphans_deleted for result in results if result.orphans_deleted}
    if as_json:
        emit([{"groups": rows, "expired": expired, "orphan_files_deleted": orphans}], as_json=True)
        return
    columns = ["table", "day", "files_in", "files_out", "rows", "bytes_in", "bytes_out", "outcome"]
    emit(rows, as_json=False, title="Compaction" + (" (dry run)" if dry_run else ""), columns=columns)
    if expired:
        click.echo(f"old snapshots expired: {', '.join(expired)}")
    if orphans:
        click.echo("orphan data files deleted: " + ", ".join(f"{t} {n}" for t, n in orphans.items()))


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
