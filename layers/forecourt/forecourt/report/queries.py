"""The report's SQL: the files of ``queries/report/`` (Athena SQL with ``{{since}}``, ``{{until}}``
and ``{{unit}}`` parameters), run on the engine of ``forecourt query``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from forecourt import analytics, bundled, schemas, views
from forecourt.enrich.rules import render

QUERIES = bundled.queries_dir() / "report"


@dataclass
class Query:
    """One SQL file as it ran, and its full result (written next to the report as CSV)."""

    name: str
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)


Tables = Mapping[str, analytics.TableSource] | None


class Runner:
    """Runs the report's SQL files with the period's parameters and keeps what ran.

    Without ``tables``, each lake table the report reads (directly or through a view) is planned
    once for the whole report, not once per query: every section sees the same snapshot, and a view
    such as lead_outcomes is computed from it by each query that reads it.
    """

    def __init__(self, params: dict[str, datetime | str], tables: Tables = None) -> None:
        self.params = params
        self.tables = tables

    def run(self, name: str, **extra: str) -> Query:
        """The rows of ``queries/report/<name>.sql``. Raises analytics.QueryError."""
        sql = render(QUERIES / f"{name}.sql", {**self.params, **extra})
        if self.tables is None:
            self.tables = lake_tables()
        result = analytics.run_query(sql, tables=self.tables)
        return Query(name, sql, result.columns, result.rows)


def lake_tables() -> dict[str, analytics.TableSource]:
    """The current data of every lake table the report's SQL reads, directly or through views.
    A table missing from the catalog is left out (the queries reading it then say so)."""
    catalog_views = views.load_all()
    todo = [
        name for path in query_files() for _, name in analytics.referenced_tables(render(path, _PLACEHOLDERS))
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(catalog_views[name].reads if name in catalog_views else ())
    sources = {}
    for name in sorted(seen & set(schemas.load_all())):
        try:
            sources[name] = analytics.iceberg_source(name)
        except analytics.QueryError:
            continue
    return sources


_PLACEHOLDERS: dict[str, int | float | str | datetime] = {
    "since": datetime(2000, 1, 1),
    "until": datetime(2000, 1, 1),
    "unit": "day",
}


def records(query: Query) -> list[dict[str, Any]]:
    """A query's rows as dicts."""
    return [dict(zip(query.columns, row, strict=True)) for row in query.rows]


def query_files() -> list[Path]:
    """Every SQL file of the report."""
    return sorted(QUERIES.glob("*.sql"))
