"""The report's HTML (Jinja2, every value autoescaped) and its data files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa

from forecourt import safe_csv
from forecourt.report.sections import Query, Section

TEMPLATE = "report.html.j2"


def render(
    *,
    made: datetime,
    lake: str,
    period: str,
    coverage: list[list[str]],
    coverage_error: str | None,
    sections: Sequence[Section],
) -> str:
    """The report page."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(TEMPLATE).render(
        made=made,
        lake=lake,
        period=period,
        coverage=coverage,
        coverage_error=coverage_error,
        sections=sections,
    )


def write_data(folder: Path, queries: Sequence[Query]) -> list[Path]:
    """Each query's full result as ``folder/<name>.csv`` (spreadsheet formulas defused)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for query in queries:
        path = folder / f"{query.name}.csv"
        safe_csv.write_csv(_table(query), path)
        written.append(path)
    return written


def _table(query: Query) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in query.columns}
    for row in query.rows:
        for name, value in zip(query.columns, row, strict=True):
            columns[name].append(value)
    return pa.table(columns) if columns else pa.table({"empty": pa.array([], pa.string())})
