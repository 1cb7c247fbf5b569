"""Dataset schemas: what every dataset carries, the PII rules, the derived Arrow and Iceberg schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from forecourt import catalog, schemas
from forecourt.schemas import SchemaError
from pyiceberg.schema import index_by_id
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DecimalType, ListType, StringType, TimestamptzType

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CURATED_COLUMNS = (
    "record_id",
    "upload_id",
    "dealer_id",
    "source_system",
    "source_key",
    "received_at",
    "feed",
)
CONSENT_COLUMNS = (
    "do_not_call",
    "do_not_email",
    "do_not_text",
    "ccpa_opt_out",
    "gpc",
    "ad_user_data_consent",
    "ad_personalization_consent",
    "consent_source",
    "consent_at",
)
MONEY_NAMES = ("price", "apr", "payment", "financed", "gross", "lender", "term_months")


def test_every_schema_file_loads_as_the_dataset_it_is_named_after() -> None:
    datasets = schemas.load_all()
    assert sorted(datasets) == sorted(path.stem for path in REPO_SCHEMAS.glob("*.json"))
    assert all(dataset.name == name for name, dataset in datasets.items())
    assert {d.name for d in datasets.values() if d.kind == "curated"} == set(schemas.CURATED)
    assert {d.name for d in datasets.values() if d.kind == "operational"} == set(schemas.OPERATIONAL)


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(
        KeyError, match=r"unknown dataset 'lead'; known: audience_members, campaign_spend, campaigns, .*leads"
    ):
        schemas.get("lead")


@pytest.mark.parametrize("name", schemas.CURATED)
def test_curated_datasets_carry_the_lineage_columns_and_their_event_time(name: str) -> None:
    dataset = schemas.get(name)
    assert set(CURATED_COLUMNS) <= set(dataset.column_names)
    assert dataset.event_time in dataset.column_names
    assert dataset.column("record_id").derived_from == ["dealer_id", "source_system", "source_key"]
    assert not dataset.column("received_at").nullable and dataset.column("source_key").nullable


def test_leads_carry_consent_attribution_and_platform_ids() -> None:
    leads = schemas.get("leads")
    expected = {*CONSENT_COLUMNS, "country", "gclid", "fbclid", "platform_lead_id"}
    expected |= {f"utm_{part}" for part in ("source", "medium", "campaign", "term", "content")}
    assert expected <= set(leads.column_names)
    assert leads.column("consent_at").type == "timestamp"
    assert leads.column("do_not_call").type == "bool"


def test_money_terms_are_financial_and_only_in_sales_finance() -> None:
    finance = schemas.get("sales_finance")
    money = [c for c in finance.columns if c.type.startswith("decimal") or c.name.endswith(MONEY_NAMES)]
    assert {c.name for c in money} >= {"sale_price", "apr", "amount_financed", "monthly_payment", "lender"}
    assert {finance.effective_pii(c.name) for c in money} == {"financial"}
    sales = schemas.get("sales")
    assert [c.name for c in sales.columns if c.type.startswith("decimal")] == []
    assert [n for n in sales.column_names if n.endswith(MONEY_NAMES)] == []


def test_direct_identifiers_are_direct_pii() -> None:
    for name in ("leads", "sales", "visits"):
        dataset = schemas.get(name)
        for column in ("first_name", "last_name", "email", "phone", "street", "extras"):
            assert dataset.effective_pii(column) == "direct", (name, column)
        assert dataset.effective_pii("zip") == "quasi"


def test_arrow_schema_uses_utc_microsecond_timestamps_and_exact_types() -> None:
    schema = schemas.get("leads").arrow_schema()
    assert str(schema.field("received_at").type) == "timestamp[us, tz=UTC]"
    assert schema.field("received_at").nullable is False
    assert schema.field("field_issues").type == pa.list_(pa.string())
    assert schema.field("vehicle_year").type == pa.int32()
    assert schema.field("do_not_call").type == pa.bool_()
    assert schema.metadata == {b"forecourt.dataset": b"leads", b"forecourt.version": b"1"}
    finance = schemas.get("sales_finance").arrow_schema()
    assert finance.field("apr").type == pa.decimal128(6, 3)
    assert finance.field("contract_date").type == pa.date32()
    for dataset in schemas.load_all().values():
        timestamps = [f for f in dataset.arrow_schema() if pa.types.is_timestamp(f.type)]
        assert timestamps and all(str(f.type) == "timestamp[us, tz=UTC]" for f in timestamps), dataset.name


# --- rules enforced when loading: a temporary schemas/ directory --------------------------------


def _col(name: str, type_: str, pii: str, *derived_from: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "pii": pii,
        "description": f"{name}.",
        "derived_from": list(derived_from),
    }


def _dataset(name: str, columns: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "version": 1,
        "kind": "derived",
        "description": "A test dataset.",
        "event_time": "received_at",
        "partitioning": [{"column": "received_at", "transform": "day"}],
        "sort_order": ["received_at"],
        "contract": {},
        "columns": [_col("received_at", "timestamp", "none"), *columns],
    }


@pytest.fixture
def schema_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty schemas/ directory that ``load_all`` reads instead of the repository's."""
    monkeypatch.setattr(schemas, "schemas_dir", lambda: tmp_path)
    schemas.load_all.cache_clear()
    yield tmp_path
    schemas.load_all.cache_clear()


def _write(directory: Path, file_name: str, dataset: dict[str, Any]) -> None:
    (directory / file_name).write_text(json.dumps(dataset), encoding="utf-8")


def test_a_derived_column_weaker_than_its_inputs_fails_to_load(schema_dir: Path) -> None:
    columns = [_col("email", "string", "direct"), _col("email_domain", "string", "none", "email")]
    _write(schema_dir, "contacts.json", _dataset("contacts", columns))
    expected = (
        "contacts.json: column 'email_domain' is declared pii='none' but derives from data of class 'direct'"
    )
    with pytest.raises(SchemaError, match=re.escape(expected)):
        schemas.load_all()


def test_a_derived_column_inherits_through_a_chain_of_derivations(schema_dir: Path) -> None:
    columns = [
        _col("apr", "decimal(6,3)", "financial"),
        _col("apr_band", "string", "financial", "apr"),
        _col("band_rank", "int32", "quasi", "apr_band"),
    ]
    _write(schema_dir, "offers.json", _dataset("offers", columns))
    with pytest.raises(
        SchemaError, match=r"'band_rank' is declared pii='quasi' but derives from .* 'financial'"
    ):
        schemas.load_all()


def test_a_derived_column_as_strict_as_its_inputs_loads(schema_dir: Path) -> None:
    columns = [_col("email", "string", "direct"), _col("email_hash", "string", "direct", "email")]
    _write(schema_dir, "contacts.json", _dataset("contacts", columns))
    assert schemas.load_all()["contacts"].effective_pii("email_hash") == "direct"


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        (_dataset("b", []), "a.json: name 'b' differs from the file name"),
        (_dataset("a", [_col("x", "uuid", "none")]), r"(?s)a.json: .*unknown column type 'uuid'"),
        (
            _dataset("a", [_col("x", "string", "none", "y")]),
            r"(?s)a.json: .*references unknown columns \['y'\]",
        ),
        (_dataset("a", [_col("received_at", "string", "none")]), r"(?s)a.json: .*duplicate column names"),
    ],
)
def test_a_broken_schema_file_fails_to_load_naming_the_file(
    schema_dir: Path, dataset: dict[str, Any], message: str
) -> None:
    _write(schema_dir, "a.json", dataset)
    with pytest.raises(SchemaError, match=message):
        schemas.load_all()


# --- Iceberg schema and partition spec (pure functions: no catalog needed) ----------------------


@pytest.mark.parametrize("name", sorted(schemas.load_all()))
def test_iceberg_schema_has_unique_field_ids_and_day_partitioning_on_received_at(name: str) -> None:
    dataset = schemas.get(name)
    schema = catalog.iceberg_schema(dataset)
    ids = index_by_id(schema)
    lists = sum(1 for c in dataset.columns if c.type == "list<string>")
    assert len(ids) == len(dataset.columns) + lists  # one id per column and per list element
    assert [f.field_id for f in schema.fields] == list(range(1, len(dataset.columns) + 1))
    assert [f.name for f in schema.fields] == dataset.column_names

    spec = catalog.partition_spec(dataset, schema)
    (partition,) = spec.fields
    assert isinstance(partition.transform, DayTransform)
    assert partition.source_id == schema.find_field("received_at").field_id
    assert partition.name == "received_day" and partition.field_id == 1000
    assert partition.field_id not in ids


def test_iceberg_types_follow_the_schema_types() -> None:
    leads = catalog.iceberg_schema(schemas.get("leads"))
    assert leads.find_field("received_at").field_type == TimestamptzType()
    field_issues = leads.find_field("field_issues").field_type
    assert isinstance(field_issues, ListType) and field_issues.element_type == StringType()
    assert field_issues.element_id > len(schemas.get("leads").columns)
    finance = catalog.iceberg_schema(schemas.get("sales_finance"))
    assert finance.find_field("amount_financed").field_type == DecimalType(12, 2)
    assert (finance.find_field("apr").doc or "").endswith("[pii: financial]")
