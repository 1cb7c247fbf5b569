"""Audience segments as data: each shipped query over a handmade ``activity``, and the rules every
segment file must keep (no financial column, names, known queries)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from forecourt.audiences import segments
from forecourt.audiences.segments import Segment, audience_name

AS_OF = datetime(2026, 11, 3, 6, tzinfo=UTC)
ACTIVITY = pa.schema(
    [
        ("person_id", pa.string()),
        ("record_id", pa.string()),
        ("dealer_id", pa.string()),
        ("kind", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("vehicle_year", pa.int32()),
        ("vehicle_make", pa.string()),
        ("vehicle_model", pa.string()),
        ("service_gross", pa.decimal128(12, 2)),
    ]
)


def days_ago(days: float) -> datetime:
    return AS_OF - timedelta(days=days)


def members(name: str, *rows: dict[str, Any]) -> dict[tuple[str, str | None], datetime]:
    """(person, list key) → evidence_at of the shipped segment ``name`` over ``rows``."""
    from forecourt import analytics

    segment = next(s for s in segments.load().segments if s.segment == name)
    activity = pa.Table.from_pylist(
        [{"record_id": f"r{i}", "dealer_id": "D1", **row} for i, row in enumerate(rows)], schema=ACTIVITY
    )
    found = analytics.run_query(segment.sql(AS_OF), tables={"activity": activity}).to_arrow().to_pylist()
    return {(r["person_id"], r["list_key"]): r["evidence_at"] for r in found}


def test_model_shoppers_have_one_list_per_model_and_leave_when_they_buy() -> None:
    found = members(
        "model_shoppers",
        {"person_id": "a", "kind": "lead", "at": days_ago(2), "vehicle_make": "Chevrolet", "vehicle_model": "Equinox"},
        {"person_id": "a", "kind": "showroom", "at": days_ago(1), "vehicle_make": " CHEVROLET", "vehicle_model": "EQUINOX "},
        {"person_id": "a", "kind": "lead", "at": days_ago(3), "vehicle_model": "Tahoe"},  # no make
        {"person_id": "old", "kind": "lead", "at": days_ago(31), "vehicle_make": "Chevrolet", "vehicle_model": "Blazer"},
        {"person_id": "blank", "kind": "lead", "at": days_ago(1), "vehicle_make": "Chevrolet", "vehicle_model": " "},
        {"person_id": "bought", "kind": "lead", "at": days_ago(9), "vehicle_make": "Chevrolet", "vehicle_model": "Tahoe"},
        {"person_id": "bought", "kind": "sale", "at": days_ago(4), "vehicle_make": "Chevrolet", "vehicle_model": "Tahoe"},
        {"person_id": "again", "kind": "sale", "at": days_ago(20)},
        {"person_id": "again", "kind": "lead", "at": days_ago(5), "vehicle_make": "Buick", "vehicle_model": "Envista"},
        {"person_id": "service", "kind": "service", "at": days_ago(5), "vehicle_make": "Buick", "vehicle_model": "Envista"},
    )  # fmt: skip
    assert found == {
        ("a", "chevrolet equinox"): days_ago(1),
        ("a", "tahoe"): days_ago(3),
        ("again", "buick envista"): days_ago(5),  # enquiring again after an earlier purchase
    }


def test_owners_of_an_aging_vehicle_lapsed_service_customers_and_recent_buyers() -> None:
    owners = members(
        "aging_vehicle_owners",
        {"person_id": "2020", "kind": "sale", "at": days_ago(900), "vehicle_year": 2020},
        {"person_id": "2021", "kind": "service", "at": days_ago(9), "vehicle_year": 2021},
        {"person_id": "2014", "kind": "service", "at": days_ago(9), "vehicle_year": 2014},
        {"person_id": "2013", "kind": "sale", "at": days_ago(9), "vehicle_year": 2013},
        {"person_id": "wants", "kind": "lead", "at": days_ago(9), "vehicle_year": 2015},
    )
    assert set(owners) == {("2020", None), ("2014", None)}
    lapsed = members(
        "lapsed_service",
        {"person_id": "lapsed", "kind": "service", "at": days_ago(700)},
        {"person_id": "lapsed", "kind": "service", "at": days_ago(400)},
        {"person_id": "lapsed", "kind": "lead", "at": days_ago(3)},  # a lead is no service visit
        {"person_id": "regular", "kind": "service", "at": days_ago(400)},
        {"person_id": "regular", "kind": "service", "at": days_ago(200)},
        {"person_id": "gone", "kind": "service", "at": days_ago(1200)},
    )
    assert lapsed == {("lapsed", None): days_ago(400)}
    buyers = members(
        "recent_buyers",
        {"person_id": "new", "kind": "sale", "at": days_ago(89)},
        {"person_id": "older", "kind": "sale", "at": days_ago(91)},
    )
    assert set(buyers) == {("new", None)}


def test_top_value_is_the_top_tenth_by_service_gross_and_purchases() -> None:
    rows = [
        {"person_id": f"p{i:02d}", "kind": "service", "at": days_ago(30), "service_gross": i * 100}
        for i in range(1, 19)
    ]
    rows += [
        {"person_id": "buyer", "kind": "sale", "at": days_ago(100)},  # 2,500 a vehicle
        {"person_id": "buyer", "kind": "sale", "at": days_ago(2000)},  # too long ago to count
        {"person_id": "nothing", "kind": "service", "at": days_ago(30), "service_gross": 0},
        {"person_id": "p18", "kind": "service", "at": days_ago(1200), "service_gross": 99999},  # too old
    ]
    # 19 customers with a value: the top 10 % is 2 (rounded up); p18 is worth 1,800
    assert set(members("top_value", *rows)) == {("buyer", None), ("p18", None)}


def test_a_segment_may_not_read_financial_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    queries = tmp_path / "audiences"
    shutil.copytree(segments.QUERIES, queries)
    (queries / "segments" / "big_deals.sql").write_text(
        "SELECT person_id, CAST(NULL AS varchar) AS list_key, max(at) AS evidence_at FROM activity "
        "WHERE deal_gross > 3000 GROUP BY person_id"
    )
    (queries / "segments" / "sly.sql").write_text(
        "SELECT person_id, NULL AS list_key, max(at) AS evidence_at FROM activity WHERE Finance_Ends IS NOT NULL "
        "GROUP BY person_id"
    )
    monkeypatch.setattr(segments, "QUERIES", queries)
    with pytest.raises(ValueError, match=r"segment 'big_deals' reads financial columns \(deal_gross, from"):
        Segment(segment="big_deals", query="big_deals")
    with pytest.raises(ValueError, match=r"segment 'sly' reads financial columns \(finance_ends, from"):
        Segment(segment="sly", query="sly")  # SQL names ignore case
    with pytest.raises(ValueError, match=r"no query queries/audiences/segments/nope\.sql"):
        Segment(segment="x", query="nope")
    path = tmp_path / "segments.json"
    shipped = json.loads((queries / "segments.json").read_text())
    path.write_text(json.dumps({"segments": shipped["segments"] + shipped["segments"][:1]}))
    with pytest.raises(ValueError, match="segment names repeat: model_shoppers"):
        segments.load(path)


def test_every_shipped_segment_loads_and_names_its_lists() -> None:
    shipped = segments.load()
    assert [s.segment for s in shipped.segments] == [
        "model_shoppers", "aging_vehicle_owners", "lapsed_service", "top_value", "recent_buyers"
    ]  # fmt: skip
    assert {s.kind for s in shipped.segments if s.segment == "recent_buyers"} == {"exclusion"}
    assert (
        audience_name("model_shoppers", "chevrolet silverado 1500 / hd")
        == "model_shoppers/chevrolet-silverado-1500-hd"
    )
    assert audience_name("top_value", None) == "top_value"
    assert audience_name("model_shoppers", "!!") == "model_shoppers/unnamed"


@pytest.mark.parametrize(
    "path", sorted(segments.QUERIES.rglob("*.sql")), ids=lambda p: str(p.relative_to(segments.QUERIES))
)
def test_audience_sql_is_trino_with_no_function_trino_lacks(path: Path) -> None:
    import sqlglot
    from forecourt.enrich.rules import render
    from sqlglot import exp

    params: dict[str, int | str | datetime] = {"as_of": AS_OF}
    for segment in segments.load().segments:
        params |= segment.params
    tree = sqlglot.parse_one(render(path, params), read="trino")
    assert not [f.name for f in tree.find_all(exp.Anonymous)]
