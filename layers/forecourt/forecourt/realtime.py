"""The realtime queue (ARCHITECTURE §2): what the webhook puts on it and how route_lead records it.

The webhook stores each accepted body in ``raw/`` first and then queues one ``RealtimeMessage``:

- ``lead``: a curated ``leads`` row, to be routed (``forecourt.lead_routing``) and recorded;
- ``event``: a curated ``lead_events`` row (a dealer CRM's stage report or visit);
- ``rejected``: a lead or event that failed its contract (the 422 answer), with its quarantine rows.

route_lead writes a batch of them to the lake together (``record_batch``): one data file per table
and arrival day, committed by the committer, instead of one ingest and one commit per request. The
rows are those the ingest path makes of the same raw object (same normalizer, same ``record_id``),
except ``upload_id``, which is the batch's: each arrival day of a batch is one upload, whose
``uploads`` rows (one per dealer and feed) count rows in = curated + quarantined. The same batch
written again replaces its rows (the batch id derives from its message ids).
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
    """The ``upload_id`` of a batch's rows of one arrival day: the same batch written again
    replaces them."""
    return lake.stable_hash("realtime", day.isoformat(), *sorted(set(message_ids)))


def record_batch(recorded: Sequence[Recorded]) -> list[commits.CommitRequest]:
    """Write a batch's curated rows, quarantine rows, ``uploads`` rows and routing decisions to the
    lake (one data file per table and arrival day) and queue their commits; returns the requests.

    A message SQS gave twice in one batch is recorded once: the batch is then the same batch as
    without the copy (same id: written again, it replaces its rows instead of doubling them)."""
    by_day: dict[date, list[Recorded]] = defaultdict(list)
    first: dict[str, Recorded] = {}
    for item in recorded:
        first.setdefault(item.message_id, item)
    for item in first.values():
        by_day[item.message.received_at.astimezone(UTC).date()].append(item)
    writes = [
        (table, rows, upload, day)
        for day, items in sorted(by_day.items())
        for upload in [batch_id([i.message_id for i in items], day)]
        for table, rows in _tables(items, upload).items()
    ]
    # one small PUT per table: side by side, so the batch's next leads wait for one write, not five
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(writes)))) as pool:
        requests = list(pool.map(lambda write: commits.write_records(*write), writes))
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


def _tables(items: Sequence[Recorded], upload: str) -> dict[str, list[dict[str, Any]]]:
    """The rows each table gets from one day of a batch (empty tables are left out)."""
    started = datetime.now(UTC)
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    groups: dict[tuple[str, str, str], list[RealtimeMessage]] = defaultdict(list)
    for item in items:
        message = item.message
        # no raw body: an erased person's request, of which nothing is kept
        key = message.raw.key if message.raw else NOT_KEPT
        common = {"upload_id": upload, "object_key": key, "received_at": message.received_at.astimezone(UTC)}
        if message.record is not None:
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
        groups[(message.dealer_id, message.dataset, message.feed)].append(message)
    tables["uploads"] = [
        _uploads_row(upload, dealer_id, dataset, feed, messages, started)
        for (dealer_id, dataset, feed), messages in sorted(groups.items())
    ]
    return dict(tables)


def _uploads_row(
    upload: str,
    dealer_id: str,
    dataset: str,
    feed: str,
    messages: list[RealtimeMessage],
    started: datetime,
) -> dict[str, Any]:
    """The ``uploads`` row of one dealer's records of one feed in a batch."""
    curated = sum(1 for m in messages if m.record is not None)
    reasons = Counter(q.reason for m in messages for q in m.quarantined)
    quarantined = sum(reasons.values())
    source = "webhooks" if dataset == "leads" else "events"
    first = min(m.received_at for m in messages).astimezone(UTC)
    return {
        "upload_id": upload,
        "dealer_id": dealer_id,
        "bucket": settings().lake_bucket,
        "object_key": f"{lake.RAW_PREFIX}{source}/dealer={dealer_id}/dt={first.date().isoformat()}/",
        "received_at": first,
        "feed": feed,
        "feed_detected": False,
        "format": "adf" if feed == "adf" else "jsonl",
        "dataset": dataset,
        "schema_version": schemas.get(dataset).version,
        "rows_in": curated + quarantined,
        "rows_curated": curated,
        "rows_quarantined": quarantined,
        "quarantine_reasons": json.dumps(dict(sorted(reasons.items()))),
        "field_issues": "{}",
        "status": "ok" if not quarantined else ("rejected" if not curated else "partial"),
        "message": f"{len(messages)} webhook request{'s' if len(messages) != 1 else ''}",
        "started_at": started,
        "duration_ms": int((datetime.now(UTC) - started).total_seconds() * 1000),
    }
