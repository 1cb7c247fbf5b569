"""The analysts' views (``queries/views/<name>.sql``): load, configure, order, and generate the
``*_current`` ones (ARCHITECTURE §4, §7).

A view is one Trino SELECT in a file named for the view, opening with a comment block that documents
its columns and definitions. Definitions an OEM may want to change (a dedupe window, an attribution
window, a target) are the columns of the view's ``settings`` CTE, a one-row ``SELECT <literal> AS
<name>, …`` whose literals are the defaults::

    WITH settings AS (SELECT 7 AS dedupe_window_days, 90 AS attribution_window_days), …

``configured_sql`` replaces those literals (through sqlglot, never by text substitution) with the
values of ``Settings.view_settings`` (``FORECOURT_VIEW_SETTINGS``, a JSON object such as
``{"dedupe_window_days": 3}``), so that the file stays valid SQL with its defaults in one place, and
the same values reach Athena (``forecourt catalog migrate``) and DuckDB (``forecourt query``).

Views may read other views; ``ordered`` sorts them so that each comes after the views it reads.
The ``*_current`` views (the latest version of each record of a curated dataset) are generated from
``schemas/`` by ``forecourt schemas generate`` (``current_view_sql``) and checked in like the docs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from forecourt import bundled, schemas

SETTINGS_CTE = "settings"
CURRENT_SUFFIX = "_current"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ViewError(ValueError):
    """A view file breaks a rule (not one SELECT, a bad name, a settings CTE that is not literals), or
    a view setting is unknown or not a number."""


@dataclass(frozen=True)
class View:
    """One view of ``queries/views/``: its name, its Trino SQL as written, and what it documents."""

    name: str
    sql: str
    path: Path

    @property
    def description(self) -> str:
        """The leading comment block, without the comment markers."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].removeprefix(" "))
        return "\n".join(lines).strip()

    @property
    def summary(self) -> str:
        """The first sentence of the description (for listings)."""
        first = self.description.split("\n\n", 1)[0]
        return " ".join(first.split())

    @cached_property
    def tree(self) -> exp.Expr:
        """The parsed SQL (parsed once; copy it before changing it)."""
        return _parse(self.sql, self.name)

    @cached_property
    def defaults(self) -> dict[str, int | float]:
        """The view's settings (name → default value), from its ``settings`` CTE; empty when none."""
        select = _settings_select(self.tree)
        if select is None:
            return {}
        values: dict[str, int | float] = {}
        for projection in select.expressions:
            literal = projection.this if isinstance(projection, exp.Alias) else None
            if not isinstance(literal, exp.Literal) or literal.is_string:
                raise ViewError(
                    f"view {self.name}: settings must be numbers named with AS, got {projection.sql()}"
                )
            text = literal.name
            values[projection.alias] = float(text) if "." in text else int(text)
        return values

    @cached_property
    def reads(self) -> frozenset[str]:
        """The tables and views the view reads (lower case, CTE names excluded)."""
        tree = self.tree
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        return frozenset(
            t.name.lower()
            for t in tree.find_all(exp.Table)
            if isinstance(t.this, exp.Identifier) and t.name.lower() not in ctes
        )


def views_dir() -> Path:
    """``queries/views`` (packaged with the layer)."""
    return bundled.queries_dir() / "views"


@cache
def load_all(directory: Path | None = None) -> dict[str, View]:
    """Every view of ``directory`` (default ``queries/views``), by name. Raises ViewError for a file
    that is not exactly one SELECT or whose name is not a lower-case SQL name."""
    found: dict[str, View] = {}
    for path in sorted((directory or views_dir()).glob("*.sql")):
        name = path.stem
        if not _NAME.match(name):
            raise ViewError(f"{path.name}: a view's file name must be a lower-case SQL name")
        view = View(name, path.read_text(encoding="utf-8"), path)
        if not isinstance(view.tree, exp.Query):
            raise ViewError(f"{path.name}: a view is one SELECT (or WITH … SELECT)")
        found[name] = view
    return found


def _parse(sql: str, name: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise ViewError(f"view {name}: {exc}") from exc
    if len(statements) != 1:
        raise ViewError(f"view {name}: one statement per file, found {len(statements)}")
    return statements[0]


def _settings_select(tree: exp.Expr) -> exp.Select | None:
    for cte in tree.find_all(exp.CTE):
        if cte.alias_or_name.lower() == SETTINGS_CTE and isinstance(cte.this, exp.Select):
            return cte.this
    return None


def configured_sql(view: View, overrides: Mapping[str, float] | None = None) -> str:
    """The view's Trino SQL with its settings set: each setting named in ``overrides`` takes that
    value, the others keep their defaults. Settings a view does not have are ignored (one mapping
    serves every view; ``check_settings`` rejects names no view has)."""
    wanted = {k: v for k, v in (overrides or {}).items() if k in view.defaults}
    if not wanted:
        return view.sql.strip()
    tree = view.tree.copy()
    select = _settings_select(tree)
    assert select is not None  # wanted is non-empty only when the view has settings
    for projection in select.expressions:
        if projection.alias in wanted:
            projection.set("this", exp.Literal.number(_number(wanted[projection.alias])))
    return tree.sql(dialect="trino", pretty=True)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def check_settings(overrides: Mapping[str, Any], views: Iterable[View]) -> dict[str, float]:
    """``overrides`` as numbers; raises ViewError naming a setting no view has or a value that is
    not a number."""
    known = {name: view.name for view in views for name in view.defaults}
    checked: dict[str, float] = {}
    for name, value in overrides.items():
        if name not in known:
            raise ViewError(f"unknown view setting {name!r}; settings: {', '.join(sorted(known)) or 'none'}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ViewError(f"view setting {name!r} must be a number, got {value!r}")
        checked[name] = value
    return checked


def ordered(views: Mapping[str, View]) -> list[View]:
    """The views so that each comes after every view it reads. Raises ViewError on a cycle."""
    done: dict[str, View] = {}
    visiting: set[str] = set()

    def visit(view: View) -> None:
        if view.name in done:
            return
        if view.name in visiting:
            raise ViewError(f"views read each other in a cycle through {view.name}")
        visiting.add(view.name)
        for name in sorted(view.reads):
            if name in views:
                visit(views[name])
        visiting.discard(view.name)
        done[view.name] = view

    for name in sorted(views):
        visit(views[name])
    return list(done.values())


# --- the generated *_current views -------------------------------------------------------------

_GENERATED = (
    "-- Generated by `forecourt schemas generate` from schemas/{name}.json: edit the source, not this file."
)


def current_datasets() -> list[schemas.Dataset]:
    """The datasets with a ``*_current`` view: the curated ones (versions of records by record_id)."""
    return [d for _, d in sorted(schemas.load_all().items()) if d.kind == "curated"]


def current_view_sql(dataset: schemas.Dataset) -> str:
    """``<dataset>_current``: the latest version of every record of a curated dataset.

    The latest version is the one that arrived last (``received_at``: when the source sent the file
    or webhook carrying it); versions that arrived at the same moment are ordered by upload and then
    by line, so that the pick is deterministic (ARCHITECTURE §4)."""
    columns = ",\n    ".join(dataset.column_names)
    return "\n".join(
        [
            f"-- {dataset.name}{CURRENT_SUFFIX}: the latest version of every record of `{dataset.name}`, "
            "one row per",
            "-- record_id, with the same columns. The latest version is the one received last (received_at,",
            "-- the arrival of the file or webhook that carried it); versions received at the same moment",
            "-- are ordered by upload_id, then by source_line (the later line of a file wins).",
            "--",
            f"-- {_wrap(dataset.description)}",
            _GENERATED.format(name=dataset.name),
            "SELECT",
            f"    {columns}",
            "FROM (",
            "    SELECT *,",
            "        row_number() OVER (",
            "            PARTITION BY record_id ORDER BY received_at DESC, upload_id DESC, source_line DESC",
            "        ) AS version",
            f"    FROM {dataset.name}",
            ") AS versions",
            "WHERE version = 1",
            "",
        ]
    )


def _wrap(text: str, width: int = 96) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n-- ".join(lines)


def current_view_files(repo_root: Path) -> dict[Path, str]:
    """Path → text of every generated ``*_current`` view under ``repo_root``."""
    directory = repo_root / "queries" / "views"
    return {directory / f"{d.name}{CURRENT_SUFFIX}.sql": current_view_sql(d) for d in current_datasets()}
