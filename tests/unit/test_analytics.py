"""Athena (Trino) SQL runs on DuckDB over Arrow data: translation, table names, errors, read-only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from forecourt import schemas
from forecourt.analytics import QueryError, explain_tables, referenced_tables, run_query, translate
from forecourt.config import settings

Lake = dict[str, pa.Table]
R1 = "FROM leads WHERE record_id = 'r1'"
R2 = "FROM leads WHERE record_id = 'r2'"


def _lead(record_id: str, **values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "record_id": record_id,
        "upload_id": "u1",
        "dealer_id": "d1",
        "feed": "vinsolutions-leads",
        "source_system": "vinsolutions",
        "received_at": datetime(2024, 3, 4, 10, 0, tzinfo=UTC),
    }
    return base | values


@pytest.fixture
def leads() -> pa.Table:
    rows = [
        _lead(
            "r1",
            requested_at=datetime(2024, 3, 4, 9, 30, tzinfo=UTC),
            email="ann@example.com",
            response_minutes=5.0,
            field_issues=["phone:invalid_phone"],
            extras='{"x": "blue", "n": 3}',
        ),
        _lead(
            "r2",
            requested_at=datetime(2024, 3, 6, 23, 45, tzinfo=UTC),
            response_minutes=15.0,
            field_issues=["email:invalid_email"],
        ),
        _lead(
            "r3",
            dealer_id="d2",
            requested_at=datetime(2024, 3, 11, 0, 15, tzinfo=UTC),
            email="bob@example.org",
            response_minutes=30.0,
            field_issues=[],
        ),
    ]
    return pa.Table.from_pylist(rows, schema=schemas.get("leads").arrow_schema())


@pytest.fixture
def lake(leads: pa.Table) -> Lake:
    return {"leads": leads, "visits": schemas.get("visits").arrow_schema().empty_table()}


def _scalar(sql: str, tables: Lake) -> object:
    result = run_query(sql, tables)
    assert len(result.rows) == 1 and len(result.columns) == 1, result
    return result.rows[0][0]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT approx_percentile(response_minutes, 0.5) FROM leads", 15.0),
        ("SELECT count_if(email IS NULL) FROM leads", 1),
        (f"SELECT date_add('day', 1, requested_at) {R2}", datetime(2024, 3, 7, 23, 45, tzinfo=UTC)),
        (f"SELECT date_format(requested_at, '%Y-%m-%d %H:%i') {R1}", "2024-03-04 09:30"),
        (f"SELECT date_trunc('week', requested_at) {R2}", datetime(2024, 3, 4, tzinfo=UTC)),
        # 00:30 at +01:00 is 23:30 UTC on the 6th: the offset counts, so r2 (23:45) is in
        ("SELECT count_if(requested_at >= from_iso8601_timestamp('2024-03-07T00:30+01:00')) FROM leads", 2),
        ("SELECT count(*) FROM leads WHERE regexp_like(email, '@example\\.(com|org)$')", 2),
        ("SELECT sum(cardinality(field_issues)) FROM leads", 2),
        ("SELECT record_id FROM leads WHERE contains(field_issues, 'email:invalid_email')", "r2"),
        (f"SELECT json_extract_scalar(extras, '$.x') {R1}", "blue"),
        (f"SELECT date_diff('minute', requested_at, received_at) {R1}", 30),
        ("SELECT approx_distinct(dealer_id) FROM leads", 2),
        # Trino counts no row, or only unknown conditions, as 0 (DuckDB's own count_if says NULL)
        ("SELECT count_if(email = 'nobody@example.com') FROM leads WHERE false", 0),
        ("SELECT count_if(CAST(NULL AS boolean)) FROM leads", 0),
    ],
)
def test_trino_functions_translate_and_run_on_duckdb(sql: str, expected: object, lake: Lake) -> None:
    assert _scalar(sql, lake) == expected


def test_translation_uses_duckdb_functions() -> None:
    expected = "SELECT APPROX_QUANTILE(x, 0.5) AS _col0 FROM t"
    assert translate("SELECT approx_percentile(x, 0.5) FROM t") == expected
    assert "REGEXP_MATCHES(s, '^a')" in translate("SELECT * FROM t WHERE regexp_like(s, '^a')")


def test_at_timezone_gives_the_local_wall_clock(lake: Lake) -> None:
    sql = f"SELECT hour(at_timezone(requested_at, 'America/New_York')) {R1}"
    assert "requested_at AT TIME ZONE 'America/New_York'" in translate(sql)
    assert _scalar(sql, lake) == 4  # 09:30 UTC is 04:30 EST


def test_tz_aware_timestamps_compare_group_and_come_back_in_utc(lake: Lake) -> None:
    result = run_query(
        "SELECT date(requested_at) AS day, count(*) AS n FROM leads "
        "WHERE requested_at < TIMESTAMP '2024-03-11 00:15:00 UTC' GROUP BY 1 ORDER BY 1",
        lake,
    )
    assert result.rows == [(date(2024, 3, 4), 1), (date(2024, 3, 6), 1)]
    first = run_query(f"SELECT requested_at {R1}", lake)
    assert first.rows == [(datetime(2024, 3, 4, 9, 30, tzinfo=UTC),)]
    assert first.to_arrow().schema.field("requested_at").type == pa.timestamp("us", tz="UTC")


def test_counts_come_back_as_integers_not_decimals(lake: Lake) -> None:
    result = run_query("SELECT count_if(email IS NOT NULL) AS known FROM leads", lake)
    assert result.rows == [(2,)] and not isinstance(result.rows[0][0], Decimal)
    assert result.to_arrow().schema.field("known").type == pa.int64()


def test_unnamed_columns_are_named_by_position_as_in_trino(lake: Lake) -> None:
    sql = "SELECT dealer_id, count(*), max(response_minutes) AS slowest FROM leads GROUP BY 1"
    result = run_query(sql, lake)
    assert result.columns == ["dealer_id", "_col1", "slowest"]


@pytest.mark.parametrize(
    "table",
    ["leads", "forecourt.leads", '"forecourt"."leads"', "FORECOURT.LEADS", "awsdatacatalog.forecourt.leads"],
)
def test_tables_are_named_as_in_athena(table: str, lake: Lake) -> None:
    assert _scalar(f"SELECT count(*) FROM {table}", lake) == 3


def test_the_database_name_comes_from_settings(monkeypatch: pytest.MonkeyPatch, lake: Lake) -> None:
    monkeypatch.setenv("FORECOURT_GLUE_DATABASE", "forecourt_dev")
    settings.cache_clear()
    try:
        assert _scalar("SELECT count(*) FROM forecourt_dev.leads", lake) == 3
        with pytest.raises(QueryError, match="database 'forecourt' does not exist; databases: forecourt_dev"):
            run_query("SELECT count(*) FROM forecourt.leads", lake)
    finally:
        settings.cache_clear()


def test_a_lazy_pyarrow_dataset_is_a_table_source(tmp_path: Path, leads: pa.Table) -> None:
    pq.write_table(leads.drop_columns(["comments"]), tmp_path / "part-0.parquet")  # before `comments` existed
    dataset = ds.dataset([str(tmp_path / "part-0.parquet")], format="parquet", schema=leads.schema)
    sql = "SELECT record_id, comments FROM leads WHERE requested_at > DATE '2024-03-05' ORDER BY 1"
    assert run_query(sql, {"leads": dataset}).rows == [("r2", None), ("r3", None)]


def test_unknown_table_names_the_tables_there_are(lake: Lake) -> None:
    with pytest.raises(
        QueryError,
        match=r"^table 'lead' does not exist; tables: leads, leads_current, visits, visits_current$",
    ):
        run_query("SELECT * FROM lead", lake)


def test_unknown_database_is_named(lake: Lake) -> None:
    with pytest.raises(QueryError, match=r"^database 'marketing' does not exist; databases: forecourt$"):
        run_query("SELECT * FROM marketing.leads", lake)


def test_unknown_column_is_named_with_its_table_and_candidates(lake: Lake) -> None:
    with pytest.raises(QueryError, match=r"^column 'emial' does not exist in leads; candidates: \"email\""):
        run_query("SELECT emial FROM leads", lake)


def test_unknown_qualified_column_names_the_table_behind_the_alias(lake: Lake) -> None:
    with pytest.raises(QueryError, match=r"^column 'colour' does not exist in visits \(as v\)$"):
        run_query("SELECT v.colour FROM leads l JOIN visits v ON l.dealer_id = v.dealer_id", lake)


def test_unknown_function_is_reported_with_duckdbs_suggestion(lake: Lake) -> None:
    with pytest.raises(QueryError, match="Scalar Function with name lenght does not exist! Did you mean"):
        run_query("SELECT lenght(email) FROM leads", lake)


def test_syntax_error_gives_line_and_column() -> None:
    with pytest.raises(QueryError, match=r"^SQL syntax error at line 2, column 23 near '1': Expecting \)$"):
        translate("SELECT *\nFROM leads WHERE (a = 1")


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("INSERT INTO leads SELECT * FROM leads", "INSERT"),
        ("DELETE FROM leads WHERE dealer_id = 'd1'", "DELETE"),
        ("DROP TABLE leads", "DROP"),
        ("CREATE TABLE x AS SELECT * FROM leads", "CREATE"),
        ("UPDATE leads SET email = NULL", "UPDATE"),
        ("CALL system.rollback()", "CALL"),
    ],
)
def test_only_reading_statements_are_allowed(sql: str, kind: str, lake: Lake) -> None:
    with pytest.raises(QueryError, match=f"^only SELECT, WITH, SHOW and DESCRIBE .*; got {kind}$"):
        run_query(sql, lake)


def test_one_statement_at_a_time(lake: Lake) -> None:
    with pytest.raises(QueryError, match="one statement at a time, please: found 2"):
        run_query("SELECT 1; SELECT 2", lake)


def test_a_query_cannot_read_local_files(lake: Lake) -> None:
    with pytest.raises(QueryError, match="disabled by configuration"):
        run_query("SELECT * FROM read_csv('/etc/hostname')", lake)


def test_referenced_tables_exclude_ctes_and_keep_the_database() -> None:
    sql = (
        "WITH recent AS (SELECT * FROM forecourt.leads WHERE requested_at > current_date) "
        'SELECT * FROM recent JOIN "forecourt"."visits" v ON true JOIN leads l ON true JOIN recent r2 ON true'
    )
    tables = referenced_tables(sql)
    assert sorted(tables, key=str) == [("forecourt", "leads"), ("forecourt", "visits"), (None, "leads")]
    unnest = "SELECT * FROM leads CROSS JOIN UNNEST(field_issues) AS u(issue)"
    assert referenced_tables(unnest) == [(None, "leads")]


def test_show_tables_and_show_columns_answer_from_the_schemas(lake: Lake) -> None:
    shown = [("leads",), ("leads_current",), ("visits",), ("visits_current",)]
    assert run_query("SHOW TABLES", lake).rows == shown
    assert run_query("SHOW TABLES FROM forecourt LIKE 'v%'", lake).rows == [("visits",), ("visits_current",)]
    columns = run_query("SHOW COLUMNS FROM leads", lake)
    described = run_query("DESCRIBE forecourt.leads", lake)
    assert columns.rows == described.rows
    assert [row[0] for row in described.rows] == schemas.get("leads").column_names
    assert {row[0]: row[1] for row in described.rows}["received_at"] == "TIMESTAMP WITH TIME ZONE"


def test_max_rows_cuts_the_result_and_says_so(lake: Lake) -> None:
    result = run_query("SELECT record_id FROM leads ORDER BY record_id", lake, max_rows=2)
    assert result.rows == [("r1",), ("r2",)] and result.truncated
    assert result.to_arrow().num_rows == 2
    complete = run_query("SELECT record_id FROM leads", lake, max_rows=3)
    assert len(complete.rows) == 3 and not complete.truncated


def test_explain_tables_lists_every_dataset() -> None:
    listed = {entry["name"]: entry for entry in explain_tables()}
    assert set(listed) == set(schemas.load_all())
    assert listed["leads"]["kind"] == "curated"
    assert listed["leads"]["columns"] == len(schemas.get("leads").columns)


def test_on_lambda_a_query_may_use_half_the_function_memory_and_spills_to_its_own_folder(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096")
    assert _scalar("SELECT current_setting('memory_limit')", lake) == "2.0 GiB"
    spill = _scalar("SELECT current_setting('temp_directory')", lake)
    assert "forecourt-query-" in str(spill)  # not ./.tmp: /var/task is read-only on Lambda
