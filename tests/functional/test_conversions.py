"""Conversions against the local fake platforms: real lead and CRM event files in through ingest,
identity resolved, then each lead stage to Meta (CAPI CRM events) and Google Ads (click conversions,
enhanced conversions for leads) once; a crash between the platform's answer and the ledger does not
double anything; rate limits are waited out; the opted-out stay home; a dry run writes the bodies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, LocalAws

NOW = datetime(2027, 3, 15, 12, tzinfo=UTC)
SINCE = datetime(2027, 3, 9, tzinfo=UTC)
FILES = DATA / "conversions"
ACTIONS = {
    "appointment_set": "customers/1234567890/conversionActions/101",
    "shown": "customers/1234567890/conversionActions/102",
    "sold": "customers/1234567890/conversionActions/103",
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def lake(local_aws: LocalAws, registered_dealers: dict[str, Any]) -> Iterator[dict[str, str]]:
    """The six leads and their first CRM events in the lake, persons resolved; lead ids by CRM key."""
    from forecourt import catalog
    from forecourt.identity.job import run as resolve

    report = local_aws.ingest_file(
        FILES / "leads_20270309.jsonl", "D100", feed="jsonl-leads", arrival=date(2027, 3, 9)
    )
    assert report.rows_quarantined == 0, report.quarantine_reasons
    report = local_aws.ingest_file(
        FILES / "events_20270313.jsonl", "D100", feed="lead-events", arrival=date(2027, 3, 13)
    )
    assert report.rows_quarantined == 0, report.quarantine_reasons
    resolve(NOW)
    local_aws.drain_commits()
    rows = catalog.load("leads").scan(row_filter="source_key >= 'CV-' and source_key < 'CV-~'").to_arrow()
    yield dict(zip(rows["source_key"].to_pylist(), rows["record_id"].to_pylist(), strict=True))


def _more_events(local_aws: LocalAws) -> None:
    report = local_aws.ingest_file(
        FILES / "events_20270315.jsonl", "D100", feed="lead-events", arrival=date(2027, 3, 15)
    )
    assert report.rows_quarantined == 0, report.quarantine_reasons


def _cid(leads: dict[str, str], key: str, stage: str) -> str:
    from forecourt.conversions.stages import conversion_id

    return conversion_id(leads[key], stage)


def test_stages_are_read_once_per_lead_and_gated(lake: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    from forecourt.conversions import stages

    rows = stages.read(SINCE)
    mine = rows.filter(pc.is_in(rows["lead_id"], value_set=pa.array(list(lake.values()), pa.string())))
    got = sorted(zip(mine["lead_id"].to_pylist(), mine["stage"].to_pylist(), strict=True))
    by_id = {v: k for k, v in lake.items()}
    assert sorted((by_id[lead], stage) for lead, stage in got) == [
        ("CV-1", "appointment_set"), ("CV-1", "shown"), ("CV-1", "sold"),
        ("CV-2", "appointment_set"), ("CV-2", "lead"), ("CV-2", "shown"),
        ("CV-3", "appointment_set"), ("CV-3", "sold"),
        ("CV-4", "appointment_set"), ("CV-5", "shown"), ("CV-6", "appointment_set"),
    ]  # fmt: skip
    first = mine.filter(pc.equal(mine["lead_id"], lake["CV-1"])).to_pylist()
    assert {r["stage"]: r["occurred_at"].isoformat() for r in first}["appointment_set"] == (
        "2027-03-10T16:00:00+00:00"  # the first report, not the reschedule
    )
    prepared = stages.prepare(mine)
    assert prepared.excluded["opted_out_of_sale_or_sharing"] == 1
    assert prepared.excluded["global_privacy_control"] == 1
    assert prepared.conversions.num_rows == 9  # with the Meta lead ad's initial stage
    nothing = stages.prepare(stages.read(datetime(2031, 1, 1, tzinfo=UTC)))
    assert nothing.conversions.num_rows == 0 and set(nothing.excluded.values()) == {0}


def test_the_cli_dry_run_writes_each_platforms_bodies_without_credentials(
    lake: dict[str, str], stack_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner
    from forecourt.cli import conversions, main

    monkeypatch.setattr(conversions, "_now", lambda: NOW)
    args = ["conversions", "sync", "--dry-run", str(tmp_path), "--since", SINCE.isoformat(), "--json"]
    answer = CliRunner().invoke(main, args, catch_exceptions=False)
    assert answer.exit_code == 0, answer.output
    rows = {row["platform"]: row for row in json.loads(answer.output)}
    assert rows["meta"]["sent"] == "9 written" and rows["google"]["sent"] == "8 written"
    assert "opted_out_of_sale_or_sharing 1" in rows["meta"]["kept back"]
    meta = json.loads((tmp_path / "meta" / "request-0001.json").read_text())["body"]["data"]
    google = json.loads((tmp_path / "google" / "request-0001.json").read_text())["body"]["conversions"]
    assert {e["event_id"] for e in meta if e["event_name"] != "lead"} == {c["orderId"] for c in google}
    assert google[0]["conversionAction"].startswith("customers/<customer id>/conversionActions/<")
    assert "vestergaard" not in answer.output.lower()


def test_a_dataset_meta_does_not_know_stops_the_run_and_records_nothing(lake: dict[str, str]) -> None:
    from forecourt.conversions import ledger, meta_capi, sync
    from forecourt.local.fake_meta import FakeMeta

    with FakeMeta() as fake:
        fake.clock = NOW.timestamp
        fake.dataset_ids = {"998877"}
        wrong = meta_capi.Dataset(fake.url, "v21.0", "test-token", "111222")  # deleted, or a typo
        before = ledger.entries("meta")
        with pytest.raises(sync.SyncStopped, match="does not exist"):
            sync.run_meta(NOW, wrong, since=SINCE, sleep=lambda _: None)
        assert len([r for r in fake.requests if r.path.endswith("/events")]) == 1  # not split
        assert ledger.entries("meta") == before  # nothing recorded as refused: the next run sends all
        assert fake.datasets == {}


def test_meta_gets_each_stage_once_with_the_lead_ad_id_and_a_crash_does_not_double(
    local_aws: LocalAws, lake: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecourt.conversions import ledger, meta_capi, sync
    from forecourt.local.fake_meta import FakeMeta

    sleeps: list[float] = []
    with FakeMeta() as fake:
        fake.clock = NOW.timestamp
        dataset = meta_capi.Dataset(fake.url, "v21.0", "test-token", "998877")

        # a dry run writes the exact body and sends nothing
        dry = sync.run_meta(NOW, None, since=SINCE, dry_run=tmp_path / "dry")
        written = json.loads((tmp_path / "dry" / "meta" / "request-0001.json").read_text())
        assert dry.batches == 1 and fake.requests == []
        assert written["path"] == "/v21.0/<dataset id>/events" and "access_token" not in json.dumps(written)

        first = sync.run_meta(NOW, dataset, since=SINCE, sleep=sleeps.append)
        assert first.outcomes == {"accepted": 9} and first.excluded["opted_out_of_sale_or_sharing"] == 1
        (request,) = [r for r in fake.requests if r.path.endswith("/events")]
        sent = {k: v for k, v in request.fields.items() if k != "access_token"}
        assert sent == written["body"]  # the dry run wrote exactly what was sent
        events = fake.datasets["998877"].events
        assert len(events) == 9
        by_id = {event_id: event for (event_id, _), event in events.items()}
        lead_ad = by_id[_cid(lake, "CV-2", "shown")]
        assert lead_ad["user_data"]["lead_id"] == 1183927466509002 and lead_ad["event_name"] == "shown"
        assert lead_ad["action_source"] == "system_generated"
        assert lead_ad["custom_data"] == {"event_source": "crm", "lead_event_source": "Forecourt"}
        initial = by_id[_cid(lake, "CV-2", "lead")]  # Meta wants every stage, the initial lead first
        assert initial["event_time"] == int(datetime(2027, 3, 9, 16, 2, tzinfo=UTC).timestamp())
        assert [e["event_name"] for e in request.fields["data"] if e["user_data"].get("lead_id")] == [
            "lead", "appointment_set", "shown"
        ]  # fmt: skip
        sale = by_id[_cid(lake, "CV-1", "sold")]
        assert sale["custom_data"]["value"] == 41250.0 and sale["custom_data"]["currency"] == "USD"
        assert sale["event_time"] == int(datetime(2027, 3, 12, 23, 45, tzinfo=UTC).timestamp())
        assert "lead_id" not in sale["user_data"]  # a search lead has no Meta lead id
        assert sale["user_data"]["em"] == [sha("quillon.vestergaard@example.com")]
        gmail = by_id[_cid(lake, "CV-3", "sold")]["user_data"]["em"]
        assert gmail == [sha("thaddeus.brightwater+cars@gmail.com")]  # no gmail rule for Meta
        hashes = json.dumps([e["user_data"] for e in events.values()])
        assert sha("ottoline.fairweather@example.com") not in hashes  # opted out of sale or sharing
        assert sha("cassius.lindqvist@example.com") not in hashes  # Global Privacy Control

        # a second run sends nothing: every stage is in the ledger
        again = sync.run_meta(NOW, dataset, since=SINCE, sleep=sleeps.append)
        assert again.already_sent == 9 and again.batches == 0 and len(fake.requests) == 1
        recorded = ledger.entries("meta")
        assert recorded[_cid(lake, "CV-2", "shown")]["outcome"] == "accepted"
        assert "vestergaard" not in json.dumps(recorded).lower()

        # two more stages; the run dies after Meta took them, before the ledger said so
        _more_events(local_aws)

        def dying_save(self: ledger.Ledger, keys: set[str]) -> None:
            raise ConnectionResetError("killed")

        monkeypatch.setattr(ledger.Ledger, "save", dying_save)
        with pytest.raises(ConnectionResetError):
            sync.run_meta(NOW, dataset, since=SINCE, sleep=sleeps.append)
        monkeypatch.undo()
        assert fake.datasets["998877"].received == 11 and len(events) == 11

        # resumed while rate limited twice: waited out, the two sent again under the same event ids
        fake.throttle(2)
        resumed = sync.run_meta(NOW, dataset, since=SINCE, sleep=sleeps.append)
        assert sleeps == [2.0, 4.0]
        assert resumed.outcomes == {"accepted": 2} and resumed.already_sent == 9
        assert fake.datasets["998877"].received == 13  # received twice …
        assert len(events) == 11  # … counted once: Meta deduplicates by event_id and event_name
        assert len(fake.datasets["998877"].counted) == 11
        assert by_id.keys() <= {event_id for event_id, _ in events}
        late_sale = events[(_cid(lake, "CV-2", "sold"), "sold")]
        assert (
            late_sale["custom_data"]["value"] == 33870.0
            and late_sale["user_data"]["lead_id"] == 1183927466509002
        )
        assert sync.run_meta(NOW, dataset, since=SINCE).batches == 0

        # an erasure takes the lead's entries out of the ledger (it names leads by record id)
        assert ledger.forget({lake["CV-2"]}) == 4  # lead, appointment_set, shown, sold
        assert not any(e["lead_id"] == lake["CV-2"] for e in ledger.entries("meta").values())


def test_google_gets_click_and_enhanced_conversions_once(
    local_aws: LocalAws, lake: dict[str, str], tmp_path: Path
) -> None:
    from forecourt import aws
    from forecourt.audiences.google_ads_api import GoogleAdsApi
    from forecourt.config import settings
    from forecourt.conversions import ledger, sync
    from forecourt.local.fake_google_ads import FakeGoogleAds
    from forecourt.local.fake_google_conversions import ConversionUploads

    _more_events(local_aws)  # the same upload again if the Meta test ingested it: nothing changes
    with FakeGoogleAds() as fake:
        uploads = ConversionUploads({"101", "102", "103"}).install(fake)
        uploads.unknown_clicks["Cj0KCQiA-conv-gclid-expired"] = "EXPIRED_EVENT"
        credentials = fake.credentials()
        api = GoogleAdsApi(**credentials)
        fake.throttle(1)
        sleeps: list[float] = []
        first = sync.run_google(NOW, api, ACTIONS, since=SINCE, sleep=sleeps.append)
        assert sleeps == [2.0]  # RESOURCE_EXHAUSTED waited out
        assert first.outcomes == {"accepted": 7 + 2, "refused:EXPIRED_EVENT": 1}  # the late CV-2 sale too
        orders = uploads.by_order()
        click = orders[("103", _cid(lake, "CV-1", "sold"))]
        assert click["gclid"] == "Cj0KCQiA-conv-gclid-0001" and "userIdentifiers" not in click
        assert click["conversionDateTime"] == "2027-03-12 23:45:00+00:00"
        assert (click["conversionValue"], click["currencyCode"]) == (41250.0, "USD")
        assert click["consent"] == {"adUserData": "UNSPECIFIED"}  # no adPersonalization on a click conversion
        enhanced = orders[("103", _cid(lake, "CV-3", "sold"))]
        assert "gclid" not in enhanced
        assert enhanced["userIdentifiers"] == [
            {"hashedEmail": sha("thaddeusbrightwater@gmail.com")},  # Google's gmail rule
            {"hashedPhoneNumber": sha("+17735550183")},
        ]
        body = [r.body for r in fake.requests if r.path.endswith(":uploadClickConversions")][-1]
        assert body["partialFailure"] is True
        every = json.dumps([r.body for r in fake.requests])
        assert "Cj0KCQiA-conv-gclid-0004" not in every  # opted out: never left
        assert sha("cassius.lindqvist@example.com") not in every
        recorded = ledger.entries("google")
        assert recorded[_cid(lake, "CV-6", "appointment_set")]["outcome"] == "refused:EXPIRED_EVENT"

        # nothing twice: the next run sends nothing (the refused one is not retried either)
        calls = uploads.requests
        assert sync.run_google(NOW, api, ACTIONS, since=SINCE).batches == 0 and uploads.requests == calls

        # the ledger lost (a crash before it was written): the resend is refused as already recorded
        s3 = aws.client("s3")
        for key in [k for k in _keys(s3, settings().lake_bucket) if "/google/dealer=" in k]:
            s3.delete_object(Bucket=settings().lake_bucket, Key=key)
        resent = sync.run_google(NOW, api, ACTIONS, since=SINCE)
        assert resent.outcomes == {"already_recorded": 9, "refused:EXPIRED_EVENT": 1}
        assert len(uploads.recorded) == 9

        # the scheduled job: every platform connected, from the secrets; nothing new to send
        from forecourt.audiences import google_ads_api

        secret = credentials | {"conversion_actions": ACTIONS}
        secrets = aws.client("secretsmanager")
        secrets.create_secret(Name=google_ads_api.secret_name(), SecretString=json.dumps(secret))
        try:
            done = sync.run_all(NOW)
        finally:
            secrets.delete_secret(SecretId=google_ads_api.secret_name(), ForceDeleteWithoutRecovery=True)
        assert done["meta"] == "not connected"
        assert done["google"]["already_sent"] == 10 and done["google"]["outcomes"] == {}

        # a dry run writes the exact body (with placeholders for what only the credentials know)
        for key in [k for k in _keys(s3, settings().lake_bucket) if "/google/dealer=" in k]:
            s3.delete_object(Bucket=settings().lake_bucket, Key=key)
        dry = sync.run_google(NOW, None, ACTIONS, since=SINCE, dry_run=tmp_path)
        written = json.loads((tmp_path / "google" / "request-0001.json").read_text())
        assert written["path"] == "/<version>/customers/<customer id>:uploadClickConversions"
        assert written == dry.requests[0] and len(written["body"]["conversions"]) == 10
        assert uploads.requests == calls + 1  # the resend only


def _keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="ledger/conversions/")
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_a_lead_not_resolved_yet_waits_for_a_later_run(local_aws: LocalAws, lake: dict[str, str]) -> None:
    from forecourt.conversions import stages
    from forecourt.conversions.stages import conversion_id
    from forecourt.identity.job import run as resolve

    for name, feed in (("leads_20270314.jsonl", "jsonl-leads"), ("events_20270314.jsonl", "lead-events")):
        report = local_aws.ingest_file(FILES / name, "D100", feed=feed, arrival=date(2027, 3, 14))
        assert report.rows_quarantined == 0, report.quarantine_reasons
    before = stages.prepare(stages.read(SINCE))
    assert before.excluded["not_resolved"] == 1
    resolve(NOW)
    local_aws.drain_commits()
    after = stages.prepare(stages.read(SINCE))
    assert after.excluded["not_resolved"] == 0
    ids = set(after.conversions["conversion_id"].to_pylist())
    assert len(ids - set(before.conversions["conversion_id"].to_pylist())) == 1
    assert all(cid.startswith("fc-") for cid in ids) and conversion_id("x", "shown") not in ids


def test_a_crm_correction_is_read_in_its_latest_version(
    local_aws: LocalAws, lake: dict[str, str], tmp_path: Path
) -> None:
    import pyarrow.compute as pc
    from forecourt.conversions import stages

    def cv3() -> set[str]:
        rows = stages.read(SINCE)
        return set(rows.filter(pc.equal(rows["lead_id"], lake["CV-3"]))["stage"].to_pylist())

    assert cv3() >= {"sold", "shown"}
    corrections = tmp_path / "events_20270316.jsonl"
    corrections.write_text(
        '{"event_id":"CVE-09","crm_lead_id":"CV-3","type":"lost","occurred_at":"2027-03-13T15:10:00-06:00",'
        '"lost_reason":"financing fell through","salesperson":"Luis Ortega"}\n'
        '{"event_id":"CVE-21","crm_lead_id":"CV-3","type":"shown","occurred_at":"2027-03-01T09:00:00-06:00",'
        '"salesperson":"Luis Ortega"}\n'
    )
    report = local_aws.ingest_file(corrections, "D100", feed="lead-events", arrival=date(2027, 3, 16))
    assert report.rows_quarantined == 0, report.quarantine_reasons
    assert cv3() == {"appointment_set"}  # the sale is now lost; the visit moved before since


def test_a_stage_reported_again_or_retimed_across_a_month_is_not_sent_again(
    local_aws: LocalAws, lake: dict[str, str], tmp_path: Path
) -> None:
    """Meta deduplicates an event_id within 48 hours only: a conversion looked up in another ledger
    shard than it was recorded in, or read again from a later report, would count twice."""
    from forecourt.conversions import ledger, meta_capi, sync
    from forecourt.identity.job import run as resolve
    from forecourt.local.fake_meta import FakeMeta

    def ingest(name: str, text: str, feed: str, arrival: date) -> None:
        (tmp_path / name).write_text(text)
        report = local_aws.ingest_file(tmp_path / name, "D100", feed=feed, arrival=arrival)
        assert report.rows_quarantined == 0, report.quarantine_reasons

    def event(event_id: str, stage: str, moment: str) -> str:
        return json.dumps({"event_id": event_id, "crm_lead_id": "CV-8", "type": stage, "occurred_at": moment,
                           "salesperson": "Amy Chen"}) + "\n"  # fmt: skip

    lead = {"lead_id": "CV-8", "created_at": "2027-02-25T09:00:00-06:00", "source": "Dealer Website",
            "lead_type": "internet", "provider": "Lakeside Chevrolet website",
            "customer": {"first_name": "Peregrine", "last_name": "Ashdown",
                         "email": "peregrine.ashdown@example.com", "phone": "(312) 555-0191", "zip": "60614"},
            "vehicle": {"year": 2027, "make": "Chevrolet", "model": "Tahoe", "condition": "new"}}  # fmt: skip
    ingest("leads_20270225.jsonl", json.dumps(lead) + "\n", "jsonl-leads", date(2027, 2, 25))
    ingest("events_20270227.jsonl", event("CVE-40", "appointment_set", "2027-02-26T10:00:00-06:00")
           + event("CVE-41", "shown", "2027-02-27T12:00:00-06:00"), "lead-events", date(2027, 2, 27))  # fmt: skip
    february = datetime(2027, 2, 28, 12, tzinfo=UTC)
    resolve(february)
    local_aws.drain_commits()
    with FakeMeta() as fake:
        dataset = meta_capi.Dataset(fake.url, "v21.0", "test-token", "998877")
        fake.clock = february.timestamp
        first = sync.run_meta(february, dataset, since=datetime(2027, 2, 22, tzinfo=UTC))
        assert first.outcomes == {"accepted": 2}
        # the CRM moves the visit three days on, into March, and reports the appointment again
        ingest("events_20270304.jsonl", event("CVE-41", "shown", "2027-03-02T12:00:00-06:00")
               + event("CVE-42", "appointment_set", "2027-03-03T10:00:00-06:00"), "lead-events",
               date(2027, 3, 4))  # fmt: skip
        march = datetime(2027, 3, 4, 12, tzinfo=UTC)
        fake.clock = march.timestamp
        again = sync.run_meta(march, dataset, since=datetime(2027, 3, 1, tzinfo=UTC))
        assert again.outcomes == {}  # the visit is in the ledger; the appointment is not new
        assert len(fake.datasets["998877"].counted) == 2 and fake.datasets["998877"].received == 2
    mine = [e for e in ledger.entries("meta").values() if e["lead_id"] == _lead_of(local_aws, "CV-8")]
    assert sorted(e["stage"] for e in mine) == ["appointment_set", "shown"]


def _lead_of(local_aws: LocalAws, key: str) -> str:
    from forecourt import catalog

    rows = catalog.load("leads").scan(row_filter=f"source_key == '{key}'").to_arrow()
    return str(rows["record_id"][0].as_py())


def test_month_shards_of_the_earlier_layout_are_folded_in_and_stay_sent(local_aws: LocalAws) -> None:
    from forecourt import aws
    from forecourt.config import settings
    from forecourt.conversions import ledger
    from forecourt.conversions.stages import conversion_id

    s3, bucket = aws.client("s3"), settings().lake_bucket
    sold, shown = conversion_id("lead-m", "sold"), conversion_id("lead-m", "shown")
    entry = {"lead_id": "lead-m", "stage": "sold", "outcome": "accepted", "run": "r", "sent_at": "t"}
    for month, cid in (("2027-01", sold), ("2027-02", shown)):
        body = {"platform": "meta", "conversions": {cid: entry}}
        s3.put_object(
            Bucket=bucket, Key=f"ledger/conversions/meta/dealer=D977/{month}.json", Body=json.dumps(body)
        )
    book = ledger.Ledger("meta")
    book.load({ledger.shard_key("meta", "D977", sold)})
    assert book.sent(ledger.shard_key("meta", "D977", sold), sold)
    again = ledger.Ledger("meta")
    again.load({ledger.shard_key("meta", "D977", shown)})
    assert again.sent(ledger.shard_key("meta", "D977", shown), shown)
    left = [k for k in _keys(s3, bucket) if "/dealer=D977/" in k]
    assert left and all(k.rsplit("/", 1)[1].startswith("fc-") for k in left)  # the month shards are gone
