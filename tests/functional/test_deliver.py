"""The deliver path against moto, the local dealer CRM and the SMTP mailbox over loopback: each method
delivers a lead the receiver accepts, failures are retried or parked as they should be, and a lead
already acknowledged is never sent again."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import LocalAws
from forecourt import aws, dealer_secrets, delivery_state
from forecourt.config import settings
from forecourt.delivery_run import DeliveryPending, DeliveryRun
from forecourt.local.crm import DealerCrm
from forecourt.local.mailbox import Mailbox
from forecourt.local.receipts import check_adf
from forecourt.retry_policy import RetryPolicy
from forecourt.transports import Outbound
from routed_leads import body, dealer, delivery_id_of


@pytest.fixture(scope="module")
def crm() -> Iterator[DealerCrm]:
    with DealerCrm() as server:
        yield server


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def transport(local_aws: LocalAws, mailbox: Mailbox) -> Outbound:
    return Outbound(
        connect_timeout=1.0,
        read_timeout=0.4,
        smtp_port=mailbox.port,
        lake_bucket=settings().lake_bucket,
    )


@pytest.fixture
def deliveries(transport: Outbound, sleeps: list[float]) -> Any:
    """``deliveries(body, receive_count=1, **run options)``: one message through a DeliveryRun whose
    waits are recorded instead of slept."""

    def handle(body: str, receive_count: int = 1, **options: Any) -> Any:
        run = DeliveryRun(1, lambda: 60_000, transport=transport, sleep=sleeps.append, **options)
        try:
            return run.handle(f"m-{uuid.uuid4().hex[:8]}", body, receive_count), run
        except DeliveryPending as pending:
            return pending, run

    return handle


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Change settings for one test: ``configured(FORECOURT_X="…")``."""

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        settings.cache_clear()

    yield apply
    monkeypatch.undo()
    settings.cache_clear()


def adf_dealer(crm: DealerCrm) -> str:
    return dealer("adf_http", crm.adf_url)


def json_dealer(crm: DealerCrm) -> tuple[str, str]:
    dealer_id = dealer("json_webhook", crm.json_url)
    secret = dealer_secrets.ensure_secret(dealer_id)
    assert secret is not None
    dealer_secrets.clear_cache()
    crm.set_secret(dealer_id, secret)
    return dealer_id, secret


def parked(queue: str, delivery_id: str) -> dict[str, Any] | None:
    """Take the message of ``delivery_id`` off a queue, if it is there."""
    sqs = aws.client("sqs")
    for _ in range(5):
        answer = sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        )
        for message in answer.get("Messages", []):
            if message["MessageAttributes"]["delivery_id"]["StringValue"] == delivery_id:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                return message
    return None


# --- each method --------------------------------------------------------------------------------------


def test_adf_over_http_is_accepted_by_the_crm(crm: DealerCrm, deliveries: Any) -> None:
    dealer_id = adf_dealer(crm)
    text = body(dealer_id)
    outcome, _ = deliveries(text)
    assert (outcome.status, outcome.method, outcome.sends) == ("delivered", "adf_http", 1)
    [receipt] = crm.received(dealer_id)
    assert (receipt.valid, receipt.delivery_id, receipt.lead_id) == (True, delivery_id_of(text), "lead-1")
    assert outcome.attempts[0].http_status == 200 and outcome.latency_ms >= 2000


def test_signed_json_is_verified_by_the_crm_with_the_dealers_secret(crm: DealerCrm, deliveries: Any) -> None:
    dealer_id, _ = json_dealer(crm)
    text = body(dealer_id)
    outcome, _ = deliveries(text)
    assert outcome.status == "delivered", outcome.error
    [receipt] = crm.received(dealer_id)
    assert (receipt.channel, receipt.valid, receipt.delivery_id) == ("json", True, delivery_id_of(text))
    assert json.loads(receipt.body)["dealer_id"] == dealer_id


def test_adf_by_email_reaches_the_intake_mailbox(mailbox: Mailbox, deliveries: Any) -> None:
    address = f"leads-{uuid.uuid4().hex[:6]}@lakeside.example"
    dealer_id = dealer("adf_email", address)
    text = body(dealer_id)
    outcome, _ = deliveries(text)
    assert (outcome.status, outcome.attempts[0].http_status) == ("delivered", 250)
    [receipt] = mailbox.received(address)
    assert (receipt.valid, receipt.delivery_id) == (True, delivery_id_of(text))
    assert receipt.subject == "New lead for Lakeside Chevrolet (ADF)"


def test_a_file_is_written_to_the_dealers_outbound_prefix(deliveries: Any) -> None:
    dealer_id = dealer("file")
    text = body(dealer_id)
    outcome, _ = deliveries(text)
    assert outcome.status == "delivered"
    day = datetime.fromisoformat(json.loads(text)["received_at"]).date().isoformat()
    key = f"outbound/dealer={dealer_id}/dt={day}/{delivery_id_of(text)}.xml"
    stored = aws.client("s3").get_object(Bucket=settings().lake_bucket, Key=key)
    assert stored["ContentType"] == "application/xml"
    assert check_adf(stored["Body"].read()).delivery_id == delivery_id_of(text)


# --- failures -------------------------------------------------------------------------------------------


def test_two_server_errors_then_success_reach_the_receiver_once(crm: DealerCrm, deliveries: Any) -> None:
    dealer_id = adf_dealer(crm)
    crm.fail(dealer_id, 500, times=2)
    outcome, run = deliveries(body(dealer_id))
    assert outcome.status == "delivered"
    assert [(r.attempt, r.status, r.http_status) for _, r in run.rows] == [
        (1, "retry", 500),
        (2, "retry", 500),
        (3, "delivered", 200),
    ]
    assert [a.status for a in crm.attempts(dealer_id)] == [500, 500, 200]
    assert len(crm.received(dealer_id)) == 1


def test_429_with_retry_after_is_waited_out(crm: DealerCrm, deliveries: Any, sleeps: list[float]) -> None:
    dealer_id = adf_dealer(crm)
    crm.fail(dealer_id, 429, retry_after=3)
    outcome, _ = deliveries(body(dealer_id))
    assert outcome.status == "delivered" and sleeps == [3.0]


def test_a_permanent_400_is_not_retried_and_parked_in_the_dlq(
    crm: DealerCrm, deliveries: Any, local_aws: LocalAws
) -> None:
    dealer_id = adf_dealer(crm)
    crm.fail(dealer_id, 400)
    text = body(dealer_id)
    outcome, _ = deliveries(text)
    assert (outcome.status, outcome.disposition, outcome.sends) == ("failed", "dead_lettered", 1)
    assert len(crm.attempts(dealer_id)) == 1
    message = parked(local_aws.resources.queues["DeliveryDeadLetterQueue"], delivery_id_of(text))
    assert message is not None and message["Body"] == text
    assert message["MessageAttributes"]["reason"]["StringValue"] == "http_400: the endpoint answered 400"
    assert delivery_state.get(delivery_id_of(text))["status"] == "failed"  # type: ignore[index]


def test_a_timeout_is_retried_and_delivers_once(crm: DealerCrm, deliveries: Any) -> None:
    dealer_id = adf_dealer(crm)
    crm.delay(dealer_id, 1.0)
    outcome, run = deliveries(body(dealer_id))
    assert outcome.status == "delivered"
    assert [r.error for _, r in run.rows] == ["timeout: no answer within 0.4 s", None]
    assert len(crm.received(dealer_id)) == 1


def test_a_lead_taken_after_our_timeout_is_seen_once_thanks_to_the_delivery_id(
    crm: DealerCrm, deliveries: Any
) -> None:
    dealer_id = adf_dealer(crm)
    crm.delay(dealer_id, 0.8, deliver=True)
    outcome, _ = deliveries(body(dealer_id))
    assert outcome.status == "delivered"
    time.sleep(0.6)  # the held-back first request is taken by now
    assert sorted(r.duplicate for r in crm.received(dealer_id)) == [False, True]
    assert len(crm.unique_deliveries(dealer_id)) == 1


def test_a_redelivered_message_of_an_acknowledged_lead_is_not_sent_again(
    crm: DealerCrm, deliveries: Any
) -> None:
    dealer_id = adf_dealer(crm)
    text = body(dealer_id)
    first, _ = deliveries(text)
    again, run = deliveries(text, receive_count=2)
    assert (again.status, again.disposition, again.sends) == ("skipped_duplicate", "done", 0)
    [(_, record)] = run.rows
    assert (record.acknowledged_at, record.http_status) == (first.acknowledged_at, 200)
    assert (record.receive_count, record.latency_ms) == (2, None)
    assert len(crm.attempts(dealer_id)) == 1


def test_a_delivery_another_invocation_is_sending_comes_back_later(crm: DealerCrm, deliveries: Any) -> None:
    dealer_id = adf_dealer(crm)
    text = body(dealer_id)
    delivery_state.claim(delivery_id_of(text), dealer_id, "lead-1", now=datetime.now(UTC), lease_seconds=60)
    pending, run = deliveries(text)
    assert isinstance(pending, DeliveryPending)
    assert pending.outcome.error == "in_flight_elsewhere: another invocation is sending it"
    assert run.rows == [] and crm.attempts(dealer_id) == []


def test_the_last_receive_without_an_acknowledgement_is_recorded_as_failed(
    crm: DealerCrm, deliveries: Any
) -> None:
    dealer_id = adf_dealer(crm)
    crm.fail(dealer_id, 503, times=4)
    text = body(dealer_id)
    pending, run = deliveries(text, receive_count=4, policy=RetryPolicy(max_attempts=2))
    assert isinstance(pending, DeliveryPending) and pending.outcome.status == "retry"
    pending, run = deliveries(text, receive_count=5, policy=RetryPolicy(max_attempts=2))
    assert pending.outcome.status == "failed" and pending.outcome.disposition == "redeliver"
    assert [(r.attempt, r.status) for _, r in run.rows] == [(3, "retry"), (4, "failed")]
    assert delivery_state.get(delivery_id_of(text))["attempts"] == "4"  # type: ignore[index]


# --- nowhere to send ------------------------------------------------------------------------------------


def test_without_a_delivery_method_the_lead_waits_in_the_queue(deliveries: Any, no_fallback: None) -> None:
    pending, run = deliveries(body(dealer(None)))
    assert isinstance(pending, DeliveryPending)
    assert (pending.outcome.status, pending.outcome.disposition) == ("waiting", "redeliver")
    [(_, record)] = run.rows
    assert (record.status, record.method, record.attempt) == ("waiting", None, None)
    assert record.error.startswith("no_delivery_configured: ")


def test_with_a_fallback_queue_the_waiting_lead_is_handed_to_it(deliveries: Any, configured: Any) -> None:
    fallback = aws.client("sqs").create_queue(QueueName=f"fallback-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    configured(FORECOURT_FALLBACK_QUEUE_URL=fallback)
    text = body(dealer("adf_http", "https://crm.example/adf", active=False))
    outcome, _ = deliveries(text)
    assert (outcome.status, outcome.disposition, outcome.waiting_reason) == (
        "waiting",
        "fallback",
        "dealer_inactive",
    )
    message = parked(fallback, delivery_id_of(text))
    assert message is not None and message["Body"] == text
    assert message["MessageAttributes"]["reason"]["StringValue"] == "dealer_inactive"


def test_a_message_that_is_not_a_delivery_is_parked_with_the_fields_named(
    deliveries: Any, local_aws: LocalAws
) -> None:
    text = json.dumps({"delivery_id": "dlv-malformed-1", "dealer_id": "D1", "action": "resend"})
    outcome, run = deliveries(text)
    assert (outcome.status, outcome.disposition, run.rows) == ("failed", "dead_lettered", [])
    assert outcome.error.startswith("malformed_message: action, lead, lead_id, received_at")
    message = parked(local_aws.resources.queues["DeliveryDeadLetterQueue"], "dlv-malformed-1")
    assert message is not None and message["Body"] == text


# --- signing during a rotation --------------------------------------------------------------------------


def test_a_crm_still_on_the_old_secret_verifies_during_a_rotation_and_not_after(
    crm: DealerCrm, deliveries: Any
) -> None:
    dealer_id, old = json_dealer(crm)
    new = dealer_secrets.rotate(dealer_id)
    assert deliveries(body(dealer_id))[0].status == "delivered"  # CRM on the old secret
    crm.set_secret(dealer_id, new)
    assert deliveries(body(dealer_id))[0].status == "delivered"  # CRM switched
    assert dealer_secrets.finish_rotation(dealer_id)
    crm.set_secret(dealer_id, old)  # a CRM that never switched
    outcome, _ = deliveries(body(dealer_id))
    assert (outcome.status, outcome.attempts[0].http_status) == ("failed", 401)
    assert [r.valid for r in crm.received(dealer_id)] == [True, True, False]


# --- the transport's edges ------------------------------------------------------------------------------


def test_an_endpoint_nobody_listens_on_is_a_retryable_connection_failure(
    transport: Outbound, deliveries: Any
) -> None:
    dealer_id = dealer("adf_http", "http://127.0.0.1:9/adf")
    pending, run = deliveries(body(dealer_id), policy=RetryPolicy(max_attempts=2))
    assert isinstance(pending, DeliveryPending)
    assert [r.error for _, r in run.rows] == [
        "connection_failed: connect failed (ConnectionRefusedError)"
    ] * 2


def test_ses_sends_as_a_verified_identity_and_a_refusal_is_permanent(transport: Outbound) -> None:
    from forecourt.transports import SendFailed

    ses = aws.client("ses")
    ses.verify_email_identity(EmailAddress="leads@forecourt.example")
    from email.message import EmailMessage

    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "leads@forecourt.example", "crm@lakeside.example", "lead"
    mail.set_content("<adf/>")
    ses_transport = Outbound(mail_transport="ses")
    assert ses_transport.send_mail(mail, 5.0) == 250
    del mail["From"]
    mail["From"] = "someone@unverified.example"
    with pytest.raises(SendFailed) as refused:
        ses_transport.send_mail(mail, 5.0)
    assert (refused.value.code, refused.value.retryable) == ("ses_MessageRejected", False)


def test_with_the_oem_fallback_queue_a_lead_without_delivery_is_handed_to_it(
    local_aws: Any, deliveries: Any
) -> None:
    text = body(dealer(None))
    outcome, _ = deliveries(text)
    assert not isinstance(outcome, DeliveryPending)
    assert (outcome.status, outcome.disposition) == ("waiting", "fallback")
    handed = [
        json.loads(m["Body"])
        for m in local_aws.sqs_batch("FallbackQueue", 10)
        if json.loads(m["Body"]).get("delivery_id") == delivery_id_of(text)
    ]
    assert len(handed) == 1
