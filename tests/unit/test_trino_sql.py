"""Every SQL file of queries/ is Trino SQL that Athena (engine 3) can run: the analysts' views and
named queries, and the jobs' SQL (identity, enrich, audiences, conversions: ARCHITECTURE §7, run by
Athena on AWS and by DuckDB here). Each parses with sqlglot's Trino dialect, calls only functions
Trino has, uses no syntax of another dialect that sqlglot would quietly rewrite, and can be written
back as Trino. A job's query is checked as the job runs it: its ``{{placeholders}}`` rendered with
the parameters of queries/enrich/rules.json and queries/audiences/segments.json.

Two checks on functions, because sqlglot is lenient both ways: a name it does not model becomes an
``exp.Anonymous`` node (``list_sort``), and a name of another dialect it does model is silently
turned into Trino's (``datediff`` → ``date_diff``). So every name called in the text must be on
``TRINO_FUNCTIONS``, an explicit list of real Trino functions (trino.io/docs/current/functions/
list.html), and any anonymous function in the tree must be one of them too. A called name is any
word before ``(`` that is not syntax (``IN (``, ``OVER (``, ``AS t (``, a type such as
``decimal(``): keywords that sqlglot tokenizes as such (``sequence``) are function names too."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
import sqlglot
from forecourt.audiences import segments
from forecourt.enrich import rules
from sqlglot import exp
from sqlglot.dialects.trino import Trino
from sqlglot.errors import ErrorLevel
from sqlglot.parser import Parser
from sqlglot.tokens import Token, TokenType

QUERIES = Path(__file__).parents[2] / "queries"
FILES = sorted(QUERIES.rglob("*.sql"))
AS_OF = datetime(2026, 11, 2, 23, 0, tzinfo=UTC)

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
        "sequence",
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
SYNTAX = frozenset(
    {"all", "and", "any", "as", "between", "by", "case", "cast", "cube", "else", "exists", "filter", "from",
     "in", "interval", "is", "join", "lateral", "like", "not", "on", "or", "over", "rollup", "row",
     "select", "some", "table", "then", "try_cast", "unnest", "using", "values", "when", "where", "with",
     "within"}
)  # fmt: skip
"""Words followed by a parenthesis that are syntax, not functions."""


def _is_called_name(before: Token | None, token: Token, after: Token) -> bool:
    if after.token_type != TokenType.L_PAREN or (before is not None and before.token_type == TokenType.ALIAS):
        return False  # not followed by "(", or a table alias with its column list: AS t (i)
    if token.token_type == TokenType.VAR:
        return True
    word = token.text.lower()
    return word.isidentifier() and token.token_type not in Parser.TYPE_TOKENS and word not in SYNTAX


def called_names(sql: str) -> set[str]:
    """The names called as functions in ``sql``."""
    tokens = Trino().tokenize(sql)
    return {
        token.text.lower()
        for before, token, after in zip([None, *tokens], tokens, tokens[1:], strict=False)
        if _is_called_name(before, token, after)
    } - SYNTAX


def unknown_functions(sql: str) -> list[str]:
    """Functions ``sql`` calls that Trino does not have."""
    tree = sqlglot.parse_one(sql, read="trino")
    anonymous = {node.name.lower() for node in tree.find_all(exp.Anonymous)}
    return sorted((called_names(sql) | anonymous) - TRINO_FUNCTIONS)


def foreign_syntax(sql: str) -> list[str]:
    """Syntax of other dialects that sqlglot's Trino parser accepts and rewrites, but Trino refuses."""
    found = []
    if any(token.token_type == TokenType.DCOLON for token in Trino().tokenize(sql)):
        found.append(":: cast")
    tree = sqlglot.parse_one(sql, read="trino")
    if any(tree.find_all(exp.ILike)):
        found.append("ILIKE")
    if any(
        star.args.get(key) for star in tree.find_all(exp.Star) for key in ("except_", "except", "replace")
    ):
        found.append("* EXCLUDE / REPLACE")
    if any(group.args.get("all") and not group.expressions for group in tree.find_all(exp.Group)):
        found.append("GROUP BY ALL")
    return found


@cache
def _job_settings() -> tuple[rules.Rules, segments.Segments]:
    return rules.load(), segments.load()


def job_sql(path: Path) -> str:
    """The file's SQL as its job runs it: placeholders rendered with the job's parameters."""
    text = path.read_text(encoding="utf-8")
    if "{{" not in text:
        return text
    enrichment, audience_segments = _job_settings()
    params: dict[str, int | str | datetime] = {
        "as_of": AS_OF,
        "since": AS_OF,
        "until": AS_OF,  # the report's period
        "unit": "day",
        "lead_days": enrichment.lead_days,
        "window_days": enrichment.attribution.window_days,
    }
    for rule in enrichment.tags:
        if path == QUERIES / "enrich" / "tags" / f"{rule.query}.sql":
            params |= rule.params
    for segment in audience_segments.segments:
        if path == QUERIES / "audiences" / "segments" / f"{segment.query}.sql":
            params |= segment.params
    return rules.render(path, params)


def test_every_kind_of_query_is_checked() -> None:
    kinds = {path.relative_to(QUERIES).parts[0] for path in FILES}
    assert kinds == {"audiences", "conversions", "enrich", "identity", "named", "report", "views"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(QUERIES).with_suffix("")))
def test_query_is_trino_sql_with_only_trino_functions(path: Path) -> None:
    sql = job_sql(path)
    tree = sqlglot.parse_one(sql, read="trino")

    assert isinstance(tree, exp.Query)
    assert unknown_functions(sql) == []
    assert foreign_syntax(sql) == []
    tree.sql(dialect="trino", unsupported_level=ErrorLevel.RAISE)


@pytest.mark.parametrize(
    ("sql", "unknown"),
    [
        ("SELECT datediff(a, b) FROM t", ["datediff"]),  # sqlglot would quietly make it date_diff
        ("SELECT list_sort(x), approx_percentile(y, 0.5) FROM t", ["list_sort"]),
        ("SELECT x FROM (VALUES 1) AS t (x) WHERE strftime(x, '%Y') > ''", ["strftime"]),
        (
            "SELECT generate_series(1, 3), sequence(1, 3), CAST(1 AS decimal(6, 3)) FROM t",
            ["generate_series"],
        ),
        ("SELECT left(a, 2), epoch(b) FROM t", ["epoch", "left"]),  # left: a keyword token, not Trino's
    ],
)
def test_a_function_trino_does_not_have_is_caught(sql: str, unknown: list[str]) -> None:
    assert unknown_functions(sql) == unknown


@pytest.mark.parametrize(
    ("sql", "foreign"),
    [
        ("SELECT a::int FROM t", [":: cast"]),
        ("SELECT a FROM t WHERE a ILIKE 'x%'", ["ILIKE"]),
        ("SELECT * EXCLUDE (a) FROM t", ["* EXCLUDE / REPLACE"]),
        ("SELECT a, count(*) FROM t GROUP BY ALL", ["GROUP BY ALL"]),
        ("SELECT a, count(*) FROM t GROUP BY a", []),
    ],
)
def test_syntax_of_another_dialect_is_caught(sql: str, foreign: list[str]) -> None:
    assert foreign_syntax(sql) == foreign
