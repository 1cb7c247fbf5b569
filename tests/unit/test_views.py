"""The analysts' views (queries/views) on small hand-built tables with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from forecourt import analytics, schemas, views
from forecourt.analytics import QueryError

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A time in the week of Monday 2 November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def rows(dataset: str, *records: dict[str, Any]) -> pa.Table:
    d = schemas.get(dataset)
    defaults = {
        "upload_id": "u1",
        "feed": "f",
        "source_system": "crm",
        "received_at": at(9, 12),
        "dealer_id": "D1",
    }
    full = [{c: (defaults | r).get(c) for c in d.column_names} for r in records]
    return pa.Table.from_pylist(full, schema=d.arrow_schema())


def lake(**tables: pa.Table) -> dict[str, pa.Table]:
    empty = {name: d.arrow_schema().empty_table() for name, d in schemas.load_all().items()}
    return empty | tables


def query(sql: str, tables: dict[str, pa.Table], **settings: float) -> list[dict[str, Any]]:
    result = analytics.run_query(sql, tables=tables, view_settings=settings)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def lead(record_id: str, requested: datetime, email: str, **more: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "source_key": f"crm-{record_id}",
        "requested_at": requested,
        "email": email,
        "lead_source": "oem_website",
        "vehicle_make": "Chevrolet",
        "vehicle_model": "Equinox",
        "vehicle_status": "new",
    } | more


def event(record_id: str, kind: str, when: datetime, **more: Any) -> dict[str, Any]:
    return {"record_id": record_id, "event_type": kind, "occurred_at": when} | more


@pytest.fixture(scope="module")
def funnel_lake() -> dict[str, pa.Table]:
    """D1, week of 2 Nov 2026: ann enquires twice (L2 repeats L1) and buys (reported on the repeat);
    bob is contacted after 20 minutes by the CRM's own field; cat is a test lead; dan is never
    contacted but buys in the DMS 10 days later; eve buys 120 days later (past the window)."""
    return lake(
        leads=rows(
            "leads",
            lead("L1", at(2), "ann@x.com", campaign_id="C1"),
            lead("L2", at(4), "ann@x.com"),
            lead("L3", at(3), "bob@x.com", first_contacted_at=at(3, 9, 20)),
            lead("L4", at(3), "cat@test.com"),
            lead("L5", at(5), "dan@x.com", vehicle_status="used"),
            lead("L6", at(5), "eve@x.com", vehicle_status="used"),
        ),
        lead_events=rows(
            "lead_events",
            event("E1", "contacted", at(2, 9, 10), crm_lead_id="crm-L1"),
            event("E2", "appointment_set", at(2, 11), lead_id="L1"),
            event("E3", "sold", at(6), lead_id="L2", sale_value=30000),
            event("E4", "contacted", at(3, 10), lead_id="L4"),
        ),
        lead_routes=rows(
            "lead_routes",
            {"lead_id": "L4", "is_test": True, "rule": "test_lead", "routed_at": at(3)},
        ),
        person_links=rows(
            "person_links",
            {"record_id": "L5", "dataset": "leads", "person_id": "P-dan"},
            {"record_id": "S1", "dataset": "sales", "person_id": "P-dan"},
            {"record_id": "L6", "dataset": "leads", "person_id": "P-eve"},
            {"record_id": "S2", "dataset": "sales", "person_id": "P-eve"},
        ),
        sales=rows(
            "sales",
            {"record_id": "S1", "deal_number": "1", "delivery_date": date(2026, 11, 15)},
            {"record_id": "S2", "deal_number": "2", "delivery_date": date(2027, 3, 5)},
        ),
    )


def test_current_view_keeps_the_version_received_last_then_the_later_line() -> None:
    tables = lake(
        leads=rows(
            "leads",
            lead("A", at(2), "old@x.com", received_at=at(3)),
            lead("A", at(2), "new@x.com", received_at=at(4)),
            lead("B", at(2), "line2@x.com", source_line=2),
            lead("B", at(2), "line7@x.com", source_line=7),
        )
    )
    found = query("SELECT record_id, email FROM leads_current ORDER BY record_id", tables)
    assert found == [{"record_id": "A", "email": "new@x.com"}, {"record_id": "B", "email": "line7@x.com"}]


def test_funnel_counts_enquiries_once_with_cumulative_stages(funnel_lake: dict[str, pa.Table]) -> None:
    found = query(
        "SELECT condition, leads, contacted, appointment_set, shown, sold, contact_rate, appointment_rate, "
        "show_rate, close_rate, duplicates, week FROM lead_funnel ORDER BY condition",
        funnel_lake,
    )
    new = {"condition": "new", "leads": 2, "contacted": 2, "appointment_set": 1, "shown": 1, "sold": 1}
    assert found[0] | new == found[0]
    assert (found[0]["contact_rate"], found[0]["appointment_rate"], found[0]["show_rate"]) == (1.0, 0.5, 1.0)
    assert (
        found[0]["close_rate"] == 1.0
        and found[0]["duplicates"] == 1
        and found[0]["week"] == date(2026, 11, 2)
    )
    used = {"condition": "used", "leads": 2, "contacted": 1, "appointment_set": 1, "shown": 1, "sold": 1}
    assert found[1] | used == found[1] and found[1]["contact_rate"] == 0.5 and found[1]["duplicates"] == 0


def test_outcomes_say_where_a_sale_came_from_and_leave_test_leads_out(
    funnel_lake: dict[str, pa.Table],
) -> None:
    found = query(
        "SELECT lead_id, is_duplicate, enquiry_lead_id, sold_by FROM lead_outcomes ORDER BY 1", funnel_lake
    )
    assert [tuple(r.values()) for r in found] == [
        ("L1", False, "L1", "crm"),
        ("L2", True, "L1", "crm"),
        ("L3", False, "L3", None),
        ("L5", False, "L5", "dms"),
        ("L6", False, "L6", None),
    ]


def test_funnel_windows_are_settings(funnel_lake: dict[str, pa.Table]) -> None:
    sql = "SELECT condition, leads, sold FROM lead_funnel ORDER BY condition"
    narrow = query(sql, funnel_lake, dedupe_window_days=1, attribution_window_days=150)
    assert narrow == [
        {"condition": "new", "leads": 3, "sold": 1},
        {"condition": "used", "leads": 2, "sold": 2},
    ]


def test_speed_to_lead_per_dealer_and_week_against_the_target(funnel_lake: dict[str, pa.Table]) -> None:
    sql = (
        "SELECT week, leads, contacted_leads, median_minutes, p90_minutes, target_minutes, within_target, "
        "meets_target FROM dealer_speed_to_lead ORDER BY week NULLS FIRST"
    )
    overall, week = query(sql, funnel_lake, speed_to_lead_target_minutes=15)
    assert overall == week | {"week": None}
    assert week["week"] == date(2026, 11, 2) and (week["leads"], week["contacted_leads"]) == (4, 2)
    assert (week["target_minutes"], week["within_target"], week["meets_target"]) == (15, 1, True)
    assert 10.0 <= week["median_minutes"] <= 15.0 and week["p90_minutes"] == 20.0


def test_a_showroom_visit_after_an_enquiry_is_its_show_credited_to_the_latest_enquiry() -> None:
    """ann enquires at D1 on the 2nd and again on the 20th (a new enquiry); she visits D1 by
    appointment on the 5th and walks in on the 22nd, and visits D2 on the 6th; bob enquires and
    visits 100 days later (past the window); cat's CRM reports a show before her visit."""

    def visit(record_id: str, when: datetime, email: str, **more: Any) -> dict[str, Any]:
        return {"record_id": record_id, "visit_type": "showroom", "visited_at": when, "email": email} | more

    tables = lake(
        leads=rows(
            "leads",
            lead("A1", at(2), "ann@x.com"),
            lead("A2", at(20), "ann@x.com"),
            lead("B1", at(2), "bob@x.com"),
            lead("C1", at(2), "cat@x.com"),
        ),
        visits=rows(
            "visits",
            visit("V1", at(5, 15), "ann@x.com", appointment=True),
            visit("V2", at(22, 11), "ann@x.com", appointment=False),
            visit("V3", at(6), "ann@x.com", dealer_id="D2", appointment=True),
            visit("V4", at(2) + timedelta(days=100), "bob@x.com"),
            visit("V5", at(4), "cat@x.com"),
            {"record_id": "R1", "visit_type": "service", "visited_at": at(3), "email": "bob@x.com"},
        ),
        lead_events=rows("lead_events", event("E1", "shown", at(3), lead_id="C1")),
    )
    found = query(
        "SELECT lead_id, appointment_at, shown_at, shown_by, contacted_at FROM lead_outcomes ORDER BY 1",
        tables,
    )
    assert [tuple(r.values()) for r in found] == [
        ("A1", at(5, 15), at(5, 15), "visit", None),
        ("A2", None, at(22, 11), "visit", None),
        ("B1", None, None, None, None),
        ("C1", None, at(3), "crm", None),
    ]
    funnel = query(
        "SELECT week, leads, contacted, appointment_set, shown, shows_reported FROM lead_funnel ORDER BY 1",
        tables,
    )
    assert [tuple(r.values()) for r in funnel] == [
        (date(2026, 11, 2), 3, 2, 2, 2, 2),
        (date(2026, 11, 16), 1, 1, 1, 1, 1),
    ]


def test_meeting_the_speed_to_lead_target_is_unknown_when_too_few_contacts_are_reported() -> None:
    tables = lake(
        leads=rows(
            "leads",
            lead("L1", at(2), "a@x.com", first_contacted_at=at(2, 9, 10)),
            lead("L2", at(2), "b@x.com"),
            lead("L3", at(2), "c@x.com"),
        )
    )
    sql = "SELECT contact_rate, median_minutes, meets_target FROM dealer_speed_to_lead WHERE week IS NULL"

    assert query(sql, tables) == [{"contact_rate": 1 / 3, "median_minutes": 10.0, "meets_target": None}]
    assert query(sql, tables, min_contact_rate=0.3)[0]["meets_target"] is True
    assert (
        query(sql, tables, min_contact_rate=0.3, speed_to_lead_target_minutes=5)[0]["meets_target"] is False
    )


def test_campaign_spend_is_shared_by_leads_and_adds_up_under_each_attribution() -> None:
    tables = lake(
        leads=rows(
            "leads",
            lead("G1", at(2), "ann@x.com", dealer_id="D2", utm_campaign="Fall Search"),
            lead("G2", at(4), "ann@x.com", campaign_id="C1"),
            lead("G3", at(4), "bob@x.com", campaign_id="C1"),
            lead("G4", at(5), "cat@x.com", dealer_id="D2", campaign_id="C1"),
        ),
        lead_events=rows("lead_events", event("E1", "sold", at(6), lead_id="G3", sale_value=1)),
        campaigns=rows(
            "campaigns",
            {"record_id": "K1", "dealer_id": "oem", "campaign_id": "C1", "campaign_name": "Equinox Fall"},
            {"record_id": "K2", "dealer_id": "oem", "campaign_id": "C2", "campaign_name": "Fall Search"},
        ),
        campaign_spend=rows(
            "campaign_spend",
            {
                "record_id": "S1",
                "dealer_id": "oem",
                "campaign_id": "C1",
                "day": date(2026, 11, 1),
                "spend": 300,
            },
            {
                "record_id": "S2",
                "dealer_id": "D1",
                "campaign_id": "C1",
                "day": date(2026, 11, 1),
                "spend": 50,
            },
            {
                "record_id": "S3",
                "dealer_id": "oem",
                "campaign_name": "Fall Search",
                "day": date(2026, 11, 1),
                "spend": 90,
            },
            {
                "record_id": "S4",
                "dealer_id": "oem",
                "campaign_id": "C9",
                "day": date(2026, 11, 1),
                "spend": 40,
            },
        ),
    )
    found = query(
        "SELECT attribution, campaign_id, campaign_name, dealer_id, spend, leads, sales, cost_per_lead, "
        "cost_per_sale FROM campaign_performance ORDER BY 1, 2, 4",
        tables,
    )
    table = [tuple(r.values()) for r in found]
    assert table == [
        # first touch: ann's enquiry at D1 (G2) goes to C2, her earlier touch at D2
        ("first_touch", "C1", "Equinox Fall", "D1", 50 + 150.0, 1, 1, 200.0, 200.0),
        ("first_touch", "C1", "Equinox Fall", "D2", 150.0, 1, 0, 150.0, None),
        ("first_touch", "C2", "Fall Search", "D1", 45.0, 1, 0, 45.0, None),
        ("first_touch", "C2", "Fall Search", "D2", 45.0, 1, 0, 45.0, None),
        ("first_touch", "C9", None, "oem", 40.0, 0, 0, None, None),
        ("last_touch", "C1", "Equinox Fall", "D1", 50 + 200.0, 2, 1, 125.0, 250.0),
        ("last_touch", "C1", "Equinox Fall", "D2", 100.0, 1, 0, 100.0, None),
        ("last_touch", "C2", "Fall Search", "D2", 90.0, 1, 0, 90.0, None),
        ("last_touch", "C9", None, "oem", 40.0, 0, 0, None, None),
    ]


@pytest.fixture(scope="module")
def people_lake() -> dict[str, pa.Table]:
    """Pat enquires at D1 about a Chevrolet and buys a Buick at D2 (e-mail differs from the lead),
    then services at D1; Quinn buys twice at D2 long ago (Buick, Buick) and never comes back; a DMS
    sale at D2 has no CRM lead."""
    long_ago = TODAY - timedelta(days=900)
    return lake(
        leads=rows(
            "leads",
            lead("PL", NOW - timedelta(days=40), "pat@x.com", last_name="Lee", zip="60601"),
        ),
        sales=rows(
            "sales",
            {
                "record_id": "PS",
                "dealer_id": "D2",
                "deal_number": "1",
                "vehicle_make": "Buick",
                "delivery_date": TODAY - timedelta(days=30),
                "email": "pat@work.com",
                "last_name": "LEE",
                "zip": "60601",
            },
            {
                "record_id": "QS1",
                "dealer_id": "D2",
                "deal_number": "2",
                "vehicle_make": "Buick",
                "delivery_date": long_ago - timedelta(days=1000),
            },
            {
                "record_id": "QS2",
                "dealer_id": "D2",
                "deal_number": "3",
                "vehicle_make": "Buick",
                "delivery_date": long_ago,
            },
        ),
        visits=rows(
            "visits",
            {
                "record_id": "PV",
                "visit_type": "service",
                "visited_at": NOW - timedelta(days=5),
                "labor_amount": 100,
                "parts_amount": 20,
            },
        ),
        sales_finance=rows(
            "sales_finance",
            {
                "record_id": "F1",
                "dealer_id": "D2",
                "deal_number": "1",
                "front_gross": 1000,
                "back_gross": 500,
            },
        ),
        person_links=rows(
            "person_links",
            {"record_id": "PL", "dataset": "leads", "person_id": "P-pat", "dealer_id": "D1"},
            {"record_id": "PS", "dataset": "sales", "person_id": "P-pat", "dealer_id": "D2"},
            {"record_id": "PV", "dataset": "visits", "person_id": "P-pat", "dealer_id": "D1"},
            {"record_id": "QS1", "dataset": "sales", "person_id": "P-quinn", "dealer_id": "D2"},
            {"record_id": "QS2", "dataset": "sales", "person_id": "P-quinn", "dealer_id": "D2"},
        ),
    )


def test_identity_persons_and_cross_shopping(people_lake: dict[str, pa.Table]) -> None:
    pat = query("SELECT * FROM identity_persons WHERE person_id = 'P-pat'", people_lake)[0]
    assert (pat["records"], pat["leads"], pat["visits"], pat["sales"]) == (3, 1, 1, 1)
    assert (pat["dealer_ids"], pat["brand_names"], pat["multi_dealer"], pat["multi_brand"]) == (
        "D1,D2",
        "Buick,Chevrolet",
        True,
        True,
    )
    pairs = query(
        "SELECT dimension, a, b, people_a, people_b, shared_people FROM cross_shopping ORDER BY 1",
        people_lake,
    )
    assert [tuple(p.values()) for p in pairs] == [
        ("brand", "Buick", "Chevrolet", 2, 1, 1),
        ("dealer", "D1", "D2", 1, 2, 1),
    ]


def test_customer_base_segments_retention_loyalty_and_defection(people_lake: dict[str, pa.Table]) -> None:
    sql = (
        "SELECT person_id, purchases, service_gross, customer_value, service_retained, serviced_elsewhere, "
        "repurchased, brand_loyal, lapsed, segment FROM customer_base ORDER BY 1"
    )
    pat, quinn = (tuple(r.values()) for r in query(sql, people_lake))
    assert pat == ("P-pat", 1, 120, 2620.0, True, True, False, None, False, "buyer")
    assert quinn == ("P-quinn", 2, 0, 5000.0, False, False, True, True, True, "lapsed")
    lapsed = query(
        "SELECT people, defection_rate, brand_loyalty_rate FROM customer_segments WHERE segment = 'lapsed'",
        people_lake,
    )
    assert lapsed == [{"people": 1, "defection_rate": 1.0, "brand_loyalty_rate": 1.0}]
    profit = query(
        "SELECT person_id, deal_gross, gross_profit FROM customer_profitability ORDER BY 1", people_lake
    )
    assert profit[0] == {"person_id": "P-pat", "deal_gross": 1500.0, "gross_profit": 1620.0}


def test_dms_crm_gap_counts_sales_without_a_crm_record_and_contact_disagreements(
    people_lake: dict[str, pa.Table],
) -> None:
    tables = people_lake | {
        "leads": rows(
            "leads",
            lead("PL", NOW - timedelta(days=40), "pat@x.com", dealer_id="D2", last_name="Lee", zip="60601"),
        )
    }
    found = query("SELECT * FROM dms_crm_gap", tables)
    assert found == [
        {
            "dealer_id": "D2",
            "sales": 3,
            "unresolved_sales": 0,
            "sales_without_crm": 2,
            "sales_without_crm_rate": 2 / 3,
            "people_in_both": 1,
            "email_mismatch": 1,
            "phone_mismatch": 0,
            "zip_mismatch": 0,
            "name_mismatch": 0,
            "any_mismatch": 1,
            "mismatch_rate": 1.0,
        }
    ]


def test_data_quality_per_dealer_and_day() -> None:
    def upload(upload_id: str, **more: Any) -> dict[str, Any]:
        return {
            "upload_id": upload_id,
            "received_at": at(9, 12),
            "rows_in": 10,
            "rows_curated": 10,
            "rows_quarantined": 0,
            "status": "ok",
            "size_bytes": 100,
        } | more

    tables = lake(
        uploads=rows(
            "uploads",
            upload("U1", rows_curated=8, rows_quarantined=2, status="partial", missing_columns=["email"]),
            upload("U2", ignored_columns=["Fax"]),
            upload("U3", rows_in=1, rows_curated=0, rows_quarantined=1, status="rejected"),
        ),
        leads=rows(
            "leads", lead("X", at(2), "x@x.com", upload_id="U2"), lead("Y", at(9), "y@x.com", upload_id="U1")
        ),
        quarantine=rows(
            "quarantine",
            {
                "upload_id": "U1",
                "dataset": "leads",
                "received_at": at(9, 12),
                "reason_code": "invalid_required_field",
                "field": "requested_at",
            },
            {
                "upload_id": "U1",
                "dataset": "leads",
                "received_at": at(9, 12),
                "reason_code": "invalid_required_field",
                "field": "vehicle_make",
            },
            {"upload_id": "U3", "received_at": at(9, 12), "reason_code": "empty_file"},
        ),
    )
    (day,) = query("SELECT * FROM data_quality_daily", tables)
    assert day == day | {
        "dealer_id": "D1",
        "day": date(2026, 11, 9),
        "files": 3,
        "rows_in": 21,
        "rows_curated": 18,
        "rows_quarantined": 3,
        "rejected_files": 1,
        "partial_files": 1,
        "late_files": 1,
        "drifted_files": 2,
        "files_missing_columns": 1,
        "files_with_new_columns": 1,
        "bytes": 300,
    }
    reasons = query(
        "SELECT dataset, reason_code, records, files, fields FROM quarantine_daily ORDER BY 2", tables
    )
    assert [tuple(r.values()) for r in reasons] == [
        (None, "empty_file", 1, 1, None),
        ("leads", "invalid_required_field", 2, 1, "requested_at,vehicle_make"),
    ]


def test_an_unknown_setting_is_refused_with_the_known_ones() -> None:
    with pytest.raises(
        QueryError, match=r"unknown view setting 'dedupe_days'; settings: .*dedupe_window_days"
    ):
        analytics.run_query("SELECT 1", tables=lake(), view_settings={"dedupe_days": 3})


def test_settings_are_set_in_the_sql_the_view_is_made_of() -> None:
    view = views.load_all()["lead_outcomes"]
    assert view.defaults == {"dedupe_window_days": 7, "attribution_window_days": 90}
    configured = views.configured_sql(view, {"dedupe_window_days": 3, "speed_to_lead_target_minutes": 15})
    assert "3 AS dedupe_window_days" in configured and "90 AS attribution_window_days" in configured
    assert views.configured_sql(view, {}) == view.sql.strip()


def test_views_come_after_the_views_they_read() -> None:
    order = [v.name for v in views.ordered(views.load_all())]
    assert order.index("leads_current") < order.index("lead_outcomes") < order.index("lead_funnel")
    assert order.index("customer_base") < order.index("customer_segments")
