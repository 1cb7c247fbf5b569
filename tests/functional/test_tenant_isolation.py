"""Dealers and senders stay in their own lane (ARCHITECTURE §9), through the real webhook handler
against moto: a sender posts leads, events and upload requests only for the dealers it is registered
for, and the presigned upload URL it gets is bound to that dealer's raw prefix by its signature."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from conftest import LocalAws

SENDERS = {"iso-crm-a": "D100", "iso-crm-b": "D200"}
"""Each sender of the matrix and the one dealer it is registered for."""


@pytest.fixture(scope="module")
def secrets(local_aws: LocalAws, registered_dealers: dict[str, Any]) -> dict[str, str]:
    from forecourt import senders

    if any(senders.get_sender(name) for name in SENDERS):
        pytest.skip("senders already registered by another run")
    return {name: senders.add_sender(name, "dealer_crm", [dealer])[1] for name, dealer in SENDERS.items()}


@pytest.fixture()
def handler(local_aws: LocalAws) -> Any:
    from forecourt.local.pump import load_handler

    return load_handler("webhook")


def post(handler: Any, sender: str, secret: str, route: str, dealer: str, body: bytes) -> tuple[int, Any]:
    from forecourt import signing
    from forecourt.local.http import api_event
    from forecourt.local.pump import LambdaContext

    headers = {
        "Content-Type": "application/json",
        "Forecourt-Sender": sender,
        "Forecourt-Signature": signing.sign([secret], body, int(time.time())),
    }
    if route == "leads":
        event = api_event("POST", "/v1/leads", headers, body, route_key="POST /v1/leads")
    else:
        path = f"/v1/dealers/{dealer}/{route}"
        event = api_event("POST", path, headers, body, route_key=f"POST /v1/dealers/{{dealer_id}}/{route}")
        event["pathParameters"] = {"dealer_id": dealer}
    answer = handler(event, LambdaContext("webhook"))
    return answer["statusCode"], json.loads(answer["body"])


def bodies(sender: str, dealer: str) -> dict[str, bytes]:
    """A lead naming ``dealer``, a CRM event and an upload request, unique to this cell."""
    cell = f"{sender}-{dealer}"
    lead = {
        "lead_id": f"ISO-{cell}",
        "dealer_id": dealer,
        "created_at": "2026-11-02T10:00:00-05:00",
        "customer": {"first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.com"},
        "vehicle": {"year": "2026", "make": "Chevrolet", "model": "Equinox"},
    }
    event = {
        "event_id": f"EV-{cell}",
        "lead_id": "lead-iso",
        "type": "contacted",
        "occurred_at": "2026-11-02",
    }
    return {
        "leads": json.dumps(lead).encode(),
        "events": json.dumps(event | {"occurred_at": "2026-11-02T09:12:00-06:00"}).encode(),
        "uploads": json.dumps({"file_name": f"{cell}.csv"}).encode(),
    }


ACCEPTED = {"leads": 202, "events": 202, "uploads": 201}


@pytest.mark.parametrize("sender", list(SENDERS))
@pytest.mark.parametrize("route", list(ACCEPTED))
def test_a_sender_posts_only_for_its_own_dealer(
    local_aws: LocalAws, secrets: dict[str, str], handler: Any, sender: str, route: str
) -> None:
    answers = {}
    for dealer in ("D100", "D200"):
        status, body = post(handler, sender, secrets[sender], route, dealer, bodies(sender, dealer)[route])
        answers[dealer] = status if status < 400 else (status, body["reason"])
    own = SENDERS[sender]
    other = "D200" if own == "D100" else "D100"
    assert answers == {own: ACCEPTED[route], other: (403, "dealer_not_allowed")}
    # only what was accepted went on (and it is taken off the queue the worker's other tests read)
    taken = [
        (m.get("dealer_id"), (m.get("record") or {}).get("source_key"))
        for m in local_aws.take_messages("RealtimeQueue")
    ]
    queued = [(dealer, key) for dealer, key in taken if key and f"-{sender}-" in key]  # this cell's only
    prefix = {"leads": "ISO", "events": "EV"}.get(route)
    assert queued == ([(own, f"{prefix}-{sender}-{own}")] if prefix else [])


def _resign(url: str, method: str, headers: dict[str, str]) -> tuple[str, str]:
    """(signature in the URL, signature S3 computes for the request the URL now describes): botocore's
    own SigV4 query signer over the URL's key, query, signed headers and timestamp."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from forecourt import aws

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    given = query.pop("X-Amz-Signature")
    unsigned = urlunsplit(parts._replace(query=urlencode(query)))
    request = AWSRequest(method=method, url=unsigned, headers={"host": parts.netloc, **headers})
    request.context["timestamp"] = query["X-Amz-Date"]
    region = query["X-Amz-Credential"].split("/")[2]
    credentials = aws.client("s3")._request_signer._credentials.get_frozen_credentials()
    auth = S3SigV4QueryAuth(credentials, "s3", region, expires=int(query["X-Amz-Expires"]))
    return given, auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


def test_a_presigned_upload_lands_in_its_dealers_raw_prefix_and_no_other_key(
    secrets: dict[str, str], handler: Any
) -> None:
    from forecourt import aws
    from forecourt.config import settings

    request = json.dumps({"file_name": "LeadExport.csv", "feed": "vinsolutions-leads"}).encode()
    status, grant = post(handler, "iso-crm-a", secrets["iso-crm-a"], "uploads", "D100", request)
    assert status == 201 and grant["key"].startswith("raw/files/dealer=D100/")
    put = urllib.request.Request(grant["url"], data=b"LeadID\n1\n", method="PUT", headers=grant["headers"])
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
    head = aws.client("s3").head_object(Bucket=settings().lake_bucket, Key=grant["key"])
    assert head["Metadata"] == {"feed": "vinsolutions-leads"}

    # S3 recomputes the signature from the request it receives: the URL's own request matches it,
    # the same URL pointed at another dealer's prefix, another file or another method does not
    given, computed = _resign(grant["url"], "PUT", grant["headers"])
    assert computed == given
    other_dealer = (
        grant["url"].replace("dealer%3DD100", "dealer%3DD200").replace("dealer=D100", "dealer=D200")
    )
    assert other_dealer != grant["url"]
    other_file = grant["url"].replace("LeadExport.csv", "LeadExport2.csv")
    for tampered, method, headers in (
        (other_dealer, "PUT", grant["headers"]),
        (other_file, "PUT", grant["headers"]),
        (grant["url"], "GET", grant["headers"]),
        (grant["url"], "PUT", {"x-amz-meta-feed": "adf"}),
    ):
        given, computed = _resign(tampered, method, headers)
        assert computed != given, (tampered, method, headers)


def get_outbound(handler: Any, sender: str, secret: str, dealer: str, query: str = "") -> tuple[int, Any]:
    """``GET /v1/dealers/{dealer}/outbound?<query>`` as ``sender``, signed over the path and query."""
    from forecourt import signing, webhook
    from forecourt.local.http import api_event
    from forecourt.local.pump import LambdaContext

    signed = webhook.pickup_signed_text(dealer, query)
    headers = {
        "Forecourt-Sender": sender,
        "Forecourt-Signature": signing.sign([secret], signed, int(time.time())),
    }
    path = f"/v1/dealers/{dealer}/outbound"
    event = api_event(
        "GET", path, headers, b"", route_key="GET /v1/dealers/{dealer_id}/outbound", query=query
    )
    event["pathParameters"] = {"dealer_id": dealer}
    answer = handler(event, LambdaContext("webhook"))
    return answer["statusCode"], json.loads(answer["body"])


PICKUP_DAY = "2031-03-0"
"""Days of this test's own outbound files (no other test writes outbound files dated 2031)."""


@pytest.fixture(scope="module")
def outbound(local_aws: LocalAws) -> dict[str, bytes]:
    """Outbound files of both dealers, as deliver (ADF per lead) and enrich (CSV) write them."""
    from forecourt import aws
    from forecourt.config import settings

    files = {
        f"outbound/dealer=D100/dt={PICKUP_DAY}1/pickup-1.xml": b"<adf>D100 old</adf>",
        f"outbound/dealer=D100/dt={PICKUP_DAY}2/pickup-2.xml": b"<adf>D100 one</adf>",
        f"outbound/dealer=D100/dt={PICKUP_DAY}3/pickup-3.xml": b"<adf>D100 two</adf>",
        f"outbound/dealer=D100/enriched-leads/{PICKUP_DAY}2/enriched-leads-pickup.csv": b"lead_id\nL1\n",
        f"outbound/dealer=D200/dt={PICKUP_DAY}2/pickup-9.xml": b"<adf>D200</adf>",
    }
    for key, body in files.items():
        aws.client("s3").put_object(Bucket=settings().lake_bucket, Key=key, Body=body)
    return files


def test_a_dealers_pickup_lists_and_fetches_only_its_own_outbound_files(
    secrets: dict[str, str], handler: Any, outbound: dict[str, bytes]
) -> None:
    status, listing = get_outbound(handler, "iso-crm-a", secrets["iso-crm-a"], "D100", f"since={PICKUP_DAY}2")
    assert status == 200 and listing["dealer_id"] == "D100"
    assert all(f["key"].startswith("outbound/dealer=D100/") for f in listing["files"])
    mine = {f["key"]: f for f in listing["files"] if PICKUP_DAY in f["key"]}
    assert sorted(mine) == sorted(
        k for k in outbound if k.startswith("outbound/dealer=D100/") and f"{PICKUP_DAY}1" not in k
    )
    assert {(f["kind"], f["day"]) for f in mine.values()} == {
        ("lead", f"{PICKUP_DAY}2"),
        ("lead", f"{PICKUP_DAY}3"),
        ("enriched_leads", f"{PICKUP_DAY}2"),
    }
    for key, item in mine.items():
        with urllib.request.urlopen(item["url"], timeout=30) as answer:
            assert answer.read() == outbound[key]

    # the URL is bound to its key by its signature: the same URL pointed at D200's file is not
    url = mine[f"outbound/dealer=D100/dt={PICKUP_DAY}2/pickup-2.xml"]["url"]
    given, computed = _resign(url, "GET", {})
    assert computed == given
    tampered = url.replace("dealer%3DD100", "dealer%3DD200").replace("dealer=D100", "dealer=D200")
    tampered = tampered.replace("pickup-2.xml", "pickup-9.xml")
    assert tampered != url
    given, computed = _resign(tampered, "GET", {})
    assert computed != given
    given, computed = _resign(url, "PUT", {})
    assert computed != given

    # pages: limit=1 hands a cursor; following it to the end lists the same files
    seen, query = [], f"since={PICKUP_DAY}2&limit=1"
    for _ in range(50):
        status, page = get_outbound(handler, "iso-crm-a", secrets["iso-crm-a"], "D100", query)
        assert status == 200 and len(page["files"]) <= 1
        seen += [f["key"] for f in page["files"]]
        if page["next_after"] is None:
            break
        query = urlencode({"since": f"{PICKUP_DAY}2", "after": page["next_after"], "limit": 1})
    assert seen == [f["key"] for f in listing["files"]]


def test_a_pickup_is_refused_for_another_dealer_a_foreign_cursor_and_a_reused_signature(
    secrets: dict[str, str], handler: Any, outbound: dict[str, bytes]
) -> None:
    from forecourt import signing

    secret = secrets["iso-crm-a"]
    status, body = get_outbound(handler, "iso-crm-a", secret, "D200")
    assert (status, body["reason"]) == (403, "dealer_not_allowed")
    foreign = urlencode({"after": f"outbound/dealer=D200/dt={PICKUP_DAY}1/"})
    status, body = get_outbound(handler, "iso-crm-a", secret, "D100", foreign)
    assert (status, body["reason"], body["errors"][0]["field"]) == (422, "pickup_request", "after")
    status, body = get_outbound(handler, "iso-crm-a", secret, "D100", "since=yesterday")
    assert (status, body["reason"]) == (422, "pickup_request")

    # a signature is for one dealer's listing with one query: replayed elsewhere it is refused
    from forecourt.local.http import api_event
    from forecourt.local.pump import LambdaContext
    from forecourt.webhook import pickup_signed_text

    signature = signing.sign([secret], pickup_signed_text("D100", ""), int(time.time()))
    event = api_event(
        "GET",
        "/v1/dealers/D100/outbound",
        {"Forecourt-Sender": "iso-crm-a", "Forecourt-Signature": signature},
        b"",
        route_key="GET /v1/dealers/{dealer_id}/outbound",
        query="since=2000-01-01",
    )
    event["pathParameters"] = {"dealer_id": "D100"}
    answer = handler(event, LambdaContext("webhook"))
    assert (answer["statusCode"], json.loads(answer["body"])["reason"]) == (401, "bad_signature")
