"""POST /v1/dealers/{dealer_id}/events and /uploads through the real webhook handler against moto."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from conftest import LocalAws

EVENT = {
    "event_id": "EV-1",
    "lead_id": "lead-abc",
    "type": "contacted",
    "occurred_at": "2026-11-02T09:12:00-06:00",
    "channel": "phone",
    "salesperson": "Amy Chen",
}


@pytest.fixture(scope="module")
def crm_secret(local_aws: LocalAws, registered_dealers: dict[str, Any]) -> str:
    from forecourt import senders

    if senders.get_sender("lakeside-crm") is None:
        return senders.add_sender("lakeside-crm", "dealer_crm", ["D100"])[1]
    pytest.skip("sender already registered by another module")


@pytest.fixture()
def handler(local_aws: LocalAws) -> Any:
    from forecourt.local.pump import load_handler

    return load_handler("webhook")


def post(
    handler: Any,
    path: str,
    body: bytes,
    secret: str,
    *,
    content_type: str = "application/json",
    params: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    from forecourt import signing
    from forecourt.local.http import api_event
    from forecourt.local.pump import LambdaContext

    headers = {
        "Content-Type": content_type,
        "Forecourt-Sender": "lakeside-crm",
        "Forecourt-Signature": signing.sign([secret], body, int(time.time())),
    }
    dealer = path.split("/")[3]
    kind = path.rsplit("/", 1)[1]
    event = api_event("POST", path, headers, body, route_key=f"POST /v1/dealers/{{dealer_id}}/{kind}")
    event["pathParameters"] = params or {"dealer_id": dealer}
    answer = handler(event, LambdaContext("webhook"))
    return answer["statusCode"], json.loads(answer["body"])


def event_body(**changes: Any) -> bytes:
    return json.dumps(EVENT | changes).encode()


def test_a_crm_event_is_stored_first_and_recorded_in_lead_events(
    local_aws: LocalAws, crm_secret: str, handler: Any
) -> None:
    from forecourt import aws, catalog

    local_aws.run_realtime()
    sent = event_body(type="Appt Set", event_id="EV-10")
    status, body = post(handler, "/v1/dealers/D100/events", sent, crm_secret)
    assert status == 202 and body["status"] == "accepted", body
    (message,) = local_aws.run_realtime()  # route_lead records the batch; events need no routing
    assert (message["kind"], message["dataset"], message["feed"]) == ("event", "lead_events", "lead-events")
    raw = message["raw"]
    assert raw["key"].startswith("raw/events/dealer=D100/dt=")
    assert aws.client("s3").get_object(Bucket=raw["bucket"], Key=raw["key"])["Body"].read() == sent
    rows = (
        catalog.load("lead_events")
        .scan(row_filter=f"record_id == '{body['event_id']}'")
        .to_arrow()
        .to_pylist()
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row["event_type"], row["lead_id"], row["source_key"], row["dealer_id"]) == (
        "appointment_set",
        "lead-abc",
        "EV-10",
        "D100",
    )
    assert row["occurred_at"].isoformat() == "2026-11-02T15:12:00+00:00"


def test_sold_needs_its_value_and_the_type_must_be_known(
    local_aws: LocalAws, crm_secret: str, handler: Any
) -> None:
    from decimal import Decimal

    from forecourt import catalog

    local_aws.run_realtime()
    status, problem = post(
        handler, "/v1/dealers/D100/events", event_body(type="sold", event_id="EV-20"), crm_secret
    )
    assert (status, problem["reason"]) == (422, "event_contract")
    assert [(e["field"], e["reason"]) for e in problem["errors"]] == [
        ("sale_value", "missing_required_field")
    ]
    sold = event_body(type="sold", event_id="EV-21", value="38450.00")
    assert post(handler, "/v1/dealers/D100/events", sold, crm_secret)[0] == 202
    status, problem = post(
        handler, "/v1/dealers/D100/events", event_body(type="teleported", event_id="EV-22"), crm_secret
    )
    assert (status, problem["errors"][0]["field"], problem["errors"][0]["reason"]) == (
        422,
        "event_type",
        "invalid_required_field",
    )
    recorded = {m["kind"]: m for m in local_aws.run_realtime()}
    assert sorted(recorded) == ["event", "rejected"]
    (sale,) = catalog.load("lead_events").scan(row_filter="source_key == 'EV-21'").to_arrow().to_pylist()
    assert (sale["event_type"], sale["sale_value"]) == ("sold", Decimal("38450.00"))  # exact, through JSON
    rejected = catalog.load("quarantine").scan(row_filter="dataset == 'lead_events'").to_arrow().to_pylist()
    assert {(q["field"], q["reason_code"]) for q in rejected} >= {
        ("sale_value", "missing_required_field"),
        ("event_type", "invalid_required_field"),
    }


def test_event_refusals(crm_secret: str, handler: Any) -> None:
    assert (
        post(handler, "/v1/dealers/D100/events", b"<x/>", crm_secret, content_type="application/xml")[0]
        == 415
    )
    status, problem = post(handler, "/v1/dealers/D999/events", event_body(), crm_secret)
    assert (status, problem["reason"]) == (404, "unknown_dealer")
    status, problem = post(handler, "/v1/dealers/D200/events", event_body(), crm_secret)
    assert (status, problem["reason"]) == (403, "dealer_not_allowed")


def test_an_upload_url_lets_the_dealer_put_one_file_into_its_own_raw_prefix(
    local_aws: LocalAws, crm_secret: str, handler: Any
) -> None:
    from forecourt import aws
    from forecourt.config import settings

    request = json.dumps({"file_name": "LeadExport 2026-11-02.csv", "feed": "vinsolutions-leads"}).encode()
    status, body = post(handler, "/v1/dealers/D100/uploads", request, crm_secret)
    assert status == 201, body
    assert body["method"] == "PUT" and body["key"].startswith("raw/files/dealer=D100/dt=")
    assert body["key"].endswith("/LeadExport 2026-11-02.csv")
    put = urllib.request.Request(
        body["url"], data=b"LeadID,FirstName\n1,Ann\n", method="PUT", headers=body["headers"]
    )
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
    stored = aws.client("s3").get_object(Bucket=settings().lake_bucket, Key=body["key"])
    assert stored["Metadata"] == {"feed": "vinsolutions-leads"}
    assert stored["Body"].read() == b"LeadID,FirstName\n1,Ann\n"
    status, problem = post(
        handler, "/v1/dealers/D100/uploads", b'{"feed": "nope", "file_name": "a.csv"}', crm_secret
    )
    assert (status, problem["reason"], problem["errors"][0]["field"]) == (422, "upload_request", "feed")
    assert (
        post(handler, "/v1/dealers/D100/uploads", b"{}", crm_secret)[1]["errors"][0]["field"] == "file_name"
    )
    assert post(handler, "/v1/dealers/D200/uploads", request, crm_secret)[0] == 403


def test_the_local_http_api_routes_dealer_paths(crm_secret: str, handler: Any) -> None:
    from forecourt import signing
    from forecourt.local.http import ApiServer
    from forecourt.local.pump import LambdaContext

    server = ApiServer(lambda event: handler(event, LambdaContext("webhook"))).start()
    try:
        body = event_body(event_id="EV-30")
        request = urllib.request.Request(
            server.url + "/v1/dealers/D100/events",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Forecourt-Sender": "lakeside-crm",
                "Forecourt-Signature": signing.sign([crm_secret], body, int(time.time())),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 202
    finally:
        server.stop()
