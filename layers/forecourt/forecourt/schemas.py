"""Dataset schemas: load ``schemas/<dataset>.json`` and derive Arrow and Iceberg schemas from it.

The JSON files are the single source of truth for every shared dataset (ARCHITECTURE §5). They are
shipped inside the package (``forecourt/schemas_data``) by the build; in a source checkout they are
read from the repository's ``schemas/`` folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import BaseModel, Field, field_validator, model_validator

from forecourt import bundled

PiiClass = Literal["none", "quasi", "direct", "financial"]
PII_RANK: dict[str, int] = {"none": 0, "quasi": 1, "direct": 2, "financial": 3}
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
SCALAR_TYPES = {"string", "int32", "int64", "float64", "bool", "date", "timestamp", "list<string>"}


class SchemaError(ValueError):
    """A schema file breaks a rule (unknown type, weaker PII class than its inputs, …)."""


class Column(BaseModel):
    """One column of a dataset."""

    name: str
    type: str
    nullable: bool = True
    pii: PiiClass
    description: str
    normalize: str | None = None
    derived_from: list[str] = Field(default_factory=list)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in SCALAR_TYPES and not _DECIMAL.match(value):
            raise ValueError(f"unknown column type {value!r}")
        return value

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type every write uses for this column."""
        return arrow_type(self.type)


class Contract(BaseModel):
    """The minimum a record needs to belong to its dataset: all of ``required`` and one of each group."""

    required: list[str] = Field(default_factory=list)
    any_of: list[list[str]] = Field(default_factory=list)
    required_when: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    """Columns required only for some values of another: ``{"sale_value": {"event_type": ["sold"]}}``."""


class PartitionField(BaseModel):
    column: str
    transform: Literal["day", "identity"]


class Dataset(BaseModel):
    """A dataset definition as read from ``schemas/<name>.json``."""

    name: str
    version: int
    kind: Literal["curated", "operational", "derived"]
    description: str
    event_time: str
    partitioning: list[PartitionField]
    sort_order: list[str]
    contract: Contract
    columns: list[Column]

    @model_validator(mode="after")
    def _consistent(self) -> Dataset:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate column names")
        known = set(names)
        referenced = [self.event_time, *self.sort_order, *(p.column for p in self.partitioning)]
        referenced += self.contract.required + [c for g in self.contract.any_of for c in g]
        for name, conditions in self.contract.required_when.items():
            referenced += [name, *conditions]
        for col in self.columns:
            referenced += col.derived_from
        missing = sorted(set(referenced) - known)
        if missing:
            raise ValueError(f"{self.name}: references unknown columns {missing}")
        return self

    def column(self, name: str) -> Column:
        """The column called ``name``; raises KeyError when there is none."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema used for every write of this dataset (timestamps UTC, microseconds)."""
        return pa.schema(
            [pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns],
            metadata={"forecourt.dataset": self.name, "forecourt.version": str(self.version)},
        )

    def from_json(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row of this dataset that went through JSON (timestamps, dates and decimals as strings)
        with those values back in their columns' types; a timestamp without an offset is UTC."""
        typed = dict(row)
        for column in self.columns:
            value = row.get(column.name)
            if not isinstance(value, str):
                continue
            if column.type == "timestamp":
                moment = datetime.fromisoformat(value)
                typed[column.name] = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            elif column.type == "date":
                typed[column.name] = date.fromisoformat(value)
            elif column.type.startswith("decimal"):
                typed[column.name] = Decimal(value)
        return typed

    def effective_pii(self, name: str) -> str:
        """The strictest PII class among a column and everything it derives from."""
        col = self.column(name)
        ranks = [col.pii] + [self.effective_pii(src) for src in col.derived_from]
        return max(ranks, key=PII_RANK.__getitem__)


def arrow_type(type_name: str) -> pa.DataType:
    """Map a schema type name to its Arrow type."""
    simple: dict[str, pa.DataType] = {
        "string": pa.string(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "list<string>": pa.list_(pa.string()),
    }
    if type_name in simple:
        return simple[type_name]
    match = _DECIMAL.match(type_name)
    if not match:
        raise SchemaError(f"unknown column type {type_name!r}")
    return pa.decimal128(int(match.group(1)), int(match.group(2)))


def schemas_dir() -> Path:
    """Where the schema JSON files are: packaged copy first, then the repository's ``schemas/``."""
    return bundled.schemas_dir()


@cache
def load_all() -> dict[str, Dataset]:
    """Every dataset, by name; raises SchemaError when a file breaks a rule."""
    datasets: dict[str, Dataset] = {}
    for path in sorted(schemas_dir().glob("*.json")):
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        try:
            dataset = Dataset.model_validate(raw)
        except ValueError as exc:
            raise SchemaError(f"{path.name}: {exc}") from exc
        if dataset.name != path.stem:
            raise SchemaError(f"{path.name}: name {dataset.name!r} differs from the file name")
        for col in dataset.columns:
            strictest = dataset.effective_pii(col.name)
            if PII_RANK[strictest] > PII_RANK[col.pii]:
                raise SchemaError(
                    f"{path.name}: column {col.name!r} is declared pii={col.pii!r} but derives from "
                    f"data of class {strictest!r}; a derived column inherits the strictest class"
                )
        datasets[dataset.name] = dataset
    return datasets


def get(name: str) -> Dataset:
    """The dataset called ``name``; raises KeyError naming the known datasets."""
    datasets = load_all()
    if name not in datasets:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(datasets))}")
    return datasets[name]


CURATED = ("leads", "visits", "sales", "sales_finance", "campaigns", "campaign_spend", "lead_events")
OPERATIONAL = ("uploads", "quarantine", "lead_routes", "deliveries", "suppressions", "erasures")
DERIVED = (
    "persons",
    "person_links",
    "identity_splits",
    "lead_tags",
    "enriched_leads",
    "audience_members",
    "syncs",
)
