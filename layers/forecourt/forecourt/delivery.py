"""Delivering one routed lead to its dealer's CRM, with retries (ARCHITECTURE §6 ``deliver``).

``deliver`` takes a message of the delivery queue and the dealer it was routed to, builds what the
dealer's method needs and sends it through a ``Transport`` (the edges: HTTP, SMTP/SES, S3, the
dealer's webhook secret), retrying as ``retry_policy`` says within a time budget. It returns what
happened, one ``AttemptRecord`` (a ``deliveries`` row) per attempt. It never talks to AWS itself and
never sleeps on its own clock: tests run it with a fake transport and a fake clock.

Methods (``registry.Delivery``):

- ``adf_http``: POST the ADF 1.0 document (``adf_out.to_adf``) as ``application/xml``.
- ``json_webhook``: POST ``adf_out.to_json_payload`` as ``application/json``, signed like the
  webhooks we receive (``signing``: ``Forecourt-Signature: t=…,v1=…``) with our secret for the
  dealer, a ``v1=`` per valid secret during a rotation; signed afresh at each attempt.
- ``adf_email``: the ADF as the whole plain-text body of an e-mail (``adf_mail.adf_email``) to the
  dealer's lead-intake address, with ``Message-ID: <delivery id@…>``.
- ``file``: the ADF document at ``lake.outbound_lead_key`` for the dealer to pick up.

The delivery id travels with every lead: ADF ``<id source="Forecourt-Delivery">``, JSON
``delivery_id``, and an ``Idempotency-Key`` header on HTTP, so a receiver that deduplicates sees a
retried lead once. A dealer without a delivery method, inactive or unknown gets nothing: the
outcome is ``waiting`` and the caller decides where the lead waits.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from forecourt import lake, schemas, signing
from forecourt.adf_mail import adf_email
from forecourt.adf_out import DealerRef, IncompleteLead, to_adf, to_json_payload
from forecourt.registry import Dealer
from forecourt.retry_policy import RETRY_AFTER_STATUSES, RetryPolicy, Verdict, http_verdict, parse_retry_after
from forecourt.transports import HttpAnswer, SendFailed, Transport

IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "Forecourt-Delivery/1"
DEFAULT_PROVIDER = "Forecourt"
"""The ADF ``<provider>`` (and JSON ``provider``) of a lead whose row names no provider."""
MIN_ATTEMPT_SECONDS = 1.0
"""No attempt is started with less of the budget left: it could not get an answer anyway."""

DeliveryStatus = Literal["delivered", "retry", "failed", "skipped_duplicate", "waiting"]
Disposition = Literal["done", "dead_lettered", "fallback", "redeliver"]


class Routing(BaseModel):
    """route_lead's decision: the rule that chose the dealer and why."""

    rule: str
    reason: str
    distance_miles: float | None = None


class DeliveryMessage(BaseModel):
    """A message of the delivery queue (route_lead → deliver). ``lead`` is one curated ``leads`` row
    (column names of schemas/leads.json, timestamps as ISO strings; read back as ``datetime``)."""

    model_config = ConfigDict(extra="ignore")

    delivery_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    lead_id: str = Field(min_length=1)
    dealer_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    action: Literal["new", "update"]
    duplicate_of: str | None = None
    routing: Routing
    received_at: datetime
    routed_at: datetime
    lead: dict[str, Any]
    enrichment: dict[str, str] | None = None
    """What enrichment knew about the lead when it was routed (optional): notes for the salesperson."""

    @field_validator("received_at", "routed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        """A time without an offset is UTC (the producer's ISO UTC without the ``Z``)."""
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("lead")
    @classmethod
    def _typed_lead(cls, lead: dict[str, Any]) -> dict[str, Any]:
        """Timestamps and dates of the leads schema back to ``datetime`` / ``date`` (naive → UTC)."""
        return schemas.get("leads").from_json(lead)


@dataclass(frozen=True)
class Pacing:
    """The time one delivery may take, and the clock it is measured on (injectable for tests)."""

    budget_seconds: float = 50.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = _random.random


@dataclass(frozen=True)
class AttemptRecord:
    """One row of the ``deliveries`` table (without the batch id the writer adds)."""

    delivery_id: str
    lead_id: str
    dealer_id: str
    method: str | None
    attempt: int | None
    status: DeliveryStatus
    received_at: datetime
    attempted_at: datetime
    routed_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None
    acknowledged_at: datetime | None = None
    latency_ms: int | None = None
    duration_ms: int | None = None
    action: str | None = None
    routing_rule: str | None = None
    receive_count: int | None = None

    def row(self) -> dict[str, Any]:
        """The row as a dict keyed by ``deliveries`` column names."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one delivery in one receive: ``status`` and a record per attempt (or one
    record when nothing was sent)."""

    delivery_id: str
    dealer_id: str
    status: DeliveryStatus
    attempts: tuple[AttemptRecord, ...]
    method: str | None = None
    acknowledged_at: datetime | None = None
    latency_ms: int | None = None
    waiting_reason: str | None = None
    """Why a ``waiting`` lead was not sent: no_delivery_configured, dealer_inactive, dealer_unknown."""
    problem: str | None = None
    """What kept a message from being a delivery at all (``malformed_message: …``), when nothing
    was attempted."""
    disposition: Disposition = "done"
    """What becomes of the queue message (set by the caller): done (deleted), dead_lettered (parked in
    the DLQ at once), fallback (handed to the OEM fallback queue), redeliver (SQS brings it back)."""

    @property
    def error(self) -> str | None:
        """The last attempt's error (or the problem when nothing was attempted)."""
        return self.attempts[-1].error if self.attempts else self.problem

    @property
    def sends(self) -> int:
        """Attempts that sent something."""
        return sum(1 for a in self.attempts if a.attempt is not None)


def latency_ms(received_at: datetime, acknowledged_at: datetime) -> int:
    """Delivery latency: acknowledgement − receipt, in whole milliseconds."""
    return round((acknowledged_at - received_at).total_seconds() * 1000)


def record_for(message: DeliveryMessage, **values: Any) -> AttemptRecord:
    """A ``deliveries`` record of ``message`` with ``values`` (status, attempted_at, … ) filled in."""
    return AttemptRecord(
        delivery_id=message.delivery_id,
        lead_id=message.lead_id,
        dealer_id=message.dealer_id,
        received_at=message.received_at,
        routed_at=message.routed_at,
        action=message.action,
        routing_rule=message.routing.rule,
        **values,
    )


def _waiting_reason(dealer: Dealer | None) -> str | None:
    if dealer is None:
        return "dealer_unknown"
    if not dealer.active:
        return "dealer_inactive"
    return "no_delivery_configured" if dealer.delivery is None else None


_WAITING_DETAIL = {
    "dealer_unknown": "the dealer is not in the registry",
    "dealer_inactive": "the dealer is inactive: leads may not be sent to it",
    "no_delivery_configured": "the dealer has no delivery method (forecourt dealers update --delivery)",
}


def deliver(
    message: DeliveryMessage,
    dealer: Dealer | None,
    *,
    now: datetime,
    transport: Transport,
    policy: RetryPolicy | None = None,
    pacing: Pacing | None = None,
    attempts_before: int = 0,
) -> DeliveryOutcome:
    """Send ``message``'s lead to ``dealer`` by its delivery method, retrying as ``policy`` says
    within ``pacing.budget_seconds``; ``now`` is the wall-clock time at the start (attempt times are
    ``now`` plus the time elapsed on ``pacing.clock``). Attempts are numbered after
    ``attempts_before`` (those of earlier receives).

    Outcome status: ``delivered`` (acknowledged), ``failed`` (permanent: an answer that will not
    change, a lead ADF cannot carry, no webhook secret), ``retry`` (attempts or time ran out: send it
    again later), ``waiting`` (dealer unknown, inactive or without a delivery method; nothing sent).
    Raises nothing for a failed send; a bug in a transport propagates."""
    policy = policy or RetryPolicy()
    pacing = pacing or Pacing()
    why = _waiting_reason(dealer)
    if why is not None or dealer is None or dealer.delivery is None:
        why = why or "no_delivery_configured"
        return _unsent(message, now, "waiting", f"{why}: {_WAITING_DETAIL[why]}", waiting_reason=why)
    method = dealer.delivery.method
    try:
        send = _sender(message, dealer, transport)
    except IncompleteLead as exc:
        return _unsent(message, now, "failed", f"incomplete_lead: no {', '.join(exc.missing)}", method=method)
    except SendFailed as exc:
        return _unsent(message, now, "retry" if exc.retryable else "failed", str(exc), method=method)
    return _attempts(message, method, send, now=now, policy=policy, pacing=pacing, first=attempts_before + 1)


def _unsent(
    message: DeliveryMessage,
    now: datetime,
    status: DeliveryStatus,
    error: str,
    *,
    method: str | None = None,
    waiting_reason: str | None = None,
) -> DeliveryOutcome:
    """The outcome of a delivery that sent nothing: one record without an attempt number."""
    record = record_for(message, method=method, attempt=None, status=status, attempted_at=now, error=error)
    return DeliveryOutcome(
        message.delivery_id, message.dealer_id, status, (record,), method, waiting_reason=waiting_reason
    )


@dataclass(frozen=True)
class _Result:
    verdict: Verdict
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None


Send = Callable[[datetime, float], _Result]
"""One attempt: (its wall-clock start, seconds left) → what came of it."""


def _attempts(
    message: DeliveryMessage,
    method: str,
    send: Send,
    *,
    now: datetime,
    policy: RetryPolicy,
    pacing: Pacing,
    first: int,
) -> DeliveryOutcome:
    """Up to ``policy.max_attempts`` attempts numbered from ``first``, waiting between them, none
    started with less than ``MIN_ATTEMPT_SECONDS`` of the budget left."""
    start = pacing.clock()
    records: list[AttemptRecord] = []
    last = first + policy.max_attempts - 1
    for number in range(first, last + 1):
        began = pacing.clock() - start
        if pacing.budget_seconds - began < MIN_ATTEMPT_SECONDS:
            break
        at = now + timedelta(seconds=began)
        result = send(at, pacing.budget_seconds - began)
        ended = now + timedelta(seconds=pacing.clock() - start)
        record = record_for(
            message,
            method=method,
            attempt=number,
            status="retry",
            attempted_at=at,
            http_status=result.status,
            error=result.error,
            duration_ms=round((ended - at).total_seconds() * 1000),
        )
        if result.verdict is Verdict.ACKNOWLEDGED:
            latency = latency_ms(message.received_at, ended)
            records.append(replace(record, status="delivered", acknowledged_at=ended, latency_ms=latency))
            return DeliveryOutcome(
                message.delivery_id, message.dealer_id, "delivered", tuple(records), method, ended, latency
            )
        if result.verdict is Verdict.PERMANENT:
            records.append(replace(record, status="failed"))
            return DeliveryOutcome(message.delivery_id, message.dealer_id, "failed", tuple(records), method)
        records.append(record)
        wait = policy.wait(number - first + 1, result.retry_after, pacing.random)
        if number == last or pacing.clock() - start + wait + MIN_ATTEMPT_SECONDS > pacing.budget_seconds:
            break
        pacing.sleep(wait)
    if not records:
        return _unsent(
            message,
            now,
            "retry",
            "out_of_time: no time left in this invocation for an attempt",
            method=method,
        )
    return DeliveryOutcome(message.delivery_id, message.dealer_id, "retry", tuple(records), method)


def _enrichment(message: DeliveryMessage) -> dict[str, str]:
    """The notes sent with the lead: the enrichment, and for an update the lead it repeats."""
    notes = dict(message.enrichment or {})
    if message.action == "update" and message.duplicate_of:
        notes["update_of"] = message.duplicate_of
    return notes


def _document(message: DeliveryMessage, dealer: Dealer, kind: Literal["adf", "json"]) -> bytes:
    """The lead as ADF or as the JSON webhook body; raises IncompleteLead."""
    write = to_adf if kind == "adf" else to_json_payload
    return write(
        message.lead,
        DealerRef.of(dealer),
        delivery_id=message.delivery_id,
        lead_id=message.lead_id,
        provider_name=str(message.lead.get("provider_name") or DEFAULT_PROVIDER),
        routing_reason=message.routing.reason,
        enrichment=_enrichment(message),
    )


def _http_result(answer: HttpAnswer, at: datetime) -> _Result:
    verdict = http_verdict(answer.status)
    retry_after = parse_retry_after(answer.retry_after, at) if answer.status in RETRY_AFTER_STATUSES else None
    error = (
        None
        if verdict is Verdict.ACKNOWLEDGED
        else f"http_{answer.status}: the endpoint answered {answer.status}"
    )
    return _Result(verdict, answer.status, error, retry_after)


def _guarded(send: Send) -> Send:
    """``send`` with a SendFailed turned into a result (retry or permanent, as the edge said)."""

    def attempt(at: datetime, left: float) -> _Result:
        try:
            return send(at, left)
        except SendFailed as exc:
            verdict = Verdict.RETRY if exc.retryable else Verdict.PERMANENT
            return _Result(verdict, exc.status, str(exc))

    return attempt


def _sender(message: DeliveryMessage, dealer: Dealer, transport: Transport) -> Send:
    """The attempt function of the dealer's method, its document built once (raises IncompleteLead;
    SendFailed when the webhook secret cannot be had)."""
    assert dealer.delivery is not None
    method, endpoint = dealer.delivery.method, dealer.delivery.endpoint or ""
    if method == "file":
        key = lake.outbound_lead_key(
            dealer.dealer_id, message.received_at.astimezone(UTC).date(), message.delivery_id
        )
        document = _document(message, dealer, "adf")

        def put(at: datetime, left: float) -> _Result:
            transport.put_file(key, document, "application/xml")
            return _Result(Verdict.ACKNOWLEDGED)

        return _guarded(put)
    if method == "adf_email":
        sender = transport.mail_from
        name = dealer.name or dealer.dealer_id
        mail = adf_email(_document(message, dealer, "adf"), to=endpoint, sender=sender, dealer_name=name)
        # a stable Message-ID: mail systems that deduplicate on it see a retried lead once
        mail["Message-ID"] = f"<{message.delivery_id}@{sender.rpartition('@')[2]}>"

        def send_mail(at: datetime, left: float) -> _Result:
            return _Result(Verdict.ACKNOWLEDGED, transport.send_mail(mail, left))

        return _guarded(send_mail)
    headers = {IDEMPOTENCY_HEADER: message.delivery_id, "User-Agent": USER_AGENT}
    if method == "adf_http":
        body = _document(message, dealer, "adf")
        headers["Content-Type"] = "application/xml; charset=utf-8"
        return _guarded(lambda at, left: _http_result(transport.post(endpoint, body, headers, left), at))
    body = _document(message, dealer, "json")
    secrets = transport.webhook_secrets(dealer.dealer_id)
    headers["Content-Type"] = "application/json"

    def post_signed(at: datetime, left: float) -> _Result:
        signature = signing.sign(secrets, body, int(at.timestamp()))
        signed = headers | {signing.SIGNATURE_HEADER: signature}
        return _http_result(transport.post(endpoint, body, signed, left), at)

    return _guarded(post_signed)
