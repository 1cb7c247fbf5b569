"""The resolve job over the lake: records of several dealers and datasets become persons with
stable ids, in persons and person_links."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import LocalAws

LEADS = """lead_id,requested_at,lead_source,first_name,last_name,Email Address,Phone Number,mobile_phone,street,city,state,Zip Code,vehicle_year,vehicle_make,vehicle_model
IDJ-1,2026-10-02T09:05:00-05:00,Dealer Website,Katherine,Vandermolen,kate.vandermolen@gmail.com,,(312) 555-0181,1208 W Oak St,Chicago,IL,60601,2026,Chevrolet,Equinox
IDJ-2,2026-10-03T10:00:00-05:00,Dealer Website,Ignatius,Quarterman,iggy.q@outlook.com,,(312) 555-0182,77 Lake St,Chicago,IL,60601,2026,Chevrolet,Tahoe
"""
VISITS = """Visit ID,Time In,Time Out,Visit Type,Salesperson,Appointment,Customer ID,First Name,Last Name,Phone,Email,Vehicle Year,Vehicle Make,Vehicle Model,Stock #,Notes
IDJ-V1,10/05/2026 10:12 AM,10/05/2026 11:48 AM,Appointment,Dana Whitfield,Y,88,Kate,Vandermolen,312-555-0181,,2026,Chevrolet,Equinox,C1,
IDJ-V2,10/05/2026 12:12 PM,10/05/2026 12:48 PM,Fresh Up,Dana Whitfield,N,89,Ignacio,Quartermann,(415) 555-0199,,2026,Chevrolet,Blazer,C2,
"""


def _query(sql: str) -> list[dict[str, Any]]:
    from forecourt import analytics

    return analytics.run_query(sql).to_arrow().to_pylist()


def test_a_shopper_at_two_dealers_is_one_person_and_keeps_the_id_on_a_second_run(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path
) -> None:
    from forecourt.identity.job import run

    leads, visits = tmp_path / "idj_leads.csv", tmp_path / "idj_visits.csv"
    leads.write_text(LEADS)
    visits.write_text(VISITS)
    assert local_aws.ingest_file(leads, "D100", feed="generic-leads").rows_curated == 2
    assert local_aws.ingest_file(visits, "D200", feed="showroom-visits").rows_curated == 2

    first = run(datetime(2026, 11, 3, 6, tzinfo=UTC))
    local_aws.drain_commits()
    mine = """SELECT l.record_id, l.dataset, l.dealer_id, l.person_id, l.linked_to, l.evidence, x.source_key
              FROM person_links l
              JOIN (SELECT record_id, source_key FROM leads UNION ALL SELECT record_id, source_key FROM visits) x
                ON x.record_id = l.record_id
              WHERE x.source_key LIKE 'IDJ-%' ORDER BY x.source_key"""
    rows = {r["source_key"]: r for r in _query(mine)}
    assert set(rows) == {"IDJ-1", "IDJ-2", "IDJ-V1", "IDJ-V2"}
    kate, kate_visit = rows["IDJ-1"], rows["IDJ-V1"]
    assert kate["person_id"] == kate_visit["person_id"]  # Katherine at D100 is Kate at D200
    assert {kate["dealer_id"], kate_visit["dealer_id"]} == {"D100", "D200"}
    assert json.loads(kate_visit["evidence"] or kate["evidence"])["first"] == "nickname"
    assert rows["IDJ-2"]["person_id"] != rows["IDJ-V2"]["person_id"]  # a near name, another phone
    person = _query(f"SELECT * FROM persons WHERE person_id = '{kate['person_id']}'")
    assert person[0]["records"] == 2 and person[0]["dealers"] == 2 and person[0]["datasets"] == "leads,visits"
    assert first.records == len(_query("SELECT record_id FROM person_links"))

    second = run(datetime(2026, 11, 4, 6, tzinfo=UTC))  # nothing new: same ids, rows replaced
    local_aws.drain_commits()
    again = {r["source_key"]: r for r in _query(mine)}
    assert {k: r["person_id"] for k, r in again.items()} == {k: r["person_id"] for k, r in rows.items()}
    assert second.new == 0 and second.kept == first.persons
    assert len(_query("SELECT record_id FROM person_links")) == second.records  # not doubled
    created = _query(f"SELECT person_created FROM person_links WHERE record_id = '{kate['record_id']}'")
    assert created[0]["person_created"] == datetime(2026, 11, 3, 6, tzinfo=UTC)

    from click.testing import CliRunner
    from forecourt.cli import main

    explained = CliRunner().invoke(main, ["identity", "explain", kate["record_id"], "--json"])
    assert explained.exit_code == 0, explained.output
    answer = json.loads(explained.stdout)
    assert answer["person_id"] == kate["person_id"]
    assert {r["record_id"] for r in answer["records"]} == {kate["record_id"], kate_visit["record_id"]}
    unknown = CliRunner().invoke(main, ["identity", "explain", "abc123"])
    assert unknown.exit_code == 1 and "is in no person" in " ".join(unknown.output.split())


HEADER = "lead_id,requested_at,lead_source,first_name,last_name,Email Address,mobile_phone,street,city,state,Zip Code,vehicle_year,vehicle_make,vehicle_model\n"
CORNELIUS_MADISON = "INC-A1,2026-10-02T09:05:00-05:00,Web,Cornelius,Pemberton,cpemberton@example.org,(608) 555-0141,14 Gorham St,Madison,WI,53703,2026,Chevrolet,Equinox\n"
CORNELIUS_SF = "INC-B1,2026-10-04T09:05:00-07:00,Web,Cornelius,Pemberton,,(415) 555-0177,900 Valencia St,San Francisco,CA,94110,2026,Chevrolet,Equinox\n"
CORNELIUS_BOTH = "INC-C1,2026-10-06T09:05:00-07:00,Web,Cornelius,Pemberton,cpemberton@example.org,(415) 555-0177,900 Valencia St,San Francisco,CA,94110,2026,Chevrolet,Equinox\n"


def _index_item(key: str) -> dict[str, Any]:
    from forecourt import aws
    from forecourt.config import settings

    answer = aws.client("dynamodb").get_item(
        TableName=settings().identity_index_table, Key={"key": {"S": key}}
    )
    return dict(answer.get("Item", {}))


def test_incremental_runs_resolve_only_what_new_records_reach_keep_merged_ids_and_honour_a_split(
    local_aws: LocalAws, registered_dealers: dict[str, Any], tmp_path: Path
) -> None:
    from forecourt.identity.job import run, split
    from forecourt.routing import person_keys

    def ingest(name: str, row: str, dealer: str) -> None:
        path = tmp_path / f"{name}.csv"
        path.write_text(HEADER + row)
        report = local_aws.ingest_file(path, dealer, feed="generic-leads")
        assert report.rows_curated == 1, report.quarantine_reasons

    def resolve(day: int, *, full: bool = False) -> Any:
        done = run(datetime(2026, 11, day, 6, tzinfo=UTC), full=full)
        local_aws.drain_commits()
        return done

    def persons() -> dict[str, str]:
        rows = _query(
            "SELECT x.source_key, l.person_id FROM person_links l JOIN leads x ON x.record_id = l.record_id "
            "WHERE x.source_key LIKE 'INC-%'"
        )
        return {r["source_key"]: r["person_id"] for r in rows}

    def everyone() -> dict[str, tuple[str, datetime]]:
        rows = _query("SELECT record_id, person_id, person_created FROM person_links")
        return {r["record_id"]: (r["person_id"], r["person_created"]) for r in rows}

    ingest("inc_a", CORNELIUS_MADISON, "D100")
    resolve(10)
    madison = persons()["INC-A1"]
    before = everyone()

    # Cornelius in San Francisco, no e-mail, another phone: not linked to Madison, a new person;
    # only the new record was resolved and every other person was carried over as it was
    ingest("inc_b", CORNELIUS_SF, "D200")
    second = resolve(11)
    assert second.mode == "incremental" and second.changed == 1 and second.resolved == 1
    after = everyone()
    assert {r: after[r] for r in before} == before
    san_francisco = persons()["INC-B1"]
    assert san_francisco != madison

    # a record with Madison's e-mail and San Francisco's phone: one person, the older id survives
    ingest("inc_c", CORNELIUS_BOTH, "D200")
    third = resolve(12)
    assert third.mode == "incremental" and third.changed == 1 and third.resolved == 3 and third.merged == 1
    assert set(persons().values()) == {madison}
    merged = _query(f"SELECT merged_into FROM persons WHERE person_id = '{san_francisco}'")
    assert merged == [{"merged_into": madison}]
    # the identity index now knows his Madison e-mail and San Francisco phone are one person
    assert third.published >= 2
    [email_key] = person_keys({"email": "cpemberton@example.org"})
    [phone_key] = person_keys({"phone": "+14155550177"})
    published = _index_item("resolved#" + phone_key)
    assert published["persons"]["SS"] == [madison] and email_key in published["keys"]["SS"]

    fourth = resolve(13)  # nothing new: nothing resolved, and the merged id is still recorded
    assert fourth.changed == 0 and fourth.resolved == 0 and fourth.records == third.records
    assert fourth.published == 0  # the index already says so
    assert _query(f"SELECT merged_into FROM persons WHERE person_id = '{san_francisco}'") == merged
    full = resolve(14, full=True)  # the same persons as the incremental runs found
    assert full.mode == "full" and full.resolved == full.records and set(persons().values()) == {madison}

    # the San Francisco lead was not him: split it off; it stays apart in later runs, full ones too
    record = _query("SELECT record_id FROM leads WHERE source_key = 'INC-B1'")[0]["record_id"]
    done = split([record], "a namesake", datetime(2026, 11, 15, 6, tzinfo=UTC))
    assert done.person_id == madison and len(done.rest) == 2
    local_aws.drain_commits()
    resolve(15)
    apart = persons()
    assert apart["INC-A1"] == apart["INC-C1"] == madison  # the part with most of his records keeps the id
    assert apart["INC-B1"] not in (madison, san_francisco)  # a merged-away id is never given again
    assert resolve(16).resolved == 0 and persons() == apart
    resolve(17, full=True)
    assert persons() == apart
