"""What an Athena query would scan and cost (``forecourt query --explain``; issue 7 "cheap to query").

Athena bills the bytes it reads from S3: $5 per TB, each query rounded up to the next megabyte with
a 10 MB minimum. From Parquet it reads only the column chunks of the columns a query touches, and
skips the row groups whose min/max statistics rule out a filter. So the estimate is:

1. parse the statement (sqlglot, Trino dialect), expand ``*`` and qualify every column against
   schemas/, and collect per table the columns read anywhere in the query (select list, joins,
   filters, grouping, ordering; through CTEs and subqueries) and the simple filters on that table's
   own rows: ``col op literal`` (=, <>, <, <=, >, >=), ``BETWEEN``, ``IN`` joined by AND;
2. read the footers of the table's current data files (pyiceberg plans them) and add up, per row
   group the filters cannot rule out, the compressed size of the touched columns' chunks.

Columns with personal data carry no statistics (``lake``), so filters on them prune nothing, as in
Athena. An estimate, not a promise: Athena also reads footers and may read dictionary pages it
could skip; a query reading no column at all (``count(*)``) is estimated at 0 bytes, billed 10 MB.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from forecourt import schemas
from forecourt.config import settings

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from pyarrow.fs import FileSystem

PRICE_PER_TB = 5.0
TB = 2**40
MB = 2**20
MINIMUM_BYTES = 10 * MB
"""Athena bills at least 10 MB per query."""


def billed_bytes(scanned: int) -> int:
    """What Athena bills for ``scanned`` bytes: rounded up to the megabyte, at least 10 MB."""
    return max(MINIMUM_BYTES, math.ceil(scanned / MB) * MB)


def cost_usd(scanned: int) -> float:
    """Athena's price of a query scanning ``scanned`` bytes ($5 per TB of ``billed_bytes``)."""
    return billed_bytes(scanned) / TB * PRICE_PER_TB


@dataclass(frozen=True)
class Filter:
    """A simple predicate on a table's column: ``op`` is =, <>, <, <=, >, >=, between or in."""

    column: str
    op: str
    values: tuple[Any, ...]

    def __str__(self) -> str:
        return f"{self.column} {self.op} {', '.join(map(str, self.values))}"


@dataclass
class TableScan:
    """What the query reads of one table."""

    table: str
    columns: list[str]
    filters: list[Filter]
    files: int = 0
    files_scanned: int = 0
    row_groups: int = 0
    row_groups_scanned: int = 0
    bytes_scanned: int = 0
    bytes_in_table: int = 0
    """Compressed bytes of every column chunk of every current data file."""


@dataclass
class ScanEstimate:
    """The estimate for one statement."""

    tables: list[TableScan] = field(default_factory=list)

    @property
    def bytes_scanned(self) -> int:
        return sum(t.bytes_scanned for t in self.tables)

    @property
    def billed_bytes(self) -> int:
        return billed_bytes(self.bytes_scanned)

    @property
    def cost_usd(self) -> float:
        return cost_usd(self.bytes_scanned)


# --- what the query touches ------------------------------------------------------------------


def view_definitions(folder: Path | None = None) -> dict[str, str]:
    """View name → its SELECT, from the ``.sql`` files of ``queries/views/`` (``folder``): a file
    holds ``CREATE [OR REPLACE] VIEW name AS SELECT …`` or a bare query named by the file."""
    from forecourt import bundled

    folder = folder if folder is not None else bundled.queries_dir() / "views"
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
        tree = sqlglot.parse_one(path.read_text(), read="trino")
        if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
            found[tree.this.name.lower() if isinstance(tree.this, exp.Table) else path.stem] = (
                tree.expression.sql(dialect="trino")
            )
        elif isinstance(tree, exp.Query):
            found[path.stem.lower()] = tree.sql(dialect="trino")
    return found


def _inline_views(tree: exp.Expr, views: Mapping[str, str], database: str) -> exp.Expr:
    """``tree`` with every reference to a view replaced by the view's query (views of views too):
    Athena scans the tables under a view."""
    for _ in range(8):
        refs = [
            ref
            for ref in tree.find_all(exp.Table)
            if ref.name.lower() in views and ref.db.lower() in ("", database)
        ]
        if not refs:
            break
        for ref in refs:
            query = sqlglot.parse_one(views[ref.name.lower()], read="trino")
            ref.replace(
                exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(ref.alias_or_name)))
            )
    return tree


def touched(sql: str, views: Mapping[str, str] | None = None) -> dict[str, tuple[list[str], list[Filter]]]:
    """Per table read: the columns read and the simple filters on its rows; ``views`` (name → query)
    are read through to their tables. Raises analytics.QueryError for a statement ``forecourt
    query`` would refuse."""
    from sqlglot.optimizer.pushdown_predicates import pushdown_predicates
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope

    from forecourt import analytics

    analytics.referenced_tables(sql)  # the same checks as a query: one read-only statement
    datasets = schemas.load_all()
    tree = sqlglot.parse_one(sql, read="trino")
    database = settings().glue_database.lower()
    tree = _inline_views(tree, views or {}, database)
    for ref in tree.find_all(exp.Table):  # forecourt.leads and awsdatacatalog.forecourt.leads
        if ref.db.lower() == database:
            ref.set("db", None)
            ref.set("catalog", None)
    mapping: dict[str, object] = {n: {c.name: "VARCHAR" for c in d.columns} for n, d in datasets.items()}
    tree = qualify(tree, schema=mapping, dialect="trino", validate_qualify_columns=False)
    tree = pushdown_projections(tree)  # what a CTE selects but nobody reads is not read
    tree = pushdown_predicates(tree)  # a filter on a view or CTE reaches the table's scan, as in Trino
    columns: dict[str, set[str]] = defaultdict(set)
    filters: dict[str, list[Filter]] = defaultdict(list)
    reads: dict[str, int] = defaultdict(int)
    for scope in traverse_scope(tree):
        tables = {
            alias: source.name.lower()
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table) and source.name.lower() in datasets
        }
        for table in tables.values():
            columns.setdefault(table, set())
            reads[table] += 1
        for column in scope.columns:
            if column.table in tables:
                columns[tables[column.table]].add(column.name)
        for alias, rule in _scope_filters(scope.expression):
            if alias in tables:
                filters[tables[alias]].append(rule)
    # a table read more than once (UNION, self-join, a CTE read twice) is pruned by none of its
    # readers' filters: each filter holds for one read only, so together they would rule out too much
    return {
        table: (
            [c for c in datasets[table].column_names if c in used],
            filters.get(table, []) if reads[table] == 1 else [],
        )
        for table, used in columns.items()
    }


def _scope_filters(select: exp.Expr) -> list[tuple[str, Filter]]:
    """``(table alias, Filter)`` of the simple conjuncts of a SELECT's WHERE, and of its joins' ON
    on the joined table (not of a RIGHT or FULL join, which keeps that table's other rows)."""
    if not isinstance(select, exp.Select):
        return []
    where = select.args.get("where")
    found: list[tuple[str | None, exp.Expr]] = [(None, where.this)] if where is not None else []
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if on is not None and join.side.upper() not in ("RIGHT", "FULL") and isinstance(join.this, exp.Table):
            found.append((join.this.alias_or_name, on))
    rules = []
    for only, condition in found:
        for conjunct in condition.flatten() if isinstance(condition, exp.And) else [condition]:
            rule = _filter(conjunct)
            if rule is not None and (only is None or rule[0] == only):
                rules.append(rule)
    return rules


_COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: "=",
    exp.NEQ: "<>",
    exp.GT: ">",
    exp.GTE: ">=",
    exp.LT: "<",
    exp.LTE: "<=",
}
_FLIPPED = {"=": "=", "<>": "<>", ">": "<", ">=": "<=", "<": ">", "<=": ">="}


def _filter(node: exp.Expr) -> tuple[str, Filter] | None:
    """``(table alias, Filter)`` of a predicate of the form column op literal(s), else None."""
    if isinstance(node, tuple(_COMPARISONS)):
        op = _COMPARISONS[type(node)]
        left, right = node.this, node.expression
        if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
            left, right, op = right, left, _FLIPPED[op]
        value = _literal(right)
        if isinstance(left, exp.Column) and value is not None:
            return left.table, Filter(left.name, op, (value,))
    if isinstance(node, exp.Between) and isinstance(node.this, exp.Column):
        low, high = _literal(node.args["low"]), _literal(node.args["high"])
        if low is not None and high is not None:
            return node.this.table, Filter(node.this.name, "between", (low, high))
    if isinstance(node, exp.In) and isinstance(node.this, exp.Column) and node.expressions:
        values = [_literal(v) for v in node.expressions]
        if all(v is not None for v in values):
            return node.this.table, Filter(node.this.name, "in", tuple(values))
    return None


def _literal(node: exp.Expr) -> Any:
    """The Python value of a literal (``'x'``, ``42``, ``DATE '…'``, ``TIMESTAMP '…'``), else None."""
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        text = node.this.this
        if node.to.this == exp.DataType.Type.DATE:
            return date.fromisoformat(text)
        if node.to.is_type(*exp.DataType.TEMPORAL_TYPES):
            moment = datetime.fromisoformat(text.replace(" UTC", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return None
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        return Decimal(node.this)
    return None


# --- what the files hold -----------------------------------------------------------------------


def _comparable(value: Any, like: Any) -> Any:
    """``value`` (a query literal) as the type of ``like`` (a statistic), or None when not comparable."""
    if isinstance(like, datetime):
        like_tz = like.tzinfo or UTC
        if isinstance(value, datetime):
            return value.astimezone(like_tz) if like.tzinfo else value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, date):
            moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
            return moment if like.tzinfo else moment.replace(tzinfo=None)
        if isinstance(value, str):
            return _comparable(_literal(exp.cast(exp.Literal.string(value), "timestamp")), like)
        return None
    if isinstance(like, date):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str):
            return date.fromisoformat(value[:10])
        return value if isinstance(value, date) else None
    if isinstance(like, (int, float, Decimal)) and isinstance(value, Decimal):
        return value
    return value if isinstance(value, str) and isinstance(like, str) else None


_RULES_OUT: dict[str, Callable[[Any, Any, tuple[Any, ...]], bool]] = {
    "=": lambda lo, hi, v: v[0] < lo or v[0] > hi,
    "<>": lambda lo, hi, v: lo == hi == v[0],
    ">": lambda lo, hi, v: hi <= v[0],
    ">=": lambda lo, hi, v: hi < v[0],
    "<": lambda lo, hi, v: lo >= v[0],
    "<=": lambda lo, hi, v: lo > v[0],
    "between": lambda lo, hi, v: hi < v[0] or lo > v[1],
    "in": lambda lo, hi, v: all(x < lo or x > hi for x in v),
}


def _ruled_out(row_group: pq.RowGroupMetaData, positions: Mapping[str, int], rule: Filter) -> bool:
    """True when the row group's statistics show that no row satisfies ``rule``."""
    position = positions.get(rule.column)
    if position is None:
        return False
    stats = row_group.column(position).statistics
    if stats is None or not stats.has_min_max:
        return False
    low, high = stats.min, stats.max
    values = tuple(_comparable(v, low) for v in rule.values)
    if any(v is None for v in values):
        return False
    try:
        return bool(_RULES_OUT[rule.op](low, high, values))
    except TypeError:  # a literal of another type than the column: no pruning
        return False


def _scan_file(metadata: pq.FileMetaData, scan: TableScan) -> None:
    """Add one data file's row groups to ``scan``."""
    wanted = set(scan.columns)
    positions: dict[str, int] = {}
    for i in range(metadata.num_columns):
        positions.setdefault(metadata.schema.column(i).path.split(".")[0], i)
    scanned_any = False
    for g in range(metadata.num_row_groups):
        row_group = metadata.row_group(g)
        chunks = [row_group.column(i) for i in range(row_group.num_columns)]
        scan.row_groups += 1
        scan.bytes_in_table += sum(c.total_compressed_size for c in chunks)
        if any(_ruled_out(row_group, positions, rule) for rule in scan.filters):
            continue
        scan.row_groups_scanned += 1
        scanned_any = True
        scan.bytes_scanned += sum(
            c.total_compressed_size for c in chunks if c.path_in_schema.split(".")[0] in wanted
        )
    scan.files += 1
    scan.files_scanned += int(scanned_any)


def _current_files(table: str) -> list[str]:
    from forecourt import catalog

    return [task.file.file_path.removeprefix("s3://") for task in catalog.load(table).scan().plan_files()]


def estimate(
    sql: str,
    files: Mapping[str, Sequence[str]] | None = None,
    filesystem: FileSystem | None = None,
    views: Mapping[str, str] | None = None,
) -> ScanEstimate:
    """Estimate the bytes Athena would scan for ``sql`` and its cost. ``files``: table → Parquet
    paths on ``filesystem`` (default: each table's current data files in the lake); ``views``: view
    name → query (default: ``view_definitions()``). Raises analytics.QueryError for a statement
    ``forecourt query`` would refuse."""
    import pyarrow.parquet as pq

    from forecourt import aws

    fs = filesystem if filesystem is not None else aws.s3_filesystem()
    result = ScanEstimate()
    known_views = view_definitions() if views is None else views
    for table, (columns, filters) in touched(sql, known_views).items():
        scan = TableScan(table, columns, filters)
        paths = list(files.get(table, [])) if files is not None else _current_files(table)
        with ThreadPoolExecutor(max_workers=16) as pool:
            for metadata in pool.map(lambda path: pq.read_metadata(path, filesystem=fs), paths):
                _scan_file(metadata, scan)
        result.tables.append(scan)
    return result


def as_rows(found: ScanEstimate) -> list[dict[str, Any]]:
    """The estimate as printable rows: one per table, then the total."""
    rows: list[dict[str, Any]] = [
        {
            "table": t.table,
            "columns": len(t.columns),
            "filters": "; ".join(map(str, t.filters)),
            "files": f"{t.files_scanned}/{t.files}",
            "row groups": f"{t.row_groups_scanned}/{t.row_groups}",
            "bytes scanned": t.bytes_scanned,
            "of table bytes": t.bytes_in_table,
        }
        for t in found.tables
    ]
    rows.append(
        {
            "table": "total",
            "bytes scanned": found.bytes_scanned,
            "billed bytes": found.billed_bytes,
            "cost usd": f"{found.cost_usd:.8f}",
        }
    )
    return rows
