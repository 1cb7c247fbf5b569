"""Erasure and opt-out from real dealer files: after ``forecourt privacy erase`` the person has no row
in any table, no object in the bucket holds their e-mail or phone (Parquet read value by value,
gzip opened), the fake Meta no longer holds them after a sync, a later file with them is
suppressed at ingest; an opt-out keeps the dealer's records but takes them off every audience."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from conftest import LocalAws, committer

# newer than any other test's audience snapshot: the sync here sends this test's snapshot (and the
# snapshots and sync ledgers this test makes are removed at its end, see ``_own_audiences``)
AS_OF = datetime(2027, 6, 1, 6, tzinfo=UTC)
EMAIL = "ottoline.erasmusquayle@example.org"
PHONE = "+17735550199"
PHONE_FORMS = ("7735550199", "(773) 555-0199", "773-555-0199", "773.555.0199")
OTHER_EMAIL = "leopold.vantassel@example.org"
HEADER = "lead_id,requested_at,lead_source,first_name,last_name,email,mobile_phone,zip,vehicle_year,vehicle_make,vehicle_model,ccpa_opt_out\n"
LEADS = HEADER + (
    "ERA-1,2027-05-28T10:00:00-05:00,Dealer Website,Ottoline,Erasmus-Quayle,Ottoline.ErasmusQuayle@Example.org,(773) 555-0199,60601,2027,Chevrolet,Zephyrion,\n"
    "ERA-2,2027-05-28T11:00:00-05:00,Dealer Website,Leopold,Van Tassel,leopold.vantassel@example.org,(773) 555-0188,60601,2027,Chevrolet,Zephyrion,\n"
    "ERA-3,not a date,Dealer Website,Ottoline,Erasmus-Quayle,,773.555.0199,60601,2027,Chevrolet,Zephyrion,\n"
    "ERA-6,2027-05-28T12:00:00-05:00,Dealer Website,Perpetua,Ormsby-Hale,perpetua.ormsbyhale@example.org,(773) 555-0166,60601,2027,Chevrolet,Zephyrion,\n"
)
OPTED_OUT = "perpetua.ormsbyhale@example.org"
SALES = """DealNumber,CustNo,ContractDate,DeliveryDate,NewUsed,SaleType,FinanceType,StockNo,VIN,Year,MakeName,ModelName,Trim,Odometer,Salesman1Name,BuyerFirstName,BuyerMiddleName,BuyerLastName,CoBuyerFirstName,CoBuyerLastName,BuyerAddress,BuyerCity,BuyerState,BuyerZip,BuyerHomePhone,BuyerBusinessPhone,BuyerCellPhone,BuyerEmail,BlockPhone,BlockEmail,BlockMail,TradeVIN,TradeYear,TradeMake,TradeModel,CashPrice,APR,Term,AmountFinanced,Payment,CashDown,LienHolder,FrontGross,BackGross,FirstPayDate,MaturityDate
9901,2209901,20270529,20270530,N,Retail,Finance,C27001,1GNSKCKD2TR100001,2027,CHEVROLET,ZEPHYRION,LT,12,"WHITFIELD, DANA",OTTOLINE,,ERASMUS-QUAYLE,,,7 LAKE ST,Chicago,IL,60601,,,773-555-0199,OTTOLINE.ERASMUSQUAYLE@EXAMPLE.ORG,N,N,N,,,,,61895.00,3.9,60,50000.00,955.12,5000.00,GM FINANCIAL,2425.50,1980.00,20270701,20320601
9902,2209902,20270529,20270530,N,Retail,Finance,C27002,1HGCM82673A004399,2027,CHEVROLET,ZEPHYRION,LT,12,"WHITFIELD, DANA",LEOPOLD,,VAN TASSEL,,,9 LAKE ST,Chicago,IL,60601,,,773-555-0188,LEOPOLD.VANTASSEL@EXAMPLE.ORG,N,N,N,,,,,61895.00,3.9,60,50000.00,955.12,5000.00,GM FINANCIAL,2425.50,1980.00,20270701,20320601
"""


def _query(sql: str) -> list[dict[str, Any]]:
    from forecourt import analytics

    return analytics.run_query(sql).to_arrow().to_pylist()


@contextlib.contextmanager
def _own_audiences() -> Iterator[None]:
    """Leave the shared lake's audiences as they were: this test's snapshots and sync ledgers go."""
    from forecourt import aws, catalog
    from forecourt.audiences import sync
    from forecourt.config import settings

    s3, bucket = aws.client("s3"), settings().lake_bucket
    before_ledgers = {
        key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in _keys(sync.LEDGER_PREFIX)
    }
    before_snapshots = set(sync.snapshots())
    for key in before_ledgers:  # lists synced to another test's fake Meta: this test's starts afresh
        s3.delete_object(Bucket=bucket, Key=key)
    try:
        yield
    finally:
        ours = sorted(set(sync.snapshots()) - before_snapshots)
        if ours:
            catalog.load("audience_members").delete(_in("upload_id", ours))
        for key in _keys(sync.LEDGER_PREFIX):
            if key in before_ledgers:
                s3.put_object(Bucket=bucket, Key=key, Body=before_ledgers[key])
            else:
                s3.delete_object(Bucket=bucket, Key=key)


@contextlib.contextmanager
def _committing(local_aws: LocalAws) -> Iterator[None]:
    """``committer``, stopped even when the body raises (a committer left running would race the
    next test's commits)."""
    running = committer(local_aws)
    running.__enter__()
    try:
        yield
    finally:
        running.__exit__(None, None, None)


def _in(column: str, values: list[str]) -> Any:
    from pyiceberg.expressions import In

    return In(column, set(values))  # type: ignore[call-arg,arg-type]


def _keys(prefix: str = "") -> list[str]:
    from forecourt import aws
    from forecourt.config import settings

    pages = (
        aws.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=settings().lake_bucket, Prefix=prefix)
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _ingest(local_aws: LocalAws, tmp_path: Path, name: str, text: str, feed: str, day: int = 0) -> Any:
    path = tmp_path / name
    path.write_text(text)
    return local_aws.ingest_file(path, "D100", feed=feed, arrival=AS_OF.date() - timedelta(days=3 - day))


def _prepare_lake(local_aws: LocalAws, tmp_path: Path) -> dict[str, Any]:
    """Her lead (and a quarantined one), her deal, resolved, enriched and in a snapshot."""
    from forecourt.audiences.build import run as build
    from forecourt.enrich.job import run as enrich
    from forecourt.identity.job import run as resolve

    leads = _ingest(local_aws, tmp_path, "era_leads.csv", LEADS, "generic-leads")
    assert (leads.rows_in, leads.rows_curated, leads.rows_quarantined) == (4, 3, 1), leads.quarantine_reasons
    sales = _ingest(local_aws, tmp_path, "DealExtract_20270529.csv", SALES, "cdk-sales")
    assert sales.rows_quarantined == 0, (sales.quarantine_reasons, sales.field_issues)
    # the CRM reports on her lead by its own key (crm_lead_id), and on his
    events = (
        '{"event_id": "ERA-EV-1", "crm_lead_id": "ERA-1", "type": "appointment_set", '
        '"occurred_at": "2027-05-29T10:00:00-05:00", "notes": "called back"}\n'
        '{"event_id": "ERA-EV-2", "crm_lead_id": "ERA-2", "type": "shown", '
        '"occurred_at": "2027-05-29T11:00:00-05:00"}\n'
    )
    reported = _ingest(local_aws, tmp_path, "era_events.jsonl", events, "lead-events", day=1)
    assert reported.rows_curated == 2, reported.quarantine_reasons
    resolve(AS_OF)
    local_aws.drain_commits()
    enrich(AS_OF)
    local_aws.drain_commits()
    build(AS_OF)
    local_aws.drain_commits()
    (her,) = _query("SELECT DISTINCT person_id FROM enriched_leads WHERE lead_id = 'ERA-1'")
    (him,) = _query("SELECT DISTINCT person_id FROM enriched_leads WHERE lead_id = 'ERA-2'")
    records = [
        r["record_id"]
        for r in _query(f"SELECT record_id FROM person_links WHERE person_id = '{her['person_id']}'")
    ]
    assert len(records) == 2  # her lead and her deal
    return {"person": her["person_id"], "other": him["person_id"], "records": records}


def _footprint(person: str, records: list[str]) -> dict[str, int]:
    """Her rows in every table, through the query engine."""
    from forecourt import schemas

    ids = ", ".join(f"'{r}'" for r in records)
    checks = {
        "email": f"lower(email) = '{EMAIL}' OR lower(alternate_email) = '{EMAIL}'",
        "mobile_phone": f"mobile_phone = '{PHONE}' OR phone = '{PHONE}'",
        "record_id": f"record_id IN ({ids})",
        "person_id": f"person_id = '{person}'",
        "lead_id": f"lead_id IN ({ids}) OR lead_id = 'ERA-1'",
        "merged_into": f"merged_into = '{person}'",
        "raw_record": "regexp_like(raw_record, '(?i)erasmus')",
        "deal_number": "deal_number = '9901'",
        "crm_lead_id": "crm_lead_id = 'ERA-1'",
    }
    counts = {}
    for name in sorted(schemas.load_all()):
        columns = set(schemas.get(name).column_names)
        terms = [f"({sql})" for column, sql in checks.items() if column in columns]
        if terms:
            counts[name] = _query(f"SELECT count(*) AS n FROM {name} WHERE " + " OR ".join(terms))[0]["n"]
    return counts


def _needles() -> list[bytes]:
    """How her e-mail and phone can be written, and their SHA-256 (the identity index's keys)."""
    forms = [EMAIL, PHONE, *PHONE_FORMS, "773 555 0199"]
    hashes = [hashlib.sha256(value.encode()).hexdigest() for value in (EMAIL, PHONE)]
    return [form.lower().encode() for form in (*forms, *hashes)]


def _readable(key: str, body: bytes) -> bytes:
    """An object's content as text to search: Parquet read value by value, gzip opened."""
    import pyarrow.parquet as pq

    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    if body[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(body))
        return json.dumps(table.to_pylist(), default=str, ensure_ascii=False).encode()
    return body


def _objects_naming_her() -> list[str]:
    from forecourt import aws
    from forecourt.config import settings

    s3, bucket, found = aws.client("s3"), settings().lake_bucket, []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):  # every version: the lake bucket is versioned
            key = version["Key"]
            body = s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])["Body"].read()
            if any(needle in _readable(key, body).lower() for needle in _needles()):
                found.append(key)
    return sorted(set(found))


def _items_naming_her() -> list[str]:
    from forecourt import aws

    dynamodb, found = aws.client("dynamodb"), []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                text = json.dumps(item).lower().encode()
                if any(needle in text for needle in _needles()):
                    found.append(table)
    return found


def _raw_rewritten_keeps_the_others_and_is_not_ingested_again(local_aws: LocalAws, request: str) -> None:
    from forecourt import aws, intake, lake
    from forecourt.config import settings
    from forecourt.local.pump import LambdaContext, sqs_event

    bucket = settings().lake_bucket
    key = lake.raw_key("D100", AS_OF.date() - timedelta(days=3), "era_leads.csv")
    answer = aws.client("s3").get_object(Bucket=bucket, Key=key)
    assert answer["Metadata"]["forecourt-erasure"] == request
    rows = LEADS.splitlines(keepends=True)
    # Leopold's and Perpetua's rows, the others' lines left blank (later rows keep their line numbers)
    assert answer["Body"].read().decode() == HEADER + "\n" + rows[2] + "\n" + rows[4]
    uploads = _query("SELECT count(*) AS n FROM uploads")[0]["n"]
    event = intake.event_for(bucket, key, answer.get("VersionId"))
    message = {"MessageId": "m-erased", "ReceiptHandle": "r", "Body": json.dumps(event)}
    result = local_aws.ingest_handler(sqs_event([message], "arn:aws:sqs:us-east-1:000000000000:ingest"),
                                      LambdaContext("ingest"))  # fmt: skip
    assert result["batchItemFailures"] == []
    local_aws.drain_commits()
    assert _query("SELECT count(*) AS n FROM uploads")[0]["n"] == uploads  # not ingested again


def _sha(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def _emails(fake: Any) -> set[str]:
    """The e-mail hashes of every audience on the fake Meta."""
    return {
        dict(member).get("EMAIL", "")
        for audience in list(fake.audiences)
        for member in fake.members(audience)
    }


def _google_emails(fake: Any) -> set[str]:
    """The e-mail hashes of every user list on the fake Google Ads."""
    return {
        value
        for user_list in list(fake.user_lists)
        for member in fake.members(user_list)
        for key, value, *_ in member
        if key == "hashedEmail"
    }


def _erase(*args: str) -> dict[str, Any]:
    from forecourt.cli import main

    result = CliRunner().invoke(
        main, ["privacy", "erase", *args, "--source", "ticket ERA", "--timeout", "60", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert EMAIL not in result.output.lower() and "0199" not in result.output
    assert OPTED_OUT not in result.output.lower()
    (ledger,) = json.loads(result.output)
    return dict(ledger)


def test_an_erased_person_has_no_row_left_in_any_table_and_a_rerun_finds_nothing(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path
) -> None:
    from forecourt.audiences import sync
    from forecourt.audiences.google_ads_api import GoogleAdsApi
    from forecourt.audiences.meta_api import MetaApi
    from forecourt.local.fake_google_ads import FakeGoogleAds
    from forecourt.local.fake_meta import FakeMeta

    with _own_audiences(), contextlib.ExitStack() as stack:
        lake = _prepare_lake(local_aws, tmp_path)
        before = _footprint(lake["person"], lake["records"])
        assert _objects_naming_her(), "the scan finds her before the erasure"
        for table in ("leads", "sales", "sales_finance", "person_links", "persons", "enriched_leads",
                      "audience_members", "quarantine", "lead_events"):  # fmt: skip
            assert before[table] > 0, table

        fake = stack.enter_context(FakeMeta())
        api = MetaApi(fake.url, "v21.0", "test-token", "act_1234")
        sync.run(AS_OF, api)
        on_meta = _emails(fake)
        assert {_sha(EMAIL), _sha(OTHER_EMAIL), _sha(OPTED_OUT)} <= on_meta
        google = stack.enter_context(FakeGoogleAds())
        google_api = GoogleAdsApi(**google.credentials())
        sync.run(AS_OF, google_api, wait=0)
        assert {_sha(EMAIL), _sha(OTHER_EMAIL), _sha(OPTED_OUT)} <= _google_emails(google)

        with _committing(local_aws):
            ledger = _erase("--email", EMAIL.upper())
            opted = _erase("--email", OPTED_OUT, "--opt-out")

        assert _footprint(lake["person"], lake["records"]) == dict.fromkeys(before, 0)
        # the next sync takes both off Meta: the erased one by a full replace, the opted-out one held back
        synced = sync.run(AS_OF, api)
        assert any(r.operations.get("replace") for r in synced)  # the lists that held the erased one
        assert any(r.operations.get("remove") for r in synced)  # the opted-out one, held back
        on_meta = _emails(fake)
        assert _sha(OTHER_EMAIL) in on_meta and not {_sha(EMAIL), _sha(OPTED_OUT)} & on_meta
        assert not [name for name, ledger in sync.ledgers().items() if ledger.get("replace_pending")]
        sync.run(AS_OF, google_api, wait=0)  # and Google: the lists that held her replaced whole
        on_google = _google_emails(google)
        assert _sha(OTHER_EMAIL) in on_google and not {_sha(EMAIL), _sha(OPTED_OUT)} & on_google
        assert not [name for name, ledger in sync.ledgers("google").items() if ledger.get("replace_pending")]
        # the opt-out kept the dealer's records of her, and suppressed her from sharing only
        assert _query(f"SELECT count(*) AS n FROM leads WHERE email = '{OPTED_OUT}'")[0]["n"] == 1
        assert [s["result"] for s in opted["steps"] if s["step"] == "audiences"] == [
            "held back from the next sync (suppressed)"
        ]
        assert not [s for s in opted["steps"] if s["step"] in ("delete", "raw")]
        reasons = _query("SELECT DISTINCT reason FROM suppressions WHERE source = 'ticket ERA'")
        assert {r["reason"] for r in reasons} == {"erasure", "opt_out"}

        assert _objects_naming_her() == [], _objects_naming_her()
        assert _items_naming_her() == []
        _raw_rewritten_keeps_the_others_and_is_not_ingested_again(local_aws, ledger["request_id"])
        # the other buyer of the same file is untouched
        assert _query(f"SELECT count(*) AS n FROM persons WHERE person_id = '{lake['other']}'")[0]["n"] == 1
        assert _query("SELECT count(*) AS n FROM sales_finance WHERE deal_number = '9902'")[0]["n"] == 1
        assert _query("SELECT count(*) AS n FROM lead_events WHERE crm_lead_id = 'ERA-2'")[0]["n"] == 1
        # the ledger, as a table too: every step of the run, each delete proven by zero rows left
        logged = _query(
            f"SELECT step, target, rows_left FROM erasures WHERE request_id = '{ledger['request_id']}' "
            "ORDER BY step_number"
        )
        assert [(r["step"], r["target"]) for r in logged] == [
            (s["step"], s["target"]) for s in ledger["steps"]
        ]
        assert {r["rows_left"] for r in logged if r["step"] == "delete"} == {0}
        steps = {(s["step"], s["target"]): s for s in ledger["steps"]}
        assert steps[("find", "lake")]["persons"] == 1 and steps[("find", "lake")]["records"] == 2
        assert steps[("suppress", "suppressions")]["emails"] == 1
        assert steps[("suppress", "suppressions")]["phones"] == 1
        assert steps[("delete", "leads")]["rows_left"] == 0 and steps[("delete", "leads")]["rows_before"] == 1
        assert all(s["rows_left"] == 0 for s in ledger["steps"] if s["step"] == "delete")
        said = json.dumps(ledger).lower()
        assert "erasmus" not in said and "0199" not in said and lake["person"] not in said

        # no snapshot left to time-travel to: every table she was in has only its current snapshot
        from forecourt import catalog

        for table in ("leads", "sales", "sales_finance", "person_links"):
            assert len(catalog.load(table).snapshots()) == 1, table

        # a later file with her (a re-sent export, another spelling of her phone) is suppressed at
        # ingest: her rows never reach a curated table, nothing of them is kept in quarantine
        resent = HEADER + (
            "ERA-1,2027-05-28T10:00:00-05:00,Dealer Website,Ottoline,Erasmus-Quayle,,773 555 0199,60601,2027,Chevrolet,Zephyrion,\n"
            "ERA-4,2027-05-30T10:00:00-05:00,Dealer Website,Ottoline,Erasmus-Quayle,OTTOLINE.ERASMUSQUAYLE@example.org,,60601,2027,Chevrolet,Zephyrion,\n"
            "ERA-5,2027-05-30T11:00:00-05:00,Dealer Website,Leopold,Van Tassel,leopold.vantassel@example.org,,60601,2027,Chevrolet,Zephyrion,\n"
        )
        report = _ingest(local_aws, tmp_path, "era_leads_resent.csv", resent, "generic-leads", day=1)
        assert (report.rows_in, report.rows_curated, report.rows_quarantined) == (3, 1, 2)
        assert report.quarantine_reasons == {"suppressed": 2}
        assert _footprint(lake["person"], lake["records"]) == dict.fromkeys(before, 0)
        held = _query(f"SELECT raw_record, message FROM quarantine WHERE upload_id = '{report.upload_id}'")
        assert [r["raw_record"] for r in held] == ["", ""]
        assert all("erasmus" not in r["message"].lower() for r in held)

        with _committing(local_aws):
            again = _erase("--email", EMAIL)
        assert again["request_id"] == ledger["request_id"]
        again_steps = {(s["step"], s["target"]): s for s in again["steps"]}
        assert again_steps[("find", "lake")]["records"] == 0
        assert not [s for s in again["steps"] if s["step"] == "delete"]


def test_a_request_object_is_carried_out_by_the_erasure_function_and_then_deleted(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path
) -> None:
    from forecourt import aws
    from forecourt.config import settings
    from forecourt.local.pump import LambdaContext, load_handler
    from forecourt.privacy import erasure

    email = "barnabas.quillfeather@example.net"
    row = f"ERA-9,2027-05-28T10:00:00-05:00,Dealer Website,Barnabas,Quillfeather,{email},,60601,2027,Chevrolet,Quasar,\n"
    _ingest(local_aws, tmp_path, "era_request_leads.csv", HEADER + row, "generic-leads")
    assert _query(f"SELECT count(*) AS n FROM leads WHERE email = '{email}'")[0]["n"] == 1
    s3, bucket = aws.client("s3"), settings().lake_bucket
    handler = load_handler("erasure")

    def invoke(key: str) -> Any:
        event = {"detail-type": "Object Created", "source": "aws.s3",
                 "detail": {"bucket": {"name": bucket}, "object": {"key": key}}}  # fmt: skip
        return handler(event, LambdaContext("erasure"))

    bad = f"{erasure.REQUEST_PREFIX}bad.json"
    s3.put_object(Bucket=bucket, Key=bad, Body=json.dumps({"source": "DSR-9", "emails": ["not-an-email"]}))
    with pytest.raises(ValueError, match=r"emails\[0\]") as refused:
        invoke(bad)
    assert "not-an-email" not in str(refused.value)

    key = f"{erasure.REQUEST_PREFIX}DSR-9.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"source": "DSR-9", "emails": [email.upper()]}))
    with _committing(local_aws):
        done = invoke(key)
    assert done["mode"] == "erasure" and "quillfeather" not in json.dumps(done).lower()
    assert _query(f"SELECT count(*) AS n FROM leads WHERE email = '{email}'")[0]["n"] == 0
    # ingest's copy of the erased list: read again only when it changed (a conditional GET)
    from forecourt.privacy import suppression

    listed = suppression.erased_list()
    assert listed is not None and suppression.erased_list().hashes.equals(listed.hashes)  # type: ignore[union-attr]
    suppression.add_erased(suppression.keyed_hashes("email", pa.array(["x@example.net"]), listed.secret))
    assert len(suppression.erased_list().hashes) == len(listed.hashes) + 1  # type: ignore[union-attr]
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")  # the request named them
