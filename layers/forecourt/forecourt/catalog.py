"""The Iceberg catalog (Glue): create and evolve tables from schemas/, commit uploads, plan scans.

Only the committer, the migration verb and the local query engine import this module: pyiceberg is
not on the ingest function's cold-start path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
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
    action: str  # created | evolved | documented (column comments updated) | unchanged
    added_columns: tuple[str, ...] = ()


def migrate(names: Iterable[str] | None = None) -> list[MigrationResult]:
    """Create missing Iceberg tables, add new columns to existing ones and bring their column comments
    (the Iceberg field docs, which pyiceberg writes as Glue column comments: the schema's meaning and
    PII class) up to date (idempotent)."""
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
        existing = {f.name: f for f in table.schema().fields}
        added = tuple(c for c in dataset.column_names if c not in existing)
        redocumented = tuple(
            c for c in dataset.column_names if c in existing and existing[c].doc != schema.find_field(c).doc
        )
        if added or redocumented:
            with table.update_schema() as update:
                if added:
                    update.union_by_name(schema)
                for column in redocumented:  # Glue column comments follow the schema's meanings
                    update.update_column(column, doc=schema.find_field(column).doc)
        action = "evolved" if added else "documented" if redocumented else "unchanged"
        results.append(MigrationResult(name, action, added))
    return results


def load(table: str) -> Table:
    """The Iceberg table ``table``; raises pyiceberg's NoSuchTableError when it does not exist."""
    return catalog().load_table(identifier(table))


def commit_uploads(
    table: str, upload_ids: list[str], files: list[str], known: Mapping[str, bool] | None = None
) -> None:
    """One atomic commit: drop the rows of these uploads, then add their new data files.

    Replaying an upload therefore replaces its rows instead of doubling them. A marker object per
    (table, upload), written *before* the commit, says "this upload may already be in the table":
    uploads without one are committed as a plain append, which does not read every manifest (the
    delete does). ``known`` says it for some uploads without markers (True: may be there; False:
    new). Callers serialize commits per table (FIFO message group on AWS, the local pump's one
    committer)."""
    known = known or {}
    unknown = [upload for upload in upload_ids if upload not in known]
    # one small request per upload, side by side: a batch of uploads costs one round trip, not twenty
    replays = [upload for upload, found in zip(unknown, marked(table, unknown), strict=True) if found]
    replays += [upload for upload in upload_ids if known.get(upload)]
    if not replays and not files:
        return  # first sight of uploads with no rows for this table: nothing to replace or add
    if files:
        mark(table, [upload for upload in unknown if upload not in replays])
    iceberg_table = load(table)
    replaced: list[Any] = []
    if replays and iceberg_table.current_snapshot() is not None:
        # copy-on-write by the lake's writer, not pyiceberg's delete: a compacted file holds the rows
        # of many uploads, and pyiceberg would rewrite it with statistics of every column (personal
        # data in the manifests) and needs its Rust core for the day transform
        conditions: list[dict[str, list[Any]]] = [{"upload_id": list(replays)}]
        writer_id = f"replay-{lake.stable_hash(*sorted(replays))}"
        replaced, rewritten, _ = _rewritten_without(
            iceberg_table, table, conditions, erase_filter(conditions), writer_id
        )
        files = [*rewritten, *files]
    if replaced:
        replace_files(
            iceberg_table, replaced, files, {"forecourt.replayed": ",".join(sorted(replays))[:1000]}
        )
    elif files:
        with iceberg_table.transaction() as tx:
            tx.add_files(files, check_duplicate_files=False)


def _marker_key(table: str, upload: str) -> str:
    return f"manifests/commits/{table}/{upload}"


def _marked(table: str, upload: str) -> bool:
    s3 = aws.client("s3")
    try:
        s3.head_object(Bucket=settings().lake_bucket, Key=_marker_key(table, upload))
    except s3.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in aws.MISSING_OBJECT:
            return False
        raise
    return True


def marked(table: str, uploads: list[str]) -> list[bool]:
    """Whether each upload's marker exists (side by side)."""
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(uploads)))) as pool:
        return list(pool.map(lambda upload: _marked(table, upload), uploads))


def mark(table: str, uploads: list[str]) -> None:
    """Write each upload's marker ("may be in the table"), side by side."""
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(uploads)))) as pool:
        list(pool.map(lambda upload: _mark(table, upload), uploads))


def _mark(table: str, upload: str) -> None:
    aws.client("s3").put_object(Bucket=settings().lake_bucket, Key=_marker_key(table, upload), Body=b"")


def erase_filter(conditions: list[dict[str, list[Any]]]) -> Any:
    """The pyiceberg row filter of an erasure: rows matching any condition (column → values, every
    column of a condition must match)."""
    from pyiceberg.expressions import AlwaysFalse, And, In, Or

    def condition(columns: dict[str, list[Any]]) -> Any:
        terms: list[Any] = [In(column, set(values)) for column, values in sorted(columns.items())]  # type: ignore[call-arg,arg-type]
        return And(*terms) if len(terms) > 1 else terms[0]

    parts = [condition(c) for c in conditions if c and all(c.values())]
    if not parts:
        return AlwaysFalse()
    return Or(*parts) if len(parts) > 1 else parts[0]


def erase_rows(table: str, conditions: list[dict[str, list[Any]]], erasure_id: str) -> int:
    """Delete the rows of ``table`` matching ``conditions`` (``erase_filter``) copy-on-write: each
    data file holding one is rewritten without it (by the lake's own writer: zstd, statistics only
    for columns without personal data) in one overwrite commit; then every snapshot older than that
    is expired and the data files only they held are deleted, so that neither the table nor its time
    travel can show the rows again. Returns the rows deleted. Callers serialize it with the table's
    other commits (the commit queue)."""
    from pyiceberg.expressions import AlwaysFalse

    row_filter = erase_filter(conditions)
    iceberg_table = load(table)
    deleted = 0
    if row_filter != AlwaysFalse() and iceberg_table.current_snapshot() is not None:
        deleted = _rewrite_without(iceberg_table, table, conditions, row_filter, erasure_id)
    expire_history(table)
    _mark(table, erasure_id)
    return deleted


def _matching(rows: Any, conditions: list[dict[str, list[Any]]]) -> Any:
    """Boolean mask of the ``rows`` matching any condition (null never matches)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.repeat(pa.scalar(False), rows.num_rows)
    for condition in conditions:
        hit = pa.repeat(pa.scalar(True), rows.num_rows)
        for column, values in condition.items():
            if column not in rows.column_names:
                hit = pa.repeat(pa.scalar(False), rows.num_rows)
                break
            listed = pa.array(values, rows.schema.field(column).type)
            hit = pc.and_(hit, pc.fill_null(pc.is_in(rows[column], value_set=listed), False))
        mask = pc.or_(mask, hit)
    return mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask


def _rewrite_without(
    iceberg_table: Table, table: str, conditions: list[dict[str, list[Any]]], row_filter: Any, erasure_id: str
) -> int:
    """Rewrite the data files with matching rows without them, in one overwrite commit."""
    replaced, written, deleted = _rewritten_without(iceberg_table, table, conditions, row_filter, erasure_id)
    if replaced:
        replace_files(iceberg_table, replaced, written, {"forecourt.erasure": erasure_id})
    return deleted


def _rewritten_without(
    iceberg_table: Table, table: str, conditions: list[dict[str, list[Any]]], row_filter: Any, writer_id: str
) -> tuple[list[Any], list[str], int]:
    """The data files holding rows that match ``conditions``, the files written with the rest of their
    rows (by the lake's writer, named ``writer_id``-…), and the rows matching; nothing committed. A
    file whose rows all match is only read for the columns of the conditions."""
    from datetime import date, timedelta

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    conf = settings()
    dataset = schemas.get(table)
    schema = dataset.arrow_schema()
    fs = aws.s3_filesystem()
    wanted = sorted({column for condition in conditions for column in condition})
    replaced, written, deleted = [], [], 0
    for task in iceberg_table.scan(row_filter=row_filter).plan_files():
        parquet = pq.ParquetFile(task.file.file_path.removeprefix("s3://"), filesystem=fs)
        present = [c for c in wanted if c in parquet.schema_arrow.names]
        mask = _matching(parquet.read(columns=present), conditions)
        hits = int(pc.sum(mask).as_py() or 0)
        if not hits:
            continue
        deleted += hits
        replaced.append(task.file)
        if hits == len(mask):
            continue
        rows = parquet.read()
        for name in dataset.column_names:  # a file from before a column was added
            if name not in rows.column_names:
                rows = rows.append_column(name, pa.nulls(rows.num_rows, schema.field(name).type))
        days = task.file.partition[0] if len(task.file.partition) else None
        day = date(1970, 1, 1) + timedelta(days=int(days)) if isinstance(days, int) else date(1970, 1, 1)
        writer = lake.DataFileWriter(fs, conf.lake_bucket, table, schema, writer_id, day)
        writer.row_group_rows, writer.file_rows = conf.row_group_rows, conf.file_rows
        writer.write(rows.select(dataset.column_names).cast(schema), keep=pc.invert(mask))
        written += [f"s3://{path}" for path in writer.close()]
    return replaced, written, deleted


def replace_files(
    iceberg_table: Table, replaced: list[Any], written: list[str], properties: dict[str, str]
) -> None:
    """One overwrite commit that removes the data files ``replaced`` (pyiceberg DataFiles of the current
    snapshot) and adds the Parquet files ``written`` (s3:// URIs), with ``properties`` in the snapshot
    summary: how erasure and compaction rewrite files. Raises pyiceberg's ValidationException, changing
    nothing, when a file to remove is no longer in the table."""
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    with (
        iceberg_table.transaction() as tx,
        tx.update_snapshot(snapshot_properties=properties).overwrite() as overwrite,
    ):
        for data_file in replaced:
            overwrite.delete_data_file(data_file)
        for path in written:
            overwrite.append_data_file(parquet_file_to_data_file(tx._table.io, tx.table_metadata, path))


def expire_history(table: str, older_than: datetime | None = None) -> int:
    """Expire every snapshot but the current one (with ``older_than``: only those committed before
    it) and delete the data files no longer referenced (those referenced only by the expired
    snapshots: files written but not yet committed are never touched). Returns the data files
    deleted."""
    iceberg_table = load(table)
    current = iceberg_table.current_snapshot()
    cutoff_ms = None if older_than is None else older_than.timestamp() * 1000
    old: list[Any] = []
    kept: list[Any] = [current] if current is not None else []
    for snapshot in iceberg_table.snapshots():
        if current is not None and snapshot.snapshot_id == current.snapshot_id:
            continue
        (old if cutoff_ms is None or snapshot.timestamp_ms < cutoff_ms else kept).append(snapshot)
    if not old:
        return 0
    io = iceberg_table.io
    files_of = _files_of_snapshots(iceberg_table)
    live = set().union(*(files_of(s) for s in kept))
    stale = set().union(*(files_of(s) for s in old)) - live
    iceberg_table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in old]).commit()
    for path in sorted(stale):  # every version: the lake bucket is versioned
        bucket, _, key = path.removeprefix("s3://").partition("/")
        io.delete(path)
        lake.delete_versions(bucket, key, keep=None)
    return len(stale)


def _files_of_snapshots(iceberg_table: Any) -> Callable[[Any], set[str]]:
    """A function: a snapshot → the data files it references (each manifest read once)."""
    io = iceberg_table.io
    seen_manifests: dict[str, set[str]] = {}

    def files_of(snapshot: Any) -> set[str]:
        found: set[str] = set()
        for manifest in snapshot.manifests(io):
            if manifest.manifest_path not in seen_manifests:
                entries = manifest.fetch_manifest_entry(io, discard_deleted=True)
                seen_manifests[manifest.manifest_path] = {e.data_file.file_path for e in entries}
            found |= seen_manifests[manifest.manifest_path]
        return found

    return files_of


ORPHANS_PER_SWEEP = 1000
"""Orphans one sweep deletes at most (the committer has 120 s; the next day's run deletes more)."""


def remove_orphans(table: str, older_than: datetime) -> list[str]:
    """Delete (every version) the data files under the table's ``data/`` written before
    ``older_than`` that no snapshot references: files of attempts that never committed (an
    invocation killed between writing and committing, a commit request that was given up on).
    ``older_than`` must lie before the oldest commit request that can still arrive (the dead-letter
    queue keeps one 14 days after up to 4 in the queue): a file younger than that may still be
    committed. At most ``ORPHANS_PER_SWEEP`` files a call; returns the s3:// URIs deleted."""
    iceberg_table = load(table)
    files_of = _files_of_snapshots(iceberg_table)
    referenced = set().union(*(files_of(s) for s in iceberg_table.snapshots()))
    bucket, _, prefix = f"{iceberg_table.location().removeprefix('s3://').rstrip('/')}/data/".partition("/")
    s3 = aws.client("s3")
    orphans = [
        f"s3://{bucket}/{item['Key']}"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if item["LastModified"] < older_than and f"s3://{bucket}/{item['Key']}" not in referenced
    ][:ORPHANS_PER_SWEEP]
    for path in orphans:
        key = path.removeprefix(f"s3://{bucket}/")
        s3.delete_object(Bucket=bucket, Key=key)
        lake.delete_versions(bucket, key, keep=None)
    return orphans


def erased(table: str, conditions: list[dict[str, list[Any]]], erasure_id: str) -> bool:
    """True when the erasure ``erasure_id`` was applied to ``table`` (its marker is written after the
    snapshots were expired) and no row matches ``conditions`` now."""
    from pyiceberg.expressions import AlwaysFalse

    if not _marked(table, erasure_id):
        return False
    row_filter = erase_filter(conditions)
    if row_filter == AlwaysFalse():
        return True
    columns = tuple(sorted({column for c in conditions for column in c}))
    return load(table).scan(row_filter=row_filter, selected_fields=columns).to_arrow().num_rows == 0
