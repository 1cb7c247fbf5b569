"""How verbs report: a human table by default, JSON with --json."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

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
