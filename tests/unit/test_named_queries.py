"""Every analyst query in queries/named/ is Athena (Trino) SQL that runs on the local engine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from forecourt import analytics, schemas

NAMED = sorted((Path(__file__).parents[2] / "queries" / "named").glob("*.sql"))


def _tables() -> dict[str, pa.Table]:
    tables = {name: d.arrow_schema().empty_table() for name, d in schemas.load_all().items()}
    leads = schemas.get("leads")
    rows = [
        {
            "dealer_id": "D1",
            "email": "a@x.com",
            "lead_source": "oem_website",
            "phone": "+13125550100",
            "requested_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
            "first_contacted_at": datetime(2026, 11, 2, 9, 12, tzinfo=UTC),
        },
        {
            "dealer_id": "D2",
            "email": "a@x.com",
            "lead_source": "third_party",
            "phone": None,
            "requested_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
            "first_contacted_at": datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        },
    ]
    tables["leads"] = pa.Table.from_pylist(
        [{c: r.get(c) for c in leads.column_names} for r in rows], schema=leads.arrow_schema()
    )
    return tables


@pytest.mark.parametrize("path", NAMED, ids=lambda p: p.stem)
def test_named_query_is_trino_sql_and_runs_locally(path: Path):
    sql = path.read_text()
    sqlglot.parse_one(sql, read="trino")
    result = analytics.run_query(sql, tables=_tables())
    assert result.columns


def test_cross_dealer_shoppers_counts_a_person_seen_at_two_dealers():
    sql = (NAMED[0].parent / "cross_dealer_shoppers.sql").read_text()
    result = analytics.run_query(sql, tables=_tables())
    assert result.rows == [(2, 1, 2)]


def test_speed_to_lead_reports_median_minutes_per_dealer():
    sql = (NAMED[0].parent / "speed_to_lead.sql").read_text()
    rows = {r[0]: r for r in analytics.run_query(sql, tables=_tables()).rows}
    assert rows["D1"][2] == 12.0 and rows["D2"][2] == 60.0
    assert rows["D1"][4] == 100.0 and rows["D2"][4] == 0.0
