"""Compaction (ARCHITECTURE §4, §6 ``compact``): a partition's small data files rewritten into large
ones, sorted for pruning, in one atomic Iceberg commit; then old snapshots expired.

Ingest and the real-time functions commit many small files (one per upload and table, one per
batch of webhook records); Athena pays per file opened and per byte read, and prunes row groups by
their min/max statistics only when rows of one dealer and one time range sit together. A run:

1. *plans* (``plan``) per table and partition (day of ``received_at``) the live data files smaller
   than ``small_bytes`` (¾ of the target, as Iceberg's rewrite_data_files) committed at least
   ``min_age_minutes`` ago, in groups of at most ``max_files``; a group of one file is left alone,
   so a run after a run changes nothing;
2. *rewrites* (``rewrite``) each group with DuckDB (it spills to disk: a partition need not fit in
   memory), sorted by the dataset's ``sort_order`` then its ``event_time`` (dealer, then event time),
   into files of ``target_mb`` (the lake's writer: zstd, ≥ 100 k-row row groups, statistics only for
   columns without personal data), and checks that the files hold exactly the group's rows: the row
   count and an order-independent checksum (``fingerprint``) are the same before and after;
3. *commits* through the commit queue, one request per group (``commits.Compaction``), so that it is
   serialized with ingest's commits to the table: the committer (``apply``) replaces the group's
   files by the new ones in one overwrite commit only if every one of them is still in the table —
   an upload replayed or an erasure in the meantime rewrote some, and then nothing changes and the
   new files are deleted (the next run plans again); files committed meanwhile are untouched;
4. *expires* snapshots committed more than ``expire_days`` ago (never the current one), deleting the
   data files only they held: the small files compacted away, once no reader can still want them.

A replayed upload after a compaction still replaces its rows: its commit deletes the rows of its
``upload_id`` wherever they are now (the compacted files are rewritten without them).

On AWS the same code runs in the ``compact`` function (a schedule), not Athena's OPTIMIZE: see
README "Compaction" for why.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.dataset as ds
from pydantic import BaseModel, Field

from forecourt import aws, catalog, commits, lake, schemas
from forecourt.config import settings

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.table import Table

MB = 1024 * 1024


class CompactionOptions(BaseModel):
    """What a run compacts and how (the schedule's input on AWS, the CLI's options locally)."""

    tables: list[str] = Field(default_factory=list)
    """Tables to compact; empty: every dataset of schemas/."""
    days: list[date] = Field(default_factory=list)
    """Partitions (days of ``received_at``) to compact; empty: every partition."""
    target_mb: float = Field(default=256, gt=0)
    """Size of the files written (compressed); 128–512 MB suits Athena."""
    min_age_minutes: float = Field(default=60, ge=0)
    """Files committed more recently are left for the next run: a job waiting for its own files to
    land (``commits.landed``: resolve before enrich) never sees them rewritten under it."""
    max_files: int = Field(default=500, ge=2)
    """Input files per commit: the replaced files' URIs travel in one SQS message (256 KiB)."""
    expire_days: float = Field(default=5, ge=0)
    """Snapshots older than this are expired (Athena VACUUM's default age is 5 days)."""
    orphan_days: float = Field(default=30, gt=18)
    """Data files no snapshot references, written more than this ago, are deleted (``sweep``): files
    of attempts that never committed. More than a commit request can wait: 4 days in the commit
    queue, then 14 in its dead-letter queue (a FIFO queue's dead letter keeps its own clock). A
    request redriven after that names files that may be gone: it fails into the dead-letter queue
    again (alarmed) and the upload is replayed from raw/."""

    @property
    def target_bytes(self) -> int:
        return int(self.target_mb * MB)

    @property
    def small_bytes(self) -> int:
        """Files below this size are compacted (¾ of the target, Iceberg's default)."""
        return int(self.target_bytes * 0.75)


@dataclass(frozen=True)
class SmallFile:
    path: str
    """s3:// URI."""
    size: int
    rows: int


@dataclass(frozen=True)
class Group:
    """Small files of one partition of a table, compacted in one commit."""

    table: str
    day: date | None
    files: tuple[SmallFile, ...]

    @property
    def compaction_id(self) -> str:
        return lake.stable_hash("compact", self.table, *sorted(f.path for f in self.files))

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


@dataclass(frozen=True)
class Fingerprint:
    """Row count and an order-independent checksum of every row (sum of DuckDB row hashes)."""

    rows: int
    checksum: str


@dataclass
class TableResult:
    """What a run did to one table."""

    table: str
    groups: list[dict[str, Any]] = field(default_factory=list)
    """Per group: day, files in, files out, rows, bytes in and out, outcome."""
    expired: bool = False
    sweep: commits.CommitRequest | None = None
    """The orphan sweep requested (``sweep``)."""
    orphans_deleted: int = 0


# --- planning ------------------------------------------------------------------------------------


def _day(partition: Any) -> date | None:
    value = partition[0] if len(partition) else None
    return date(1970, 1, 1) + timedelta(days=int(value)) if isinstance(value, int) else None


def plan(table: str, options: CompactionOptions, now: datetime) -> list[Group]:
    """The groups of small files of ``table`` a run would compact (reads table metadata only)."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.manifest import DataFileContent

    try:
        iceberg_table = catalog.load(table)
    except NoSuchTableError:
        return []
    snapshot = iceberg_table.current_snapshot()
    if snapshot is None:
        return []
    committed_ms = {s.snapshot_id: s.timestamp_ms for s in iceberg_table.snapshots()}
    newest_ms = (now - timedelta(minutes=options.min_age_minutes)).timestamp() * 1000
    by_day: dict[date | None, list[SmallFile]] = defaultdict(list)
    for manifest in snapshot.manifests(iceberg_table.io):
        for entry in manifest.fetch_manifest_entry(iceberg_table.io, discard_deleted=True):
            data = entry.data_file
            if data.content != DataFileContent.DATA or data.file_size_in_bytes >= options.small_bytes:
                continue
            added_ms = committed_ms.get(entry.snapshot_id or -1)  # None: its snapshot expired long ago
            if added_ms is not None and added_ms > newest_ms:
                continue
            day = _day(data.partition)
            if options.days and day not in options.days:
                continue
            by_day[day].append(SmallFile(data.file_path, data.file_size_in_bytes, data.record_count))
    groups = []
    for day, files in sorted(by_day.items(), key=lambda item: item[0] or date.min):
        ordered = sorted(files, key=lambda f: f.path)
        for start in range(0, len(ordered), options.max_files):
            chunk = tuple(ordered[start : start + options.max_files])
            if len(chunk) >= 2:
                groups.append(Group(table, day, chunk))
    return groups


# --- rewriting -----------------------------------------------------------------------------------


@contextmanager
def _duckdb() -> Iterator[duckdb.DuckDBPyConnection]:
    import duckdb

    from forecourt import analytics

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    with tempfile.TemporaryDirectory(prefix="forecourt-compact-") as spill:
        try:
            analytics.configure(con, spill)
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()


def _files_dataset(table: str, paths: Iterable[str]) -> ds.Dataset:
    """The rows of these data files of ``table`` as one dataset of its current schema (a file from
    before a column was added reads it as null)."""
    return ds.dataset(
        [p.removeprefix("s3://") for p in paths],
        schema=schemas.get(table).arrow_schema(),
        format="parquet",
        filesystem=aws.s3_filesystem(),
    )


def _fingerprint_of(con: duckdb.DuckDBPyConnection, rows: ds.Dataset | pa.Table) -> Fingerprint:
    con.register("fingerprinted", rows)
    try:
        [(count, checksum)] = con.execute(
            "SELECT count(*), sum(hash(r)::HUGEINT) FROM fingerprinted r"
        ).fetchall()
    finally:
        con.unregister("fingerprinted")
    return Fingerprint(int(count or 0), str(int(checksum or 0)))


def fingerprint(table: str, paths: Iterable[str] | None = None) -> Fingerprint:
    """Row count and order-independent checksum of the data files ``paths`` of ``table`` (default:
    the table's current data files): equal for the same rows in any order and any files."""
    from forecourt import analytics

    source = analytics.iceberg_source(table) if paths is None else _files_dataset(table, paths)
    with _duckdb() as con:
        return _fingerprint_of(con, source)


def sort_columns(table: str) -> list[str]:
    """The order compacted files are written in: the dataset's sort order, then its event time."""
    dataset = schemas.get(table)
    return list(dict.fromkeys([*dataset.sort_order, dataset.event_time]))


class CompactionError(Exception):
    """The files written do not hold exactly the rows of the files they replace (never committed)."""


def rewrite(group: Group, options: CompactionOptions) -> commits.CommitRequest:
    """Write the rows of ``group``'s files, sorted (``sort_columns``), into files of about
    ``options.target_bytes``; returns the commit request that swaps them in. Raises
    CompactionError (after deleting what it wrote) when the new files' rows differ from the old."""
    conf = settings()
    dataset = schemas.get(group.table)
    schema = dataset.arrow_schema()
    order = ", ".join(f'"{c}" ASC NULLS LAST' for c in sort_columns(group.table))
    writer = lake.DataFileWriter(
        aws.s3_filesystem(),
        conf.lake_bucket,
        group.table,
        schema,
        f"compact-{group.compaction_id[:20]}",
        group.day or date(1970, 1, 1),
        row_group_rows=conf.row_group_rows,
        file_rows=2**62,
        file_bytes=options.target_bytes,
    )
    with _duckdb() as con:
        source = _files_dataset(group.table, (f.path for f in group.files))
        before = _fingerprint_of(con, source)
        con.register("small_files", source)
        sorted_rows = con.sql(f"SELECT * FROM small_files ORDER BY {order}")
        for batch in sorted_rows.fetch_record_batch(conf.row_group_rows):
            writer.write(pa.Table.from_batches([batch]).select(dataset.column_names).cast(schema))
        written = [f"s3://{path}" for path in writer.close()]
        after = _fingerprint_of(con, _files_dataset(group.table, written))
    if after != before:
        _delete(written)
        raise CompactionError(
            f"{group.table} {group.day}: the compacted files hold {after.rows} rows (checksum "
            f"{after.checksum}), the {len(group.files)} files they replace {before.rows} ({before.checksum})"
        )
    compaction = commits.Compaction(
        replaced=[f.path for f in group.files], day=group.day, rows=before.rows, checksum=before.checksum
    )
    return commits.CommitRequest(
        table=group.table, upload_id=group.compaction_id, files=written, compact=compaction
    )


def _delete(paths: Iterable[str]) -> None:
    fs = aws.s3_filesystem()
    for path in paths:
        fs.delete_file(path.removeprefix("s3://"))


# --- the committer's half ------------------------------------------------------------------------


def _record_key(table: str, compaction_id: str) -> str:
    return f"manifests/compactions/{table}/{compaction_id}.json"


def apply(request: commits.CommitRequest) -> str:
    """Apply a compaction request (the committer, serialized with the table's other commits): one
    overwrite commit replacing ``compact.replaced`` by ``files`` when all the replaced files are still
    in the table (``applied``); when some are gone, nothing changes and the new files are deleted
    (``stale``). A request handled before (a redelivery: the committer died before SQS heard) keeps
    the outcome it recorded, whatever commits came after it — its files may have been rewritten by
    a replay since, and are still what the snapshots in between read. Records the outcome under
    ``manifests/compactions/``; returns it."""
    assert request.compact is not None
    recorded = outcome(request)
    if recorded is not None:
        return recorded
    iceberg_table = catalog.load(request.table)
    live = {task.file.file_path: task.file for task in iceberg_table.scan().plan_files()}
    if request.files and all(path in live for path in request.files):
        done = "applied"  # a redelivered message: the commit happened
    elif all(path in live for path in request.compact.replaced):
        properties = {"forecourt.compaction": request.upload_id}
        catalog.replace_files(
            iceberg_table, [live[p] for p in request.compact.replaced], request.files, properties
        )
        done = "applied"
    else:
        _delete(path for path in request.files if path not in live)
        done = "stale"
    record = {
        "table": request.table,
        "compaction_id": request.upload_id,
        "day": request.compact.day.isoformat() if request.compact.day else None,
        "files_replaced": len(request.compact.replaced),
        "files_written": len(request.files),
        "rows": request.compact.rows,
        "checksum": request.compact.checksum,
        "outcome": done,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    aws.client("s3").put_object(
        Bucket=settings().lake_bucket,
        Key=_record_key(request.table, request.upload_id),
        Body=json.dumps(record).encode(),
        ContentType="application/json",
    )
    return done


def outcome(request: commits.CommitRequest) -> str | None:
    """``applied`` or ``stale`` once the committer has handled a compaction request; None before."""
    record = commits.read_record(_record_key(request.table, request.upload_id))
    return None if record is None else str(record["outcome"])


def _sweep_key(request: commits.CommitRequest) -> str:
    return _record_key(request.table, request.upload_id)


def sweep(request: commits.CommitRequest) -> int:
    """The committer's half of an orphan sweep (``catalog.remove_orphans``), its count recorded
    under ``manifests/compactions/`` (``landed``); returns the files deleted."""
    assert request.sweep_before is not None
    done = swept(request)
    if done is not None:  # a redelivery: its count stays the first run's
        return done
    deleted = catalog.remove_orphans(request.table, request.sweep_before)
    record = {
        "table": request.table,
        "sweep_before": request.sweep_before.isoformat(),
        "deleted": len(deleted),
    }
    aws.client("s3").put_object(
        Bucket=settings().lake_bucket,
        Key=_sweep_key(request),
        Body=json.dumps(record).encode(),
        ContentType="application/json",
    )
    return len(deleted)


def swept(request: commits.CommitRequest) -> int | None:
    """The files an orphan sweep deleted, once the committer has run it; None before."""
    record = commits.read_record(_sweep_key(request))
    return None if record is None else int(record["deleted"])


def _expirable(iceberg_table: Table, before: datetime) -> bool:
    current = iceberg_table.current_snapshot()
    cutoff_ms = before.timestamp() * 1000
    return any(
        s.timestamp_ms < cutoff_ms
        for s in iceberg_table.snapshots()
        if current is None or s.snapshot_id != current.snapshot_id
    )


def landed(request: commits.CommitRequest) -> bool:
    """A compaction request has landed once its outcome is recorded, an orphan sweep once its count
    is; an expiry once no snapshot but the current one is older than its cutoff."""
    if request.compact is not None:
        return outcome(request) is not None
    if request.sweep_before is not None:
        return swept(request) is not None
    assert request.expire_before is not None
    return not _expirable(catalog.load(request.table), request.expire_before)


# --- a run ---------------------------------------------------------------------------------------


def run(
    now: datetime,
    options: CompactionOptions,
    wait: Callable[[list[commits.CommitRequest]], None],
    seconds_left: Callable[[], float] = lambda: float("inf"),
    *,
    dry_run: bool = False,
) -> list[TableResult]:
    """Compact the tables of ``options`` (all by default) and expire their old snapshots, the
    commits through the commit queue; ``wait`` returns once the requests given have landed
    (``commits.wait_landed``). Groups are started only while ``seconds_left()`` exceeds two minutes:
    what is left is the next run's. With ``dry_run`` nothing is written: the plan is returned."""
    from pyiceberg.exceptions import NoSuchTableError

    results, requests = [], []
    for table in options.tables or sorted(schemas.load_all()):
        result = TableResult(table)
        results.append(result)
        table_requests = []
        for group in plan(table, options, now):
            summary: dict[str, Any] = {"day": group.day, "files_in": len(group.files), "rows": group.rows}
            summary["bytes_in"] = group.size
            summary["compaction_id"] = group.compaction_id
            result.groups.append(summary)
            if dry_run or seconds_left() < 120:
                summary["outcome"] = "planned" if dry_run else "left for the next run"
                continue
            request = rewrite(group, options)
            summary["files_out"] = len(request.files)
            summary["request"] = request
            table_requests.append(request)
        cutoff = now - timedelta(days=options.expire_days)
        try:
            iceberg_table = None if dry_run else catalog.load(table)
        except NoSuchTableError:
            iceberg_table = None
        if iceberg_table is not None and _expirable(iceberg_table, cutoff):
            table_requests.append(
                commits.CommitRequest(
                    table=table, upload_id=f"expire-{cutoff:%Y%m%dT%H%M%S}", files=[], expire_before=cutoff
                )
            )
            result.expired = True
        if (
            iceberg_table is not None
        ):  # after the expiry: the files it leaves unreferenced are its to delete, not orphans
            orphans = now - timedelta(days=options.orphan_days)
            request = commits.CommitRequest(
                table=table, upload_id=f"sweep-{orphans:%Y%m%dT%H%M%S}", files=[], sweep_before=orphans
            )
            result.sweep = request
            table_requests.append(request)
        commits.send(table_requests)
        requests += table_requests
    if requests:
        wait(requests)
    _report_outcomes(results)
    return results


def _report_outcomes(results: list[TableResult]) -> None:
    """Each group's outcome and the bytes of the files it wrote (after the commits)."""
    fs = aws.s3_filesystem()
    for result in results:
        if result.sweep is not None:
            result.orphans_deleted = swept(result.sweep) or 0
        for summary in result.groups:
            request = summary.pop("request", None)
            if request is None:
                continue
            summary["outcome"] = outcome(request)
            if summary["outcome"] == "applied":
                infos = fs.get_file_info([p.removeprefix("s3://") for p in request.files])
                summary["bytes_out"] = sum(info.size or 0 for info in infos)


def summarize(results: list[TableResult]) -> dict[str, Any]:
    """A run's counts (JSON-ready): partitions compacted, left stale or for the next run, files and
    bytes before and after, rows rewritten, tables whose old snapshots were expired."""
    groups = [group for result in results for group in result.groups]
    applied = [group for group in groups if group.get("outcome") == "applied"]
    return {
        "partitions_compacted": len(applied),
        "partitions_stale": sum(1 for group in groups if group.get("outcome") == "stale"),
        "partitions_left": sum(1 for group in groups if group.get("outcome") not in ("applied", "stale")),
        "files_in": sum(group["files_in"] for group in applied),
        "files_out": sum(group.get("files_out", 0) for group in applied),
        "bytes_in": sum(group["bytes_in"] for group in applied),
        "bytes_out": sum(group.get("bytes_out", 0) for group in applied),
        "rows": sum(group["rows"] for group in applied),
        "tables_expired": [result.table for result in results if result.expired],
        "orphan_files_deleted": sum(result.orphans_deleted for result in results),
    }
