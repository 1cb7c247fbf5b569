"""The local dealer CRM over loopback HTTP: ADF checked against the spec minimum, signed JSON,
duplicate deliveries, and the failures it injects."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import fromstring, tostring

import pytest
from forecourt.adf_out import DealerRef, to_adf, to_json_payload
from forecourt.local.crm import DealerCrm
from forecourt.signing import sign

SECRET = "whsec-d1042"
DEALER = DealerRef("D-1042", "Hill Country Ford")
LEAD = {
    "requested_at": datetime(2024, 5, 12, 14, 15, tzinfo=UTC),
    "vehicle_year": 2024,
    "vehicle_make": "Ford",
    "vehicle_model": "Bronco",
    "first_name": "María",
    "last_name": "González",
    "email": "maria.g@example.com",
    "phone": "+15125550142",
}


class Clock:
    """The receiver's clock, set by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def crm(clock: Clock) -> Iterator[DealerCrm]:
    with DealerCrm({DEALER.dealer_id: SECRET}, clock=clock) as server:
        yield server


def adf(delivery_id: str = "dlv-1") -> bytes:
    return to_adf(
        LEAD,
        DEALER,
        delivery_id=delivery_id,
        lead_id="lead-1",
        provider_name="Ford Direct",
        routing_reason=None,
    )


def json_body(delivery_id: str = "dlv-1", **changes: Any) -> bytes:
    body = to_json_payload(
        LEAD,
        DEALER,
        delivery_id=delivery_id,
        lead_id="lead-1",
        provider_name="Ford Direct",
        routing_reason="territory",
    )
    return json.dumps({**json.loads(body), **changes}).encode() if changes else body


def post(
    url: str, body: bytes, content_type: str, headers: dict[str, str] | None = None, timeout: float = 5
) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def post_adf(
    crm: DealerCrm, body: bytes, dealer_id: str = DEALER.dealer_id, **options: Any
) -> tuple[int, Any, Any]:
    return post(crm.adf_url(dealer_id), body, "application/xml", **options)


def post_json(
    crm: DealerCrm, body: bytes, signature: str | None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Forecourt-Signature": signature} if signature is not None else {}
    return post(crm.json_url(DEALER.dealer_id), body, "application/json", headers)


def signed(body: bytes, at: float, secrets: tuple[str, ...] = (SECRET,)) -> str:
    return sign([s.decode() if isinstance(s, bytes) else s for s in secrets], body, int(at))


def without(body: bytes, *paths: str) -> bytes:
    """``body`` with the elements at ``paths`` ("parent/child" under the prospect) removed."""
    root = fromstring(body)
    prospect = root.find("prospect")
    assert prospect is not None
    for path in paths:
        parent_path, _, tag = path.rpartition("/")
        parents = [prospect] if not parent_path else prospect.findall(parent_path)
        for parent in parents:
            for child in parent.findall(tag):
                parent.remove(child)
    return tostring(root, encoding="utf-8")


# --- ADF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/xml", "text/xml; charset=utf-8", "application/x-adf+xml"]
)
def test_a_valid_adf_is_accepted_and_recorded(crm: DealerCrm, content_type: str) -> None:
    status, answer, _ = post(crm.adf_url(DEALER.dealer_id), adf(), content_type)
    assert (status, answer) == (200, {"status": "accepted", "duplicate": False})
    [receipt] = crm.received()
    assert (receipt.dealer_id, receipt.channel, receipt.delivery_id, receipt.lead_id) == (
        "D-1042",
        "adf",
        "dlv-1",
        "lead-1",
    )
    assert (receipt.valid, receipt.reason, receipt.duplicate, receipt.body) == (True, None, False, adf())
    assert crm.unique_deliveries() == {"dlv-1"}


def test_the_same_delivery_again_is_answered_as_a_duplicate(crm: DealerCrm) -> None:
    assert post_adf(crm, adf("dlv-1"))[1] == {"status": "accepted", "duplicate": False}
    assert post_adf(crm, adf("dlv-1"))[1] == {"status": "accepted", "duplicate": True}
    assert post_adf(crm, adf("dlv-2"))[1] == {"status": "accepted", "duplicate": False}
    assert post_adf(crm, adf("dlv-1"), dealer_id="D-7")[1]["duplicate"] is False  # another dealer's inbox
    assert [r.duplicate for r in crm.received("D-1042")] == [False, True, False]
    assert crm.unique_deliveries("D-1042") == {"dlv-1", "dlv-2"}
    assert crm.unique_deliveries() == {"dlv-1", "dlv-2"}


@pytest.mark.parametrize(
    ("removed", "reason"),
    [
        (["requestdate"], "missing <requestdate>"),
        (["vehicle"], "missing <vehicle>"),
        (["vehicle/year"], "<vehicle> has no <year>"),
        (["vehicle/make"], "<vehicle> has no <make>"),
        (["vehicle/model"], "<vehicle> has no <model>"),
        (["customer"], "missing <customer>"),
        (["customer/contact"], "<customer> has no <contact>"),
        (["customer/contact/name"], "<customer><contact> has no <name>"),
        (
            ["customer/contact/email", "customer/contact/phone"],
            "<customer><contact> has neither <phone> nor <email>",
        ),
        (["vendor"], "missing <vendor>"),
        (["vendor/vendorname"], "<vendor> has no <vendorname>"),
    ],
)
def test_each_missing_required_element_is_rejected_with_a_precise_reason(
    crm: DealerCrm, removed: list[str], reason: str
) -> None:
    status, answer, _ = post_adf(crm, without(adf(), *removed))
    assert (status, answer) == (400, {"status": "rejected", "reason": reason})
    [receipt] = crm.received()
    assert (receipt.valid, receipt.reason, receipt.duplicate) == (False, reason, False)
    assert crm.unique_deliveries() == set()


def test_a_customer_reachable_by_phone_alone_or_email_alone_is_enough(crm: DealerCrm) -> None:
    assert post_adf(crm, without(adf("dlv-1"), "customer/contact/email"))[0] == 200
    assert post_adf(crm, without(adf("dlv-2"), "customer/contact/phone"))[0] == 200


@pytest.mark.parametrize(
    ("body", "reason_start"),
    [
        (b"<adf><prospect></adf>", "not well-formed XML: mismatched tag: line 1, column 17"),
        (b'<?xml version="1.0"?><leads/>', "the root element is <leads>, not <adf>"),
        (b"<adf/>", "<adf> has no <prospect>"),
        (
            b'<!DOCTYPE adf [<!ENTITY lol "lol">]><adf>&lol;</adf>',
            "XML entity declarations and external references are forbidden",
        ),
        (
            adf().replace(b"2024-05-12T14:15:00+00:00", b"yesterday"),
            "<requestdate> 'yesterday' is not an ISO 8601",
        ),
        (
            adf().replace(b"<year>2024</year>", b"<year>24</year>"),
            "<vehicle> <year> '24' is not a 4-digit year",
        ),
    ],
)
def test_documents_that_are_not_adf_are_rejected_with_the_reason(
    crm: DealerCrm, body: bytes, reason_start: str
) -> None:
    status, answer, _ = post_adf(crm, body)
    assert status == 400
    assert answer["reason"].startswith(reason_start), answer["reason"]


def test_a_second_prospect_is_checked_too_and_named_in_the_reason(crm: DealerCrm) -> None:
    root = fromstring(adf())
    second = fromstring(without(adf(), "vendor/vendorname")).find("prospect")
    assert second is not None
    root.append(second)
    status, answer, _ = post_adf(crm, tostring(root, encoding="utf-8"))
    assert (status, answer["reason"]) == (400, "prospect 2: <vendor> has no <vendorname>")


def test_a_resend_prospect_needs_only_an_id_and_a_request_date(crm: DealerCrm) -> None:
    body = b'<adf><prospect status="resend"><id source="Forecourt-Delivery">dlv-9</id><requestdate>2024-05-12</requestdate></prospect></adf>'
    assert post_adf(crm, body)[:2] == (200, {"status": "accepted", "duplicate": False})


def test_adf_with_a_wrong_media_type_or_path_is_refused(crm: DealerCrm) -> None:
    status, answer, _ = post(crm.adf_url(DEALER.dealer_id), adf(), "text/plain")
    assert (status, answer["reason"]) == (
        415,
        "Content-Type 'text/plain' is not one of "
        + str(["application/x-adf+xml", "application/xml", "text/xml"]),
    )
    assert post(f"{crm.url}/leads/D-1042", adf(), "application/xml")[0] == 404


def test_a_body_over_the_limit_is_refused_unread() -> None:
    with DealerCrm(max_body_bytes=100) as small:
        status, answer, _ = post(small.adf_url("D-1"), adf(), "application/xml")
        assert (status, answer["reason"]) == (413, "the body is larger than 100 bytes")
        assert [r.status for r in small.received()] == [413]


# --- signed JSON -------------------------------------------------------------------------------


def test_a_correctly_signed_json_lead_is_accepted_once(crm: DealerCrm, clock: Clock) -> None:
    body = json_body()
    assert post_json(crm, body, signed(body, clock.now))[:2] == (
        200,
        {"status": "accepted", "duplicate": False},
    )
    assert post_json(crm, body, signed(body, clock.now))[:2] == (
        200,
        {"status": "accepted", "duplicate": True},
    )
    first, again = crm.received()
    assert (first.channel, first.delivery_id, first.lead_id, first.valid) == ("json", "dlv-1", "lead-1", True)
    assert again.duplicate


def test_a_signature_with_two_v1_values_during_rotation_is_accepted(crm: DealerCrm, clock: Clock) -> None:
    body = json_body()
    assert post_json(crm, body, signed(body, clock.now, ("retired-secret", SECRET)))[0] == 200


@pytest.mark.parametrize(
    ("make_header", "reason_start"),
    [
        (lambda body, now: None, "missing_signature"),
        (lambda body, now: "sha256=abc", "malformed_signature"),
        (lambda body, now: signed(body, now, ("not-the-secret",)), "bad_signature"),
        (lambda body, now: signed(body + b" ", now), "bad_signature"),
        (lambda body, now: signed(body, now - 301), "stale_timestamp"),
        (lambda body, now: signed(body, now + 301), "stale_timestamp"),
    ],
)
def test_a_bad_missing_or_stale_signature_is_refused(
    crm: DealerCrm, clock: Clock, make_header: Any, reason_start: str
) -> None:
    body = json_body()
    status, answer, _ = post_json(crm, body, make_header(body, clock.now))
    assert status == 401
    assert answer["reason"].startswith(reason_start), answer["reason"]
    [receipt] = crm.received()
    assert not receipt.valid and crm.unique_deliveries() == set()


def test_a_signature_within_the_window_on_the_receivers_clock_is_accepted(
    crm: DealerCrm, clock: Clock
) -> None:
    body = json_body()
    header = signed(body, clock.now)
    clock.now += 299
    assert post_json(crm, body, header)[0] == 200


def test_json_for_a_dealer_without_a_secret_is_refused(crm: DealerCrm, clock: Clock) -> None:
    body = json_body()
    url = crm.json_url("D-0000")
    status, answer, _ = post(url, body, "application/json", {"Forecourt-Signature": signed(body, clock.now)})
    assert (status, answer["reason"]) == (401, "no secret is registered for dealer 'D-0000'")
    crm.set_secret("D-0000", SECRET)
    status, answer, _ = post(url, body, "application/json", {"Forecourt-Signature": signed(body, clock.now)})
    assert (status, answer["reason"]) == (400, "dealer_id 'D-1042' is not this endpoint's dealer 'D-0000'")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "the body is not a JSON object"),
        (json_body(delivery_id=""), "missing delivery_id"),
        (json_body(requested_at="12/05/2024"), "requested_at '12/05/2024' is not an ISO 8601 timestamp"),
        (json_body(vehicle={"year": 2024, "make": "Ford"}), "vehicle has no model"),
        (json_body(customer={"email": "a@b.example"}), "customer has no first_name or last_name"),
        (
            json_body(customer={"last_name": "Doe", "email": None, "phone": ""}),
            "customer has neither a phone nor an email",
        ),
    ],
)
def test_a_signed_json_lead_without_the_minimum_is_rejected(
    crm: DealerCrm, clock: Clock, body: bytes, reason: str
) -> None:
    status, answer, _ = post_json(crm, body, signed(body, clock.now))
    assert (status, answer) == (400, {"status": "rejected", "reason": reason})


def test_json_sent_as_another_media_type_is_refused(crm: DealerCrm, clock: Clock) -> None:
    body = json_body()
    url = crm.json_url(DEALER.dealer_id)
    status, answer, _ = post(url, body, "text/plain", {"Forecourt-Signature": signed(body, clock.now)})
    assert (status, answer["reason"]) == (415, "Content-Type 'text/plain' is not application/json")


# --- injected failures -------------------------------------------------------------------------


def test_injected_server_errors_answer_the_next_requests_then_stop(crm: DealerCrm) -> None:
    crm.fail(DEALER.dealer_id, 500, times=2)
    assert [post_adf(crm, adf())[0] for _ in range(3)] == [500, 500, 200]
    assert [(a.status, a.fault) for a in crm.attempts()] == [
        (500, "status 500"),
        (500, "status 500"),
        (200, None),
    ]
    assert len(crm.received()) == 1  # faulted requests are attempts, not receipts
    assert post_adf(crm, adf(), dealer_id="D-other")[0] == 200  # faults are per dealer


@pytest.mark.parametrize(
    ("status", "retry_after", "header"), [(429, 2.5, "3"), (503, 30, "30"), (503, None, None)]
)
def test_throttling_answers_carry_retry_after_when_asked(
    crm: DealerCrm, status: int, retry_after: float | None, header: str | None
) -> None:
    crm.fail(DEALER.dealer_id, status, retry_after=retry_after)
    answered, answer, headers = post_adf(crm, adf())
    assert (answered, answer["status"], headers.get("Retry-After")) == (status, "error", header)
    assert crm.received() == []
    assert post_adf(crm, adf())[0] == 200


def test_a_delay_makes_the_client_time_out_and_takes_nothing(crm: DealerCrm) -> None:
    crm.delay(DEALER.dealer_id, 0.6)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post_adf(crm, adf(), timeout=0.2)
    time.sleep(0.6)
    assert [(a.status, a.fault) for a in crm.attempts()] == [(504, "delay 0.6 s")]
    assert crm.received() == []
    assert post_adf(crm, adf())[1] == {"status": "accepted", "duplicate": False}


def test_a_delayed_lead_that_is_taken_after_all_makes_the_retry_a_duplicate(crm: DealerCrm) -> None:
    crm.delay(DEALER.dealer_id, 0.6, deliver=True)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post_adf(crm, adf(), timeout=0.2)
    time.sleep(0.6)
    assert post_adf(crm, adf())[1] == {"status": "accepted", "duplicate": True}
    assert [r.duplicate for r in crm.received()] == [False, True]
    assert crm.unique_deliveries() == {"dlv-1"}


def test_fault_arguments_are_checked(crm: DealerCrm) -> None:
    with pytest.raises(ValueError):
        crm.fail("D-1", 200)
    with pytest.raises(ValueError):
        crm.delay("D-1", 0)


def test_stop_releases_the_port_and_the_url_is_gone() -> None:
    crm = DealerCrm().start()
    url = crm.url
    assert url.startswith("http://127.0.0.1:")
    crm.stop()
    with pytest.raises(RuntimeError):
        _ = crm.url
    with pytest.raises(urllib.error.URLError):
        post(f"{url}/adf/D-1", adf(), "application/xml", timeout=1)
