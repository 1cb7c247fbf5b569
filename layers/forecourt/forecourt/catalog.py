"""The Iceberg catalog (Glue): create and evolve tables from schemas/, commit uploads, plan scans.

Only the committer, the migration verb and the local query engine import this module: pyiceberg is
not on the ingest function's cold-start path.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from forecourt import aws, lake, schemas
from forecourt.config import settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table
    from pyiceberg.types import IcebergType


def _is_deliberately_unmeasured(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("PyArrow statistics missing for column")


# Data files carry min/max statistics only for columns without personal data (``lake``): pyiceberg
# would otherwise warn about every other column of every file it commits.
logging.getLogger("pyiceberg.io.pyarrow").addFilter(_is_deliberately_unmeasured)


@cache
def catalog() -> Catalog:
    """The Glue catalog through pyiceberg (endpoint from AWS_ENDPOINT_URL when set, e.g. locally)."""
    from pyiceberg.catalog import load_catalog

    conf = settings()
    props = {
        "type": "glue",
        "glue.region": conf.region,
        "s3.region": conf.region,
        "py-io-impl": "forecourt.iceberg_io.LakeFileIO",
    }
    if conf.endpoint_url:
        props |= {"glue.endpoint": conf.endpoint_url, "s3.endpoint": conf.endpoint_url}
    return load_catalog("glue", **props)


def identifier(table: str) -> str:
    return f"{settings().glue_database}.{table}"


def _iceberg_type(type_name: str, next_id: list[int]) -> IcebergType:
    from pyiceberg import types as t

    simple = {
        "string": t.StringType(),
        "int32": t.IntegerType(),
        "int64": t.LongType(),
        "float64": t.DoubleType(),
        "bool": t.BooleanType(),
        "date": t.DateType(),
        "timestamp": t.TimestamptzType(),
    }
    if type_name in simple:
        return simple[type_name]
    if type_name == "list<string>":
        next_id[0] += 1
        return t.ListType(element_id=next_id[0], element_type=t.StringType(), element_required=False)
    arrow = schemas.arrow_type(type_name)
    return t.DecimalType(arrow.precision, arrow.scale)


def iceberg_schema(dataset: schemas.Dataset) -> Schema:
    """The Iceberg schema of a dataset: field ids by column order (columns are only ever appended)."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField

    count = len(dataset.columns)
    next_id = [count]
    fields = [
        NestedField(
            field_id=i + 1,
            name=col.name,
            field_type=_iceberg_type(col.type, next_id),
            required=False,
            doc=f"{col.description} [pii: {dataset.effective_pii(col.name)}]",
        )
        for i, col in enumerate(dataset.columns)
    ]
    return Schema(*fields)


def partition_spec(dataset: schemas.Dataset, schema: Schema) -> PartitionSpec:
    """Hidden partitioning from the dataset's ``partitioning`` (day of ``received_at``)."""
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import DayTransform, IdentityTransform

    fields = []
    for i, part in enumerate(dataset.partitioning):
        source = schema.find_field(part.column)
        transform: Any = DayTransform() if part.transform == "day" else IdentityTransform()
        name = f"{part.column.removesuffix('_at')}_day" if part.transform == "day" else part.column
        fields.append(
            PartitionField(source_id=source.field_id, field_id=1000 + i, transform=transform, name=name)
        )
    return PartitionSpec(*fields)


@dataclass(frozen=True)
class MigrationResult:
    table: str
    action: str  # created | evolved | unchanged
    added_columns: tuple[str, ...] = ()


def migrate(names: Iterable[str] | None = None) -> list[MigrationResult]:
    """Create missing Iceberg tables and add new columns to existing ones (idempotent)."""
    from pyiceberg.exceptions import NoSuchTableError

    cat = catalog()
    conf = settings()
    results = []
    for name in names or sorted(schemas.load_all()):
        dataset = schemas.get(name)
        schema = iceberg_schema(dataset)
        try:
            table = cat.load_table(identifier(name))
        except NoSuchTableError:
            cat.create_table(
                identifier(name),
                schema=schema,
                partition_spec=partition_spec(dataset, schema),
                location=lake.table_location(conf.lake_bucket, name),
                properties={
                    "write.parquet.compression-codec": "zstd",
                    "forecourt.schema-version": str(dataset.version),
                    "comment": dataset.description,
                },
            )
            results.append(MigrationResult(name, "created"))
            continue
        existing = {f.name for f in table.schema().fields}
        added = tuple(c for c in dataset.column_names if c not in existing)
        if added:
            with table.update_schema() as update:
                update.union_by_name(schema)
        results.append(MigrationResult(name, "evolved" if added else "unchanged", added))
    return results


def load(table: str) -> Table:
    """The Iceberg table ``table``; raises pyiceberg's NoSuchTableError when it does not exist."""
    return catalog().load_table(identifier(table))


def commit_uploads(table: str, upload_ids: list[str], files: list[str]) -> None:
    """One atomic commit: drop the rows of these uploads, then add their new data files.

    Replaying an upload therefore replaces its rows instead of doubling them. A marker object per
    (table, upload), written *before* the commit, says "this upload may already be in the table":
    uploads without one are committed as a plain append, which does not read every manifest (the
    delete does). Callers serialize commits per table (FIFO message group on AWS, the local pump's
    one committer)."""
    from pyiceberg.expressions import In

    # one small request per upload, side by side: a batch of uploads costs one round trip, not twenty
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(upload_ids)))) as pool:
        seen = list(pool.map(lambda upload: _marked(table, upload), upload_ids))
        replays = [upload for upload, marked in zip(upload_ids, seen, strict=True) if marked]
        if not replays and not files:
            return  # first sight of uploads with no rows for this table: nothing to replace or add
        if files:
            list(pool.map(lambda upload: _mark(table, upload), [u for u in upload_ids if u not in replays]))
    iceberg_table = load(table)
    with iceberg_table.transaction() as tx, warnings.catch_warnings():
        # a replay whose earlier attempt never reached the table has nothing to delete: pyiceberg warns
        warnings.filterwarnings("ignore", message="Delete operation did not match any records")
        if replays:
            tx.delete(In("upload_id", set(replays)))  # type: ignore[call-arg,arg-type]
        if files:
            tx.add_files(files, check_duplicate_files=False)


def _marker_key(table: str, upload: str) -> str:
    return f"manifests/commits/{table}/{upload}"


def _marked(table: str, upload: str) -> bool:
    s3 = aws.client("s3")
    try:
        s3.head_object(Bucket=settings().lake_bucket, Key=_marker_key(table, upload))
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _mark(table: str, upload: str) -> None:
    aws.client("s3").put_object(Bucket=settings().lake_bucket, Key=_marker_key(table, upload), Body=b"")
