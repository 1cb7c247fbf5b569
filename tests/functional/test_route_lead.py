"""route_lead against moto: a lead posted through the webhook is routed, queued for delivery (or for
OEM staff), remembered in the identity index (hashes only) and recorded in ``lead_routes`` — once,
however often SQS delivers it."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LocalAws

SENDER = "route-hub"


@pytest.fixture(scope="module")
def sender_secret(local_aws: LocalAws) -> str:
    from forecourt import senders

    name = f"{SENDER}-{uuid.uuid4().hex[:6]}"
    _, secret = senders.add_sender(name, "lead_provider", [], True)
    return f"{name}:{secret}"


@pytest.fixture(scope="module")
def routing_dealers(local_aws: LocalAws) -> dict[str, Any]:
    """R100 owns 60601 and takes updates; R200 suppresses repeats; R300 is closed."""
    from forecourt import lead_routing, registry

    dealers = {
        "R100": registry.Dealer(
            dealer_id="R100",
            zip="60601",
            territory_zips=["60601"],
            delivery=registry.Delivery(method="file"),
            duplicate_policy="update",
        ),
        "R200": registry.Dealer(
            dealer_id="R200",
            zip="60611",
            delivery=registry.Delivery(method="json_webhook", endpoint="https://crm.example/leads"),
            duplicate_policy="suppress",
        ),
        "R300": registry.Dealer(dealer_id="R300", zip="60611", active=False),
    }
    for dealer in dealers.values():
        registry.put_dealer(dealer)
    lead_routing.forget_dealers()
    return dealers


@pytest.fixture()
def route_lead(local_aws: LocalAws, routing_dealers: dict[str, Any]) -> Iterator[Any]:
    from forecourt.local.pump import load_handler

    local_aws.take_messages("RealtimeQueue")
    local_aws.take_messages("DeliveryQueue")
    local_aws.take_messages("FallbackQueue")
    yield load_handler("route_lead")


def person() -> dict[str, str]:
    """A new person (contact data no other test uses)."""
    tag = uuid.uuid4().hex[:8]
    return {"email": f"ann.{tag}@example.com", "phone": f"(312) 555-{int(tag[:4], 16) % 10_000:04d}"}


def post_lead(
    sender_secret: str,
    who: dict[str, str],
    *,
    dealer_id: str | None = None,
    zip_code: str = "60601",
    model: str = "Equinox",
    **customer: str,
) -> str:
    """POST one JSON lead through the webhook handler; returns its lead id."""
    from forecourt import signing
    from forecourt.local.http import api_event
    from forecourt.local.pump import LambdaContext, load_handler

    name, secret = sender_secret.split(":", 1)
    lead: dict[str, Any] = {
        "lead_id": f"RT-{uuid.uuid4().hex[:10]}",
        "created_at": "2026-11-02T14:05:00-06:00",
        "source": "OEM Website",
        "customer": {"first_name": "Ann", "last_name": "Lee", "zip": zip_code} | who | customer,
        "vehicle": {"year": "2026", "make": "Chevrolet", "model": model},
    }
    if dealer_id:
        lead["dealer_id"] = dealer_id
    body = json.dumps(lead).encode()
    headers = {
        "Content-Type": "application/json",
        "Forecourt-Sender": name,
        "Forecourt-Signature": signing.sign([secret], body, int(time.time())),
    }
    answer = load_handler("webhook")(api_event("POST", "/v1/leads", headers, body), LambdaContext("webhook"))
    assert answer["statusCode"] == 202, answer
    return str(json.loads(answer["body"])["lead_id"])


def realtime(local_aws: LocalAws) -> list[dict[str, Any]]:
    """The realtime queue's messages as SQS gives them (left in flight, as Lambda's poller does)."""
    messages: list[dict[str, Any]] = []
    while batch := local_aws.sqs_batch("RealtimeQueue"):
        messages += batch
    return messages


def run(
    local_aws: LocalAws, route_lead: Any, messages: list[dict[str, Any]], *, delete: bool = True
) -> dict[str, Any]:
    """Invoke route_lead on received realtime messages; delete those it did not report failed, as
    Lambda's poller does (``delete=False``: leave them in flight, to be redelivered)."""
    from forecourt import aws
    from forecourt.local.pump import LambdaContext, sqs_event

    result: dict[str, Any] = route_lead(
        sqs_event(messages, local_aws.resources.queue_arns["RealtimeQueue"]), LambdaContext("route_lead")
    )
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for message in messages:
        if delete and message["MessageId"] not in failed:
            aws.client("sqs").delete_message(
                QueueUrl=local_aws.resources.queues["RealtimeQueue"], ReceiptHandle=message["ReceiptHandle"]
            )
    return result


def redeliver(local_aws: LocalAws, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make in-flight messages visible again and receive them anew (same message ids)."""
    from forecourt import aws

    for message in messages:
        aws.client("sqs").change_message_visibility(
            QueueUrl=local_aws.resources.queues["RealtimeQueue"],
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    return realtime(local_aws)


def routes(local_aws: LocalAws, lead_id: str) -> list[dict[str, Any]]:
    from forecourt import catalog

    local_aws.drain_commits()
    return catalog.load("lead_routes").scan(row_filter=f"lead_id == '{lead_id}'").to_arrow().to_pylist()


def index_items() -> list[dict[str, Any]]:
    from forecourt import aws
    from forecourt.config import settings

    pages = aws.client("dynamodb").get_paginator("scan").paginate(TableName=settings().identity_index_table)
    return [item for page in pages for item in page["Items"]]


def index_entries(key: str) -> list[str]:
    from forecourt import aws
    from forecourt.config import settings

    item = aws.client("dynamodb").get_item(TableName=settings().identity_index_table, Key={"key": {"S": key}})
    return [e["M"]["lead_id"]["S"] for e in item.get("Item", {}).get("leads", {}).get("L", [])]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_a_posted_lead_is_routed_queued_remembered_and_recorded_once_however_often_it_arrives(
    local_aws: LocalAws, sender_secret: str, route_lead: Any
) -> None:
    from forecourt import lake

    who = person()
    lead_id = post_lead(sender_secret, who, dealer_id="R100")
    messages = realtime(local_aws)
    assert len(messages) == 1
    webhook_message = json.loads(messages[0]["Body"])

    assert run(local_aws, route_lead, messages, delete=False) == {"batchItemFailures": []}

    (delivery,) = local_aws.take_messages("DeliveryQueue")
    assert set(delivery) == {
        "delivery_id", "lead_id", "dealer_id", "action", "duplicate_of", "routing",
        "received_at", "routed_at", "lead",
    }  # fmt: skip
    assert delivery["delivery_id"] == lake.stable_hash("delivery", lead_id, "R100")
    assert (delivery["lead_id"], delivery["dealer_id"], delivery["action"]) == (lead_id, "R100", "new")
    assert delivery["duplicate_of"] is None
    assert delivery["routing"] == {
        "rule": "chosen",
        "reason": "the customer chose R100",
        "distance_miles": None,
    }
    assert delivery["lead"] == webhook_message["record"] and delivery["received_at"].startswith("20")
    assert local_aws.take_messages("FallbackQueue") == []

    # the identity index: the lead under the hash of its e-mail and of its E.164 phone, nothing raw
    email, phone = webhook_message["record"]["email"], webhook_message["record"]["phone"]
    assert index_entries("email#" + sha(email)) == [lead_id]
    assert index_entries("phone#" + sha(phone)) == [lead_id]
    dumped = json.dumps(index_items())
    assert email not in dumped and phone not in dumped and phone.lstrip("+") not in dumped

    [row] = routes(local_aws, lead_id)
    assert (row["dealer_id"], row["chosen_dealer_id"], row["rule"], row["action"]) == (
        "R100",
        "R100",
        "chosen",
        "new",
    )
    assert row["delivery_id"] == delivery["delivery_id"] and row["is_test"] is False
    assert row["reason"] == "the customer chose R100" and row["routed_at"] >= row["received_at"]

    # SQS delivers the same message again: same delivery id, no second index entry, one row
    again_messages = redeliver(local_aws, messages)
    assert [m["MessageId"] for m in again_messages] == [m["MessageId"] for m in messages]
    assert run(local_aws, route_lead, again_messages) == {"batchItemFailures": []}
    (again,) = local_aws.take_messages("DeliveryQueue")
    assert again["delivery_id"] == delivery["delivery_id"] and again["routing"] == delivery["routing"]
    assert index_entries("email#" + sha(email)) == [lead_id]
    assert len(routes(local_aws, lead_id)) == 1
    assert realtime(local_aws) == []


def test_a_repeat_lead_goes_to_the_dealer_of_record_as_an_update_of_the_first(
    local_aws: LocalAws, sender_secret: str, route_lead: Any
) -> None:
    who = person()
    first = post_lead(sender_secret, who, zip_code="60601")  # R100's territory
    run(local_aws, route_lead, realtime(local_aws))
    (delivered,) = local_aws.take_messages("DeliveryQueue")
    assert delivered["routing"]["rule"] == "territory" and delivered["dealer_id"] == "R100"
    assert delivered["routing"]["reason"] == "zip 60601 is in R100's territory"

    second = post_lead(sender_secret, {"email": who["email"]}, zip_code="60611", comments="again")
    run(local_aws, route_lead, realtime(local_aws))
    (update,) = local_aws.take_messages("DeliveryQueue")
    assert (update["lead_id"], update["dealer_id"], update["action"], update["duplicate_of"]) == (
        second,
        "R100",
        "update",
        first,
    )
    assert update["routing"]["rule"] == "dealer_of_record"
    assert update["routing"]["reason"].startswith(f"dealer of record: lead {first[:8]}… on 20")
    [row] = routes(local_aws, second)
    assert (row["rule"], row["action"], row["duplicate_of"]) == ("dealer_of_record", "update", first)


def test_a_repeat_lead_for_a_dealer_that_suppresses_repeats_is_not_sent(
    local_aws: LocalAws, sender_secret: str, route_lead: Any
) -> None:
    who = person()
    first = post_lead(sender_secret, who, dealer_id="R200")
    second = post_lead(sender_secret, who, dealer_id="R200", comments="second form")
    messages = realtime(local_aws)
    run(local_aws, route_lead, messages[:1])
    run(local_aws, route_lead, messages[1:])
    assert [(d["lead_id"], d["action"]) for d in local_aws.take_messages("DeliveryQueue")] == [(first, "new")]
    [row] = routes(local_aws, second)
    assert (row["dealer_id"], row["action"], row["duplicate_of"], row["delivery_id"]) == (
        "R200",
        "suppress",
        first,
        None,
    )


def test_a_lead_no_dealer_can_take_waits_in_the_fallback_queue(
    local_aws: LocalAws, sender_secret: str, route_lead: Any
) -> None:
    lead_id = post_lead(sender_secret, person(), dealer_id="R300", zip_code="99701")  # closed; Fairbanks
    run(local_aws, route_lead, realtime(local_aws))
    assert local_aws.take_messages("DeliveryQueue") == []
    (held,) = local_aws.take_messages("FallbackQueue")
    assert (held["lead_id"], held["dealer_id"], held["action"]) == (lead_id, None, "hold")
    assert held["routing"]["rule"] == "fallback"
    assert held["routing"]["reason"].startswith("chosen dealer R300 is inactive; ")
    assert held["routing"]["reason"].endswith("; held for the OEM")
    [row] = routes(local_aws, lead_id)
    assert (row["rule"], row["action"], row["chosen_dealer_id"]) == ("fallback", "hold", "R300")
    assert row["delivery_id"] == held["delivery_id"]


def test_a_test_lead_reaches_no_queue_and_is_not_remembered(
    local_aws: LocalAws, sender_secret: str, route_lead: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    lead_id = post_lead(sender_secret, {"email": f"qa.{tag}@mailinator.com"}, dealer_id="R100")
    messages = realtime(local_aws)
    run(local_aws, route_lead, messages)
    assert local_aws.take_messages("DeliveryQueue") == [] and local_aws.take_messages("FallbackQueue") == []
    assert index_entries("email#" + sha(f"qa.{tag}@mailinator.com")) == []
    [row] = routes(local_aws, lead_id)
    assert (row["rule"], row["action"], row["is_test"], row["dealer_id"]) == (
        "test_lead",
        "suppress",
        True,
        None,
    )


def test_a_bad_message_fails_alone(local_aws: LocalAws, sender_secret: str, route_lead: Any) -> None:
    lead_id = post_lead(sender_secret, person(), dealer_id="R100")
    [good] = realtime(local_aws)
    bad = {"MessageId": "not-a-lead", "ReceiptHandle": "r", "Body": '{"lead_id": "x"}'}
    assert run(local_aws, route_lead, [bad, good]) == {
        "batchItemFailures": [{"itemIdentifier": "not-a-lead"}]
    }
    assert [d["lead_id"] for d in local_aws.take_messages("DeliveryQueue")] == [lead_id]
    assert len(routes(local_aws, lead_id)) == 1
