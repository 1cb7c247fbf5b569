"""The lake's zones and keys, the deterministic ids, and the Parquet data-file writer (ARCHITECTURE §4).

raw/<source>/dealer=<id>/dt=<arrival date>/<file name>    what arrived, never modified
tables/<table>/data/received_day=<date>/<file>.parquet     data files of the Iceberg tables
tables/<table>/metadata/…                                  Iceberg metadata (written by the committer)
manifests/dealer=<id>/<upload_id>.json                     one report per upload
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

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


@dataclass
class DataFileWriter:
    """Streams batches of one table and one upload into zstd Parquet files, rotating by row count.

    Rows are buffered up to ``row_group_rows`` so that row groups are large (Athena reads them well),
    which bounds memory to about one row group of the table."""

    filesystem: FileSystem
    bucket: str
    table: str
    schema: pa.Schema
    upload: str
    partition_day: date
    row_group_rows: int = 131_072
    file_rows: int = 2_000_000
    sort_by: str | None = None
    """Event-time column each row group is sorted by, so that filters on event time prune well."""
    files: list[str] = field(default_factory=list)
    rows_written: int = 0
    _buffer: list[pa.RecordBatch] = field(default_factory=list)
    _buffered: int = 0
    _writer: pq.ParquetWriter | None = None
    _file_rows: int = 0

    def write(self, table: pa.Table) -> None:
        """Add rows (already of this table's schema); raises ValueError on a schema mismatch."""
        if not table.schema.equals(self.schema, check_metadata=False):
            raise ValueError(f"{self.table}: batch schema differs from the table schema")
        for batch in table.to_batches():
            self._buffer.append(batch)
            self._buffered += batch.num_rows
        if self._buffered >= self.row_group_rows:
            self._flush()

    def close(self) -> list[str]:
        """Flush and close; returns the paths (``bucket/key``) of the files written."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.files

    def _flush(self) -> None:
        if not self._buffered:
            return
        rows = pa.Table.from_batches(self._buffer, schema=self.schema)
        self._buffer, self._buffered = [], 0
        if self.sort_by:
            rows = rows.sort_by([(self.sort_by, "ascending")])
        if self._writer is not None and self._file_rows >= self.file_rows:
            self._writer.close()
            self._writer = None
        if self._writer is None:
            self._writer = self._open_next()
        self._writer.write_table(rows, row_group_size=max(rows.num_rows, 1))
        self._file_rows += rows.num_rows
        self.rows_written += rows.num_rows

    def _open_next(self) -> pq.ParquetWriter:
        path = (
            f"{self.bucket}/{table_data_prefix(self.table)}/received_day={self.partition_day.isoformat()}/"
            f"{self.upload}-{uuid.uuid4().hex[:12]}.parquet"
        )
        self.files.append(path)
        self._file_rows = 0
        if self.filesystem.type_name == "local":
            self.filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        return pq.ParquetWriter(
            path, self.schema, filesystem=self.filesystem, compression="zstd", write_statistics=True
        )
