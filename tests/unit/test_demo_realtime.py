"""The real-time demo's generated traffic: the same seed and day give the same requests (a second
demo run's posts are retries, not conflicts), with the cases the demo promises."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from forecourt.local.demo_realtime import crm_events, demo_leads
from forecourt.local.population import DEALERS

DAY = date(2026, 11, 2)


def test_leads_are_reproducible_and_include_tests_repeats_and_unreachable_shoppers() -> None:
    bodies = demo_leads(DEALERS, 7, 100, DAY)
    assert bodies == demo_leads(DEALERS, 7, 100, DAY)
    leads = [json.loads(lead.body) for lead in bodies if lead.media_type == "application/json"]
    adf = [lead.body for lead in bodies if lead.media_type == "application/xml"]
    assert len(leads) + len(adf) == 100 and len(adf) == 10
    assert sum(1 for lead in leads if lead["customer"]["last_name"] == "Test") == 2
    assert sum(1 for lead in leads if "email" not in lead["customer"]) == 2
    assert 40 <= sum(1 for lead in leads if "dealer_id" in lead) <= 50  # the rest are routed by zip
    emails = [lead["customer"].get("email") for lead in leads if lead["customer"].get("email")]
    assert len(set(emails)) < len(emails)  # repeat shoppers
    assert all(lead["created_at"].startswith("2026-11-02") for lead in leads)


def test_crm_events_depend_only_on_the_lead_and_its_dealer() -> None:
    requested = {f"L{i}": datetime(2026, 11, 2, 14, i, tzinfo=UTC) for i in range(40)}
    received = [("D1001", f"L{i}") for i in range(40)]
    now = datetime(2026, 11, 23, tzinfo=UTC)
    everything = dict(crm_events(received, requested, 7, now))
    some = crm_events(received[::3], requested, 7, now)
    by_key = {json.loads(body)["event_id"]: body for _, body in crm_events(received, requested, 7, now)}
    assert all(by_key[json.loads(body)["event_id"]] == body for _, body in some)
    kinds = [json.loads(body)["type"] for _, body in crm_events(received, requested, 7, now)]
    assert "contacted" in kinds and kinds.count("contacted") >= 30 and everything
    for _, body in crm_events(received, requested, 7, now):
        event = json.loads(body)
        assert (event["type"] == "sold") == ("value" in event)
