"""Athena (Trino) SQL on DuckDB over the lake's Iceberg tables (ARCHITECTURE §7, §8: ``forecourt query``).

The analyst writes Athena SQL; sqlglot translates it to DuckDB (``read="trino"``, ``write="duckdb"``)
plus the few rewrites below; pyiceberg plans each referenced table's scan and its current data files
are opened lazily as one pyarrow dataset through the lake's S3 filesystem (no DuckDB extension is
downloaded). Each table is visible as ``leads``, ``forecourt.leads`` and ``"forecourt"."leads"``
(``forecourt`` being ``settings().glue_database``), as in Athena.

The analysts' views (``queries/views``, ``forecourt.views``) are there too, by name, as on Athena:
each view a query reads (and each view those read) is created on the connection from its Trino SQL
with the configured view settings, translated like a query.

Read-only by construction: only SELECT / WITH / VALUES / SHOW / DESCRIBE statements are accepted,
and the DuckDB connection has external access disabled and its configuration locked before the
query runs, so a query cannot read or write local files or install extensions.

Rewrites on top of sqlglot (each mirrors Athena's behaviour):
- ``at_timezone(ts, zone)`` → ``ts AT TIME ZONE zone`` (DuckDB has no ``at_timezone``).
- Unnamed output expressions are named ``_col0``, ``_col1``… by position, as Trino names them.
- The ``awsdatacatalog`` catalog prefix (``awsdatacatalog.forecourt.leads``) is dropped.
- DuckDB returns ``count_if`` / ``sum`` of integers as HUGEINT (Arrow decimal(38,0)); results are cast
  back to bigint, Trino's type, when the values fit.
- ``SHOW TABLES [FROM db] [LIKE 'p']`` and ``SHOW COLUMNS FROM t`` are answered from the catalog.

Known differences that remain: ``date_add`` / ``date_trunc`` of a DATE return a timestamp at midnight
(Trino: a date); ``ts AT TIME ZONE 'Zone'`` gives the zone's wall-clock time without an offset.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import sqlglot
from sqlglot import exp

from forecourt import schemas, views
from forecourt.config import settings

if TYPE_CHECKING:
    import duckdb

TableSource: TypeAlias = pa.Table | ds.Dataset
"""Where a table's rows come from: an Arrow table or a (lazy) pyarrow dataset."""

ATHENA_CATALOG = "awsdatacatalog"
_ALLOWED = (exp.Query, exp.Values, exp.Describe)
_SHOW_TABLES = re.compile(
    r"^\s*show\s+tables(?:\s+(?:from|in)\s+\"?(?P<db>\w+)\"?)?(?:\s+like\s+'(?P<like>[^']*)')?\s*;?\s*$",
    re.IGNORECASE,
)
_SHOW_COLUMNS = re.compile(r"^\s*show\s+columns\s+(?:from|in)\s+(?P<table>[\w\".]+)\s*;?\s*$", re.IGNORECASE)
_MISSING_COLUMN = re.compile(r'Referenced column "(?P<column>[^"]+)" not found in FROM clause!')
_MISSING_QUALIFIED = re.compile(r'"(?P<alias>[^"]+)" does not have a column named "(?P<column>[^"]+)"')
_CANDIDATES = re.compile(r"Candidate bindings: (?P<names>.+)")


class QueryError(Exception):
    """An analyst's query cannot run: the message names the unknown table or column, or the SQL problem."""


@dataclass
class QueryResult:
    """What a query returned: column names, rows as tuples, and the DuckDB SQL that ran."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    duckdb_sql: str
    truncated: bool = False
    """True when ``max_rows`` cut the result short."""
    _arrow: pa.Table | None = field(default=None, repr=False, compare=False)

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table (with the types DuckDB returned)."""
        if self._arrow is not None:
            return self._arrow
        return pa.Table.from_pylist([dict(zip(self.columns, row, strict=True)) for row in self.rows])


def translate(sql: str) -> str:
    """Translate one Athena (Trino) statement to DuckDB SQL.

    Raises QueryError on a syntax error (with sqlglot's line and column), on more than one statement,
    and on a statement that is not read-only.
    """
    return _duckdb_sql(_parse(sql))


def referenced_tables(sql: str) -> list[tuple[str | None, str]]:
    """The tables a statement reads, each once, as ``(database or None, table)`` in lower case; names
    of common table expressions are excluded. Raises QueryError like ``translate``."""
    return list(dict.fromkeys((db, name) for db, name, _ in _table_refs(_parse(sql))))


def run_query(
    sql: str,
    tables: Mapping[str, TableSource] | None = None,
    *,
    max_rows: int | None = None,
    view_settings: Mapping[str, float] | None = None,
) -> QueryResult:
    """Run one Athena (Trino) statement on DuckDB and return its rows (at most ``max_rows``).

    ``tables`` maps table names to their data; by default every dataset of ``schemas/`` is a table
    whose current data files pyiceberg plans. Every view of ``queries/views`` whose name is not a
    table is there too, with ``view_settings`` (default: ``Settings.view_settings``). Raises
    QueryError for a syntax error, a statement that is not read-only, an unknown database, table or
    column, a view setting no view has, or any error DuckDB reports.
    """
    import duckdb

    tree = _parse(sql)
    known = _known_sources(tables, schema_only=_reads_no_rows(tree))
    catalog_views = _queryable_views(known)
    overrides = _view_settings(view_settings, views.load_all().values())
    if tree.meta.get("show_tables"):
        wanted = sorted(known) + sorted(catalog_views)
    else:
        wanted = _check_tables(tree, {**known, **catalog_views})
    needed = set().union(*(_base_tables(name, catalog_views) for name in wanted)) if wanted else set()
    chosen = [v for v in views.ordered(catalog_views) if v.name in needed]
    view_sql = {v.name: _translated_view(views.configured_sql(v, overrides)) for v in chosen}
    duckdb_sql = _duckdb_sql(tree)
    with _connection({name: known[name]() for name in sorted(needed) if name in known}, view_sql) as con:
        try:
            arrow, truncated = _read(con.sql(duckdb_sql).to_arrow_reader(), max_rows)
        except duckdb.Error as exc:
            raise _query_error(exc, tree) from exc
    arrow = _bigint_counts(arrow)
    rows = list(zip(*(column.to_pylist() for column in arrow.columns), strict=True))
    return QueryResult(arrow.column_names, rows, duckdb_sql, truncated, arrow)


@lru_cache(maxsize=256)
def _translated_view(trino_sql: str) -> str:
    """A view's DuckDB SQL (translated once per SQL text: views are long)."""
    return _duckdb_sql(_parse(trino_sql))


def _queryable_views(known: Mapping[str, object]) -> dict[str, views.View]:
    """The views of ``queries/views`` not shadowed by a table and whose tables are all ``known``."""
    candidates = {name: v for name, v in views.load_all().items() if name not in known}
    names = set(known) | set(candidates)
    return {name: v for name, v in candidates.items() if _base_tables(name, candidates) <= names}


def _base_tables(name: str, catalog_views: Mapping[str, views.View]) -> set[str]:
    """``name`` and, when it is a view, every view and table it reads, transitively."""
    found, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        if current in catalog_views:
            todo.extend(catalog_views[current].reads)
    return found


def _view_settings(given: Mapping[str, float] | None, known: Iterable[views.View]) -> dict[str, float]:
    try:
        return views.check_settings(settings().view_settings if given is None else given, known)
    except views.ViewError as exc:
        raise QueryError(str(exc)) from exc


def explain_tables() -> list[dict[str, Any]]:
    """One entry per dataset (name, kind, version, description, column count), for listings and docs."""
    return [
        {
            "name": d.name,
            "kind": d.kind,
            "version": d.version,
            "description": d.description,
            "columns": len(d.columns),
        }
        for d in sorted(schemas.load_all().values(), key=lambda d: d.name)
    ]


# --- parsing and translation -------------------------------------------------------------------


def _parse(sql: str) -> exp.Expr:
    """One read-only statement as a Trino syntax tree, with the Athena→DuckDB rewrites applied."""
    show = _parse_show(sql)
    if show is not None:
        return show
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise QueryError(_syntax_message(exc)) from exc
    if not statements:
        raise QueryError("the query is empty")
    if len(statements) > 1:
        raise QueryError(f"one statement at a time, please: found {len(statements)}")
    tree: exp.Expr = statements[0]
    if not _is_read_only(tree):
        kind = tree.name.upper() if isinstance(tree, exp.Command) else tree.key.upper()
        raise QueryError(
            f"only SELECT, WITH, SHOW and DESCRIBE statements are allowed (read-only); got {kind}"
        )
    return _rewrite(tree)


def _is_read_only(tree: exp.Expr) -> bool:
    return isinstance(tree, _ALLOWED)


def _syntax_message(exc: sqlglot.errors.ParseError) -> str:
    if not exc.errors:
        return f"SQL syntax error: {exc}"
    first = exc.errors[0]
    near = f" near {first['highlight']!r}" if first.get("highlight") else ""
    return f"SQL syntax error at line {first['line']}, column {first['col']}{near}: {first['description']}"


def _parse_show(sql: str) -> exp.Expr | None:
    """``SHOW TABLES`` becomes a query of DuckDB's information schema; ``SHOW COLUMNS`` a DESCRIBE."""
    columns = _SHOW_COLUMNS.match(sql)
    if columns:
        return _parse(f"DESCRIBE {columns['table']}")
    match = _SHOW_TABLES.match(sql)
    if not match:
        if re.match(r"^\s*show\b", sql, re.IGNORECASE):
            raise QueryError(
                "only SHOW TABLES [FROM db] [LIKE 'pattern'] and SHOW COLUMNS FROM t are supported"
            )
        return None
    database = settings().glue_database
    if match["db"] and match["db"].lower() != database.lower():
        raise QueryError(f"database {match['db']!r} does not exist; databases: {database}")
    query = (
        exp.select(exp.alias_(exp.column("table_name"), "Table", quoted=True))
        .from_("information_schema.tables")
        .where(exp.column("table_schema").eq(exp.Literal.string(database)))
        .order_by("1", dialect="trino")
    )
    if match["like"] is not None:
        query = query.where(exp.column("table_name").like(exp.Literal.string(match["like"])))
    query.meta["show_tables"] = True
    return query


def _rewrite(tree: exp.Expr) -> exp.Expr:
    for table in tree.find_all(exp.Table):
        if table.catalog.lower() == ATHENA_CATALOG:
            table.set("catalog", None)

    def at_timezone(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.Anonymous)
            and node.name.lower() == "at_timezone"
            and len(node.expressions) == 2
        ):
            return exp.AtTimeZone(this=node.expressions[0], zone=node.expressions[1])
        return node

    tree = tree.transform(at_timezone)
    _name_columns_like_trino(tree)
    return tree


def _name_columns_like_trino(tree: exp.Expr) -> None:
    """Alias unnamed output expressions ``_col<position>``, as Trino names them."""
    select: exp.Expr = tree
    while isinstance(select, exp.SetOperation):
        select = select.left
    if not isinstance(select, exp.Select):
        return
    for i, projection in enumerate(select.expressions):
        if not isinstance(projection, (exp.Alias, exp.Column, exp.Star, exp.Dot)):
            projection.replace(exp.alias_(projection.copy(), f"_col{i}"))


def _duckdb_sql(tree: exp.Expr) -> str:
    return tree.transform(_trino_semantics).sql(dialect="duckdb")


def _trino_semantics(node: exp.Expr) -> exp.Expr:
    """Where DuckDB's function of the same name answers differently from Trino's, Trino's answer:
    ``count_if`` over no row or only null conditions is 0 in Trino, NULL in DuckDB."""
    if isinstance(node, exp.CountIf):
        return exp.Count(this=exp.Case(ifs=[exp.If(this=node.this, true=exp.Literal.number(1))]))
    return node


def _table_refs(tree: exp.Expr) -> list[tuple[str | None, str, str]]:
    """``(database, table, alias)`` of every table reference in the statement (CTEs excluded), in order."""
    if tree.meta.get("show_tables"):
        return []
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    refs: list[tuple[str | None, str, str]] = []
    for table in tree.find_all(exp.Table, bfs=False):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function such as UNNEST(...)
        name, db = table.name.lower(), table.db.lower() or None
        if db is None and name in ctes:
            continue
        refs.append((db, name, table.alias_or_name.lower()))
    return refs


def _reads_no_rows(tree: exp.Expr) -> bool:
    return isinstance(tree, exp.Describe) or bool(tree.meta.get("show_tables"))


# --- table sources ---------------------------------------------------------------------------


def _known_sources(
    tables: Mapping[str, TableSource] | None, *, schema_only: bool
) -> dict[str, Callable[[], TableSource]]:
    """Table name → a function giving its data (called only for the tables a query reads)."""
    if tables is not None:
        return {name.lower(): partial(_given, source) for name, source in tables.items()}
    datasets = schemas.load_all()
    if schema_only:
        return {name: datasets[name].arrow_schema().empty_table for name in datasets}
    return {name: partial(iceberg_source, name) for name in datasets}


def _given(source: TableSource) -> TableSource:
    return source


def iceberg_source(name: str) -> TableSource:
    """The current rows of the Iceberg table ``name``: its planned data files as one lazy dataset.

    A table without data files is an empty Arrow table of the dataset's schema. When the scan carries
    delete files (merge-on-read deletes, e.g. written by Athena), pyiceberg reads it so the deletes apply.
    Raises QueryError when the dataset has no table in the catalog yet.
    """
    from pyiceberg.exceptions import NoSuchTableError

    from forecourt import aws, catalog

    schema = schemas.get(name).arrow_schema()
    try:
        scan = catalog.load(name).scan()
    except NoSuchTableError as exc:
        raise QueryError(
            f"table {name!r} is not in the catalog {catalog.identifier(name)!r} yet; "
            "run `forecourt catalog migrate`"
        ) from exc
    tasks = list(scan.plan_files())
    if any(task.delete_files for task in tasks):
        return _conform(scan.to_arrow(), schema)
    paths = [_without_scheme(task.file.file_path) for task in tasks]
    if not paths:
        return schema.empty_table()
    return ds.dataset(paths, schema=schema, format="parquet", filesystem=aws.s3_filesystem())


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly the columns of ``schema`` (columns added since it was written are null)."""
    present = set(table.column_names)
    columns = [
        table.column(f.name).cast(f.type) if f.name in present else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _without_scheme(uri: str) -> str:
    """``s3://bucket/key`` → ``bucket/key``, the form pyarrow's S3 filesystem takes."""
    return uri.split("://", 1)[1] if "://" in uri else uri


def _check_tables(tree: exp.Expr, known: Mapping[str, object]) -> list[str]:
    """The known tables the statement reads; raises QueryError for an unknown catalog, database or table."""
    database = settings().glue_database.lower()
    for table in tree.find_all(exp.Table):
        if table.catalog:
            raise QueryError(f"catalog {table.catalog!r} does not exist; catalogs: {ATHENA_CATALOG}")
    wanted: list[str] = []
    for db, name, _ in _table_refs(tree):
        if db is not None and db != database:
            raise QueryError(f"database {db!r} does not exist; databases: {database}")
        if name not in known:
            raise QueryError(f"table {name!r} does not exist; tables: {', '.join(sorted(known))}")
        if name not in wanted:
            wanted.append(name)
    return wanted


DUCKDB_MEMORY_SHARE = 0.5
"""On Lambda, the share of the function's memory DuckDB may hold before it spills to disk; the rest
is for the Arrow tables in Python."""


def duckdb_memory_limit_mb() -> int | None:
    """DuckDB's memory limit inside a Lambda function (``DUCKDB_MEMORY_SHARE`` of its memory, from
    ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``); None elsewhere (DuckDB's own default, 80 % of the machine)."""
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return int(int(memory) * DUCKDB_MEMORY_SHARE) if memory.isdigit() else None


def configure(con: duckdb.DuckDBPyConnection, spill_dir: str) -> None:
    """What every DuckDB connection of ours gets: no progress bar (the CLI prints results), spilling
    to ``spill_dir`` (an in-memory database spills to ./.tmp by default: into whatever folder the
    user is in, and on Lambda a read-only one) and, on Lambda, ``duckdb_memory_limit_mb``."""
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{spill_dir}'")
    limit = duckdb_memory_limit_mb()
    if limit is not None:
        con.execute(f"SET memory_limit = '{limit}MiB'")


@contextmanager
def _connection(
    sources: Mapping[str, TableSource], view_sql: Mapping[str, str] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection in UTC with each source as ``<table>`` and ``<database>.<table>``,
    then each view (DuckDB SQL, in an order where a view comes after those it reads) likewise, external
    access disabled and configuration locked."""
    import duckdb

    database = settings().glue_database
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    spill = tempfile.TemporaryDirectory(prefix="forecourt-query-")
    try:
        configure(con, spill.name)
        con.execute("SET TimeZone = 'UTC'")  # Athena sessions run in UTC
        con.execute(f'CREATE SCHEMA "{database}"')
        for name, source in sources.items():
            hidden = f"__forecourt_source_{name}"
            con.register(hidden, source)
            for schema in ("main", database):
                con.execute(f'CREATE VIEW "{schema}"."{name}" AS SELECT * FROM "{hidden}"')
        for name, sql in (view_sql or {}).items():
            for schema in ("main", database):
                con.execute(f'CREATE VIEW "{schema}"."{name}" AS {sql}')
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        yield con
    finally:
        con.close()
        spill.cleanup()


# --- results and errors ----------------------------------------------------------------------


def _read(reader: pa.RecordBatchReader, max_rows: int | None) -> tuple[pa.Table, bool]:
    """Read the result, stopping after ``max_rows`` rows; also says whether rows were left unread."""
    if max_rows is None:
        return reader.read_all(), False
    batches: list[pa.RecordBatch] = []
    room = max_rows
    for batch in reader:
        if batch.num_rows > room:
            batches.append(batch.slice(0, room))
            return pa.Table.from_batches(batches, reader.schema), True
        batches.append(batch)
        room -= batch.num_rows
    return pa.Table.from_batches(batches, reader.schema), False


def _bigint_counts(table: pa.Table) -> pa.Table:
    """DuckDB's HUGEINT results (Arrow decimal(38,0)) back to bigint, Trino's type, when they fit."""
    for i, column in enumerate(table.schema):
        if pa.types.is_decimal(column.type) and column.type.precision == 38 and column.type.scale == 0:
            try:
                table = table.set_column(i, column.name, pc.cast(table.column(i), pa.int64()))
            except pa.ArrowInvalid:
                continue  # too large for a bigint: keep the decimal
    return table


def _query_error(exc: duckdb.Error, tree: exp.Expr) -> QueryError:
    """Rephrase a DuckDB error for the analyst (DuckDB's ``LINE …`` pointer is into the translated SQL)."""
    import duckdb

    message = str(exc)
    if isinstance(exc, duckdb.BinderException):
        return QueryError(_column_message(message, tree))
    lines = message.split("\n")
    suggestion = [line for line in lines[1:2] if line.startswith("Did you mean")]
    return QueryError(" ".join([re.sub(r"^[A-Za-z ]+ Error: ", "", lines[0]), *suggestion]))


def _column_message(message: str, tree: exp.Expr) -> str:
    """``column 'foo' does not exist in leads`` (with DuckDB's candidates) from a binder error."""
    refs = _table_refs(tree)
    candidates = _CANDIDATES.search(message)
    hint = f"; candidates: {candidates['names'].strip()}" if candidates else ""
    unqualified = _MISSING_COLUMN.search(message)
    if unqualified:
        where = ", ".join(dict.fromkeys(name for _, name, _ in refs)) or "the query's tables"
        return f"column {unqualified['column']!r} does not exist in {where}{hint}"
    qualified = _MISSING_QUALIFIED.search(message)
    if qualified:
        alias = qualified["alias"].lower()
        table = next((name for _, name, a in refs if a == alias), alias)
        named = table if table == alias else f"{table} (as {qualified['alias']})"
        return f"column {qualified['column']!r} does not exist in {named}"
    return re.sub(r"^Binder Error: ", "", message.split("\n", 1)[0])
