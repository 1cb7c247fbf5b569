"""The analysts' saved queries (queries/named): Athena (Trino) SQL over unqualified tables that runs on
the local engine with known answers, and template.yaml's named-query section generated from them."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from forecourt import analytics, docs, named_queries, schemas
from forecourt.cli import main

REPO_ROOT = Path(__file__).parents[2]
NAMED_DIR = REPO_ROOT / "queries" / "named"
NAMED = sorted(NAMED_DIR.glob("*.sql"))
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def rows(dataset: str, *records: dict[str, Any]) -> pa.Table:
    d = schemas.get(dataset)
    defaults = {
        "upload_id": "u1",
        "feed": "f",
        "source_system": "crm",
        "received_at": MONDAY,
        "dealer_id": "D1",
    }
    full = [{c: (defaults | r).get(c) for c in d.column_names} for r in records]
    return pa.Table.from_pylist(full, schema=d.arrow_schema())


def lake(**tables: pa.Table) -> dict[str, pa.Table]:
    return {name: d.arrow_schema().empty_table() for name, d in schemas.load_all().items()} | tables


def lead(record_id: str, dealer: str, requested: datetime, email: str, **more: Any) -> dict[str, Any]:
    return {
        "record_id": record_id,
        "source_key": record_id,
        "dealer_id": dealer,
        "requested_at": requested,
        "email": email,
        "lead_source": "oem_website",
    } | more


def upload(upload_id: str, received: datetime, quarantined: int) -> dict[str, Any]:
    """A file of 10 rows from D1, ``quarantined`` of them quarantined."""
    return {
        "upload_id": upload_id,
        "received_at": received,
        "rows_in": 10,
        "rows_curated": 10 - quarantined,
        "rows_quarantined": quarantined,
        "status": "partial" if quarantined else "ok",
    }


def named(name: str, tables: dict[str, pa.Table]) -> list[dict[str, Any]]:
    result = analytics.run_query((NAMED_DIR / f"{name}.sql").read_text(encoding="utf-8"), tables=tables)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


@pytest.fixture(scope="module")
def small_lake() -> dict[str, pa.Table]:
    """D1 answers in 10 minutes, D2 in 60, D3 never; ann shops at D1 and D2. D1 has a lead 10 weeks
    before the latest week (outside the last 8) and one re-sent (two versions of L1)."""
    week = timedelta(weeks=1)
    return lake(
        leads=rows(
            "leads",
            lead("L1", "D1", MONDAY, "ann@x.com", first_contacted_at=MONDAY + timedelta(minutes=10)),
            lead("L1", "D1", MONDAY, "ann@x.com", first_contacted_at=MONDAY + timedelta(minutes=10)),
            lead("L0", "D1", MONDAY - 10 * week, "old@x.com", first_contacted_at=MONDAY - 10 * week),
            lead("L2", "D2", MONDAY, "ann@x.com", first_contacted_at=MONDAY + timedelta(minutes=60)),
            lead("L3", "D3", MONDAY, "cat@x.com"),
            lead("L4", "D3", MONDAY + timedelta(days=1), "dan@x.com", campaign_id="C1"),
        ),
        lead_events=rows(
            "lead_events",
            {"record_id": "E1", "lead_id": "L4", "event_type": "sold", "occurred_at": MONDAY + 2 * week},
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
                "dealer_id": "oem",
                "campaign_id": "C2",
                "day": date(2026, 11, 1),
                "spend": 100,
            },
        ),
        person_links=rows(
            "person_links",
            {"record_id": "L1", "dataset": "leads", "person_id": "P-ann", "dealer_id": "D1"},
            {"record_id": "L2", "dataset": "leads", "person_id": "P-ann", "dealer_id": "D2"},
            {"record_id": "L3", "dataset": "leads", "person_id": "P-cat", "dealer_id": "D3"},
        ),
        uploads=rows(
            "uploads", *(upload(f"u{n}", MONDAY - timedelta(days=n), quarantined=n) for n in range(9))
        ),
    )


@pytest.mark.parametrize("path", NAMED, ids=lambda p: p.stem)
def test_named_query_reads_unqualified_tables_and_runs_locally(
    path: Path, small_lake: dict[str, pa.Table]
) -> None:
    sql = path.read_text(encoding="utf-8")

    assert all(database is None for database, _ in analytics.referenced_tables(sql))
    assert analytics.run_query(sql, tables=small_lake).columns


def test_leads_per_dealer_counts_a_re_sent_lead_once(small_lake: dict[str, pa.Table]) -> None:
    found = {r["dealer_id"]: r["leads"] for r in named("leads_per_dealer", small_lake)}
    assert found == {"D1": 2, "D2": 1, "D3": 2}


def test_cross_dealer_shoppers_counts_a_person_seen_at_two_dealers(small_lake: dict[str, pa.Table]) -> None:
    assert named("cross_dealer_shoppers", small_lake) == [
        {"dealers_visited": 1, "people": 3, "leads": 3},
        {"dealers_visited": 2, "people": 1, "leads": 2},
    ]


def test_funnel_of_the_last_8_weeks_leaves_older_weeks_out(small_lake: dict[str, pa.Table]) -> None:
    found = {r["dealer_id"]: r for r in named("funnel_last_8_weeks_by_dealer", small_lake)}
    assert found["D1"]["enquiries"] == 1 and found["D1"]["first_week"] == date(2026, 11, 2)
    assert (found["D3"]["enquiries"], found["D3"]["contacted"], found["D3"]["sold"]) == (2, 1, 1)
    assert (found["D3"]["pct_contacted"], found["D3"]["pct_closed"], found["D3"]["pct_lead_to_sale"]) == (
        50.0,
        100.0,
        50.0,
    )


def test_dealers_missing_the_speed_to_lead_target_slowest_first_unknown_contacts_on_top(
    small_lake: dict[str, pa.Table],
) -> None:
    found = named("dealers_missing_speed_to_lead_target", small_lake)
    assert [(r["dealer_id"], r["median_minutes"]) for r in found] == [("D3", None), ("D2", 60.0)]
    assert (found[1]["target_minutes"], found[1]["pct_within_target"]) == (30, 0.0)
    assert (found[1]["recent_weeks_missed"], found[1]["recent_weeks"]) == (1, 1)


def test_speed_to_lead_lists_every_dealer_against_the_target(small_lake: dict[str, pa.Table]) -> None:
    found = {r["dealer_id"]: r for r in named("speed_to_lead", small_lake)}
    assert found["D1"]["median_minutes"] == 5.0 and found["D1"]["meets_target"] is True
    assert found["D2"]["median_minutes"] == 60.0 and found["D2"]["meets_target"] is False


def test_campaigns_by_cost_per_sale_put_a_campaign_without_sales_last(
    small_lake: dict[str, pa.Table],
) -> None:
    found = named("campaigns_by_cost_per_sale", small_lake)
    assert [
        (r["campaign_id"], r["spend"], r["sales_last_touch"], r["cost_per_sale_last_touch"]) for r in found
    ] == [
        ("C1", 300.0, 1, 300.0),
        ("C2", 100.0, 0, None),
    ]


def test_data_quality_of_the_last_7_days_per_dealer(small_lake: dict[str, pa.Table]) -> None:
    (d1,) = named("data_quality_last_7_days", small_lake)
    assert (d1["files"], d1["rows_in"], d1["rows_quarantined"]) == (7, 70, 21)
    assert d1["pct_quarantined"] == 30.0


def test_dealer_pairs_sharing_shoppers(small_lake: dict[str, pa.Table]) -> None:
    assert named("dealer_pairs_sharing_shoppers", small_lake) == [
        {"dealer_a": "D1", "dealer_b": "D2", "people_a": 1, "people_b": 1, "shared_people": 1,
         "pct_of_a": 100.0, "pct_of_b": 100.0}
    ]  # fmt: skip


# --- template.yaml ---------------------------------------------------------------------------------


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A scratch repository with the checked-in template, named queries and generated documents."""
    shutil.copy(REPO_ROOT / "template.yaml", tmp_path / "template.yaml")
    for directory in ("docs", "queries/views", "queries/named"):
        shutil.copytree(REPO_ROOT / directory, tmp_path / directory)
    return tmp_path


def test_a_changed_named_query_makes_the_template_stale_and_generate_rewrites_its_section(
    repo_copy: Path,
) -> None:
    template = repo_copy / "template.yaml"
    before = template.read_text(encoding="utf-8")
    (repo_copy / "queries" / "named" / "new_query.sql").write_text(
        "-- Leads per day.\nSELECT CAST(requested_at AS date) AS day, count(*) AS leads\n"
        "FROM leads_current GROUP BY 1  \n\n",
        encoding="utf-8",
    )
    assert docs.generate(repo_copy, check=True) == [template]
    docs.generate(repo_copy)

    after = template.read_text(encoding="utf-8")
    assert after.startswith(before.split(named_queries.BEGIN_MARKER)[0])
    assert after.endswith(before.split(named_queries.END_MARKER)[1])
    assert (
        "  NamedQueryNewQuery:\n    Type: AWS::Athena::NamedQuery\n    Properties:\n"
        '      Name: "new_query"\n      Description: "Leads per day."\n'
        "      Database: !Ref GlueDatabase\n      WorkGroup: !Ref AnalystWorkGroup\n"
        "      QueryString: |-\n        -- Leads per day.\n"
        "        SELECT CAST(requested_at AS date) AS day, count(*) AS leads\n"
        "        FROM leads_current GROUP BY 1\n"
    ) in after


def test_a_template_without_the_markers_is_refused() -> None:
    with pytest.raises(named_queries.NamedQueryError, match="BEGIN named queries"):
        named_queries.template_text("Resources:\n  X:\n    Type: T\n", [])


def test_a_named_query_without_a_leading_comment_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bare.sql").write_text("SELECT 1\n", encoding="utf-8")
    with pytest.raises(named_queries.NamedQueryError, match=r"bare\.sql: open with a comment"):
        named_queries.load_all(tmp_path)


def test_the_cli_names_the_saved_queries_when_asked_for_one_it_does_not_have() -> None:
    result = CliRunner().invoke(main, ["query", "--named", "no_such_query"])

    assert result.exit_code == 1
    assert "--named takes one of" in result.output and "speed_to_lead" in result.output
