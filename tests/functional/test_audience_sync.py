"""Audience sync to Meta against the local fake Graph API: only consented members arrive, hashed as
Meta documents; adds and removals as deltas; a crash mid-sync resumes under the same session and
batch without doubling anything; rate limits are waited out; a dry run sends nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import LocalAws, committer

# later than any other test's snapshot in the shared lake: the newest snapshot is this test's
AS_OF = datetime(2027, 2, 1, 6, tzinfo=UTC)
HEADER = "lead_id,requested_at,lead_source,first_name,last_name,email,mobile_phone,zip,vehicle_year,vehicle_make,vehicle_model,ccpa_opt_out\n"
NAMES = ["Amabel", "Bertrand", "Cosima", "Dashiell", "Eulalie", "Florian", "Gwendolyn", "Horatio"]
LIST = "model_shoppers/chevrolet-zephyrion"


def _lead(i: int, name: str, opted_out: bool = False, model: str = "Zephyrion") -> str:
    day = (AS_OF - timedelta(days=3)).date().isoformat()
    return (
        f"SYN-{i},{day}T10:00:00-05:00,Dealer Website,{name},Syncwright,{name.lower()}.syncwright@example.com,"
        f"(312) 555-01{i:02d},60601,2027,Chevrolet,{model},{'true' if opted_out else ''}\n"
    )


def _email_hash(name: str) -> str:
    return hashlib.sha256(f"{name.lower()}.syncwright@example.com".encode()).hexdigest()


def _emails(fake: Any, audience_id: str) -> set[str]:
    return {dict(member)["EMAIL"] for member in fake.members(audience_id)}


def _ingest(local_aws: LocalAws, tmp_path: Path, name: str, rows: str) -> None:
    path = tmp_path / name
    path.write_text(HEADER + rows)
    arrival = AS_OF.date() + timedelta(days=int(name[3]))
    report = local_aws.ingest_file(path, "D100", feed="generic-leads", arrival=arrival)
    assert report.rows_quarantined == 0, report.quarantine_reasons


def _build(local_aws: LocalAws, as_of: datetime) -> None:
    from forecourt.audiences.build import run as build
    from forecourt.identity.job import run as resolve

    resolve(as_of)
    local_aws.drain_commits()
    build(as_of)
    local_aws.drain_commits()


def test_meta_gets_exactly_the_consented_members_as_deltas_and_a_crash_resumes(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from forecourt.audiences import sync
    from forecourt.audiences.meta_api import MetaApi
    from forecourt.local.fake_meta import FakeMeta

    _ingest(
        local_aws,
        tmp_path,
        "syn1.csv",
        "".join(_lead(i, NAMES[i]) for i in range(4)) + _lead(4, NAMES[4], True),
    )
    _build(local_aws, AS_OF)
    sleeps: list[float] = []
    with FakeMeta() as fake:
        api = MetaApi(fake.url, "v21.0", "test-token", "act_1234")
        first = {r.audience: r for r in sync.run(AS_OF, api, batch_rows=2, sleep=sleeps.append)}
        ledger = sync.load_ledger(LIST)
        audience_id = ledger["audience_id"]
        # the four who may leave; the one who opted out of sale or sharing never did
        assert _emails(fake, audience_id) == {_email_hash(n) for n in NAMES[:4]}
        assert first[LIST].operations == {"add": 4} and first[LIST].batches == 2
        assert ledger["synced_snapshot"] == "20270201T060000Z" and ledger["in_flight"] is None
        member = dict(next(iter(fake.members(audience_id))))
        assert set(member) == {"EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY"}
        assert member["COUNTRY"] == hashlib.sha256(b"us").hexdigest()  # Meta hashes the country
        said = json.dumps(ledger)
        assert "syncwright" not in said.lower() and _email_hash(NAMES[0]) not in said

        # Amabel is suppressed after the snapshot was built: the next sync of that same snapshot
        # takes her off Meta (the list is checked again at send time)
        import pyarrow as pa
        from forecourt.audiences.people import prepare
        from forecourt.privacy import suppression

        amabel = prepare(pa.table({"phone": ["312-555-0100"]}))
        suppression.add(amabel["email"], amabel["phone"], "erasure", "ticket SYN-0", AS_OF)
        local_aws.drain_commits()
        held = {r.audience: r for r in sync.run(AS_OF, api, batch_rows=2, sleep=sleeps.append)}
        assert held[LIST].operations == {"remove": 1}
        assert _emails(fake, audience_id) == {_email_hash(n) for n in NAMES[1:4]}
        assert len(sync.load_ledger(LIST)["synced_held_back"]) == 1
        settled = {r.audience: r for r in sync.run(AS_OF, api, batch_rows=2, sleep=sleeps.append)}
        assert settled[LIST].operations == {}  # in sync now

        # a day later: Bertrand asks not to be contacted again, three more shoppers come in

        asked = prepare(pa.table({"email": [f"{NAMES[1].lower()}.syncwright@example.com"]}))
        suppression.add(asked["email"], asked["phone"], "do_not_contact", "ticket SYN", AS_OF)
        _ingest(local_aws, tmp_path, "syn2.csv", "".join(_lead(i, NAMES[i]) for i in range(5, 8)))
        _build(local_aws, AS_OF + timedelta(days=1))

        # the sync dies right after Meta took the first batch of adds, before the ledger said so
        real_send = MetaApi.send
        calls: list[str] = []

        def dying_send(
            self: MetaApi, audience: str, operation: str, fields: dict[str, str]
        ) -> dict[str, Any]:
            answer = real_send(self, audience, operation, fields)
            calls.append(operation)
            if audience == audience_id and operation == "add":
                raise ConnectionResetError("killed")
            return answer

        monkeypatch.setattr(MetaApi, "send", dying_send)
        with pytest.raises(ConnectionResetError):
            sync.run(AS_OF + timedelta(days=1), api, batch_rows=2, sleep=sleeps.append)
        monkeypatch.setattr(MetaApi, "send", real_send)
        assert sync.load_ledger(LIST)["in_flight"]["operations"]["add"]["done"] == 0

        resumed = {
            r.audience: r for r in sync.run(AS_OF + timedelta(days=1), api, batch_rows=2, sleep=sleeps.append)
        }
        assert resumed[LIST].resumed and resumed[LIST].operations == {"remove": 1, "add": 3}
        expected = {_email_hash(n) for n in (NAMES[2], NAMES[3], *NAMES[5:8])}
        assert _emails(fake, audience_id) == expected  # Bertrand removed, nobody doubled or lost
        adds = [
            json.loads(r.fields["session"])
            for r in fake.requests
            if r.path.endswith(f"/{audience_id}/users") and r.method == "POST" and r.status == 200
        ]
        second = [s for s in adds if s["estimated_num_total"] == 3]
        assert [s["batch_seq"] for s in second] == [1, 1, 2]  # the batch in flight sent again, once
        assert len({s["session_id"] for s in second}) == 1 and second[-1]["last_batch_flag"] is True
        ledger = sync.load_ledger(LIST)
        assert [h["resumed"] for h in ledger["history"]] == [False, False, True]

        # rate limited twice: waited out with backoff; a full refresh replaces the list, dropping a
        # member that reached the platform some other way
        stray = (("EMAIL", hashlib.sha256(b"stray@example.com").hexdigest()),)
        fake.audiences[audience_id].members.add(stray)
        fake.throttle(2)
        sync.run(AS_OF + timedelta(days=1), api, full=True, batch_rows=2, sleep=sleeps.append)
        assert sleeps == [2.0, 4.0]
        assert _emails(fake, audience_id) == expected
        replaced = [
            r for r in fake.requests if r.path.endswith(f"/{audience_id}/usersreplace") and r.status == 200
        ]
        assert [json.loads(r.fields["session"])["batch_seq"] for r in replaced] == [1, 2, 3]  # 5 rows

        # a dry run writes the exact requests and sends nothing
        _ingest(local_aws, tmp_path, "syn3.csv", _lead(8, "Isadora"))
        _build(local_aws, AS_OF + timedelta(days=2))
        before = len(fake.requests)
        dry = tmp_path / "dry"
        planned = {r.audience: r for r in sync.run(AS_OF + timedelta(days=2), None, dry_run=dry)}
        assert len(fake.requests) == before
        assert planned[LIST].operations == {"add": 1}
        written = json.loads(
            (dry / "meta" / "model_shoppers__chevrolet-zephyrion" / "add-0001.json").read_text()
        )
        assert written["method"] == "POST" and written["fields"]["session"]["batch_seq"] == 1
        assert written["fields"]["payload"]["schema"] == ["EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY"]
        assert (
            written["fields"]["payload"]["data"][0][0]
            == hashlib.sha256(b"isadora.syncwright@example.com").hexdigest()
        )
        assert "access_token" not in json.dumps(written) and "syncwright@" not in json.dumps(written)
        assert sync.load_ledger(LIST)["synced_snapshot"] == "20270202T060000Z"  # the dry run changed nothing

        # the scheduled function: builds the snapshot, then syncs with the credentials it finds
        from forecourt import aws
        from forecourt.audiences import meta_api
        from forecourt.local import scheduler

        secret = {"access_token": "test-token", "ad_account_id": "act_1234", "base_url": fake.url}
        aws.client("secretsmanager").create_secret(
            Name=meta_api.secret_name(), SecretString=json.dumps(secret)
        )
        try:
            with committer(local_aws):
                (run,) = scheduler.invoke_async(
                    "audiences", {"as_of": (AS_OF + timedelta(days=2)).isoformat()}
                )
        finally:
            aws.client("secretsmanager").delete_secret(
                SecretId=meta_api.secret_name(), ForceDeleteWithoutRecovery=True
            )
        assert run.error is None, run.error
        assert run.result["sync"]["meta"][LIST] == {"add": 1}
        from forecourt import analytics

        (recorded,) = (
            analytics.run_query(
                f"SELECT * FROM syncs WHERE platform = 'meta' AND audience = '{LIST}' AND added = 1"
            )
            .to_arrow()
            .to_pylist()
        )  # the sync record counts who was kept back, and why
        assert recorded["status"] == "synced" and recorded["removed"] == 0 and recorded["received"] == 1
        assert recorded["excluded_suppressed"] == 2 and recorded["excluded_opted_out_of_sale_or_sharing"] == 1
        assert hashlib.sha256(b"isadora.syncwright@example.com").hexdigest() in _emails(fake, audience_id)
        assert "syncwright" not in json.dumps(run.result).lower()

        # Meta deleted the audience (it drops unused ones): that list stops, the others go on, and
        # the next run makes a new audience with the whole list
        del fake.audiences[audience_id]
        _ingest(local_aws, tmp_path, "syn4.csv", _lead(9, "Jessamy") + _lead(10, "Jessamy", model="Quasar"))
        _build(local_aws, AS_OF + timedelta(days=4))
        with pytest.raises(sync.SyncStopped, match="chevrolet-zephyrion: the list no longer exists on Meta"):
            sync.run(AS_OF + timedelta(days=4), api, batch_rows=2, sleep=sleeps.append)
        newest = sync.snapshots()[-1]
        others = [ledger for name, ledger in sync.ledgers().items() if name != LIST]
        assert "model_shoppers/chevrolet-quasar" in {o["audience"] for o in others}
        assert all(o["synced_snapshot"] == newest for o in others)  # they went on
        again = {
            r.audience: r for r in sync.run(AS_OF + timedelta(days=4), api, batch_rows=2, sleep=sleeps.append)
        }
        assert again[LIST].operations == {"add": 7}
        renewed = sync.load_ledger(LIST)["audience_id"]
        assert renewed != audience_id
        assert _emails(fake, renewed) == expected | {_email_hash("Isadora"), _email_hash("Jessamy")}


# after the Meta test's snapshots (same file, so the same worker runs it later)
G_AS_OF = datetime(2027, 3, 1, 6, tzinfo=UTC)
G_LIST = "model_shoppers/chevrolet-quillon"
G_NAMES = ["Anselm", "Briony", "Caspian", "Delphine", "Evander", "Fenella", "Gideon"]


def _g_lead(i: int, name: str, opted_out: bool = False, email: str | None = None) -> str:
    day = (G_AS_OF - timedelta(days=3)).date().isoformat()
    email = email or f"{name.lower()}.matchmore@example.com"
    return (
        f"GGL-{i},{day}T10:00:00-05:00,Dealer Website,{name},O'Matchmore,{email},"
        f"(312) 555-02{i:02d},60601,2027,Chevrolet,Quillon,{'true' if opted_out else ''}\n"
    )


def _g_ingest(local_aws: LocalAws, tmp_path: Path, name: str, day: int, rows: str) -> None:
    path = tmp_path / name
    path.write_text(HEADER + rows)
    report = local_aws.ingest_file(
        path, "D100", feed="generic-leads", arrival=G_AS_OF.date() + timedelta(days=day)
    )
    assert report.rows_quarantined == 0, report.quarantine_reasons


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _g_emails(fake: Any, user_list: str) -> set[str]:
    return {value for member in fake.members(user_list) for key, value, *_ in member if key == "hashedEmail"}


def test_google_customer_match_gets_the_consented_members_job_by_job_and_a_crash_resumes(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import pyarrow as pa
    from forecourt.audiences import google_ads_api, sync
    from forecourt.audiences.people import prepare
    from forecourt.audiences.targets import GoogleTarget
    from forecourt.local.fake_google_ads import FakeGoogleAds
    from forecourt.privacy import suppression

    gmail = "Caspian.O.Matchmore+quillon@GMAIL.com"
    _g_ingest(local_aws, tmp_path, "ggl1.csv", 0,
              _g_lead(0, G_NAMES[0]) + _g_lead(1, G_NAMES[1]) + _g_lead(2, G_NAMES[2], email=gmail)
              + _g_lead(3, G_NAMES[3]) + _g_lead(4, G_NAMES[4], opted_out=True))  # fmt: skip
    _build(local_aws, G_AS_OF)
    sleeps: list[float] = []
    with FakeGoogleAds(polls_to_finish=2) as fake:
        given = fake.credentials()
        api = google_ads_api.GoogleAdsApi(**given)

        def sync_now(days: int = 0, **options: Any) -> dict[str, sync.ListSync]:
            moment = G_AS_OF + timedelta(days=days)
            done = sync.run(moment, api, batch_rows=2, sleep=sleeps.append, **options)
            return {r.audience: r for r in done}

        # the job runs, and Google is still applying it when the run stops waiting: the next run polls
        first = sync_now(wait=0)
        assert first[G_LIST].pending and first[G_LIST].operations == {"add": 4}
        ledger = sync.load_ledger(G_LIST, "google")
        user_list = ledger["audience_id"]
        assert ledger["in_flight"]["operations"]["add"]["ran"] is True
        assert fake.members(user_list) == set()
        second = sync_now(wait=0)
        assert not second[G_LIST].pending and second[G_LIST].resumed
        sync.record(list(second.values()), G_AS_OF)
        local_aws.drain_commits()
        from forecourt import analytics

        (recorded,) = (
            analytics.run_query(f"SELECT * FROM syncs WHERE platform = 'google' AND audience = '{G_LIST}'")
            .to_arrow()
            .to_pylist()
        )
        assert (recorded["status"], recorded["added"], recorded["resumed"]) == ("synced", 4, True)
        assert recorded["excluded_opted_out_of_sale_or_sharing"] == 1 and recorded["excluded_suppressed"] == 0
        gmail_hash = _sha("caspianomatchmore@gmail.com")  # Google's gmail rule: dots and +suffix gone
        assert _g_emails(fake, user_list) == {
            _sha(f"{n.lower()}.matchmore@example.com") for n in G_NAMES[:2]
        } | {
            gmail_hash,
            _sha("delphine.matchmore@example.com"),
        }  # the one who opted out of sale or sharing never left
        anselm = next(
            m for m in fake.members(user_list) if ("hashedEmail", _sha("anselm.matchmore@example.com")) in m
        )
        assert anselm == {
            ("hashedEmail", _sha("anselm.matchmore@example.com")),
            ("hashedPhoneNumber", _sha("+13125550200")),
            ("addressInfo", _sha("anselm"), _sha("omatchmore"), "US", "60601"),  # unhashed country and zip
        }
        (job,) = [j for j in fake.jobs.values() if j.user_list == user_list]
        assert job.consent == {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
        said = json.dumps(sync.load_ledger(G_LIST, "google"))
        assert "matchmore" not in said.lower() and gmail_hash not in said

        # Briony is suppressed; two more shoppers; the sync dies after Google took the first batch of
        # adds: removals and additions go in separate jobs, and the resumed job gets the rest
        briony = prepare(pa.table({"email": ["briony.matchmore@example.com"]}))
        suppression.add(briony["email"], briony["phone"], "do_not_contact", "ticket GGL", G_AS_OF)
        _g_ingest(local_aws, tmp_path, "ggl2.csv", 1, _g_lead(5, G_NAMES[5]) + _g_lead(6, G_NAMES[6]))
        _build(local_aws, G_AS_OF + timedelta(days=1))
        real_add = google_ads_api.GoogleAdsApi.add_operations

        def dying_add(self: Any, job: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = real_add(self, job, body)
            if "create" in body["operations"][0] and fake.jobs[job].user_list == user_list:
                raise ConnectionResetError("killed")
            return answer

        monkeypatch.setattr(google_ads_api.GoogleAdsApi, "add_operations", dying_add)
        with pytest.raises(ConnectionResetError):
            sync_now(1)
        monkeypatch.setattr(google_ads_api.GoogleAdsApi, "add_operations", real_add)
        fake.throttle(2)
        resumed = sync_now(1)
        backoff = [s for s in sleeps if s < GoogleTarget.poll_seconds]  # not the job polls
        assert backoff == [2.0, 4.0]  # RESOURCE_EXHAUSTED waited out
        assert resumed[G_LIST].resumed and resumed[G_LIST].operations == {"remove": 1, "add": 2}
        expected = {
            _sha(f"{n.lower()}.matchmore@example.com") for n in ("Anselm", "Delphine", "Fenella", "Gideon")
        }
        assert _g_emails(fake, user_list) == expected | {gmail_hash}
        kinds = [j.kind for j in fake.jobs.values() if j.user_list == user_list]
        assert kinds == ["create", "remove", "create"]  # never a job mixing both
        refused = [r for r in fake.requests if r.status != 200]
        assert {r.status for r in refused} == {429}

        # a full replace: one job that starts with removeAll, dropping a member that came another way
        fake.user_lists[user_list].members.add(frozenset({("hashedEmail", _sha("stray@example.com"))}))
        replaced = sync_now(1, full=True)
        assert replaced[G_LIST].operations == {"replace": 5}
        assert _g_emails(fake, user_list) == expected | {gmail_hash}
        last_job = [j for j in fake.jobs.values() if j.user_list == user_list][-1]
        assert last_job.operations[0] == ("removeAll", None) and last_job.status == "SUCCESS"

        # the job of a sync that died vanished (expired on Google's side): the operation starts
        # over in a new job, nobody lost
        fake.user_lists[user_list].members.clear()

        real_run = google_ads_api.GoogleAdsApi.run_job

        def dying_run(self: Any, job: str) -> None:
            if fake.jobs[job].user_list == user_list:  # the shared lake has other lists
                raise ConnectionResetError("killed before the run")
            real_run(self, job)

        monkeypatch.setattr(google_ads_api.GoogleAdsApi, "run_job", dying_run)
        with pytest.raises(ConnectionResetError):
            sync_now(1, full=True)
        monkeypatch.undo()
        del fake.jobs[sync.load_ledger(G_LIST, "google")["in_flight"]["operations"]["replace"]["job"]]
        with pytest.raises(sync.SyncStopped, match="the next run sends the operation again in a new job"):
            sync_now(1)
        again = sync_now(1)
        assert again[G_LIST].resumed and _g_emails(fake, user_list) == expected | {gmail_hash}

        # half a year on, nothing changed: Google would drop members 540 days after their last
        # upload, so the members who stay are uploaded again
        assert sync_now(2)[G_LIST].operations == {}
        refreshed = sync_now(181)
        assert refreshed[G_LIST].operations == {"add": 5} and not refreshed[G_LIST].full
        assert _g_emails(fake, user_list) == expected | {gmail_hash}
        assert (
            sync.load_ledger(G_LIST, "google")["refreshed_at"] == (G_AS_OF + timedelta(days=181)).isoformat()
        )
        assert sync_now(182)[G_LIST].operations == {}

        # the list was closed in the Google Ads UI (it keeps its name): a new list, named apart
        closed = fake.user_lists.pop(user_list)
        fake.user_lists["customers/1234567890/userLists/1"] = closed
        with pytest.raises(sync.SyncStopped, match="the list no longer exists on Google Ads"):
            sync_now(182, full=True)
        renewed = sync_now(182)
        new_list = sync.load_ledger(G_LIST, "google")["audience_id"]
        assert new_list != user_list and renewed[G_LIST].operations == {"add": 5}
        assert fake.user_lists[new_list].name.startswith("Forecourt model_shoppers/chevrolet-quillon 2")
        assert _g_emails(fake, new_list) == expected | {gmail_hash}

        # a dry run writes the job and its operations, and sends nothing
        _g_ingest(local_aws, tmp_path, "ggl3.csv", 2, _g_lead(7, "Hesper"))
        _build(local_aws, G_AS_OF + timedelta(days=2))
        before = len(fake.requests)
        dry = tmp_path / "dry"
        planned = {
            r.audience: r for r in sync.run(G_AS_OF + timedelta(days=2), None, platform="google", dry_run=dry)
        }
        assert len(fake.requests) == before and planned[G_LIST].operations == {"add": 1}
        folder = dry / "google" / "model_shoppers__chevrolet-quillon"
        assert sorted(p.name for p in folder.iterdir()) == ["add-0000-job.json", "add-0001.json"]
        body = json.loads((folder / "add-0001.json").read_text())["body"]
        assert body["enablePartialFailure"] is True
        assert body["operations"][0]["create"]["userIdentifiers"][0] == {
            "hashedEmail": _sha("hesper.matchmore@example.com")
        }
        created = json.loads((folder / "add-0000-job.json").read_text())["body"]["job"]
        assert created["customerMatchUserListMetadata"]["consent"]["adUserData"] == "GRANTED"
        assert "hesper" not in (folder / "add-0001.json").read_text().lower()


def test_two_syncs_of_one_list_never_overwrite_each_others_ledger(local_aws: LocalAws) -> None:
    from forecourt.audiences import sync

    first, second = sync.load_ledger("race/list", "google"), sync.load_ledger("race/list", "google")
    sync.save_ledger(first)  # the first to write makes it
    with pytest.raises(sync.SyncStopped, match="another sync wrote this list's ledger meanwhile"):
        sync.save_ledger(second)
    first["history"].append({"snapshot": "a"})
    sync.save_ledger(first)  # over the version it wrote itself
    stale = dict(first, **{sync.ETAG: second.get(sync.ETAG) or '"0"'})
    with pytest.raises(sync.SyncStopped):
        sync.save_ledger(stale)
    assert sync.load_ledger("race/list", "google")["history"] == [{"snapshot": "a"}]
    from forecourt import aws
    from forecourt.config import settings

    stored = aws.client("s3").get_object(
        Bucket=settings().lake_bucket, Key=sync.ledger_key("race/list", "google")
    )
    assert sync.ETAG not in json.loads(stored["Body"].read())  # the ETag is not part of the ledger


def test_a_list_left_with_nobody_is_emptied_on_both_platforms(
    local_aws: LocalAws, registered_dealers: dict[str, Any], tmp_path: Path
) -> None:
    import pyarrow as pa
    from forecourt.audiences import google_ads_api, sync
    from forecourt.audiences.meta_api import MetaApi
    from forecourt.audiences.people import prepare
    from forecourt.local.fake_google_ads import FakeGoogleAds
    from forecourt.local.fake_meta import FakeMeta
    from forecourt.privacy import suppression

    as_of = datetime(2027, 4, 1, 6, tzinfo=UTC)  # after the other tests' snapshots
    solo = "model_shoppers/chevrolet-solitaire"
    path = tmp_path / "solo.csv"
    day = (as_of - timedelta(days=3)).date().isoformat()
    path.write_text(
        HEADER + f"SOLO-1,{day}T10:00:00-05:00,Dealer Website,Ottoline,Single,ottoline.single@example.com,"
        "(312) 555-0399,60601,2027,Chevrolet,Solitaire,\n"
    )
    local_aws.ingest_file(path, "D100", feed="generic-leads", arrival=as_of.date())
    _build(local_aws, as_of)
    from forecourt import aws
    from forecourt.config import settings

    s3 = aws.client("s3")  # the lists other tests synced to their own fakes: these fakes start empty
    for item in s3.list_objects_v2(Bucket=settings().lake_bucket, Prefix=sync.LEDGER_PREFIX).get(
        "Contents", []
    ):
        s3.delete_object(Bucket=settings().lake_bucket, Key=item["Key"])
    with FakeMeta() as meta, FakeGoogleAds() as google:
        apis = [
            MetaApi(meta.url, "v21.0", "test-token", "act_1234"),
            google_ads_api.GoogleAdsApi(**google.credentials()),
        ]
        for api in apis:
            sync.run(as_of, api, wait=0)
        meta_id, google_id = (
            sync.load_ledger(solo, "meta")["audience_id"],
            sync.load_ledger(solo, "google")["audience_id"],
        )
        assert len(meta.members(meta_id)) == 1 and len(google.members(google_id)) == 1
        # her only member asks never to be contacted: a full sync leaves both lists empty (Meta's
        # usersreplace cannot carry nobody: the audience is deleted, and made again when needed)
        her = prepare(pa.table({"email": ["ottoline.single@example.com"]}))
        suppression.add(her["email"], her["phone"], "do_not_contact", "ticket SOLO", as_of)
        local_aws.drain_commits()
        done = {
            r.platform: r
            for api in apis
            for r in sync.run(as_of, api, full=True, wait=0)
            if r.audience == solo
        }
        assert done["meta"].operations == {"clear": 0} and done["google"].operations == {"clear": 0}
        assert meta_id not in meta.audiences and sync.load_ledger(solo, "meta")["audience_id"] is None
        assert google.members(google_id) == set()
        again = {r.platform: r for api in apis for r in sync.run(as_of, api, wait=0) if r.audience == solo}
        assert again["meta"].operations == {} and again["google"].operations == {}
