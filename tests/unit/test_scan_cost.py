"""``forecourt query --explain``: bytes Athena would scan, from Parquet footers, and their price."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from forecourt import scan_cost
from pyarrow.fs import LocalFileSystem

TABLE = "lead_events"


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One data file of lead_events with two row groups: dealer D1 in October, then D2 in November."""
    from forecourt import schemas

    schema = schemas.get(TABLE).arrow_schema()
    rows = 2000

    def group(dealer: str, month: int) -> pa.Table:
        columns = {
            "record_id": [f"{dealer}-{i}" for i in range(rows)],
            "upload_id": ["u1"] * rows,
            "dealer_id": [dealer] * rows,
            "feed": ["crm-events"] * rows,
            "source_system": ["crm"] * rows,
            "received_at": [datetime(2026, month, 2, tzinfo=UTC)] * rows,
            "event_type": [["contacted", "sold", "lost"][i % 3] for i in range(rows)],
            "occurred_at": [datetime(2026, month, 1 + i % 28, tzinfo=UTC) for i in range(rows)],
            "notes": [f"called back about offer {i}" for i in range(rows)],
        }
        return pa.table({f.name: columns.get(f.name, [None] * rows) for f in schema}, schema=schema)

    path = str(tmp_path_factory.mktemp("scan") / "events.parquet")
    dataset = schemas.get(TABLE)
    statistics = [c for c in dataset.column_names if dataset.effective_pii(c) == "none"]  # as the lake writes
    with pq.ParquetWriter(path, schema, compression="zstd", write_statistics=statistics) as writer:
        writer.write_table(group("D1", 10))
        writer.write_table(group("D2", 11))
    return path


def _chunk_bytes(path: str, row_group: int, columns: set[str]) -> int:
    group = pq.read_metadata(path).row_group(row_group)
    chunks = [group.column(i) for i in range(group.num_columns)]
    return sum(c.total_compressed_size for c in chunks if c.path_in_schema.split(".")[0] in columns)


def _estimate(sql: str, path: str) -> scan_cost.ScanEstimate:
    return scan_cost.estimate(sql, {TABLE: [path]}, LocalFileSystem(), views={})


def test_only_the_columns_read_are_scanned(events_file: str) -> None:
    found = _estimate("SELECT event_type, count(*) FROM lead_events GROUP BY 1", events_file)

    [scan] = found.tables
    assert scan.columns == ["event_type"]
    assert (scan.files, scan.row_groups, scan.row_groups_scanned) == (1, 2, 2)
    expected = _chunk_bytes(events_file, 0, {"event_type"}) + _chunk_bytes(events_file, 1, {"event_type"})
    assert found.bytes_scanned == expected
    assert 0 < expected < scan.bytes_in_table / 5


def test_a_filter_on_a_column_with_statistics_skips_row_groups(events_file: str) -> None:
    sql = (
        "SELECT notes FROM forecourt.lead_events WHERE dealer_id = 'D2' AND occurred_at >= DATE '2026-11-01'"
    )

    [scan] = _estimate(sql, events_file).tables

    assert [str(f) for f in scan.filters] == ["dealer_id = D2", "occurred_at >= 2026-11-01"]
    assert scan.row_groups_scanned == 1
    assert scan.bytes_scanned == _chunk_bytes(events_file, 1, {"notes", "dealer_id", "occurred_at"})


@pytest.mark.parametrize(
    ("where", "row_groups"),
    [
        ("dealer_id IN ('D3', 'D4')", 0),
        ("occurred_at BETWEEN TIMESTAMP '2026-10-05 00:00:00' AND TIMESTAMP '2026-10-06 00:00:00'", 1),
        ("occurred_at < TIMESTAMP '2026-10-01 00:00:00'", 0),
        ("dealer_id = 'D1' OR dealer_id = 'D9'", 2),  # not a simple conjunction: nothing pruned
        ("notes = 'x'", 2),  # personal data: no statistics, so nothing pruned (as in Athena)
    ],
)
def test_row_groups_pruned_per_predicate(events_file: str, where: str, row_groups: int) -> None:
    [scan] = _estimate(f"SELECT record_id FROM lead_events WHERE {where}", events_file).tables
    assert scan.row_groups_scanned == row_groups
    assert scan.files_scanned == (1 if row_groups else 0)


def test_columns_are_followed_through_ctes_and_stars(events_file: str) -> None:
    sql = """
        WITH recent AS (SELECT * FROM lead_events WHERE dealer_id = 'D1')
        SELECT r.event_type, count(*) AS n FROM recent r GROUP BY 1
    """
    [scan] = _estimate(sql, events_file).tables
    assert scan.columns == ["dealer_id", "event_type"]
    assert scan.row_groups_scanned == 1


def test_a_query_is_billed_at_least_10_mb_at_5_dollars_a_terabyte(events_file: str) -> None:
    found = _estimate("SELECT count(*) FROM lead_events", events_file)

    assert found.bytes_scanned == 0
    assert found.billed_bytes == 10 * 2**20
    assert found.cost_usd == pytest.approx(10 * 2**20 / 2**40 * 5)
    assert scan_cost.cost_usd(3 * 2**40) == pytest.approx(15.0)
    assert scan_cost.billed_bytes(10 * 2**20 + 1) == 11 * 2**20  # rounded up to the megabyte


def test_a_statement_that_is_not_a_query_is_refused() -> None:
    from forecourt.analytics import QueryError

    with pytest.raises(QueryError, match="read-only"):
        scan_cost.estimate("DELETE FROM lead_events", {}, LocalFileSystem(), views={})


def test_a_view_is_read_through_to_its_tables(
    events_file: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("views")
    (folder / "sold_events.sql").write_text(
        "CREATE OR REPLACE VIEW sold_events AS SELECT dealer_id, occurred_at, notes FROM lead_events "
        "WHERE event_type = 'sold'"
    )
    (folder / "late_sales.sql").write_text(
        "SELECT dealer_id FROM sold_events WHERE occurred_at > DATE '2026-11-15'"
    )
    views = scan_cost.view_definitions(folder)
    assert sorted(views) == ["late_sales", "sold_events"]

    found = scan_cost.estimate(
        "SELECT count(*) FROM forecourt.late_sales WHERE dealer_id = 'D2'",
        {TABLE: [events_file]},
        LocalFileSystem(),
        views,
    )

    [scan] = found.tables
    assert scan.columns == ["dealer_id", "event_type", "occurred_at"]
    assert scan.row_groups_scanned == 1  # the filters on the views reach the table's row groups


def test_a_table_read_twice_is_pruned_by_neither_reads_filter(events_file: str) -> None:
    sql = """
        SELECT record_id FROM lead_events WHERE occurred_at < DATE '2026-11-01'
        UNION ALL
        SELECT record_id FROM lead_events WHERE occurred_at >= DATE '2026-11-01'
    """
    [scan] = _estimate(sql, events_file).tables
    assert scan.filters == [] and scan.row_groups_scanned == 2
