"""The realtime queue (ARCHITECTURE §2): what the webhook puts on it and how route_lead records it.

The webhook stores each accepted body in ``raw/`` first and then queues one ``RealtimeMessage``:

- ``lead``: a curated ``leads`` row, to be routed (``forecourt.lead_routing``) and recorded;
- ``event``: a curated ``lead_events`` row (a dealer CRM's stage report or visit);
- ``rejected``: a lead or event that failed its contract (the 422 answer), with its quarantine rows.

route_lead writes a batch of them to the lake together (``record_batch``): one data file per table
and arrival day, committed by the committer, instead of one ingest and one commit per request. The
rows are those the ingest path makes of the same raw object (same normalizer, same ``record_id``),
except ``upload_id``: each webhook request is one upload (``message_upload``, from its SQS message
id), with one ``uploads`` row counting rows in = curated + quarantined. A request SQS delivers again
— in the same batch or, after a crash, in another one — replaces its rows instead of doubling them:
route_lead leaves a marker per request before writing anything (``manifests/realtime/``), and a
request whose marker exists is committed as a replay (``CommitRequest.seen``).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel

from forecourt import aws, commits, lake, schemas
from forecourt.config import settings

Kind = Literal["lead", "event", "rejected"]


class RawRef(BaseModel):
    """Where the webhook stored the body (``raw/webhooks/…`` or ``raw/events/…``)."""

    bucket: str
    key: str
    version: str | None = None


class QuarantinedRecord(BaseModel):
    """One quarantine row of a rejected body, as ``curate`` made it."""

    source_line: int | None = None
    reason: str
    field: str | None = None
    message: str
    raw_record: str = ""


class RealtimeMessage(BaseModel):
    """One message of the realtime queue."""

    kind: Kind = "lead"
    lead_id: str | None = None
    """The lead's ``record_id`` (leads only)."""
    dealer_id: str
    """The dealer the record named or the URL gave; ``oem`` when a lead named none."""
    sender: str | None = None
    received_at: datetime
    raw: RawRef | None = None
    feed: str = "jsonl-leads"
    dataset: str = "leads"
    record: dict[str, Any] | None = None
    """The curated row (``leads`` or ``lead_events``; timestamps as ISO strings); None when rejected."""
    quarantined: list[QuarantinedRecord] = []


@dataclass
class Recorded:
    """One processed message of a batch: its SQS id, the message and (leads) its routing row."""

    message_id: str
    message: RealtimeMessage
    route: dict[str, Any] | None = None


def batch_id(message_ids: Sequence[str], day: date) -> str:
    """The id of a batch's data files of one arrival day (and of its commit requests)."""
    return lake.stable_hash("realtime", day.isoformat(), *sorted(set(message_ids)))


def message_upload(message_id: str, day: date) -> str:
    """The ``upload_id`` of one webhook request's rows: the same whichever batch carries it."""
    return lake.stable_hash("realtime-request", day.isoformat(), message_id)


TABLES = ("leads", "lead_events", "quarantine", "uploads", "lead_routes")
"""Every table route_lead writes: a request handled again has its rows replaced in each of them
(also where it now has none: a lead rejected before, curated now, leaves no quarantine row)."""


def _marker_key(upload: str) -> str:
    return f"manifests/realtime/{upload}"


_ALREADY_WRITTEN = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")
"""A conditional PUT's answers when the marker exists (409: another invocation writes it now)."""


def _seen_before(uploads: Sequence[str]) -> set[str]:
    """The requests whose rows may already be in the lake: a marker is left for each (a conditional
    PUT: one request, and two route_lead invocations racing on a message cannot both miss it)."""
    from botocore.exceptions import ClientError

    s3, bucket = aws.client("s3"), settings().lake_bucket

    def seen(upload: str) -> bool:
        try:
            s3.put_object(Bucket=bucket, Key=_marker_key(upload), Body=b"", IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "412",
                "409",
                "ConditionalRequestConflict",
            ):
                return True
            raise
        return False

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(uploads)))) as pool:
        return {upload for upload, found in zip(uploads, pool.map(seen, uploads), strict=True) if found}


def record_batch(recorded: Sequence[Recorded]) -> list[commits.CommitRequest]:
    """Write a batch's curated rows, quarantine rows, ``uploads`` rows and routing decisions to the
    lake (one data file per table and arrival day) and queue their commits; returns the requests.

    A message SQS gave twice in one batch is recorded once; one given again in a later batch
    replaces the rows it left before (its marker says it was seen)."""
    by_day: dict[date, list[Recorded]] = defaultdict(list)
    first: dict[str, Recorded] = {}
    for item in recorded:
        first.setdefault(item.message_id, item)
    for item in first.values():
        by_day[item.message.received_at.astimezone(UTC).date()].append(item)
    uploads = {day: [message_upload(item.message_id, day) for item in items] for day, items in by_day.items()}
    seen = _seen_before([upload for day_uploads in uploads.values() for upload in day_uploads])
    writes, empty = [], []
    for day, items in sorted(by_day.items()):
        batch = batch_id([i.message_id for i in items], day)
        day_uploads = uploads[day]
        replays = sorted(set(day_uploads) & seen)
        rows = _tables(items, day_uploads)
        for table in TABLES:
            plan = commits.CommitRequest(
                table=table, upload_id=batch, files=[], uploads=day_uploads, seen=replays
            )
            if table in rows:
                writes.append((plan, rows[table], day))
            elif replays:
                empty.append(plan)  # nothing to add, but the rows the request left before must go
    # one small PUT per table: side by side, so the batch's next leads wait for one write, not five

    def write(item: tuple[commits.CommitRequest, list[dict[str, Any]], date]) -> commits.CommitRequest:
        plan, table_rows, day = item
        written = commits.write_records(plan.table, table_rows, plan.upload_id, day)
        return plan.model_copy(update={"files": written.files})

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(writes)))) as pool:
        requests = [*pool.map(write, writes), *empty]
    commits.send(requests)
    return requests


def names_erased(message: RealtimeMessage, erased: Any) -> bool:
    """Whether a lead's curated row names an erased identifier (``suppression.erased_list()``;
    None: nothing was ever erased)."""
    import pyarrow as pa

    from forecourt.curate import SUPPRESSION_COLUMNS

    if erased is None or message.record is None:
        return False
    for kind, columns in SUPPRESSION_COLUMNS.items():
        values = [message.record.get(column) for column in columns if message.record.get(column)]
        if values and any(erased.matches(kind, pa.array(values, pa.string())).to_pylist()):
            return True
    return False


def suppressed(message: RealtimeMessage) -> RealtimeMessage:
    """The message of a lead whose person was erased while it waited in the queue: its stored body
    deleted (every version), nothing of it kept — one blank quarantine row, so the batch's count
    still adds up — and nothing routed."""
    from forecourt.curate import SUPPRESSED, _message

    if message.raw is not None:
        aws.client("s3").delete_object(Bucket=message.raw.bucket, Key=message.raw.key)
        lake.delete_versions(message.raw.bucket, message.raw.key, keep=None)
    row = QuarantinedRecord(source_line=1, reason=SUPPRESSED.value, message=_message(SUPPRESSED.value, None))
    return message.model_copy(update={"kind": "rejected", "lead_id": None, "record": None, "raw": None,
                                      "quarantined": [row]})  # fmt: skip


NOT_KEPT = "(not kept: the person was erased)"
"""``object_key`` of the rows of a webhook request whose body was not stored."""


def _tables(items: Sequence[Recorded], uploads: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The rows each table gets from one day of a batch, each request's rows under its own upload
    id (``uploads``, in the order of ``items``); empty tables are left out."""
    started = datetime.now(UTC)
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item, upload in zip(items, uploads, strict=True):
        message = item.message
        # no raw body: an erased person's request, of which nothing is kept
        key = message.raw.key if message.raw else NOT_KEPT
        common = {"upload_id": upload, "object_key": key, "received_at": message.received_at.astimezone(UTC)}
        if message.record is not None:
            assert message.dataset in TABLES, message.dataset  # a dataset route_lead would not replace
            tables[message.dataset].append(schemas.get(message.dataset).from_json(message.record) | common)
        for q in message.quarantined:
            tables["quarantine"].append(
                common
                | {
                    "dealer_id": message.dealer_id,
                    "dataset": message.dataset,
                    "feed": message.feed,
                    "source_line": q.source_line,
                    "field": q.field,
                    "reason_code": q.reason,
                    "message": q.message,
                    "raw_record": q.raw_record,
                }
            )
        if item.route is not None:
            tables["lead_routes"].append(item.route | {"upload_id": upload})
        tables["uploads"].append(_uploads_row(upload, key, message, started))
    return dict(tables)


def _uploads_row(upload: str, key: str, message: RealtimeMessage, started: datetime) -> dict[str, Any]:
    """The ``uploads`` row of one webhook request."""
    curated = 1 if message.record is not None else 0
    reasons = Counter(q.reason for q in message.quarantined)
    quarantined = sum(reasons.values())
    return {
        "upload_id": upload,
        "dealer_id": message.dealer_id,
        "bucket": settings().lake_bucket,
        "object_key": key,
        "object_version": message.raw.version if message.raw else None,
        "received_at": message.received_at.astimezone(UTC),
        "feed": message.feed,
        "feed_detected": False,
        "format": "adf" if message.feed == "adf" else "jsonl",
        "dataset": message.dataset,
        "schema_version": schemas.get(message.dataset).version,
        "rows_in": curated + quarantined,
        "rows_curated": curated,
        "rows_quarantined": quarantined,
        "quarantine_reasons": json.dumps(dict(sorted(reasons.items()))),
        "field_issues": "{}",
        "status": "ok" if not quarantined else ("rejected" if not curated else "partial"),
        "message": "webhook request" if message.dataset == "leads" else "CRM event",
        "started_at": started,
        "duration_ms": int((datetime.now(UTC) - started).total_seconds() * 1000),
    }
