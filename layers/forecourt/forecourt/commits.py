"""Commit requests: ingest hands its data files to the committer through a FIFO queue, one message
group per table, so that commits to a table never race (ARCHITECTURE §4)."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from forecourt import aws
from forecourt.config import settings
from forecourt.lake import stable_hash

_log = logging.getLogger(__name__)


class Compaction(BaseModel):
    """A compaction's half of a commit request (``forecourt.compact``): the small data files that
    ``files`` (written from exactly their rows, sorted) replace."""

    replaced: list[str]
    """s3:// URIs of the data files replaced: all must still be in the table, else nothing changes."""
    day: date | None
    """The partition (day of ``received_at``)."""
    rows: int
    checksum: str
    """Order-independent checksum of the rows (``compact.fingerprint``), the same before and after."""


class CommitRequest(BaseModel):
    """Replace the rows of ``upload_id`` in ``table`` by the rows of ``files``."""

    table: str
    upload_id: str
    files: list[str]
    """s3:// URIs of the new data files (may be empty: the upload then has no rows in this table)."""
    erase: list[dict[str, list[str | int]]] | None = None
    """An erasure (``privacy.erasure``) instead of an upload: delete every row matching any of these
    conditions (each: column → values, all columns must match), then expire the snapshots that
    could still show them and delete the data files only those snapshots held. Goes through the
    same queue as the uploads, so it never races a commit to its table."""
    compact: Compaction | None = None
    """A compaction (``upload_id``: its id) instead of an upload: ``files`` replace ``compact.replaced``
    in one commit when those are all still in the table, else nothing changes (``compact.apply``)."""
    expire_before: datetime | None = None
    """Snapshot expiry instead of an upload: every snapshot committed before this time but the
    current one is expired and the data files only those held are deleted."""
    sweep_before: datetime | None = None
    """Orphan sweep instead of an upload: the table's data files written before this time that no
    snapshot references are deleted (``catalog.remove_orphans``; ``compact.sweep``)."""
    uploads: list[str] = []
    """The upload ids of the rows in ``files`` when they are several (route_lead: one per webhook
    request of the batch, so that a request handled again in another batch replaces its rows);
    ``upload_id`` then names the batch and its files. Empty: the rows are ``upload_id``'s."""
    seen: list[str] = []
    """Of ``uploads``, those whose rows may already be in the table (the producer found its own
    marker: replaced); the others are new and appended without looking."""
    written_at: datetime | None = None
    """When the producer wrote ``files``: a request older than the one last applied for its upload
    (or than another of the same batch) is superseded and skipped — a request redriven from the
    dead-letter queue after its upload was replayed must not bring the older rows back. None (a
    request from before this field): applied in queue order."""

    @property
    def maintenance(self) -> bool:
        """An erasure, compaction, snapshot expiry or orphan sweep: no upload's rows."""
        return any(v is not None for v in (self.erase, self.compact, self.expire_before, self.sweep_before))

    @property
    def row_uploads(self) -> list[str]:
        """The upload ids whose rows the request replaces."""
        return self.uploads or [self.upload_id]

    @property
    def deduplication_id(self) -> str:
        erase = json.dumps(self.erase, sort_keys=True) if self.erase else ""
        compact = self.compact.model_dump_json() if self.compact else ""
        expire = self.expire_before.isoformat() if self.expire_before else ""
        expire += "|" + self.sweep_before.isoformat() if self.sweep_before else ""
        several = ",".join(self.uploads) + "|" + ",".join(self.seen)
        written = self.written_at.isoformat() if self.written_at else ""
        return stable_hash(self.table, self.upload_id, *self.files, erase, compact, expire, several, written)


def send(requests: Iterable[CommitRequest]) -> None:
    """Queue commit requests (FIFO: message group = table)."""
    queue_url = settings().commit_queue_url
    sqs = aws.client("sqs")
    entries = [
        {
            "Id": str(i),
            "MessageBody": request.model_dump_json(),
            "MessageGroupId": request.table,
            "MessageDeduplicationId": request.deduplication_id,
        }
        for i, request in enumerate(requests)
    ]
    for start in range(0, len(entries), 10):
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])
        if answer.get("Failed"):
            raise RuntimeError(f"commit queue refused messages: {answer['Failed']}")


def apply(requests: list[CommitRequest]) -> None:
    """Commit a batch of requests: per table, in the order given, one atomic Iceberg commit for the
    uploads (``_rounds``: more when requests of the batch replace the same upload), then its
    compactions, snapshot expiries and erasures."""
    from forecourt import catalog, compact

    uploads: dict[str, list[CommitRequest]] = defaultdict(list)
    maintenance: dict[str, list[CommitRequest]] = defaultdict(list)
    """Per table, in order: compactions, snapshot expiries and erasures."""
    for request in requests:
        if request.maintenance:
            maintenance[request.table].append(request)
        else:
            uploads[request.table].append(request)

    def commit_table(table: str) -> None:
        committed: set[str] = set()
        for round_ in _rounds(_current(table, uploads.get(table, []))):
            upload_ids = [u for request in round_ for u in request.row_uploads]
            files = [f for request in round_ for f in request.files]
            catalog.commit_uploads(table, sorted(upload_ids), files, _known(table, round_, committed))
            committed.update(upload_ids)
            _record_applied(table, {request.upload_id: request for request in round_})
        for request in maintenance.get(table, []):  # after the uploads: an erasure's rows of the batch go too
            if request.compact is not None:
                compact.apply(request)
            elif request.expire_before is not None:
                catalog.expire_history(table, older_than=request.expire_before)
            elif request.sweep_before is not None:
                compact.sweep(request)
            else:
                catalog.erase_rows(table, request.erase or [], request.upload_id)

    tables = sorted(set(uploads) | set(maintenance))

    # tables are independent (one FIFO message group each): commit them side by side
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(tables)))) as pool:
        for future in [pool.submit(commit_table, table) for table in tables]:
            future.result()


def _current(table: str, requests: list[CommitRequest]) -> list[CommitRequest]:
    """``requests`` without the superseded ones: older (``written_at``) than the commit last
    applied for their upload, or than another request of the batch for it. Requests without
    ``written_at`` and route_lead's (several uploads) are always kept."""

    def written(request: CommitRequest) -> datetime | None:
        return None if request.uploads else request.written_at

    newest: dict[str, datetime] = {}
    for request in requests:
        if (at := written(request)) is not None:
            newest[request.upload_id] = max(at, newest.get(request.upload_id, at))
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(newest)))) as pool:
        records = zip(newest, pool.map(lambda upload: _applied_record(table, upload), newest), strict=True)
        for upload, record in list(records):
            if record and record.get("written_at"):
                newest[upload] = max(newest[upload], datetime.fromisoformat(record["written_at"]))
    kept = []
    for request in requests:
        at = written(request)
        if at is not None and at < newest[request.upload_id]:
            _log.warning(
                "commit request superseded by a newer one of its upload: skipped",
                extra={"table": table, "upload_id": request.upload_id, "written_at": at.isoformat()},
            )
            continue
        kept.append(request)
    return kept


def _known(table: str, round_: list[CommitRequest], committed: set[str]) -> dict[str, bool]:
    """Whether each upload of a round may already have rows in the table, where that is known
    without a marker per upload: committed by an earlier round of the batch, or, for a request of
    several uploads (route_lead's), seen by the producer (``seen``) or this request handled by the
    committer before (one marker per request, by its batch id, written before the commit: a batch
    retried after a failure elsewhere in it replays the request instead of appending it again).
    Uploads left out are looked up one by one (``catalog.commit_uploads``)."""
    from forecourt import catalog

    batches = sorted({request.upload_id for request in round_ if request.uploads})
    again = dict(zip(batches, catalog.marked(table, batches), strict=True))
    catalog.mark(table, [batch for batch, found in again.items() if not found])
    known: dict[str, bool] = {}
    for request in round_:
        for upload in request.row_uploads:
            if upload in committed or upload in request.seen or again.get(request.upload_id):
                known[upload] = True
            elif request.uploads:
                known[upload] = False
    return known


def _rounds(requests: list[CommitRequest]) -> list[list[CommitRequest]]:
    """A table's upload requests in commits: consecutive requests share one while no two of them
    replace the same upload; a request for an upload already in the round starts the next (a
    redelivered request after the original: its commit then replaces what the first added). The
    same request twice (a duplicate message) counts once."""
    rounds: list[list[CommitRequest]] = []
    current: list[CommitRequest] = []
    holding: set[str] = set()
    handled: set[str] = set()
    for request in requests:
        if request.deduplication_id in handled:
            continue
        handled.add(request.deduplication_id)
        if holding & set(request.row_uploads):
            rounds.append(current)
            current, holding = [], set()
        current.append(request)
        holding.update(request.row_uploads)
    if current:
        rounds.append(current)
    return rounds


def _applied_key(table: str, upload: str) -> str:
    return f"manifests/commits/{table}/{upload}.applied"


def _record_applied(table: str, uploads: dict[str, CommitRequest]) -> None:
    """After a commit: for each upload, the files that now hold its rows (``landed`` reads it; the
    table's own metadata cannot say once a compaction has merged the upload's files with others)
    and when they were written (``_current``)."""
    s3 = aws.client("s3")
    bucket = settings().lake_bucket

    def put(item: tuple[str, CommitRequest]) -> None:
        upload, request = item
        record: dict[str, Any] = {"files": sorted(request.files)}
        if request.written_at is not None:
            record["written_at"] = request.written_at.isoformat()
        body = json.dumps(record).encode()
        key = _applied_key(table, upload)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(uploads)))) as pool:
        list(pool.map(put, sorted(uploads.items())))


def read_record(key: str) -> dict[str, Any] | None:
    """A JSON record of the lake bucket (``manifests/…``), or None when there is none (or this role
    may not read it: ``aws.MISSING_OBJECT``)."""
    s3 = aws.client("s3")
    try:
        answer = s3.get_object(Bucket=settings().lake_bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in aws.MISSING_OBJECT:
            return None
        raise
    record: dict[str, Any] = json.loads(answer["Body"].read())
    return record


def _applied_record(table: str, upload: str) -> dict[str, Any] | None:
    """The record of the upload's last applied commit (``files``, ``written_at``), or None."""
    return read_record(_applied_key(table, upload))


def landed(request: CommitRequest) -> bool:
    """True when ``request`` is what its table now holds for its upload: its commit was the last one
    applied for that ``upload_id`` (the record the committer writes after each commit), or, without
    a record (a commit from before records were kept), the current snapshot's data files of that
    ``upload_id`` are exactly the request's files (the earlier rows it replaces gone). A compaction
    that later merges the files with others' does not undo a landing."""
    from pyiceberg.expressions import EqualTo

    from forecourt import catalog

    if request.erase is not None:
        return catalog.erased(request.table, request.erase, request.upload_id)
    if request.compact is not None or request.expire_before is not None or request.sweep_before is not None:
        from forecourt import compact

        return compact.landed(request)
    recorded = _applied_record(request.table, request.upload_id)
    if recorded is not None:
        return list(recorded["files"]) == sorted(request.files)
    upload = EqualTo("upload_id", request.upload_id)  # type: ignore[call-arg,arg-type]
    scan = catalog.load(request.table).scan(row_filter=upload)
    return {task.file.file_path for task in scan.plan_files()} == set(request.files)


def wait_landed(
    requests: Iterable[CommitRequest],
    seconds_left: Callable[[], float],
    poll_seconds: float = 2.0,
) -> None:
    """Wait until every request has ``landed`` (the committer applies them in the background), for
    as long as ``seconds_left()`` is positive; raises TimeoutError naming the tables still waiting.

    A scheduled job calls it before its successor reads what it wrote (resolve before enrich)."""
    waiting = list(requests)
    while True:
        waiting = [request for request in waiting if not landed(request)]
        if not waiting:
            return
        if seconds_left() <= poll_seconds:
            tables = ", ".join(sorted({f"{r.table} (upload {r.upload_id})" for r in waiting}))
            raise TimeoutError(f"commits not applied in time: {tables}; is the commit function running?")
        time.sleep(poll_seconds)


def wait_within(requests: Iterable[CommitRequest], context: Any, margin_seconds: float = 30.0) -> None:
    """``wait_landed`` for a Lambda handler: for as long as its ``context`` has time left, less a
    margin to return in."""
    wait_landed(requests, lambda: context.get_remaining_time_in_millis() / 1000 - margin_seconds)


def append_records(table: str, rows: list[dict[str, Any]], batch_id: str, day: date) -> CommitRequest:
    """Write ``rows`` as one data file of ``table`` (``write_records``) and queue its commit."""
    request = write_records(table, rows, batch_id, day)
    send([request])
    return request


def write_records(table: str, rows: list[dict[str, Any]], batch_id: str, day: date) -> CommitRequest:
    """Write ``rows`` (dicts keyed by ``table``'s column names; missing columns are null) as one data
    file of ``table`` in the lake; returns the commit request to ``send``. For the small, frequent
    writes of the real-time functions (webhook records, routing decisions, delivery attempts):
    ``batch_id`` plays the upload id — the same batch written again replaces its rows instead of
    doubling them — and ``day`` is the partition."""
    from forecourt import schemas

    dataset = schemas.get(table)
    columns = {c: [r.get(c) for r in rows] for c in dataset.column_names}
    return write_table(table, pa.table(columns, dataset.arrow_schema()), batch_id, day)


def write_table(table: str, rows: pa.Table, upload_id: str, day: date) -> CommitRequest:
    """Write ``rows`` (an Arrow table with ``table``'s columns, in any order and castable types) as
    data files of ``table``, row groups and files sized by the settings; returns the commit request
    to ``send``. For the runs of the scheduled jobs (resolve, enrich): ``upload_id`` names the run,
    so that a run's rows replace the previous run's in one commit."""
    from forecourt import lake, schemas

    dataset = schemas.get(table)
    conf = settings()
    writer = lake.DataFileWriter(
        aws.s3_filesystem(),
        conf.lake_bucket,
        table,
        dataset.arrow_schema(),
        upload_id,
        day,
        row_group_rows=conf.row_group_rows,
        file_rows=conf.file_rows,
    )
    writer.write(rows.select(dataset.column_names).cast(dataset.arrow_schema()))
    files = writer.close()
    return CommitRequest(
        table=table, upload_id=upload_id, files=[f"s3://{f}" for f in files], written_at=datetime.now(UTC)
    )
