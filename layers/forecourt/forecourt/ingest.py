"""Ingest one raw object: detect its feed, stream-parse, curate, write data files and a manifest.

The result is an ``UploadReport`` plus the data files per table; committing them to the Iceberg
tables is the committer's job (``forecourt.commits``). Invariant: rows_in = rows_curated + rows_quarantined.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import pyarrow as pa
from pydantic import BaseModel, Field

from forecourt import feeds, schemas
from forecourt.curate import Curator, QuarantineRow, UploadMeta
from forecourt.feeds import FeedProfile
from forecourt.formats import FileUnreadable, SourceFile, open_source
from forecourt.lake import DataFileWriter
from forecourt.normalize import Locale
from forecourt.privacy import suppression
from forecourt.reasons import QuarantineReason
from forecourt.registry import Dealer

WriterFactory = Callable[[str, pa.Schema], DataFileWriter]
"""Makes the data-file writer of one table (name, Arrow schema) for the current upload."""


@dataclass(frozen=True)
class RawObject:
    """The raw object being ingested, as S3 describes it."""

    bucket: str
    key: str
    version: str | None
    size: int | None
    last_modified: datetime | None
    feed_hint: str | None = None


class UploadReport(BaseModel):
    """What happened to one upload: the ``uploads`` row, the manifest, and the CLI's answer."""

    upload_id: str
    dealer_id: str
    bucket: str
    object_key: str
    object_version: str | None = None
    received_at: datetime
    feed: str | None = None
    feed_detected: bool = False
    format: str | None = None
    dataset: str | None = None
    schema_version: int | None = None
    compression: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    size_bytes: int = 0
    checksum_sha256: str | None = None
    rows_in: int = 0
    rows_curated: int = 0
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = Field(default_factory=dict)
    field_issues: dict[str, int] = Field(default_factory=dict)
    ignored_columns: list[str] = Field(default_factory=list)
    missing_columns: list[str] = Field(default_factory=list)
    status: str = "ok"
    message: str | None = None
    started_at: datetime
    duration_ms: int = 0
    files: dict[str, list[str]] = Field(default_factory=dict)
    """Data files written per table (s3 paths without scheme), for the committer."""

    def uploads_row(self) -> pa.Table:
        """This report as one row of the ``uploads`` table."""
        dataset = schemas.get("uploads")
        record = self.model_dump()
        record["quarantine_reasons"] = json.dumps(self.quarantine_reasons, sort_keys=True)
        record["field_issues"] = json.dumps(self.field_issues, sort_keys=True)
        return pa.Table.from_pylist(
            [{c: record.get(c) for c in dataset.column_names}], schema=dataset.arrow_schema()
        )


class _HashingReader:
    """Wraps the raw stream: counts bytes and computes the SHA-256 of what was read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.sha256.update(chunk)
        self.size += len(chunk)
        return chunk

    def readable(self) -> bool:
        return True


def detect_feed(source: SourceFile, dealer: Dealer) -> tuple[FeedProfile, int] | None:
    """The best-fitting feed for a file and the 0-based index of its header line, or None.

    The dealer's own feeds win over others; among fits, the one mapping the most headers wins."""
    best: tuple[int, int, str, int] | None = None
    for profile in feeds.load_all().values():
        if profile.format != source.format:
            continue
        for line_index, cells in enumerate(source.preview_lines[: profile.max_header_line]):
            score = feeds.match_headers(profile, cells)
            if score is None or score == 0:
                continue
            own = 1 if profile.name in dealer.feeds else 0
            candidate = (own, score, profile.name, line_index)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    return (feeds.get(best[2]), best[3]) if best else None


def ingest_object(
    stream: BinaryIO,
    obj: RawObject,
    dealer: Dealer | None,
    dealer_id: str,
    received: datetime,
    upload: str,
    writer_for: WriterFactory,
    *,
    max_bytes: int,
    batch_rows: int,
) -> UploadReport:
    """Ingest one raw object end to end (minus the commit). Never raises for bad input: a file that
    cannot be read, or from an unknown dealer, is quarantined whole and reported."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    report = UploadReport(
        upload_id=upload,
        dealer_id=dealer_id,
        bucket=obj.bucket,
        object_key=obj.key,
        object_version=obj.version,
        received_at=received,
        started_at=started,
    )
    reader = _HashingReader(stream)
    quarantine: list[QuarantineRow] = []
    if dealer is None:
        _reject_file(
            report, quarantine, QuarantineReason.UNKNOWN_DEALER, f"dealer {dealer_id!r} is not registered"
        )
    else:
        try:
            _ingest_records(reader, obj, dealer, report, quarantine, writer_for, max_bytes, batch_rows)
        except FileUnreadable as exc:
            _reject_file(report, quarantine, exc.reason, _with_position(exc), line=exc.line)
    _drain(reader)
    report.size_bytes = reader.size
    report.checksum_sha256 = reader.sha256.hexdigest()
    _write_quarantine(report, quarantine, writer_for)
    report.duration_ms = int((time.monotonic() - clock) * 1000)
    uploads_writer = writer_for("uploads", schemas.get("uploads").arrow_schema())
    uploads_writer.write(report.uploads_row())
    report.files["uploads"] = uploads_writer.close()
    return report


def _ingest_records(
    reader: _HashingReader,
    obj: RawObject,
    dealer: Dealer,
    report: UploadReport,
    quarantine: list[QuarantineRow],
    writer_for: WriterFactory,
    max_bytes: int,
    batch_rows: int,
) -> None:
    source = open_source(reader, obj.key, max_bytes=max_bytes)
    report.format, report.compression = source.format, source.compression
    report.encoding, report.delimiter = source.encoding, source.delimiter
    chosen = _choose_feed(source, dealer, obj.feed_hint, report)
    if chosen is None:
        return
    profile, header_line = chosen
    report.feed, report.dataset = profile.name, profile.dataset
    report.schema_version = schemas.get(profile.dataset).version
    meta = UploadMeta(report.upload_id, report.dealer_id, obj.key, report.received_at)
    curator = Curator(profile, meta, Locale(country=dealer.country, timezone=dealer.timezone))
    curator.erased = suppression.erased_list()  # people erased: their rows are quarantined
    writers = {d.name: writer_for(d.name, d.arrow_schema()) for d in curator.datasets}
    issues: Counter[str] = Counter()
    for batch in source.records(header_line=header_line, batch_rows=batch_rows):
        curated = curator.curate(batch)
        for name, table in curated.tables.items():
            writers[name].write(table, keep=curated.keep)
        quarantine.extend(curated.quarantined)
        issues.update(curated.field_issues)
        report.rows_in += curated.rows_in
    for name, writer in writers.items():
        report.files[name] = writer.close()
    report.rows_curated = writers[profile.dataset].rows_written
    report.field_issues = dict(sorted(issues.items()))
    report.ignored_columns = sorted(curator.ignored_columns)
    report.missing_columns = curator.missing_columns


def _choose_feed(
    source: SourceFile, dealer: Dealer, hint: str | None, report: UploadReport
) -> tuple[FeedProfile, int] | None:
    if hint:
        try:
            profile = feeds.get(hint)
        except KeyError as exc:
            raise FileUnreadable(QuarantineReason.UNKNOWN_FEED, str(exc.args[0])) from exc
        if profile.format != source.format:
            raise FileUnreadable(
                QuarantineReason.UNKNOWN_FEED,
                f"feed {hint} reads {profile.format} but the file is {source.format}",
            )
        found = detect_feed(source, Dealer(dealer_id=dealer.dealer_id, feeds=[hint]))
        line = found[1] if found and found[0].name == hint else 0
        return profile, line
    found = detect_feed(source, dealer)
    if found is None:
        raise FileUnreadable(
            QuarantineReason.UNKNOWN_FEED,
            f"no feed profile matches this {source.format} file's headers; name one with --feed "
            f"(known: {', '.join(sorted(feeds.load_all()))})",
        )
    report.feed_detected = True
    return found


@dataclass
class CuratedDocument:
    """A small in-memory document (a webhook body) curated exactly as ingest curates a file."""

    feed: FeedProfile
    rows: pa.Table
    """The curated rows of the feed's dataset (possibly none)."""
    quarantined: list[QuarantineRow]

    @property
    def rows_in(self) -> int:
        return self.rows.num_rows + len(self.quarantined)


def curate_document(
    data: bytes, name: str, dealer: Dealer, feed: str, meta: UploadMeta, erased: Any = None
) -> CuratedDocument:
    """Map, normalize and check ``data`` (the whole document, in memory) with ``feed``'s profile: the
    same contract, quarantine reasons and ``record_id`` as when the same bytes are ingested as a raw
    object (``erased``: ``suppression.erased_list()``, whose people are quarantined as suppressed).
    Raises FileUnreadable when ``data`` cannot be read as ``feed``'s format at all."""
    source = open_source(io.BytesIO(data), name, max_bytes=max(len(data), 1))
    profile = feeds.get(feed)
    if profile.format != source.format:
        raise FileUnreadable(
            QuarantineReason.UNKNOWN_FEED, f"{name} reads as {source.format}, not {profile.format}"
        )
    curator = Curator(profile, meta, Locale(country=dealer.country, timezone=dealer.timezone))
    curator.erased = erased
    dataset = schemas.get(profile.dataset)
    tables, quarantined = [], []
    for batch in source.records():
        curated = curator.curate(batch)
        tables.append(curated.curated_tables()[dataset.name])
        quarantined += curated.quarantined
    rows = pa.concat_tables(tables) if tables else dataset.arrow_schema().empty_table()
    return CuratedDocument(profile, rows, quarantined)


def _with_position(exc: FileUnreadable) -> str:
    """The error's message, followed by its line and column unless the message already names them."""
    if not exc.line or f"line {exc.line}" in exc.message:
        return exc.message
    column = f", column {exc.column}" if exc.column else ""
    return f"{exc.message} (line {exc.line}{column})"


def _reject_file(
    report: UploadReport,
    quarantine: list[QuarantineRow],
    reason: QuarantineReason,
    message: str,
    line: int | None = None,
) -> None:
    """A whole-file rejection counts as one record in and one quarantined (the file is the record)."""
    report.status, report.message = "rejected", message
    report.rows_in = report.rows_curated + len(quarantine) + 1
    quarantine.append(QuarantineRow(line, reason, None, message, ""))


def _write_quarantine(report: UploadReport, rows: list[QuarantineRow], writer_for: WriterFactory) -> None:
    dataset = schemas.get("quarantine")
    report.rows_quarantined = len(rows)
    report.quarantine_reasons = dict(sorted(Counter(r.reason.value for r in rows).items()))
    if report.status != "rejected":
        report.status = "partial" if rows else "ok"
    if report.status == "rejected":
        report.rows_in = report.rows_curated + report.rows_quarantined
    writer = writer_for("quarantine", dataset.arrow_schema())
    if rows:
        table = pa.Table.from_pylist(
            [
                {
                    "upload_id": report.upload_id,
                    "dealer_id": report.dealer_id,
                    "dataset": report.dataset,
                    "feed": report.feed,
                    "object_key": report.object_key,
                    "received_at": report.received_at,
                    "source_line": r.source_line,
                    "field": r.field,
                    "reason_code": r.reason.value,
                    "message": r.message,
                    "raw_record": r.raw_record,
                }
                for r in rows
            ],
            schema=dataset.arrow_schema(),
        )
        writer.write(table)
    report.files["quarantine"] = writer.close()


def _drain(reader: _HashingReader) -> None:
    """Read what is left so that the checksum and size cover the whole object."""
    while reader.read(1 << 20):
        pass
