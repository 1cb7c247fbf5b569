"""The lake's zones and keys, the deterministic ids, and the Parquet data-file writer (ARCHITECTURE §4).

raw/<source>/dealer=<id>/dt=<arrival date>/<file name>    what arrived, never modified
tables/<table>/data/received_day=<date>/<file>.parquet     data files of the Iceberg tables
tables/<table>/metadata/…                                  Iceberg metadata (written by the committer)
manifests/dealer=<id>/<upload_id>.json                     one report per upload
outbound/dealer=<id>/dt=<date>/<delivery_id>.xml           leads delivered as files, for the dealer
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from forecourt import schemas

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

OEM_DEALER_ID = "oem"
"""The pseudo dealer that owns OEM-level files (campaigns, spend)."""
RAW_PREFIX = "raw/"
_RAW_KEY = re.compile(
    r"^raw/(?P<source>[^/]+)/dealer=(?P<dealer>[^/]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/(?P<name>.+)$"
)
_ID_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RawKeyError(ValueError):
    """An object key that is not of the raw zone's form."""


@dataclass(frozen=True)
class RawKey:
    """A parsed raw-zone key."""

    source: str
    dealer_id: str
    arrival_date: date
    file_name: str

    @property
    def key(self) -> str:
        return raw_key(self.dealer_id, self.arrival_date, self.file_name, source=self.source)


def raw_key(dealer_id: str, arrival_date: date, file_name: str, *, source: str = "files") -> str:
    """The raw-zone key for a file that arrived on ``arrival_date``; raises ValueError on a bad id."""
    if not _ID_SAFE.match(dealer_id):
        raise ValueError(f"dealer id {dealer_id!r} must be 1–64 letters, digits, '-' or '_'")
    safe_name = file_name.replace("/", "_").strip() or "upload"
    return f"{RAW_PREFIX}{source}/dealer={dealer_id}/dt={arrival_date.isoformat()}/{safe_name}"


def parse_raw_key(key: str) -> RawKey:
    """Parse ``raw/<source>/dealer=<id>/dt=<date>/<name>``; raises RawKeyError for any other key."""
    match = _RAW_KEY.match(key)
    if not match:
        raise RawKeyError(f"{key!r} is not a raw-zone key (raw/<source>/dealer=<id>/dt=YYYY-MM-DD/<file>)")
    try:
        arrival = date.fromisoformat(match["dt"])
    except ValueError as exc:
        raise RawKeyError(f"{key!r}: dt={match['dt']} is not a date") from exc
    return RawKey(match["source"], match["dealer"], arrival, match["name"])


def received_at(arrival_date: date, last_modified: datetime | None) -> datetime:
    """Arrival time of a raw object: its last-modified time when that falls on the key's arrival date
    (the key is the authority for the day), else midnight UTC of that date. Never the processing clock."""
    if last_modified is not None:
        moment = last_modified.astimezone(UTC)
        if moment.date() == arrival_date:
            return moment
    return datetime(arrival_date.year, arrival_date.month, arrival_date.day, tzinfo=UTC)


def stable_hash(*parts: str | None) -> str:
    """A short deterministic id: hex SHA-256 (first 32 chars) of the parts, NUL-separated."""
    digest = hashlib.sha256("\x00".join("" if p is None else p for p in parts).encode("utf-8"))
    return digest.hexdigest()[:32]


def upload_id(bucket: str, key: str, version: str | None) -> str:
    """The upload's id: a hash of the raw object's bucket, key and version (or ETag when unversioned)."""
    return stable_hash("upload", bucket, key, version or "")


def manifest_key(dealer_id: str, upload: str) -> str:
    """Where the JSON manifest of an upload lives."""
    return f"manifests/dealer={dealer_id}/{upload}.json"


def table_data_prefix(table: str) -> str:
    return f"tables/{table}/data"


def table_location(bucket: str, table: str) -> str:
    """The Iceberg table location of ``table``."""
    return f"s3://{bucket}/tables/{table}"


OUTBOUND_PREFIX = "outbound/"


def outbound_dealer_prefix(dealer_id: str) -> str:
    """Everything a dealer picks up: ``outbound/dealer=<id>/`` (ValueError on an unsafe id)."""
    if not _ID_SAFE.match(dealer_id):
        raise ValueError(f"dealer id {dealer_id!r} must be 1–64 letters, digits, '-' or '_'")
    return f"{OUTBOUND_PREFIX}dealer={dealer_id}/"


def outbound_lead_key(dealer_id: str, day: date, delivery_id: str) -> str:
    """Where a lead delivered as a file waits for its dealer: ``outbound/dealer=<id>/dt=<day>/<delivery
    id>.xml`` (``day``: when the lead was received, so a redelivery writes the same key). Raises
    ValueError on an id that is not safe in a key."""
    for name, value in (("dealer id", dealer_id), ("delivery id", delivery_id)):
        if not _ID_SAFE.match(value):
            raise ValueError(f"{name} {value!r} must be 1–64 letters, digits, '-' or '_'")
    return f"{OUTBOUND_PREFIX}dealer={dealer_id}/dt={day.isoformat()}/{delivery_id}.xml"


@dataclass
class DataFileWriter:
    """Streams batches of one table and one upload into zstd Parquet files, rotating by row count.

    Rows are buffered and written in row groups of exactly ``row_group_rows`` (the last one smaller),
    large so that Athena reads them well. A full row group is written by a worker thread while the
    caller goes on (pyarrow filters, encodes and compresses without holding the GIL); the next one
    waits for it, so memory is bounded by about three row groups of the table. An error of the
    worker is raised by the next ``write`` or by ``close``.

    Rows are written in the order they come. Sorting each row group by event time would not prune
    anything: a row group's min/max statistics are the same in any order, and no page index is
    written. Ordering files by dealer and event time is ``compact``'s work, across a partition."""

    filesystem: FileSystem
    bucket: str
    table: str
    schema: pa.Schema
    upload: str
    partition_day: date
    row_group_rows: int = 100_000
    file_rows: int = 2_000_000
    statistics: list[str] | None = None
    """Columns given min/max statistics; None: those of ``table``'s schema without personal data."""
    file_bytes: int | None = None
    """Also start a new file once this many bytes (compressed, as written) are in the current one:
    how ``compact`` sizes its files. None: files rotate by ``file_rows`` only."""
    files: list[str] = field(default_factory=list)
    rows_written: int = 0
    _buffer: list[pa.RecordBatch] = field(default_factory=list)
    _keep: list[tuple[int, pa.Array]] = field(default_factory=list)
    """(first buffered row, flags) of the buffered rows that are not all kept."""
    _buffered: int = 0
    """Buffered rows that are kept."""
    _writer: pq.ParquetWriter | None = None
    _sink: Any = None
    """The open output stream of the current file when rotating by ``file_bytes``."""
    _file_rows: int = 0
    _worker: threading.Thread | None = None
    _tasks: queue.Queue[list[Any] | None] = field(default_factory=lambda: queue.Queue(maxsize=1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _error: BaseException | None = None

    def write(self, table: pa.Table, keep: pa.Array | None = None) -> None:
        """Add rows (already of this table's schema): all of ``table``, or those where the boolean
        ``keep`` is true (dropped by the worker as it gathers the row group). Raises
        ValueError on a schema mismatch."""
        if not table.schema.equals(self.schema, check_metadata=False):
            raise ValueError(f"{self.table}: batch schema differs from the table schema")
        if keep is not None and len(keep) != table.num_rows:
            raise ValueError(f"{self.table}: {len(keep)} keep flags for {table.num_rows} rows")
        kept = table.num_rows if keep is None else int(pc.sum(keep).as_py() or 0)
        if kept != table.num_rows:
            assert keep is not None
            self._keep.append((sum(batch.num_rows for batch in self._buffer), keep))
        self._buffer += table.to_batches()
        self._buffered += kept
        while self._buffered >= self.row_group_rows:
            self._flush(self.row_group_rows)

    def close(self) -> list[str]:
        """Flush and close; returns the paths (``bucket/key``) of the files written."""
        self._flush()
        self._join()
        with self._lock:
            worker, self._worker = self._worker, None
            if worker is not None:
                self._tasks.put(None)
        if worker is not None:
            worker.join()
        self._close_file()
        return self.files

    def _close_file(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def _flush(self, rows_wanted: int | None = None) -> None:
        """Hand the first ``rows_wanted`` kept buffered rows (all when None) to a worker as a row group."""
        if not self._buffered:
            self._buffer, self._keep = [], []
            return
        rows = pa.Table.from_batches(self._buffer, schema=self.schema)
        keep = self._keep_flags(rows.num_rows)
        cut = rows.num_rows
        if rows_wanted is not None and rows_wanted < self._buffered:
            cut = rows_wanted if keep is None else int(pc.indices_nonzero(keep)[rows_wanted].as_py())
        rest = rows.slice(cut)
        rows = rows.slice(0, cut)
        self._buffer, self._buffered = rest.to_batches(), self._buffered - (rows_wanted or self._buffered)
        self._keep = [] if keep is None or not rest.num_rows else [(0, keep.slice(cut))]
        self._join()
        with self._lock:  # the worker leaves after a long idle time: start another one then
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name=f"parquet-{self.table}", daemon=True)
                self._worker.start()
            self._tasks.put([rows, None if keep is None else keep.slice(0, cut)])

    def _keep_flags(self, rows: int) -> pa.Array | None:
        """The keep flags of the ``rows`` buffered rows; None when all are kept."""
        if not self._keep:
            return None
        pieces: list[pa.Array] = []
        position = 0
        for start, flags in self._keep:
            if start > position:
                pieces.append(pa.repeat(pa.scalar(True), start - position))
            pieces.append(flags)
            position = start + len(flags)
        if rows > position:
            pieces.append(pa.repeat(pa.scalar(True), rows - position))
        return pa.concat_arrays(pieces)

    def _join(self) -> None:
        """Wait for the row group being written; raise what writing it raised."""
        self._tasks.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        """The worker: gather and write each row group handed over, until ``close`` or a minute idle
        (a writer that is never closed does not keep its thread, nor its rows, for long)."""
        while (holder := self._next_task()) is not None:
            try:  # the holder is emptied by the callee, so that gathering can free the columns
                self._write_row_group(_gathered(holder))
            except BaseException as exc:  # handed to the caller's thread by _join
                self._error = exc
            finally:
                self._tasks.task_done()

    def _next_task(self) -> list[Any] | None:
        """The next row group to write; None to stop (``close`` or a minute without work)."""
        while True:
            try:
                holder = self._tasks.get(timeout=60)
            except queue.Empty:
                with self._lock:
                    if self._tasks.empty():
                        self._worker = None
                        return None
                continue
            if holder is None:
                self._tasks.task_done()
            return holder

    def _write_row_group(self, rows: pa.Table) -> None:
        full = self.file_bytes is not None and self._sink is not None and self._sink.tell() >= self.file_bytes
        if self._writer is not None and (self._file_rows >= self.file_rows or full):
            self._close_file()
        if self._writer is None:
            self._writer = self._open_next(rows)
        self._writer.write_table(rows, row_group_size=max(rows.num_rows, 1))
        self._file_rows += rows.num_rows
        self.rows_written += rows.num_rows

    def _open_next(self, first: pa.Table) -> pq.ParquetWriter:
        path = (
            f"{self.bucket}/{table_data_prefix(self.table)}/received_day={self.partition_day.isoformat()}/"
            f"{self.upload}-{uuid.uuid4().hex[:12]}.parquet"
        )
        self.files.append(path)
        self._file_rows = 0
        if self.filesystem.type_name == "local":
            self.filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        if self.file_bytes is not None:  # the stream tells how many bytes the file holds so far
            self._sink = self.filesystem.open_output_stream(path)
        return pq.ParquetWriter(
            self._sink if self._sink is not None else path,
            self.schema,
            filesystem=None if self._sink is not None else self.filesystem,
            compression="zstd",
            write_statistics=_statistics_columns(self.table) if self.statistics is None else self.statistics,
            use_dictionary=_dictionary_columns(first),
        )


_SAMPLE_ROWS = 4096


def _statistics_columns(table: str) -> list[str]:
    """Columns that get min/max statistics: those without personal data (PII class ``none``).

    Statistics are what prunes row groups and files (event times, dealer, vehicle, source), and
    Iceberg copies them into its manifests as column bounds: an e-mail or a name there would put
    personal data in catalog metadata that erasure does not rewrite. Skipping them also saves about
    a fifth of the Parquet encoding time."""
    dataset = schemas.get(table)
    return [name for name in dataset.column_names if dataset.effective_pii(name) == "none"]


def _dictionary_columns(rows: pa.Table) -> list[str]:
    """Columns worth dictionary-encoding: all but those whose first values hardly repeat (ids, line
    numbers), for which Parquet would build a dictionary only to fall back to plain encoding."""
    sample = rows.slice(0, _SAMPLE_ROWS)
    return [
        field.name
        for field, values in zip(sample.schema, sample.columns, strict=True)
        if pa.types.is_nested(field.type)
        or pc.count_distinct(values, mode="all").as_py() <= 0.9 * max(len(values), 1)
    ]


def _gathered(holder: list[Any]) -> pa.Table:
    """The kept rows of the ``[table, keep flags or None]`` in ``holder`` (taken out of it), in
    order, one column at a time so that each source column can be freed as soon as its copy exists;
    a column of nulls only is not gathered."""
    keep = holder.pop()
    rows: pa.Table = holder.pop()
    if keep is None:
        return rows
    kept = int(pc.sum(keep).as_py() or 0)
    schema, columns = rows.schema, rows.columns
    del rows
    for index, values in enumerate(columns):
        if values.null_count != len(values):
            columns[index] = values.filter(keep)
        else:  # nulls only: nothing to copy
            columns[index] = pa.nulls(kept, values.type)
    del values
    return pa.Table.from_arrays(columns, schema=schema)


def delete_versions(bucket: str, key: str, keep: str | None) -> int:
    """Delete every version (and delete marker) of ``key`` in a versioned bucket but ``keep``: what
    erasure does to an object it rewrote or removed, so no noncurrent version still holds the
    person. Returns how many were deleted."""
    from forecourt import aws

    s3 = aws.client("s3")
    gone = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            if version["Key"] == key and version.get("VersionId") not in (keep, None, "null"):
                s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
                gone += 1
    return gone
