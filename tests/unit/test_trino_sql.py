"""Every view and named query is Trino SQL that Athena (engine 3) can run: it parses with sqlglot's
Trino dialect, every function it calls is one Trino has, and sqlglot can write it back as Trino.

Two checks on functions, because sqlglot is lenient both ways: a name it does not model becomes an
``exp.Anonymous`` node (``list_sort``), and a name of another dialect it does model is silently
turned into Trino's (``datediff`` → ``date_diff``). So every name called in the text must be on
``TRINO_FUNCTIONS``, an explicit list of real Trino functions (trino.io/docs/current/functions/
list.html), and any anonymous function in the tree must be one of them too."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.dialects.trino import Trino
from sqlglot.errors import ErrorLevel
from sqlglot.tokens import TokenType

QUERIES = Path(__file__).parents[2] / "queries"
FILES = sorted([*(QUERIES / "views").glob("*.sql"), *(QUERIES / "named").glob("*.sql")])

TRINO_FUNCTIONS = frozenset(
    [
        "abs",
        "approx_distinct",
        "approx_percentile",
        "arbitrary",
        "array_agg",
        "array_distinct",
        "array_join",
        "array_max",
        "array_min",
        "array_sort",
        "at_timezone",
        "avg",
        "bool_and",
        "bool_or",
        "cardinality",
        "ceil",
        "ceiling",
        "coalesce",
        "concat",
        "concat_ws",
        "contains",
        "count",
        "count_if",
        "cume_dist",
        "date",
        "date_add",
        "date_diff",
        "date_format",
        "date_parse",
        "date_trunc",
        "day",
        "day_of_week",
        "dense_rank",
        "element_at",
        "first_value",
        "floor",
        "format",
        "from_iso8601_timestamp",
        "greatest",
        "human_readable_seconds",
        "if",
        "json_extract_scalar",
        "lag",
        "last_value",
        "lead",
        "least",
        "length",
        "levenshtein_distance",
        "log2",
        "lower",
        "map_agg",
        "max",
        "max_by",
        "min",
        "min_by",
        "month",
        "ntile",
        "nullif",
        "percent_rank",
        "rank",
        "regexp_extract",
        "regexp_extract_all",
        "regexp_like",
        "regexp_replace",
        "replace",
        "round",
        "row_number",
        "sha256",
        "split",
        "split_part",
        "stddev",
        "strpos",
        "substr",
        "substring",
        "sum",
        "to_hex",
        "to_utf8",
        "trim",
        "try",
        "upper",
        "variance",
        "week",
        "year",
        "year_of_week",
    ]
)
SYNTAX = frozenset({"cast", "try_cast"})
"""Words followed by a parenthesis that are syntax, not functions, and that the tokenizer calls names."""


def called_names(sql: str) -> set[str]:
    """The names called as functions in ``sql`` (a name then ``(``, not a ``AS alias (columns)`` list)."""
    tokens = Trino().tokenize(sql)
    return {
        token.text.lower()
        for before, token, after in zip([None, *tokens], tokens, tokens[1:], strict=False)
        if token.token_type == TokenType.VAR
        and after.token_type == TokenType.L_PAREN
        and (before is None or before.token_type != TokenType.ALIAS)
    } - SYNTAX


def unknown_functions(sql: str) -> list[str]:
    """Functions ``sql`` calls that Trino does not have."""
    tree = sqlglot.parse_one(sql, read="trino")
    anonymous = {node.name.lower() for node in tree.find_all(exp.Anonymous)}
    return sorted((called_names(sql) | anonymous) - TRINO_FUNCTIONS)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_query_is_trino_sql_with_only_trino_functions(path: Path) -> None:
    sql = path.read_text(encoding="utf-8")
    tree = sqlglot.parse_one(sql, read="trino")

    assert isinstance(tree, exp.Query)
    assert unknown_functions(sql) == []
    tree.sql(dialect="trino", unsupported_level=ErrorLevel.RAISE)


@pytest.mark.parametrize(
    ("sql", "unknown"),
    [
        ("SELECT datediff(a, b) FROM t", ["datediff"]),  # sqlglot would quietly make it date_diff
        ("SELECT list_sort(x), approx_percentile(y, 0.5) FROM t", ["list_sort"]),
        ("SELECT x FROM (VALUES 1) AS t (x) WHERE strftime(x, '%Y') > ''", ["strftime"]),
    ],
)
def test_a_function_trino_does_not_have_is_caught(sql: str, unknown: list[str]) -> None:
    assert unknown_functions(sql) == unknown
