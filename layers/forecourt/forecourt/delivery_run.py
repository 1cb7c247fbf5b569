"""One invocation of the deliver function: each message of the delivery queue claimed, delivered and
settled, then every attempt written to the ``deliveries`` table (the AWS side of ``delivery``).

Per message (``DeliveryRun.handle``):

1. parse it (``DeliveryMessage``); a message that does not parse is parked in the delivery DLQ;
2. claim the delivery in the state table (``delivery_state``): one acknowledged before is not sent
   again (``skipped_duplicate``); one another invocation is sending comes back later;
3. ``delivery.deliver`` to the dealer from the registry, with a fair share of the invocation's time;
4. settle it: delivered → recorded as acknowledged; permanent failure → parked in the DLQ at once
   (``Settings.delivery_dead_letter_queue_url``) to be fixed and redriven, not retried five times;
   attempts ran out → the message fails (partial batch failure) and SQS redelivers it after its
   visibility timeout, parking it in the DLQ after maxReceiveCount; waiting (no delivery method,
   dealer inactive or unknown) → handed to the OEM fallback queue when one is configured, else
   it fails like a retry, so the lead waits in the queue, then in the DLQ (alarmed), for the
   dealer to be set up and the message redriven.

A message that must come back raises ``DeliveryPending`` (the handler reports it as a batch item
failure). ``record`` writes the attempts of the whole invocation with ``commits.append_records``,
one batch per day of ``received_at`` whose id hashes the message ids, receive counts and attempt
numbers, so a batch written again replaces its rows. Should that write fail, the invocation fails
and every message of it comes back: those acknowledged meanwhile are then skipped, and their
``skipped_duplicate`` rows repeat the acknowledgement time.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from forecourt import aws, delivery_state, lake, registry
from forecourt.config import settings
from forecourt.delivery import (
    AttemptRecord,
    DeliveryMessage,
    DeliveryOutcome,
    Pacing,
    deliver,
    record_for,
)
from forecourt.retry_policy import RetryPolicy
from forecourt.transports import Outbound, Transport

if TYPE_CHECKING:
    from forecourt.commits import CommitRequest

RESERVE_SECONDS = 5.0
"""Kept back at the end of an invocation for the state writes and the deliveries data file."""
TABLE = "deliveries"


class DeliveryPending(Exception):
    """The message must come back later (SQS redelivers it): ``outcome`` says why."""

    def __init__(self, outcome: DeliveryOutcome) -> None:
        super().__init__(f"delivery {outcome.delivery_id}: {outcome.status} ({outcome.error or 'in flight'})")
        self.outcome = outcome


def policy_from_settings() -> RetryPolicy:
    """The retry policy the settings describe."""
    conf = settings()
    return RetryPolicy(conf.delivery_max_attempts, conf.delivery_backoff_base, conf.delivery_backoff_cap)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DeliveryRun:
    """The deliveries of one invocation of ``messages`` messages; ``remaining_ms`` is the Lambda
    context's ``get_remaining_time_in_millis``. Clocks, sleep and randomness are injectable."""

    messages: int
    remaining_ms: Callable[[], int]
    transport: Transport = field(default_factory=Outbound.from_settings)
    policy: RetryPolicy = field(default_factory=policy_from_settings)
    wall_clock: Callable[[], datetime] = _now
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    observe: Callable[[DeliveryOutcome], None] | None = None
    """Called with every outcome (the handler logs it and emits metrics)."""
    rows: list[tuple[str, AttemptRecord]] = field(default_factory=list)
    """(message id, record) of every attempt so far."""
    _started: int = 0

    def handle(self, message_id: str, body: str, receive_count: int = 1) -> DeliveryOutcome:
        """Deliver one queue message; returns its outcome, or raises DeliveryPending when the
        message must come back (see the module docstring)."""
        self._started += 1
        try:
            message = DeliveryMessage.model_validate_json(body)
        except ValidationError as exc:
            return self._settle(message_id, _malformed(body, exc), body)
        now = self.wall_clock()
        try:
            held = delivery_state.claim(
                message.delivery_id,
                message.dealer_id,
                message.lead_id,
                now=now,
                lease_seconds=self.remaining_ms() / 1000,
            )
        except delivery_state.AlreadyDelivered as done:
            return self._settle(message_id, _skipped(message, done, now, receive_count), body)
        except delivery_state.InFlightElsewhere:
            busy = DeliveryOutcome(
                message.delivery_id,
                message.dealer_id,
                "retry",
                (),
                problem="in_flight_elsewhere: another invocation is sending it",
                disposition="redeliver",
            )
            return self._settle(message_id, busy, body)
        outcome = deliver(
            message,
            registry.get_dealer(message.dealer_id),
            now=now,
            transport=self.transport,
            policy=self.policy,
            pacing=Pacing(self._budget(), self.clock, self.sleep, self.random),
            attempts_before=held.attempts,
        )
        permanent = outcome.status == "failed"
        last = receive_count >= settings().delivery_max_receives
        outcome = with_receive(outcome, receive_count, last_receive=last)
        attempts, settled_at = held.attempts + outcome.sends, self.wall_clock()
        if outcome.status == "delivered":
            assert outcome.acknowledged_at is not None
            status = outcome.attempts[-1].http_status
            delivery_state.mark_delivered(
                held,
                attempts=attempts,
                acknowledged_at=outcome.acknowledged_at,
                http_status=status,
                now=settled_at,
            )
        else:
            delivery_state.release(
                held, attempts=attempts, status="failed" if permanent else "pending", now=settled_at
            )
        return self._settle(message_id, _disposed(outcome, permanent), body)

    def _budget(self) -> float:
        """This message's share of the time left: what remains after the reserve, divided among the
        messages not yet started (this one included)."""
        left = self.remaining_ms() / 1000 - RESERVE_SECONDS
        return max(0.0, left / max(1, self.messages - self._started + 1))

    def _settle(self, message_id: str, outcome: DeliveryOutcome, body: str) -> DeliveryOutcome:
        """Keep the rows, move the message where its disposition says, report the outcome; raises
        DeliveryPending when it must come back."""
        if outcome.disposition == "dead_lettered" and not _send(
            settings().delivery_dead_letter_queue_url, body, outcome
        ):
            outcome = replace(outcome, disposition="redeliver")
        if outcome.disposition == "fallback" and not _send(settings().fallback_queue_url, body, outcome):
            outcome = replace(outcome, disposition="redeliver")
        self.rows.extend((message_id, record) for record in outcome.attempts)
        if self.observe is not None:
            self.observe(outcome)
        if outcome.disposition == "redeliver":
            raise DeliveryPending(outcome)
        return outcome

    def record(self) -> list[CommitRequest]:
        """Write every attempt of the invocation to the ``deliveries`` table, one batch per day of
        ``received_at``; returns the commit requests queued (none when there was nothing to write)."""
        from forecourt import commits

        by_day: dict[date, list[tuple[str, AttemptRecord]]] = {}
        for message_id, record in self.rows:
            by_day.setdefault(record.received_at.astimezone(UTC).date(), []).append((message_id, record))
        requests = []
        for day, rows in sorted(by_day.items()):
            batch = batch_id(day, [(message_id, r.receive_count, r.attempt) for message_id, r in rows])
            table_rows = [r.row() | {"upload_id": batch} for _, r in rows]
            requests.append(commits.append_records(TABLE, table_rows, batch, day))
        return requests


def batch_id(day: date, attempts: list[tuple[str, int | None, int | None]]) -> str:
    """The id of one invocation's rows of one day: a hash of (message id, receive count, attempt
    number) of each row, in any order. A batch written again gets the same id and replaces its rows;
    a redelivered message adds rows under a new id (its receive count and attempt numbers differ)."""
    keys = sorted(f"{message}/{receive or 0}/{attempt or 0}" for message, receive, attempt in attempts)
    return lake.stable_hash(TABLE, day.isoformat(), *keys)


def with_receive(outcome: DeliveryOutcome, receive_count: int, *, last_receive: bool) -> DeliveryOutcome:
    """``outcome`` with each record's SQS receive count; on the last receive a ``retry`` outcome
    becomes ``failed`` (the queue parks the message in its DLQ next), and so does its last record."""
    records = [replace(r, receive_count=receive_count) for r in outcome.attempts]
    status = outcome.status
    if last_receive and status == "retry":
        status = "failed"
        records[-1] = replace(records[-1], status="failed")
    return replace(outcome, status=status, attempts=tuple(records))


def _disposed(outcome: DeliveryOutcome, permanent: bool) -> DeliveryOutcome:
    if outcome.status == "delivered":
        return outcome
    if permanent:
        return replace(outcome, disposition="dead_lettered")
    if outcome.status == "waiting" and settings().fallback_queue_url:
        return replace(outcome, disposition="fallback")
    return replace(outcome, disposition="redeliver")


def _skipped(
    message: DeliveryMessage, done: delivery_state.AlreadyDelivered, now: datetime, receive_count: int
) -> DeliveryOutcome:
    record = record_for(
        message,
        method=None,
        attempt=None,
        status="skipped_duplicate",
        attempted_at=now,
        http_status=done.http_status,
        acknowledged_at=done.acknowledged_at,
        receive_count=receive_count,
        error="already_delivered: acknowledged earlier; not sent again",
    )
    return DeliveryOutcome(
        message.delivery_id,
        message.dealer_id,
        "skipped_duplicate",
        (record,),
        acknowledged_at=done.acknowledged_at,
    )


def _malformed(body: str, exc: ValidationError) -> DeliveryOutcome:
    """A message that is not a delivery: parked in the DLQ with the fields that are wrong (names only:
    the values may be personal data)."""
    try:
        raw: Any = json.loads(body)
    except ValueError:
        raw = {}
    ids = raw if isinstance(raw, dict) else {}
    fields = sorted({".".join(str(p) for p in error["loc"][:2]) or "body" for error in exc.errors()})
    return DeliveryOutcome(
        str(ids.get("delivery_id") or "unknown"),
        str(ids.get("dealer_id") or "unknown"),
        "failed",
        (),
        disposition="dead_lettered",
        problem=f"malformed_message: {', '.join(fields)}",
    )


def _send(queue_url: str, body: str, outcome: DeliveryOutcome) -> bool:
    """Hand the message to another queue with why; False when that queue is not configured."""
    if not queue_url:
        return False
    reason = outcome.problem or outcome.waiting_reason or outcome.error or outcome.status
    aws.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:256]},
            "delivery_id": {"DataType": "String", "StringValue": outcome.delivery_id},
        },
    )
    return True
