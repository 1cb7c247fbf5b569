"""POST /v1/leads through the real webhook handler against moto: every answer, storage first, one
normalizer for webhook and file leads, idempotency."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LocalAws, committer

JSON_LEAD = {
    "lead_id": "W-1001",
    "dealer_id": "D100",
    "created_at": "2026-11-02T14:05:00-06:00",
    "source": "OEM Website",
    "customer": {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "Ann.Lee@Example.com",
        "phone": "(312) 555-0142",
    },
    "vehicle": {"year": "2026", "make": "Chevrolet", "model": "Equinox"},
}
ADF_LEAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<adf><prospect status="new">
  <id sequence="1" source="LeadHub">LH-77</id>
  <requestdate>2026-11-02T09:30:00-06:00</requestdate>
  <vehicle interest="buy" status="new"><year>2026</year><make>Chevrolet</make><model>Blazer</model></vehicle>
  <customer><contact><name part="first">Raj</name><name part="last">Patel</name>
    <email>raj@example.com</email></contact></customer>
  <vendor><id source="Forecourt-Dealer">D100</id><vendorname>Lakeside Chevrolet</vendorname></vendor>
</prospect></adf>"""


@pytest.fixture(scope="module")
def senders_(local_aws: LocalAws, registered_dealers: dict[str, Any]) -> dict[str, str]:
    from forecourt import senders

    secrets = {}
    for name, kind, dealers, everyone in (
        ("leadhub", "lead_provider", ["D100"], False),
        ("oem-site", "oem_site", [], True),
    ):
        if senders.get_sender(name) is None:
            _, secrets[name] = senders.add_sender(name, kind, dealers, everyone)
    return secrets


@pytest.fixture()
def handler(local_aws: LocalAws) -> Iterator[Any]:
    from forecourt.local.pump import load_handler

    yield load_handler("webhook")


def post(
    handler: Any,
    body: bytes,
    *,
    sender: str | None = "leadhub",
    secrets: dict[str, str] | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    signed_at: int | None = None,
) -> tuple[int, dict[str, Any]]:
    from forecourt import signing
    from forecourt.local.http import api_event
    from forecourt.local.pump import LambdaContext

    sent = {"Content-Type": content_type}
    if sender is not None:
        sent["Forecourt-Sender"] = sender
        if secrets is not None and sender in secrets:
            sent["Forecourt-Signature"] = signing.sign([secrets[sender]], body, signed_at or int(time.time()))
    sent |= headers or {}
    answer = handler(api_event("POST", "/v1/leads", sent, body), LambdaContext("webhook"))
    return answer["statusCode"], json.loads(answer["body"])


def realtime_messages(local_aws: LocalAws) -> list[dict[str, Any]]:
    return local_aws.take_messages("RealtimeQueue")


def lead_body(**changes: Any) -> bytes:
    return json.dumps(JSON_LEAD | changes).encode()


def test_a_signed_json_lead_is_stored_first_queued_and_recorded_as_ingest_would_record_it(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any
) -> None:
    from forecourt import aws, catalog, intake
    from forecourt.config import settings
    from forecourt.local.pump import LambdaContext, sqs_event

    realtime_messages(local_aws)
    status, body = post(handler, lead_body(lead_id="W-2001"), secrets=senders_)
    assert status == 202, body
    assert body["status"] == "accepted" and body["dealer_id"] == "D100"
    (message,) = local_aws.run_realtime()
    assert (message["kind"], message["lead_id"]) == ("lead", body["lead_id"])
    lead = message["record"]
    assert (lead["email"], lead["phone"], lead["source_key"]) == (
        "ann.lee@example.com",
        "+13125550142",
        "W-2001",
    )
    assert lead["requested_at"].startswith("2026-11-02T20:05:00")
    raw = message["raw"]
    assert raw["key"].startswith("raw/webhooks/dealer=D100/dt=")
    stored = aws.client("s3").get_object(Bucket=raw["bucket"], Key=raw["key"])
    assert stored["Body"].read() == lead_body(lead_id="W-2001")  # the bytes as sent
    # route_lead wrote the lead to the lake with its batch: one row, its upload counted in uploads
    (recorded,) = (
        catalog.load("leads").scan(row_filter=f"record_id == '{body['lead_id']}'").to_arrow().to_pylist()
    )
    assert recorded["feed"] == "jsonl-leads" and recorded["dealer_id"] == "D100"
    uploads = catalog.load("uploads").scan(row_filter=f"upload_id == '{recorded['upload_id']}'").to_arrow()
    (upload,) = uploads.to_pylist()
    assert (upload["dealer_id"], upload["rows_in"], upload["rows_curated"], upload["rows_quarantined"]) == (
        "D100",
        1,
        1,
        0,
    )
    assert upload["object_key"].startswith("raw/webhooks/dealer=D100/dt=") and upload["status"] == "ok"
    # one normalizer, two entry points: ingesting the stored body as a file makes the same row
    event = intake.event_for(settings().lake_bucket, raw["key"], raw["version"])
    result = local_aws.ingest_handler(
        sqs_event([{"MessageId": "w", "ReceiptHandle": "r", "Body": json.dumps(event)}], "arn"),
        LambdaContext("ingest"),
    )
    assert result["batchItemFailures"] == []
    local_aws.drain_commits()
    ingested = [
        row
        for row in catalog.load("leads")
        .scan(row_filter=f"record_id == '{body['lead_id']}'")
        .to_arrow()
        .to_pylist()
        if row["upload_id"] != recorded["upload_id"]
    ]
    (from_file,) = ingested
    differ = {name for name, value in recorded.items() if from_file[name] != value}
    # the upload (a batch vs. the object) and the arrival clock (API Gateway's vs. S3's) only
    assert differ <= {"upload_id", "received_at"}, {n: (recorded[n], from_file[n]) for n in differ}


def test_an_adf_lead_names_its_dealer_in_vendor_id(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any
) -> None:
    realtime_messages(local_aws)
    status, body = post(handler, ADF_LEAD, secrets=senders_, content_type="application/xml; charset=utf-8")
    assert status == 202, body
    (message,) = realtime_messages(local_aws)
    assert message["dealer_id"] == "D100" and message["record"]["source_key"] == "LH-77"


def test_retries_get_the_first_answer_and_a_reused_key_with_another_body_is_409(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any
) -> None:
    realtime_messages(local_aws)
    key = {"Idempotency-Key": "retry-1"}
    first = post(handler, lead_body(lead_id="W-3001"), secrets=senders_, headers=key)
    again = post(handler, lead_body(lead_id="W-3001"), secrets=senders_, headers=key)
    assert first[0] == 202 and again == first
    assert len(realtime_messages(local_aws)) == 1
    status, problem = post(handler, lead_body(lead_id="W-3002"), secrets=senders_, headers=key)
    assert (status, problem["reason"]) == (409, "idempotency_conflict")
    # without a header, the lead's own id (or the body's hash) is the key
    one = post(handler, lead_body(lead_id="W-3003"), secrets=senders_)
    two = post(handler, lead_body(lead_id="W-3003"), secrets=senders_)
    assert one == two and len(realtime_messages(local_aws)) == 1


def test_a_lead_naming_no_dealer_needs_a_sender_for_all_dealers(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any
) -> None:
    lead = {k: v for k, v in JSON_LEAD.items() if k != "dealer_id"} | {"lead_id": "W-4001"}
    status, problem = post(handler, json.dumps(lead).encode(), secrets=senders_)
    assert (status, problem["reason"]) == (403, "dealer_required")
    status, body = post(handler, json.dumps(lead).encode(), sender="oem-site", secrets=senders_)
    assert status == 202 and body["dealer_id"] is None


@pytest.mark.parametrize(
    ("kwargs", "status", "reason"),
    [
        ({"sender": None}, 401, "missing_sender"),
        ({"sender": "nobody"}, 401, "unknown_sender"),
        ({"secrets": {}}, 401, "missing_signature"),
        ({"headers": {"Forecourt-Signature": "v1=abc"}}, 401, "malformed_signature"),
        ({"signed_at": int(time.time()) - 301}, 401, "stale_timestamp"),
        ({"secrets": {"leadhub": "not-the-secret"}}, 401, "bad_signature"),
        ({"content_type": "text/plain"}, 415, "unsupported_media_type"),
    ],
)
def test_refusals_before_the_body_is_read(
    senders_: dict[str, str], handler: Any, kwargs: dict[str, Any], status: int, reason: str
) -> None:
    options: dict[str, Any] = {"secrets": senders_} | kwargs
    answer = post(handler, lead_body(lead_id="W-5001"), **options)
    assert answer[0] == status and answer[1]["reason"] == reason, answer
    assert answer[1]["status"] == status and answer[1]["detail"]


def test_bodies_that_are_not_one_lead_are_400_and_oversized_ones_413(
    senders_: dict[str, str], handler: Any
) -> None:
    status, problem = post(handler, b'{"lead_id": "x", ', secrets=senders_)
    assert (status, problem["reason"]) == (400, "malformed_body")
    status, problem = post(handler, b"<adf><prospect>", secrets=senders_, content_type="text/xml")
    assert (status, problem["reason"]) == (400, "malformed_body") and "line" in problem["detail"]
    two = json.dumps([JSON_LEAD, JSON_LEAD]).encode()
    status, problem = post(handler, two, secrets=senders_)
    assert (status, problem["reason"]) == (400, "malformed_body") and "holds 2" in problem["detail"]
    huge = lead_body(comments="x" * (1 << 20))
    assert post(handler, huge, secrets=senders_)[0] == 413


def test_dealer_checks_are_403_and_422(senders_: dict[str, str], handler: Any) -> None:
    status, problem = post(handler, lead_body(lead_id="W-6001", dealer_id="D200"), secrets=senders_)
    assert (status, problem["reason"]) == (403, "dealer_not_allowed")
    status, problem = post(
        handler, lead_body(lead_id="W-6002", dealer_id="D999"), sender="oem-site", secrets=senders_
    )
    assert (status, problem["reason"]) == (422, "unknown_dealer")


def test_a_lead_failing_its_contract_is_422_with_the_fields_and_is_kept(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any
) -> None:
    from forecourt import aws, catalog
    from forecourt.config import settings

    realtime_messages(local_aws)
    customer = {"first_name": "Ann", "last_name": "Lee"}  # no phone, no e-mail
    status, problem = post(handler, lead_body(lead_id="W-7001", customer=customer), secrets=senders_)
    assert (status, problem["reason"]) == (422, "lead_contract")
    assert problem["errors"] and all(e["reason"] and e["message"] for e in problem["errors"])
    (message,) = local_aws.run_realtime()
    assert (message["kind"], message["lead_id"], message["record"]) == ("rejected", None, None)
    stored = aws.client("s3").get_object(Bucket=settings().lake_bucket, Key=message["raw"]["key"])
    assert stored["Body"].read() == lead_body(lead_id="W-7001", customer=customer)  # stored first
    # kept: quarantined with the same reasons the answer gave, and counted in its upload
    quarantined = (
        catalog.load("quarantine")
        .scan(row_filter=f"object_key == '{message['raw']['key']}'")
        .to_arrow()
        .to_pylist()
    )
    assert sorted((q["field"], q["reason_code"]) for q in quarantined) == sorted(
        (e["field"], e["reason"]) for e in problem["errors"]
    )
    assert all(q["dataset"] == "leads" and q["feed"] == "jsonl-leads" for q in quarantined)
    assert "W-7001" in quarantined[0]["raw_record"]
    uploads = catalog.load("uploads").scan(row_filter=f"upload_id == '{quarantined[0]['upload_id']}'")
    (upload,) = uploads.to_arrow().to_pylist()
    assert (upload["rows_in"], upload["rows_curated"], upload["rows_quarantined"], upload["status"]) == (
        len(quarantined),
        0,
        len(quarantined),
        "rejected",
    )


def test_the_local_http_api_answers_through_the_handler(senders_: dict[str, str], handler: Any) -> None:
    import urllib.error
    import urllib.request

    from forecourt import signing
    from forecourt.local.http import ApiServer
    from forecourt.local.pump import LambdaContext

    server = ApiServer(lambda event: handler(event, LambdaContext("webhook"))).start()
    try:
        body = lead_body(lead_id="W-8001")
        request = urllib.request.Request(
            server.url + "/v1/leads",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Forecourt-Sender": "leadhub",
                "Forecourt-Signature": signing.sign([senders_["leadhub"]], body, int(time.time())),
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 202
            assert json.loads(answer.read())["status"] == "accepted"
        request = urllib.request.Request(server.url + "/v1/leads", data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 415
        assert refused.value.headers["Content-Type"] == "application/problem+json"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(urllib.request.Request(server.url + "/v2/nothing", data=b"{}"), timeout=30)
        assert missing.value.code == 404
    finally:
        server.stop()


def test_a_lead_of_an_erased_person_is_neither_kept_nor_routed(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any
) -> None:
    import pyarrow as pa
    from forecourt import analytics, aws
    from forecourt.config import settings
    from forecourt.privacy import suppression

    secret = suppression.key(create=True)
    assert secret is not None
    suppression.add_erased(
        suppression.keyed_hashes("email", pa.array(["erased.webhook@example.com"]), secret)
    )
    realtime_messages(local_aws)
    customer = JSON_LEAD["customer"] | {"email": "Erased.Webhook@Example.com", "phone": None}
    status, body = post(handler, lead_body(lead_id="W-ERASED-1", customer=customer), secrets=senders_)
    assert status == 202 and body["status"] == "suppressed" and body["lead_id"] is None
    (message,) = local_aws.run_realtime()
    assert message["kind"] == "rejected" and message["raw"] is None and message["record"] is None
    (row,) = message["quarantined"]
    assert row["reason"] == "suppressed" and not row["raw_record"]
    listed = aws.client("s3").list_objects_v2(Bucket=settings().lake_bucket, Prefix="raw/webhooks/")
    for item in listed.get("Contents", []):
        got = aws.client("s3").get_object(Bucket=settings().lake_bucket, Key=item["Key"])["Body"].read()
        assert b"erased.webhook" not in got.lower()
    assert not analytics.run_query("SELECT * FROM leads WHERE source_key = 'W-ERASED-1'").to_arrow().num_rows


def test_an_erasure_deletes_the_raw_webhook_bodies_naming_the_person(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any, stack_home: Any
) -> None:
    import json as json_module

    from click.testing import CliRunner
    from forecourt import aws
    from forecourt.cli import main
    from forecourt.config import settings

    realtime_messages(local_aws)
    customer = JSON_LEAD["customer"] | {"email": "Hooked.Erasable@Example.com", "phone": "(312) 555-0177"}
    status, body = post(handler, lead_body(lead_id="W-ERASE-2", customer=customer), secrets=senders_)
    assert status == 202 and body["status"] == "accepted"
    assert post(handler, lead_body(lead_id="W-KEEP-2"), secrets=senders_)[0] == 202
    local_aws.run_realtime()
    local_aws.drain_commits()
    s3, bucket = aws.client("s3"), settings().lake_bucket

    def bodies_naming(text: bytes) -> list[str]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="raw/webhooks/").get("Contents", [])
        return [
            i["Key"]
            for i in listed
            if text in s3.get_object(Bucket=bucket, Key=i["Key"])["Body"].read().lower()
        ]

    assert bodies_naming(b"hooked.erasable") and bodies_naming(b"w-keep-2")
    with committer(local_aws):
        result = CliRunner().invoke(
            main, ["privacy", "erase", "--email", "hooked.erasable@example.com", "--source", "ticket HOOK",
                   "--timeout", "60", "--json"],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    (ledger,) = json_module.loads(result.output)
    assert bodies_naming(b"hooked.erasable") == [] and bodies_naming(b"w-keep-2")  # the other lead stays
    versions = s3.list_object_versions(Bucket=bucket, Prefix="raw/webhooks/").get("Versions", [])
    for version in versions:
        got = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
        assert b"hooked.erasable" not in got.lower()
    assert next(s for s in ledger["steps"] if s["step"] == "raw")["deleted"] >= 1


def test_a_lead_queued_before_its_person_was_erased_is_neither_kept_nor_routed(
    local_aws: LocalAws, senders_: dict[str, str], handler: Any
) -> None:
    import pyarrow as pa
    from forecourt import analytics, aws
    from forecourt.config import settings
    from forecourt.privacy import suppression

    realtime_messages(local_aws)
    customer = JSON_LEAD["customer"] | {"email": "queued.erasure@example.com", "phone": None}
    status, body = post(handler, lead_body(lead_id="W-QUEUED-1", customer=customer), secrets=senders_)
    assert status == 202 and body["status"] == "accepted"  # accepted, waiting in the realtime queue
    stored = aws.client("s3").list_objects_v2(Bucket=settings().lake_bucket, Prefix="raw/webhooks/")[
        "Contents"
    ]
    before = {i["Key"] for i in stored}
    secret = suppression.key(create=True)
    assert secret is not None
    suppression.add_erased(
        suppression.keyed_hashes("email", pa.array(["queued.erasure@example.com"]), secret)
    )
    (message,) = local_aws.run_realtime()
    assert message["kind"] == "lead"  # it was queued as a lead
    assert (
        not analytics.run_query(f"SELECT * FROM leads WHERE record_id = '{body['lead_id']}'")
        .to_arrow()
        .num_rows
    )
    assert (
        not analytics.run_query(f"SELECT * FROM lead_routes WHERE lead_id = '{body['lead_id']}'")
        .to_arrow()
        .num_rows
    )
    quarantined = analytics.run_query(
        "SELECT reason_code, raw_record FROM quarantine WHERE reason_code = 'suppressed' AND raw_record = ''"
    ).to_arrow()
    assert quarantined.num_rows >= 1
    after = aws.client("s3").list_objects_v2(Bucket=settings().lake_bucket, Prefix="raw/webhooks/")[
        "Contents"
    ]
    assert len({i["Key"] for i in after}) == len(before) - 1  # its stored body went, with its versions
