"""Delivery latency and speed-to-lead: business-hours arithmetic and per-dealer figures."""

from __future__ import annotations

from datetime import datetime

import pytest
from forecourt import timings
from forecourt.registry import Dealer

HOURS = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-19:00") | {"sat": "09:00-18:00"}
CHICAGO = "America/Chicago"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        ("2026-11-02T10:00:00-06:00", "2026-11-02T10:07:00-06:00", 7),  # Monday, inside hours
        ("2026-11-02T18:50:00-06:00", "2026-11-03T09:10:00-06:00", 20),  # overnight: 10 + 10
        ("2026-11-07T17:30:00-06:00", "2026-11-09T09:10:00-06:00", 40),  # Saturday close, Sunday shut
        ("2026-11-08T12:00:00-06:00", "2026-11-08T15:00:00-06:00", 0),  # all on a Sunday
        ("2026-11-02T16:00:00Z", "2026-11-02T16:30:00Z", 30),  # UTC instants, 10:00 in Chicago
        ("2026-11-02T10:00:00-06:00", "2026-11-02T09:00:00-06:00", 0),  # end before start
    ],
)
def test_business_minutes_count_only_opening_hours_in_the_dealers_zone(
    start: str, end: str, minutes: int
) -> None:
    assert timings.business_seconds(at(start), at(end), HOURS, CHICAGO) == minutes * 60


def test_a_day_open_until_midnight_and_a_daylight_saving_change() -> None:
    late = {"sat": "20:00-24:00", "sun": "00:00-02:00"}
    # 2026-11-01 is the day US clocks fall back (02:00 CDT → 01:00 CST): Sunday 00:00–02:00 is 3 h of real time
    seconds = timings.business_seconds(
        at("2026-10-31T23:00:00-05:00"), at("2026-11-01T12:00:00-06:00"), late, CHICAGO
    )
    assert seconds == (1 + 3) * 3600


def test_summaries_per_dealer_with_median_and_p90() -> None:
    dealer = Dealer(dealer_id="D1", timezone=CHICAGO, business_hours=HOURS)
    spans = [
        ("D1", at("2026-11-02T10:00:00-06:00"), at(f"2026-11-02T10:{m:02d}:00-06:00")) for m in range(1, 11)
    ]
    spans.append(("oem", at("2026-11-08T10:00:00-06:00"), at("2026-11-08T10:30:00-06:00")))
    d1, oem = timings.summarize("speed_to_lead", spans, {"D1": dealer})
    assert (d1.dealer_id, d1.count, d1.median_minutes, d1.p90_minutes) == ("D1", 10, 5.5, 9.1)
    assert (d1.business_median_minutes, d1.business_p90_minutes) == (5.5, 9.1)
    assert (oem.dealer_id, oem.median_minutes, oem.business_median_minutes) == ("oem", 30.0, 30.0)
    assert d1.as_row()["measure"] == "speed_to_lead"


def test_both_timings_from_the_tables_named_apart() -> None:
    import pyarrow as pa
    from forecourt import schemas

    def table(name: str, rows: list[dict[str, object]]) -> pa.Table:
        dataset = schemas.get(name)
        return pa.Table.from_pylist(
            [{c: r.get(c) for c in dataset.column_names} for r in rows], dataset.arrow_schema()
        )

    t = at("2026-11-02T10:00:00-06:00")
    leads = [
        {"record_id": "L1", "dealer_id": "D1", "requested_at": t, "source_key": "W1"},
        {"record_id": "L2", "dealer_id": "D1", "requested_at": t, "source_key": "W2"},
        {"record_id": "L3", "dealer_id": "oem", "requested_at": t, "source_key": "W3"},  # routed to D2
    ]
    events = [  # L1 by our id (first contact at +12 min wins), L2 by the CRM's key
        {"record_id": "E1", "dealer_id": "D1", "lead_id": "L1", "event_type": "contacted", "occurred_at": at("2026-11-02T10:12:00-06:00")},
        {"record_id": "E2", "dealer_id": "D1", "lead_id": "L1", "event_type": "contacted", "occurred_at": at("2026-11-02T11:00:00-06:00")},
        {"record_id": "E3", "dealer_id": "D1", "crm_lead_id": "W2", "event_type": "contacted", "occurred_at": at("2026-11-02T10:20:00-06:00")},
        {"record_id": "E4", "dealer_id": "D1", "lead_id": "L2", "event_type": "shown", "occurred_at": at("2026-11-02T10:01:00-06:00")},
        {"record_id": "E5", "dealer_id": "D2", "lead_id": "L3", "event_type": "contacted", "occurred_at": at("2026-11-02T10:30:00-06:00")},
        {"record_id": "E6", "dealer_id": "D2", "crm_lead_id": "W1", "event_type": "contacted", "occurred_at": at("2026-11-02T10:01:00-06:00")},
    ]  # fmt: skip
    deliveries = [
        {"delivery_id": "V1", "dealer_id": "D1", "status": "delivered", "received_at": t, "acknowledged_at": at("2026-11-02T10:00:03-06:00")},
        {"delivery_id": "V2", "dealer_id": "D1", "status": "retry", "received_at": t, "acknowledged_at": None},
    ]  # fmt: skip
    tables = {
        "leads": table("leads", leads),
        "lead_events": table("lead_events", events),
        "deliveries": table("deliveries", deliveries),
    }
    dealer = Dealer(dealer_id="D1", timezone=CHICAGO, business_hours=HOURS)
    # E6: another dealer's CRM key that happens to equal D1's lead key does not count for either
    latency, speed, routed = timings.lake_timings(tables, {"D1": dealer})
    assert (latency.measure, latency.count, latency.median_minutes) == ("delivery_latency", 1, 0.1)
    assert (speed.measure, speed.count, speed.median_minutes, speed.p90_minutes) == (
        "speed_to_lead",
        2,
        16.0,
        19.2,
    )
    assert (routed.measure, routed.dealer_id, routed.count, routed.median_minutes) == (
        "speed_to_lead",
        "D2",
        1,
        30.0,
    )
