"""Conversions: each platform's request built exactly as documented (Meta Conversions API CRM events,
Google Ads ClickConversion), Google's partial failures read by index, and the fake CAPI's contract."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from forecourt.conversions import google_uploads, meta_capi
from forecourt.conversions.stages import conversion_id

MOMENT = datetime(2027, 3, 10, 15, 30, 5, tzinfo=UTC)
EMAIL = hashlib.sha256(b"mary@example.com").hexdigest()
PHONE = hashlib.sha256(b"13125550137").hexdigest()


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "conversion_id": conversion_id("lead-1", "sold"),
        "lead_id": "lead-1",
        "stage": "sold",
        "occurred_at": MOMENT,
        "sale_value": 38450.0,
        "currency": "USD",
        "gclid": None,
        "meta_lead_id": None,
        "ad_user_data": None,
        "ad_personalization": None,
        "em": EMAIL,
        "ph": PHONE,
        "fn": None,
        "ln": None,
        "zp": None,
        "country": hashlib.sha256(b"us").hexdigest(),
        "google_email": EMAIL,
        "google_phone": hashlib.sha256(b"+13125550137").hexdigest(),
    }
    return row | changes


def test_meta_published_example_hash_is_what_a_crm_event_carries() -> None:
    # Meta's documented example: sha256("mary@example.com") starts f1904cf1
    event = meta_capi.event(_row())
    assert event is not None
    assert event["user_data"]["em"] == [EMAIL] and EMAIL.startswith("f1904cf1")


def test_a_crm_event_has_the_documented_shape() -> None:
    event = meta_capi.event(_row(meta_lead_id=1183927466501923))
    assert event == {
        "event_name": "sold",
        "event_time": int(MOMENT.timestamp()),
        "action_source": "system_generated",
        "event_id": conversion_id("lead-1", "sold"),
        "user_data": {
            "em": [EMAIL],
            "ph": [PHONE],
            "country": [hashlib.sha256(b"us").hexdigest()],
            "lead_id": 1183927466501923,
        },
        "custom_data": {
            "event_source": "crm",
            "lead_event_source": "Forecourt",
            "value": 38450.0,
            "currency": "USD",
        },
    }


def test_the_event_id_is_the_same_for_a_lead_and_stage_and_differs_across_stages() -> None:
    assert conversion_id("lead-1", "shown") == conversion_id("lead-1", "shown")
    assert conversion_id("lead-1", "shown") != conversion_id("lead-1", "sold")
    assert conversion_id("lead-1", "shown").startswith("fc-") and len(conversion_id("a", "b")) == 35


def test_only_a_sale_carries_a_value_and_nothing_to_match_on_is_no_event() -> None:
    shown = meta_capi.event(_row(stage="shown"))
    assert shown is not None and "value" not in shown["custom_data"]
    assert meta_capi.event(_row(em=None, ph=None)) is None
    assert meta_capi.event(_row(em=None, ph=None, meta_lead_id=1183927466501923)) is not None


def test_meta_window_and_request_limits() -> None:
    now = MOMENT
    assert meta_capi.sendable(now - timedelta(days=6), now) is None
    assert meta_capi.sendable(now - timedelta(days=7), now) == "too_old"
    assert meta_capi.sendable(now + timedelta(minutes=5), now) == "in_future"
    assert len(meta_capi.request_body([{}] * 1000)["data"]) == 1000
    with pytest.raises(ValueError, match="1 to 1,000"):
        meta_capi.request_body([{}] * 1001)
    assert meta_capi.request_body([{}], "TEST123")["test_event_code"] == "TEST123"


def test_google_date_time_is_in_the_documented_format() -> None:
    # Google's example "2019-01-01 12:32:45-08:00" is the same moment as this
    moment = datetime(2019, 1, 1, 12, 32, 45, tzinfo=timezone(timedelta(hours=-8)))
    assert google_uploads.conversion_date_time(moment) == "2019-01-01 20:32:45+00:00"


def test_a_gclid_makes_a_click_conversion_and_without_one_identifiers_match() -> None:
    action = "customers/1234567890/conversionActions/555"
    click = google_uploads.click_conversion(_row(gclid="Cj0KCQiA-test"), action)
    assert click == {
        "gclid": "Cj0KCQiA-test",
        "conversionAction": action,
        "conversionDateTime": "2027-03-10 15:30:05+00:00",
        "orderId": conversion_id("lead-1", "sold"),
        "consent": {"adUserData": "UNSPECIFIED"},
        "conversionValue": 38450.0,
        "currencyCode": "USD",
    }
    enhanced = google_uploads.click_conversion(
        _row(stage="shown", ad_user_data="GRANTED", ad_personalization="DENIED"), action
    )
    assert enhanced is not None and "gclid" not in enhanced
    assert enhanced["userIdentifiers"] == [
        {"hashedEmail": EMAIL},
        {"hashedPhoneNumber": hashlib.sha256(b"+13125550137").hexdigest()},
    ]
    assert enhanced["consent"] == {"adUserData": "GRANTED"}  # ad_personalization is not for uploads
    assert "conversionValue" not in enhanced
    assert google_uploads.click_conversion(_row(google_email=None, google_phone=None), action) is None


def test_google_takes_2000_conversions_a_request_with_partial_failure() -> None:
    assert google_uploads.upload_body([{}] * 2000)["partialFailure"] is True
    with pytest.raises(ValueError, match="2,000"):
        google_uploads.upload_body([{}] * 2001)


def test_partial_failures_are_read_by_index() -> None:
    def error(index: int, code: str) -> dict[str, Any]:
        return {
            "errorCode": {"conversionUploadError": code},
            "message": "…",
            "location": {"fieldPathElements": [{"fieldName": "conversions", "index": index}]},
        }

    answer = {
        "partialFailureError": {
            "code": 3,
            "message": "3 errors",
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure",
                    "errors": [
                        error(0, "ORDER_ID_ALREADY_IN_USE"),
                        error(2, "EXPIRED_EVENT"),
                        error(3, "TOO_RECENT_EVENT"),
                    ],
                }
            ],
        },
        "results": [{}, {"gclid": "x"}, {}, {}],
    }
    assert google_uploads.outcomes(answer, 4) == [
        "already_recorded",
        "accepted",
        "refused:EXPIRED_EVENT",
        "retry:TOO_RECENT_EVENT",
    ]
    assert google_uploads.outcomes({"results": [{}]}, 1) == ["accepted"]


def test_a_conversion_failing_with_several_errors_is_one_failure_whatever_their_order() -> None:
    from forecourt.audiences.google_ads_api import partial_failures

    def error(field: str, index: int, code: str) -> dict[str, Any]:
        return {
            "errorCode": {"conversionUploadError": code},
            "location": {"fieldPathElements": [{"fieldName": field, "index": index}]},
        }

    def answer(errors: list[dict[str, Any]]) -> dict[str, Any]:
        return {"partialFailureError": {"code": 3, "details": [{"errors": errors}]}}

    two = [error("conversions", 1, "EXPIRED_EVENT"), error("conversions", 1, "TOO_RECENT_EVENT")]
    assert google_uploads.outcomes(answer(two), 2) == ["accepted", "refused:EXPIRED_EVENT"]
    assert google_uploads.outcomes(answer(two[::-1]), 2) == ["accepted", "refused:EXPIRED_EVENT"]
    done = [error("conversions", 0, "ORDER_ID_ALREADY_IN_USE"), error("conversions", 0, "TOO_RECENT_EVENT")]
    assert google_uploads.outcomes(answer(done[::-1]), 1) == ["already_recorded"]
    operations = [error("operations", 0, "INVALID_SHA256_FORMAT"), error("operations", 0, "TOO_MANY"),
                  error("operations", 3, "INVALID_SHA256_FORMAT")]  # fmt: skip
    assert partial_failures(answer(operations)) == 2  # two operations failed, with three errors


def test_conversion_actions_are_checked() -> None:
    good = {"sold": "customers/1/conversionActions/2"}
    assert google_uploads.checked_actions(good, "here") == good
    with pytest.raises(ValueError, match="unknown stages"):
        google_uploads.checked_actions({"bought": "customers/1/conversionActions/2"}, "here")
    with pytest.raises(ValueError, match="are not"):
        google_uploads.checked_actions({"sold": "conversionActions/2"}, "here")
    with pytest.raises(LookupError):
        google_uploads.checked_actions({}, "here")


# --- the fake Conversions API ---------------------------------------------------------------------


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_fake_capi_enforces_the_contract_and_deduplicates() -> None:
    from forecourt.local.fake_meta import FakeMeta

    event = meta_capi.event(_row())
    assert event is not None
    with FakeMeta() as fake:
        fake.clock = lambda: MOMENT.timestamp() + 60
        url = f"{fake.url}/v21.0/998877/events"
        token = {"access_token": "test-token"}
        assert _post(url, {"data": [event]})[0] == 400  # no token
        status, answer = _post(url, {"data": [event, event]} | token)
        assert status == 200 and answer["events_received"] == 2
        assert list(fake.datasets["998877"].events) == [(event["event_id"], "sold")]  # deduplicated
        later = event | {"event_time": event["event_time"] + 48 * 3600 + 1}  # Meta: within 48 hours only
        fake.clock = lambda: later["event_time"] + 60
        assert _post(url, {"data": [later]} | token)[0] == 200
        assert fake.datasets["998877"].counted == [event, later]
        refusals = {
            "unhashed": event | {"user_data": {"em": ["mary@example.com"]}},
            "old": event | {"event_time": int((MOMENT - timedelta(days=8)).timestamp())},
            "no id": {k: v for k, v in event.items() if k != "event_id"},
            "source": event | {"action_source": "crm"},
            "lead id": event | {"user_data": {"lead_id": 12}},
            "currency": event | {"custom_data": {"value": 10.0}},
        }
        for name, bad in refusals.items():
            status, answer = _post(url, {"data": [event, bad]} | token)
            assert (status, answer["error"]["code"]) == (400, 100), name
        assert _post(url, {"data": [event] * 1001} | token)[0] == 400
        assert fake.datasets["998877"].received == 3  # a refused request keeps nothing


def test_only_a_meta_lead_ads_lead_id_is_sent_as_metas() -> None:
    import pyarrow as pa
    from forecourt.conversions.stages import _meta_lead_ids

    rows = pa.table(
        {
            "origin": ["social facebook lead ads meta lead form relay facebook", "google ads lead form google",
                       "dealer website", "instagram", None],
            "fbclid": [None, None, "IwAR-1", None, None],
            "platform_lead_id": ["1183927466509002", "1183927466509003", "1183927466509004", "12345",
                                 "1183927466509005"],
        }
    )  # fmt: skip
    assert _meta_lead_ids(rows).to_pylist() == [1183927466509002, None, 1183927466509004, None, None]


def test_one_bad_event_does_not_hold_back_the_others() -> None:
    from forecourt.audiences.meta_api import MetaError, RateLimited
    from forecourt.conversions.sync import Item, send_bisecting

    batch = [Item("shard", f"fc-{i}", f"lead-{i}", "shown", {"n": i}) for i in range(5)]
    sent: list[list[int]] = []

    def send_whole(part: list[Item]) -> dict[str, Any]:
        bad = [i for i, item in enumerate(part) if item.body["n"] == 3]
        if bad:
            raise MetaError(400, 100, f"(#100) data[{bad[0]}].event_time is more than 7 days in the past")
        sent.append([item.body["n"] for item in part])
        return {"events_received": len(part)}

    outcomes, _ = send_bisecting(send_whole, batch)
    assert outcomes == ["accepted", "accepted", "accepted", "refused:100", "accepted"]
    assert sorted(n for part in sent for n in part) == [0, 1, 2, 4]

    def limited(part: list[Item]) -> dict[str, Any]:
        raise RateLimited(400, 80003, "too many calls")

    with pytest.raises(RateLimited):
        send_bisecting(limited, batch)

    def bad_token(part: list[Item]) -> dict[str, Any]:
        raise MetaError(400, 190, "Invalid OAuth access token")

    with pytest.raises(MetaError):
        send_bisecting(bad_token, batch)


def test_an_error_about_the_request_is_never_split_into_refused_events() -> None:
    from forecourt.audiences.meta_api import MetaError
    from forecourt.conversions.sync import Item, send_bisecting

    batch = [Item("shard", f"fc-{i}", f"lead-{i}", "shown", {"n": i}) for i in range(4)]
    calls: list[int] = []

    def no_dataset(part: list[Item]) -> dict[str, Any]:
        calls.append(len(part))
        raise MetaError(400, 100, "Unsupported post request. Object with ID '1' does not exist", 33)

    with pytest.raises(MetaError) as gone:
        send_bisecting(no_dataset, batch)
    assert gone.value.object_gone and calls == [4]  # not split: every event would fail alone

    def bad_test_code(part: list[Item]) -> dict[str, Any]:
        calls.append(len(part))
        raise MetaError(400, 100, "Invalid parameter")  # names no event: about the request

    calls.clear()
    with pytest.raises(MetaError, match="Invalid parameter"):
        send_bisecting(bad_test_code, batch)
    assert calls == [4, 2, 1]  # stopped at the first event that failed alone: nothing refused

    def one_bad(part: list[Item]) -> dict[str, Any]:
        if any(item.body["n"] == 2 for item in part):
            raise MetaError(400, 100, "Invalid parameter", 2804030)  # an event's subcode
        return {"events_received": len(part)}

    assert send_bisecting(one_bad, batch)[0] == ["accepted", "accepted", "refused:100", "accepted"]


def test_the_fake_google_upload_enforces_the_contract() -> None:
    from forecourt.audiences.google_ads_api import GoogleAdsApi, GoogleAdsError
    from forecourt.local.fake_google_ads import FakeGoogleAds
    from forecourt.local.fake_google_conversions import ConversionUploads

    action = "customers/1234567890/conversionActions/555"
    good = google_uploads.click_conversion(_row(gclid="Cj0-good"), action)
    assert good is not None
    with FakeGoogleAds() as fake:
        uploads = ConversionUploads({"555"}).install(fake)
        api = GoogleAdsApi(**fake.credentials())
        bad = {
            "date": good | {"orderId": "o-1", "conversionDateTime": "2027-03-10T15:30:05Z"},
            "action": good
            | {"orderId": "o-2", "conversionAction": "customers/1234567890/conversionActions/9"},
            "unhashed": {k: v for k, v in good.items() if k != "gclid"}
            | {"orderId": "o-3", "userIdentifiers": [{"hashedEmail": "mary@example.com"}]},
            "consent": {k: v for k, v in good.items() if k != "consent"} | {"orderId": "o-4"},
            "personalization": good
            | {"orderId": "o-6", "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}},
            "currency": {k: v for k, v in good.items() if k != "currencyCode"} | {"orderId": "o-5"},
            "twice": good,
        }
        answer = api.post(":uploadClickConversions", google_uploads.upload_body([good, *bad.values()]))
        assert google_uploads.outcomes(answer, 8) == [
            "accepted",
            "retry:INVALID_FIELD_VALUES_IN_DATE_TIME",
            "retry:NO_CONVERSION_ACTION_FOUND",
            "refused:INVALID_USER_IDENTIFIER",
            "retry:REQUIRED",
            "retry:INVALID_INPUT",
            "retry:REQUIRED",
            "retry:DUPLICATE_ORDER_ID",
        ]
        assert len(uploads.recorded) == 1
        again = api.post(":uploadClickConversions", google_uploads.upload_body([good]))
        assert google_uploads.outcomes(again, 1) == ["already_recorded"]
        with pytest.raises(GoogleAdsError, match="NO_CONVERSION_ACTION_FOUND"):
            api.post(":uploadClickConversions", {"conversions": [bad["action"]], "partialFailure": False})
        with pytest.raises(GoogleAdsError, match="TOO_MANY_CONVERSIONS_IN_REQUEST"):
            api.post(":uploadClickConversions", {"conversions": [good] * 2001, "partialFailure": True})
        assert len(uploads.recorded) == 1
