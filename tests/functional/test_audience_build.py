"""Audience snapshots from real dealer files: segments over the resolved lake, one list per model,
every member marked with why it may not leave for an ad platform, dated snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import LocalAws

HEADER = "lead_id,requested_at,lead_source,first_name,last_name,email,mobile_phone,zip,country,vehicle_year,vehicle_make,vehicle_model,ccpa_opt_out,ad_user_data_consent,ad_personalization_consent,consent_at\n"
D100_LEADS = HEADER + (
    "AUD-1,2026-10-30T09:05:00-05:00,Dealer Website,Wilhelmina,Quarrington,w.quarrington@example.com,(312) 555-0111,60601,,2026,Chevrolet,Equinox,,,,\n"
    "AUD-3,2026-10-20T09:05:00-05:00,Dealer Website,Cornelius,Vandersloot,c.vandersloot@example.com,(312) 555-0133,60601,,2026,Chevrolet,Tahoe,,,,\n"
    "AUD-4,2026-11-02T09:05:00-05:00,Dealer Website,Ottoline,Featherstonehaugh,o.feather@example.com,(312) 555-0144,60601,,2026,Chevrolet,Traverse,true,,,\n"
    "AUD-5,2026-11-02T10:05:00+01:00,OEM Website,Gunther,Oberhollenzer,g.oberhollenzer@example.de,,10115,DE,2026,Chevrolet,Traverse,,GRANTED,,2026-11-02T10:05:00+01:00\n"
    "AUD-7,2026-11-02T11:05:00+01:00,OEM Website,Liesl,Aschenbrenner,l.aschenbrenner@example.de,,10117,DE,2026,Chevrolet,Traverse,,GRANTED,GRANTED,2026-11-02T11:05:00+01:00\n"
)
D200_LEADS = HEADER + (
    "AUD-2,2026-11-01T10:00:00-05:00,OEM Website,Wilhelmina,Quarrington,w.quarrington@example.com,(312) 555-0111,60601,,2026,CHEVROLET,BLAZER,,,,\n"
)
SALES = """DealNumber,CustNo,ContractDate,DeliveryDate,NewUsed,SaleType,FinanceType,StockNo,VIN,Year,MakeName,ModelName,Trim,Odometer,Salesman1Name,BuyerFirstName,BuyerMiddleName,BuyerLastName,CoBuyerFirstName,CoBuyerLastName,BuyerAddress,BuyerCity,BuyerState,BuyerZip,BuyerHomePhone,BuyerBusinessPhone,BuyerCellPhone,BuyerEmail,BlockPhone,BlockEmail,BlockMail,TradeVIN,TradeYear,TradeMake,TradeModel,CashPrice,APR,Term,AmountFinanced,Payment,CashDown,LienHolder,FrontGross,BackGross,FirstPayDate,MaturityDate
8801,2208801,20261028,20261029,N,Retail,Finance,C26001,1GNSKCKD2TR100001,2026,CHEVROLET,TAHOE,LT,12,"WHITFIELD, DANA",CORNELIUS,,VANDERSLOOT,,,1 MAIN ST,Chicago,IL,60601,,,312-555-0133,C.VANDERSLOOT@EXAMPLE.COM,N,N,N,,,,,61895.00,3.9,60,50000.00,955.12,5000.00,GM FINANCIAL,2425.50,1980.00,20261201,20311101
"""
SERVICE = """RO Number,Open Date,Close Date,Advisor,Pay Type,Labor Sale,Parts Sale,VIN,Year,Make,Model,Mileage In,Cust No,First Name,Last Name,Home Phone,Cell Phone,Email,Address,City,State,Zip,Tech No,Customer Concern
AUD-R1,06/10/2024 07:42,06/10/2024 16:10,"PATEL, RAJ",C,189.50,74.22,1HGCM82673A004399,2014,HONDA,ACCORD,"141,207",3391,BARNABY,ZWIERZYNSKI,,646-555-0191,b.zwierzynski@example.com,9 ELM ST,NEW YORK,NY,10001,417,BRAKES
"""
AS_OF = datetime(2026, 11, 3, 6, tzinfo=UTC)


def _query(sql: str) -> list[dict[str, Any]]:
    from forecourt import analytics

    return analytics.run_query(sql).to_arrow().to_pylist()


def _ingest(local_aws: LocalAws, tmp_path: Path) -> None:
    files = [
        ("aud_d100_leads.csv", D100_LEADS, "D100", "generic-leads"),
        ("aud_d200_leads.csv", D200_LEADS, "D200", "generic-leads"),
        ("DealExtract_20261030.csv", SALES, "D100", "cdk-sales"),
        ("RO_History_20261030.csv", SERVICE, "D300", "service-visits"),
    ]
    for name, text, dealer, feed in files:
        path = tmp_path / name
        path.write_text(text)
        report = local_aws.ingest_file(path, dealer, feed=feed)
        assert report.rows_quarantined == 0, (name, report.quarantine_reasons, report.field_issues)


def test_segments_become_dated_snapshots_with_every_exclusion_explained(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path
) -> None:
    from forecourt.audiences.build import run as build
    from forecourt.identity.job import run as resolve

    _ingest(local_aws, tmp_path)
    resolve(AS_OF)
    local_aws.drain_commits()
    first = build(AS_OF)
    local_aws.drain_commits()
    assert first.snapshot == "20261103T060000Z"

    person = {
        r["source_key"]: r["person_id"]
        for r in _query(
            "SELECT l.source_key, p.person_id FROM leads l JOIN person_links p ON p.record_id = l.record_id "
            "WHERE l.source_key LIKE 'AUD-%'"
        )
    }
    service = _query(
        "SELECT p.person_id FROM visits v JOIN person_links p ON p.record_id = v.record_id "
        "WHERE v.ro_number = 'AUD-R1'"
    )[0]["person_id"]
    ours = {*person.values(), service}
    rows = [
        r
        for r in _query(f"SELECT * FROM audience_members WHERE upload_id = '{first.snapshot}'")
        if r["person_id"] in ours
    ]
    lists = {(r["audience"], r["person_id"]): r for r in rows}
    wilhelmina, cornelius = person["AUD-1"], person["AUD-3"]
    assert person["AUD-2"] == wilhelmina  # one person across D100 and D200
    # one list per make and model, whatever the case the dealer wrote it in; no sale since
    assert lists[("model_shoppers/chevrolet-equinox", wilhelmina)]["excluded"] is None
    assert lists[("model_shoppers/chevrolet-blazer", wilhelmina)]["list_key"] == "chevrolet blazer"
    # enquired, then bought: not a shopper any more, but on the recent buyers' exclusion list
    assert not any(a.startswith("model_shoppers/") for a, p in lists if p == cornelius)
    buyers = lists[("recent_buyers", cornelius)]
    assert buyers["kind"] == "exclusion" and buyers["excluded"] is None
    # consent: an opt-out of sale or sharing, and an EEA person with only one of the two consents
    traverse = {p: r["excluded"] for (a, p), r in lists.items() if a == "model_shoppers/chevrolet-traverse"}
    assert traverse == {
        person["AUD-4"]: "opted_out_of_sale_or_sharing",
        person["AUD-5"]: "eea_without_consent",
        person["AUD-7"]: None,  # both consents granted
    }
    # a 2014 car last serviced on 10 June 2024: an aging vehicle and a lapsed service customer
    assert lists[("aging_vehicle_owners", service)]["evidence_at"] == datetime(
        2024, 6, 10, 11, 42, tzinfo=UTC
    )  # opened 07:42 EDT
    assert ("lapsed_service", service) in lists
    assert all(r["as_of"] == AS_OF for r in rows)

    counted = {c.audience: c for c in first.lists}
    traverse_count = counted["model_shoppers/chevrolet-traverse"]
    assert traverse_count.excluded["opted_out_of_sale_or_sharing"] >= 1
    assert traverse_count.excluded["eea_without_consent"] >= 1
    assert traverse_count.members == traverse_count.eligible + sum(traverse_count.excluded.values())

    # the suppression list (keyed hashes): a phone as a person typed it matches the lake's E.164
    import pyarrow as pa
    from forecourt.audiences.people import prepare
    from forecourt.privacy import suppression

    asked = prepare(
        pa.table({"email": ["L.Aschenbrenner@example.de ", None], "phone": [None, "312.555.0111"]})
    )
    added = suppression.add(asked["email"], asked["phone"], "do_not_contact", "ticket PR-1", AS_OF)
    assert added.entries == {"email": 1, "phone": 1}
    local_aws.drain_commits()
    listed = _query(f"SELECT * FROM suppressions WHERE upload_id = '{added.batch}'")
    assert {r["identifier"] for r in listed} == {"email", "phone"}
    assert not any("aschenbrenner" in str(v).lower() or "555" in str(v) for r in listed for v in r.values())

    # the same moment again replaces its snapshot; a later one adds another (the dated history)
    build(AS_OF)
    local_aws.drain_commits()
    again = _query(
        f"SELECT audience, person_id, excluded FROM audience_members WHERE upload_id = '{first.snapshot}' "
        f"AND person_id IN ('{wilhelmina}', '{person['AUD-7']}')"
    )
    assert len(again) == 3 and {r["excluded"] for r in again} == {"suppressed"}
    later = build(datetime(2026, 12, 20, 6, tzinfo=UTC))
    local_aws.drain_commits()
    snapshots = {
        r["upload_id"]: r["audience"]
        for r in _query(f"SELECT upload_id, audience FROM audience_members WHERE person_id = '{wilhelmina}'")
    }
    # 50 days on, the October enquiries are too old for a shopper list
    assert set(snapshots) == {first.snapshot} and later.snapshot == "20261220T060000Z"
