"""A small lake for the report's tests: real table schemas from ``schemas/`` and the two views'
column contracts (``lead_funnel``, ``campaign_performance``), with figures whose charts are known.

Dealer data is hostile on purpose: a campaign name and a dealer id carry markup, which the report
must show as text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
from forecourt import schemas

HOSTILE_CAMPAIGN = '<img src=x onerror="alert(1)">Spring "Sale" & more'
HOSTILE_DEALER = "D<b>9</b>"

LEAD_FUNNEL = pa.schema(
    [
        ("dealer_id", pa.string()),
        ("source", pa.string()),
        ("model", pa.string()),
        ("condition", pa.string()),
        ("week", pa.date32()),
        ("leads", pa.int64()),
        ("contacted", pa.int64()),
        ("appointment_set", pa.int64()),
        ("shown", pa.int64()),
        ("sold", pa.int64()),
        ("contact_rate", pa.float64()),
        ("appointment_rate", pa.float64()),
        ("show_rate", pa.float64()),
        ("close_rate", pa.float64()),
    ]
)
CAMPAIGN_PERFORMANCE = pa.schema(
    [
        ("campaign_id", pa.string()),
        ("campaign_name", pa.string()),
        ("dealer_id", pa.string()),
        ("attribution", pa.string()),
        ("spend", pa.decimal128(14, 2)),
        ("leads", pa.int64()),
        ("appointments", pa.int64()),
        ("sales", pa.int64()),
        ("cost_per_lead", pa.decimal128(14, 2)),
        ("cost_per_sale", pa.decimal128(14, 2)),
    ]
)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    dataset = schemas.get(name)
    return pa.Table.from_pylist(
        [{c: r.get(c) for c in dataset.column_names} for r in rows], schema=dataset.arrow_schema()
    )


def _funnel_rows() -> list[dict[str, Any]]:
    rows = [
        ("D100", date(2026, 10, 26), 40, 30, 12, 8, 4),
        ("D100", date(2026, 11, 2), 20, 10, 6, 4, 2),
        ("D200", date(2026, 11, 2), 40, 20, 10, 5, 2),
    ]
    return [
        {
            "dealer_id": dealer,
            "source": "oem_website",
            "model": "Equinox",
            "condition": "new",
            "week": week,
            "leads": leads,
            "contacted": contacted,
            "appointment_set": appointments,
            "shown": shown,
            "sold": sold,
            "contact_rate": contacted / leads,
            "appointment_rate": appointments / contacted,
            "show_rate": shown / appointments,
            "close_rate": sold / shown,
        }
        for dealer, week, leads, contacted, appointments, shown, sold in rows
    ]


def _campaign_rows() -> list[dict[str, Any]]:
    rows = [  # campaign, name, dealer, attribution, spend, sales
        ("C1", "Equinox Fall", "D100", "first_touch", "600", 3),
        ("C1", "Equinox Fall", "D200", "first_touch", "400", 1),
        ("C1", "Equinox Fall", "D100", "last_touch", "600", 3),
        ("C1", "Equinox Fall", "D200", "last_touch", "400", 2),
        ("C2", HOSTILE_CAMPAIGN, "D100", "first_touch", "600", 0),
        ("C2", HOSTILE_CAMPAIGN, "D100", "last_touch", "600", 2),
    ]
    return [
        {
            "campaign_id": campaign,
            "campaign_name": name,
            "dealer_id": dealer,
            "attribution": attribution,
            "spend": Decimal(spend),
            "leads": 10,
            "appointments": 4,
            "sales": sales,
            "cost_per_lead": Decimal(spend) / 10,
            "cost_per_sale": (Decimal(spend) / sales).quantize(Decimal("0.01")) if sales else None,
        }
        for campaign, name, dealer, attribution, spend, sales in rows
    ]


def _lead(record: str, dealer: str, contact_minutes: float | None, **more: Any) -> dict[str, Any]:
    contacted = None if contact_minutes is None else T0 + timedelta(minutes=contact_minutes)
    return {
        "record_id": record,
        "upload_id": "u1",
        "dealer_id": dealer,
        "source_key": record.upper(),
        "received_at": T0,
        "requested_at": T0,
        "first_contacted_at": contacted,
        **more,
    }


def _leads() -> list[dict[str, Any]]:
    return [
        _lead("l1", "D100", 3),
        _lead("l2", "D100", 10),
        _lead("l3", "D100", 45),
        _lead("l4", "D100", None),
        # an older version of l4 that had a contact: only the latest version counts
        _lead("l4", "D100", 1, upload_id="u0", received_at=T0 - timedelta(hours=1)),
        _lead("l5", HOSTILE_DEALER, 20),
        _lead("l6", HOSTILE_DEALER, None),  # contacted per the CRM's event, two hours later
        _lead("l7", "oem", None),  # named no dealer; D200's CRM reported the contact by our lead id
        _lead("l8", "D300", None),  # a dealer with no contact recorded at all
    ]


def _events() -> list[dict[str, Any]]:
    return [
        {
            "record_id": "e1",
            "dealer_id": HOSTILE_DEALER,
            "crm_lead_id": "L6",
            "event_type": "contacted",
            "occurred_at": T0 + timedelta(hours=2),
        },
        {
            "record_id": "e2",
            "dealer_id": "D200",
            "lead_id": "l7",
            "event_type": "contacted",
            "occurred_at": T0 + timedelta(minutes=4),
        },
        {
            "record_id": "e3",
            "dealer_id": "D200",
            "lead_id": "l7",
            "event_type": "contacted",
            "occurred_at": T0 + timedelta(minutes=50),
        },
    ]


def _quarantine() -> list[dict[str, Any]]:
    day1, day2 = datetime(2026, 11, 1, 8, tzinfo=UTC), datetime(2026, 11, 2, 8, tzinfo=UTC)
    reasons = (
        [(day1, "missing_one_of")] * 3
        + [(day1, "invalid_required_field")]
        + [
            (day2, "missing_one_of"),
            (day2, "missing_one_of"),
            (day2, "malformed_row"),
        ]
    )
    return [
        {"upload_id": f"q{i}", "dealer_id": "D100", "received_at": at, "reason_code": reason}
        for i, (at, reason) in enumerate(reasons)
    ]


def _uploads() -> list[dict[str, Any]]:
    day1, day2 = datetime(2026, 11, 1, 8, tzinfo=UTC), datetime(2026, 11, 2, 8, tzinfo=UTC)
    return [
        {"upload_id": "a", "dealer_id": "D100", "received_at": day1, "rows_in": 100},
        {"upload_id": "b", "dealer_id": "D100", "received_at": day2, "rows_in": 30},
        {"upload_id": "c", "dealer_id": "D200", "received_at": day2, "rows_in": 20},
    ]


def _person_links() -> list[dict[str, Any]]:
    people = {"P1": ["D100", "D200"], "P2": ["D100"], "P3": ["D200", "D300"], "P4": ["D100", "D200", "D300"]}
    rows = []
    for person, dealers in people.items():
        for i, dealer in enumerate(dealers):
            rows += [
                {
                    "upload_id": "identity-resolve",
                    "record_id": f"{person}-{dealer}-{n}",
                    "dataset": "leads" if i == 0 else "sales",
                    "dealer_id": dealer,
                    "person_id": person,
                    "record_received_at": T0,
                }
                for n in range(2 if person == "P2" else 1)  # two records of one person count once
            ]
    rows.append({"record_id": "x", "dealer_id": "oem", "person_id": "P2", "record_received_at": T0})
    return rows


def report_tables() -> dict[str, pa.Table]:
    """Every dataset (empty unless given rows) and the two views, as the report reads them."""
    tables = {name: d.arrow_schema().empty_table() for name, d in schemas.load_all().items()}
    tables |= {
        "leads": _table("leads", _leads()),
        "lead_events": _table("lead_events", _events()),
        "quarantine": _table("quarantine", _quarantine()),
        "uploads": _table("uploads", _uploads()),
        "person_links": _table("person_links", _person_links()),
        "lead_funnel": pa.Table.from_pylist(_funnel_rows(), schema=LEAD_FUNNEL),
        "campaign_performance": pa.Table.from_pylist(_campaign_rows(), schema=CAMPAIGN_PERFORMANCE),
    }
    return tables
