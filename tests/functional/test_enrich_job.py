"""The enrich job over the lake: real dealer files in, resolved, enriched; tags with their PII class,
scored leads, and per-dealer outbound files holding only what changed."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import LocalAws

HEADER = "lead_id,requested_at,lead_source,provider_name,first_name,last_name,email,mobile_phone,street,city,state,zip,vehicle_year,vehicle_make,vehicle_model,trade_year,trade_make,trade_model,utm_campaign,campaign_id\n"
D100_LEADS = HEADER + (
    "ENR-1,2026-10-30T09:05:00-05:00,Dealer Website,,Priscilla,Okonkwo,priscilla.okonkwo@gmail.com,(312) 555-0137,4410 N Clark St,Chicago,IL,60601,2026,Chevrolet,Equinox,2019,Honda,CR-V,OEM_Fall_Equinox,\n"
)
D200_LEADS = HEADER + (
    "ENR-2,2026-11-01T10:00:00-05:00,OEM Website,,Priscilla,Okonkwo,priscilla.okonkwo@gmail.com,(312) 555-0137,4410 N Clark St,Chicago,IL,60601,2026,Chevrolet,Blazer,,,,,C-777\n"
    "ENR-3,2026-11-01T11:00:00-05:00,Build & Price,,Thaddeus,Brightwater,thad.brightwater@outlook.com,(415) 555-0163,19 Pine St,Chicago,IL,60601,2026,Chevrolet,Tahoe,,,,,\n"
)
VISITS = """Visit ID,Time In,Time Out,Visit Type,Salesperson,Appointment,Customer ID,First Name,Last Name,Phone,Email,Vehicle Year,Vehicle Make,Vehicle Model,Stock #,Notes
ENR-V1,10/31/2026 10:12 AM,10/31/2026 11:48 AM,Appointment,Dana Whitfield,Y,88,Priscilla,Okonkwo,312-555-0137,,2026,Chevrolet,Blazer,C1,
"""
SALES = """DealNumber,CustNo,ContractDate,DeliveryDate,NewUsed,SaleType,FinanceType,StockNo,VIN,Year,MakeName,ModelName,Trim,Odometer,Salesman1Name,BuyerFirstName,BuyerMiddleName,BuyerLastName,CoBuyerFirstName,CoBuyerLastName,BuyerAddress,BuyerCity,BuyerState,BuyerZip,BuyerHomePhone,BuyerBusinessPhone,BuyerCellPhone,BuyerEmail,BlockPhone,BlockEmail,BlockMail,TradeVIN,TradeYear,TradeMake,TradeModel,CashPrice,APR,Term,AmountFinanced,Payment,CashDown,LienHolder,FrontGross,BackGross,FirstPayDate,MaturityDate
7701,2207701,20240110,20240112,N,Lease,Lease,C19001,2GNAXUEV0K6100001,2019,CHEVROLET,EQUINOX,LT,12,"WHITFIELD, DANA",PRISCILLA,,OKONKWO,,,4410 N CLARK ST,Chicago,IL,60601,,,312-555-0137,PRISCILLA.OKONKWO@GMAIL.COM,N,N,N,,,,,31895.00,3.9,36,27450.00,455.12,3000.00,GM FINANCIAL,1425.50,980.00,20240215,20270115
"""
SERVICE = """RO Number,Open Date,Close Date,Advisor,Pay Type,Labor Sale,Parts Sale,VIN,Year,Make,Model,Mileage In,Cust No,First Name,Last Name,Home Phone,Cell Phone,Email,Address,City,State,Zip,Tech No,Customer Concern
ENR-R1,10/20/2026 07:42,10/20/2026 16:10,"PATEL, RAJ",C,189.50,74.22,2GNAXUEV0K6100001,2019,CHEVROLET,EQUINOX,"41,207",3301,PRISCILLA,OKONKWO,,312-555-0137,priscilla.okonkwo@gmail.com,4410 N CLARK ST,CHICAGO,IL,60601,417,OIL CHANGE
ENR-R2,01/10/2024 08:00,01/10/2024 12:00,"PATEL, RAJ",C,99.00,20.00,1HGCM82633A004352,2012,HONDA,ACCORD,"141,207",3302,BARTHOLOMEW,ZYLSTRA,,646-555-0175,bart.zylstra@yahoo.com,9 ELM ST,NEW YORK,NY,10001,417,BRAKES
"""
AS_OF = datetime(2026, 11, 3, 6, tzinfo=UTC)


def _query(sql: str) -> list[dict[str, Any]]:
    from forecourt import analytics

    return analytics.run_query(sql).to_arrow().to_pylist()


def _object(key: str) -> bytes:
    from forecourt import aws
    from forecourt.config import settings

    return aws.client("s3").get_object(Bucket=settings().lake_bucket, Key=key)["Body"].read()


def _ingest(local_aws: LocalAws, tmp_path: Path) -> None:
    files = [
        ("enr_d100_leads.csv", D100_LEADS, "D100", "generic-leads"),
        ("enr_d200_leads.csv", D200_LEADS, "D200", "generic-leads"),
        ("enr_visits.csv", VISITS, "D200", "showroom-visits"),
        ("DealExtract_20261102.csv", SALES, "D100", "cdk-sales"),
        ("RO_History_20261102.csv", SERVICE, "D300", "service-visits"),
    ]
    for name, text, dealer, feed in files:
        path = tmp_path / name
        path.write_text(text)
        report = local_aws.ingest_file(path, dealer, feed=feed)
        assert report.rows_quarantined == 0, (name, report.quarantine_reasons, report.field_issues)


def test_tags_scores_and_outbound_deltas_from_dealer_files(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path
) -> None:
    from defusedxml import ElementTree
    from forecourt.enrich.job import run as enrich
    from forecourt.identity.job import run as resolve

    _ingest(local_aws, tmp_path)
    resolve(AS_OF)
    local_aws.drain_commits()
    first = enrich(AS_OF)
    local_aws.drain_commits()

    # other tests of this worker may have left leads in the lake: look at this test's own
    leads = {r["lead_id"]: r for r in _query("SELECT * FROM enriched_leads WHERE lead_id LIKE 'ENR-%'")}
    assert set(leads) == {"ENR-1", "ENR-2", "ENR-3"}
    prisca_d100, prisca_d200, iggy = leads["ENR-1"], leads["ENR-2"], leads["ENR-3"]
    assert prisca_d100["person_id"] == prisca_d200["person_id"] != iggy["person_id"]

    tags = _query("SELECT person_id, tag, reason, dealer_id, pii FROM lead_tags")
    prisca = {t["tag"]: t for t in tags if t["person_id"] == prisca_d100["person_id"]}
    assert set(prisca) == {
        "in_market", "multi_dealer_shopper", "service_customer", "trade_in_candidate", "finance_ending"
    }  # fmt: skip
    assert prisca["finance_ending"]["pii"] == "financial" and prisca["finance_ending"]["dealer_id"] == "D100"
    assert prisca["finance_ending"]["reason"] == "lease ends on 2027-01-15 (73 days)"
    assert prisca["multi_dealer_shopper"]["reason"] == "shopped at 2 dealers in the last 90 days: D100, D200"
    assert prisca["trade_in_candidate"]["reason"] == "owns a 2019 Chevrolet EQUINOX (7 model years old)"
    assert {t["pii"] for t in prisca.values() if t["tag"] != "finance_ending"} == {"none"}
    others = {(t["tag"], t["reason"]) for t in tags if t["person_id"] != prisca_d100["person_id"]}
    assert ("unfinished_deal", "digital-retail lead on 2026-11-01 with no sale since") in others
    assert any(tag == "lapsed_customer" and "last service on 2024-01-10" in why for tag, why in others)

    # a financial tag and the deal gross reach only the selling dealer's leads
    assert "finance_ending" in prisca_d100["tags"] and "finance_ending" not in prisca_d200["tags"]
    assert float(prisca_d100["sales_gross"]) == 2405.50 and prisca_d200["sales_gross"] is None
    assert float(prisca_d200["service_gross"]) == 263.72  # service is not financial: every dealer sees it
    assert prisca_d100["suggested_dealer_id"] == "D100"
    assert (
        prisca_d100["suggested_reason"]
        == "bought a 2019 Chevrolet EQUINOX at D100 on 2024-01-12 with WHITFIELD, DANA"
    )
    assert (
        prisca_d200["first_touch_campaign"] == "OEM_Fall_Equinox"
        and prisca_d200["last_touch_campaign"] == "C-777"
    )
    assert "unfinished_deal" in iggy["score_features"]
    assert prisca_d200["score"] > iggy["score"]  # showroom visit, repeat inquiry, past buyer
    assert "showroom visit near the lead +15" in prisca_d200["score_reasons"]
    assert 0 <= iggy["score"] <= 100

    # outbound: a CSV and an ADF document per dealer, every lead new
    assert first.exported["D100"] >= 1 and first.exported["D200"] >= 2
    csv_key = next(k for k in first.files if "dealer=D200" in k and k.endswith(".csv"))
    assert csv_key.startswith("outbound/dealer=D200/enriched-leads/2026-11-03/enriched-leads-060000-")
    rows = list(csv.DictReader(io.StringIO(_object(csv_key).decode("utf-8"))))
    rows = [r for r in rows if r["lead_id"].startswith("ENR-")]
    assert {r["lead_id"]: r["change"] for r in rows} == {"ENR-2": "new", "ENR-3": "new"}
    assert all("finance_ending" not in r["tags"] and r["sales_gross"] == "" for r in rows)
    assert {r["phone"] for r in rows} == {"+13125550137", "+14155550163"}  # a phone is not a formula
    adf = ElementTree.fromstring(_object(csv_key.replace(".csv", ".xml")))
    prospects = adf.findall("prospect")
    assert len(prospects) == first.exported["D200"]
    comments = prospects[0].find("customer/comments").text
    assert "Forecourt score:" in comments and "Forecourt tags:" in comments

    # nothing new: nothing exported, rows replaced and not doubled
    second = enrich(AS_OF.replace(hour=7))
    local_aws.drain_commits()
    assert second.exported == {} and second.files == []
    again = _query("SELECT lead_id, exported_at FROM enriched_leads WHERE lead_id LIKE 'ENR-%'")
    assert {r["lead_id"]: r["exported_at"] for r in again} == {k: r["exported_at"] for k, r in leads.items()}

    from click.testing import CliRunner
    from forecourt.cli import main

    backtest = CliRunner().invoke(main, ["enrich", "calibrate", "--as-of", "2026-11-01T17:00:00Z", "--json"])
    assert backtest.exit_code == 0, backtest.output
    bands = json.loads(backtest.stdout)
    assert len(bands) == 5 and sum(b["leads"] for b in bands) >= 3  # ENR-1..3 and other tests' leads
