"""How verbs report: a human table by default, JSON with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pyarrow as pa

console = Console()
errors = Console(stderr=True)


def emit(
    rows: Sequence[dict[str, Any]],
    *,
    as_json: bool,
    title: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print rows as a table, or as JSON (a list of objects) when ``as_json``."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    names = list(columns or (rows[0].keys() if rows else []))
    table = Table(title=title, show_lines=False)
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(n) is None else str(row.get(n)) for n in names))
    console.print(table)


def fail(message: str, code: int = 1) -> None:
    """Print a clear error and exit."""
    errors.print(f"[bold red]error:[/] {message}")
    sys.exit(code)


def read_text_csv(path: Path) -> pa.Table:
    """A user's CSV, every column as text, its header folded (``First Name``, ``first-name`` and
    ``FIRST_NAME`` all become ``first_name``); fails naming the file when it cannot be read."""
    import re

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from forecourt.feeds import fold

    try:  # pyarrow reads the header (quotes, BOM)
        header = pacsv.open_csv(path).schema.names
        names = [re.sub(r"[\s\-]+", "_", fold(name)) for name in header]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            fail(f"{path}: several columns mean {', '.join(repeated)}: keep one of each")
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
        )
    except (OSError, pa.ArrowInvalid) as exc:
        # pyarrow quotes the offending row after the reason: people's data, not for a terminal or a log
        reason = ": ".join(str(exc).split(": ")[:2])
        fail(f"{path}: cannot be read as CSV: {reason}")
        raise
