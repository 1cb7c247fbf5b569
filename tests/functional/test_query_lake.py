"""``run_query`` reads the Iceberg tables' current data files (planned by pyiceberg) from moto's S3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from forecourt import analytics, aws, catalog, lake, schemas
from forecourt.config import settings

BUCKET = "query-lake-test"
DATABASE = "forecourt_query_test"


def _forget_clients() -> None:
    settings.cache_clear()
    aws.clear_clients()
    catalog.catalog.cache_clear()


@pytest.fixture(scope="module")
def moto_lake() -> Iterator[str]:
    """A moto server on loopback with a lake bucket, a Glue database and the leads and visits tables."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        env.setenv("AWS_ACCESS_KEY_ID", "local")
        env.setenv("AWS_SECRET_ACCESS_KEY", "local")
        env.setenv("AWS_REGION", "us-east-1")
        env.setenv("FORECOURT_LAKE_BUCKET", BUCKET)
        env.setenv("FORECOURT_GLUE_DATABASE", DATABASE)
        _forget_clients()
        try:
            aws.client("s3").create_bucket(Bucket=BUCKET)
            aws.client("glue").create_database(DatabaseInput={"Name": DATABASE})
            catalog.migrate(["leads", "visits"])
            yield DATABASE
        finally:
            server.stop()
            _forget_clients()
    _forget_clients()


def _commit_leads(upload: str, day: date, record_ids: list[str]) -> None:
    """Write one upload's data file the way ingest does and commit it the way the committer does."""
    schema = schemas.get("leads").arrow_schema()
    rows = [
        {
            "record_id": record_id,
            "upload_id": upload,
            "dealer_id": "D100",
            "feed": "vinsolutions-leads",
            "source_system": "vinsolutions",
            "received_at": datetime(day.year, day.month, day.day, 8, tzinfo=UTC),
            "requested_at": datetime(day.year, day.month, day.day, 7, 30, tzinfo=UTC),
            "email": f"{record_id}@example.com",
        }
        for record_id in record_ids
    ]
    writer = lake.DataFileWriter(aws.s3_filesystem(), BUCKET, "leads", schema, upload, day)
    writer.write(pa.Table.from_pylist(rows, schema=schema))
    catalog.commit_uploads("leads", [upload], [f"s3://{path}" for path in writer.close()])


def test_queries_read_the_current_data_files_of_the_iceberg_tables(moto_lake: str) -> None:
    _commit_leads("u1", date(2026, 11, 2), ["a", "b"])
    _commit_leads("u2", date(2026, 11, 3), ["c"])
    _commit_leads("u1", date(2026, 11, 2), ["a", "b"])  # a replayed upload replaces its rows

    by_day = analytics.run_query(
        f"SELECT date(received_at) AS day, count(*) AS n FROM {moto_lake}.leads GROUP BY 1 ORDER BY 1"
    )
    assert by_day.rows == [(date(2026, 11, 2), 2), (date(2026, 11, 3), 1)]
    since = "from_iso8601_timestamp('2026-11-03T00:00Z')"
    later = analytics.run_query(f"SELECT record_id, requested_at FROM leads WHERE received_at >= {since}")
    assert later.rows == [("c", datetime(2026, 11, 3, 7, 30, tzinfo=UTC))]


def test_a_table_without_data_files_is_empty_with_its_columns(moto_lake: str) -> None:
    result = analytics.run_query("SELECT visit_type, count(*) AS n FROM visits GROUP BY 1")
    assert result.columns == ["visit_type", "n"] and result.rows == []


def test_a_dataset_not_yet_in_the_catalog_says_to_migrate(moto_lake: str) -> None:
    with pytest.raises(analytics.QueryError, match="run `forecourt catalog migrate`"):
        analytics.run_query("SELECT count(*) FROM sales")


def test_migrate_writes_column_meanings_as_glue_comments_and_brings_stale_ones_back(moto_lake: str) -> None:
    def comments() -> dict[str, str]:
        table = aws.client("glue").get_table(DatabaseName=moto_lake, Name="visits")["Table"]
        return {c["Name"]: c.get("Comment", "") for c in table["StorageDescriptor"]["Columns"]}

    assert (
        comments()["email"]
        == "Primary e-mail, trimmed and lowercased; null when not a valid address. [pii: direct]"
    )
    with catalog.load("visits").update_schema() as update:
        update.update_column("email", doc="an old meaning")
    assert comments()["email"] == "an old meaning"

    results = {r.table: r for r in catalog.migrate(["leads", "visits"])}

    assert (results["visits"].action, results["leads"].action) == ("documented", "unchanged")
    assert comments()["email"].endswith("[pii: direct]")


def test_migrate_creates_every_view_in_athena_in_dependency_order(moto_lake: str) -> None:
    from forecourt import athena_views, views

    deployed = athena_views.create_views({"dedupe_window_days": 3})

    athena = aws.client("athena")
    sent = [
        athena.get_query_execution(QueryExecutionId=d.query_execution_id)["QueryExecution"] for d in deployed
    ]
    ordered = views.ordered(views.load_all())
    assert [d.view for d in deployed] == [v.name for v in ordered] and len(deployed) == len(views.load_all())
    assert [s["Query"] for s in sent] == [
        athena_views.create_statement(v, {"dedupe_window_days": 3}) for v in ordered
    ]
    assert {s["QueryExecutionContext"]["Database"] for s in sent} == {moto_lake}
    assert {s["Status"]["State"] for s in sent} == {"SUCCEEDED"}
    outcomes = next(
        s["Query"] for s in sent if s["Query"].startswith('CREATE OR REPLACE VIEW "lead_outcomes" AS')
    )
    assert "3 AS dedupe_window_days" in outcomes


def test_a_view_athena_refuses_stops_the_migration_naming_it() -> None:
    from forecourt import athena_views

    class RefusingAthena:
        def start_query_execution(self, **_: object) -> dict[str, str]:
            return {"QueryExecutionId": "q1"}

        def get_query_execution(self, **_: object) -> dict[str, object]:
            status = {"State": "FAILED", "StateChangeReason": "line 3:5: Table 'leads' does not exist"}
            return {"QueryExecution": {"Status": status}}

    with pytest.raises(athena_views.ViewDeployError, match=r"^view \w+: Athena says FAILED: line 3:5"):
        athena_views.create_views({}, athena=RefusingAthena())
