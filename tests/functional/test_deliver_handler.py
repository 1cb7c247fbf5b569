"""The deliver function as Lambda runs it: SQS batches from DeliveryQueue, partial batch failures,
and every attempt in the ``deliveries`` table once the committer has run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import LocalAws
from forecourt import aws, catalog
from forecourt.config import settings
from forecourt.delivery_run import DeliveryRun
from forecourt.local.crm import DealerCrm
from forecourt.local.pump import LambdaContext, load_handler, sqs_event
from routed_leads import body, dealer


@pytest.fixture(scope="module")
def crm() -> Iterator[DealerCrm]:
    with DealerCrm() as server:
        yield server


@pytest.fixture(scope="module")
def deliver_handler(local_aws: LocalAws) -> Any:
    return load_handler("deliver")


def crm_dealer(crm: DealerCrm) -> str:
    return dealer("adf_http", crm.adf_url)


def queued(local_aws: LocalAws, *bodies: str) -> list[dict[str, Any]]:
    """Send ``bodies`` to DeliveryQueue and receive them back as Lambda's poller would."""
    sqs, url = aws.client("sqs"), local_aws.resources.queues["DeliveryQueue"]
    for text in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=text)
    received: list[dict[str, Any]] = []
    while len(received) < len(bodies):
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        received += answer.get("Messages", [])
    return received


def rows_of(*delivery_ids: str) -> list[dict[str, Any]]:
    ids = ", ".join(f"'{d}'" for d in delivery_ids)
    table = catalog.load("deliveries").scan(row_filter=f"delivery_id IN ({ids})").to_arrow()
    return sorted(table.to_pylist(), key=lambda r: (r["delivery_id"], r["attempted_at"]))


def test_a_batch_reports_only_the_lead_that_must_come_back_and_records_both(
    local_aws: LocalAws,
    crm: DealerCrm,
    deliver_handler: Any,
    capsys: pytest.CaptureFixture[str],
    no_fallback: None,
) -> None:
    good_dealer = crm_dealer(crm)
    good, waiting = body(good_dealer), body(dealer(None))
    messages = queued(local_aws, good, waiting)
    event = sqs_event(messages, local_aws.resources.queue_arns["DeliveryQueue"])
    result = deliver_handler(event, LambdaContext("deliver", timeout_ms=60_000))
    printed = capsys.readouterr().out
    for personal in ("Ann", "Lee", "ann.lee@example.com", "+13125550142"):  # logs and metrics: no PII
        assert personal not in printed
    latency = [d for d in map(json.loads, printed.splitlines()) if "DeliveryLatency" in d]
    assert [
        (d["dealer_id"], sorted(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])) for d in latency
    ] == [(good_dealer, ["dealer_id", "service"])]
    assert latency[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "DeliveryLatency", "Unit": "Milliseconds"}
    ]
    waiting_message = next(m for m in messages if m["Body"] == waiting)
    assert result == {"batchItemFailures": [{"itemIdentifier": waiting_message["MessageId"]}]}
    for message in messages:  # what Lambda's poller does with a partial batch response, and a DLQ later
        aws.client("sqs").delete_message(
            QueueUrl=local_aws.resources.queues["DeliveryQueue"], ReceiptHandle=message["ReceiptHandle"]
        )
    local_aws.drain_commits()

    delivered_id, waiting_id = json.loads(good)["delivery_id"], json.loads(waiting)["delivery_id"]
    delivered, parked = rows_of(delivered_id, waiting_id)
    if delivered["delivery_id"] != delivered_id:
        delivered, parked = parked, delivered
    assert (delivered["status"], delivered["method"], delivered["attempt"], delivered["http_status"]) == (
        "delivered",
        "adf_http",
        1,
        200,
    )
    latency = delivered["acknowledged_at"] - delivered["received_at"]
    assert delivered["latency_ms"] == pytest.approx(latency.total_seconds() * 1000, abs=1)
    assert delivered["latency_ms"] >= 2000  # the lead was received two seconds before
    assert (delivered["action"], delivered["routing_rule"], delivered["receive_count"]) == (
        "new",
        "territory",
        1,
    )
    assert (parked["status"], parked["method"], parked["latency_ms"]) == ("waiting", None, None)
    assert parked["error"].startswith("no_delivery_configured")
    assert delivered["upload_id"] == parked["upload_id"]  # one batch for the invocation


def test_a_batch_where_every_lead_must_come_back_still_records_its_attempts(
    local_aws: LocalAws, crm: DealerCrm, deliver_handler: Any
) -> None:
    dealer_id = crm_dealer(crm)
    crm.fail(dealer_id, 503, times=20)
    text = body(dealer_id)
    [message] = queued(local_aws, text)
    event = sqs_event([message], local_aws.resources.queue_arns["DeliveryQueue"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FORECOURT_DELIVERY_MAX_ATTEMPTS", "2")
        patch.setenv("FORECOURT_DELIVERY_BACKOFF_BASE", "0.01")
        settings.cache_clear()
        try:
            result = deliver_handler(event, LambdaContext("deliver", timeout_ms=60_000))
        finally:
            settings.cache_clear()
    assert result == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    aws.client("sqs").delete_message(
        QueueUrl=local_aws.resources.queues["DeliveryQueue"], ReceiptHandle=message["ReceiptHandle"]
    )
    local_aws.drain_commits()
    rows = rows_of(json.loads(text)["delivery_id"])
    assert [(r["attempt"], r["status"], r["http_status"]) for r in rows] == [
        (1, "retry", 503),
        (2, "retry", 503),
    ]


def test_a_batch_written_twice_replaces_its_rows(local_aws: LocalAws, crm: DealerCrm) -> None:
    text = body(crm_dealer(crm))
    run = DeliveryRun(1, lambda: 60_000)
    run.handle("m-twice", text)
    first = run.record()
    again = run.record()
    assert [r.upload_id for r in first] == [r.upload_id for r in again]
    local_aws.drain_commits()
    [row] = rows_of(json.loads(text)["delivery_id"])
    assert row["status"] == "delivered"


def test_rows_of_leads_received_on_different_days_go_to_their_own_partitions(
    local_aws: LocalAws, crm: DealerCrm
) -> None:
    dealer_id = crm_dealer(crm)
    yesterday = "2026-11-01T23:59:59+00:00"
    old = body(dealer_id, received_at=yesterday)
    run = DeliveryRun(2, lambda: 60_000)
    run.handle("m-old", old)
    run.handle("m-new", body(dealer_id))
    requests = run.record()
    assert len({r.upload_id for r in requests}) == 2
    assert "/received_day=2026-11-01/" in requests[0].files[0]
    local_aws.drain_commits()
    [row] = rows_of(json.loads(old)["delivery_id"])
    assert row["received_at"] == datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC)
