"""The enrichment rules, kept as data (``queries/enrich/rules.json``), and the SQL they run.

A tag is a query of ``queries/enrich/tags/`` with parameters; the query reads ``activity`` (one
row per record of a resolved person, ``queries/enrich/activity.sql``) and returns ``person_id``,
``record_id``, ``dealer_id``, ``evidence_at`` and ``reason``. Parameters go into the SQL as literals
(``{{name}}``), rendered from validated values only: integers as they are, text as a quoted SQL
string, ``as_of`` as a timestamp literal.

A tag's PII class is derived, never declared: the strictest class of every ``activity`` column its
query reads, each of which has the strictest class of the curated columns it is computed from
(sqlglot's column lineage over ``activity.sql`` and ``schemas/``). ``finance_ending`` reads
``finance_ends``, computed from ``sales_finance``, so it is financial and reaches only the outbound
of the dealer whose deal it comes from (ARCHITECTURE §5).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, field_validator

from forecourt import bundled

QUERIES = bundled.queries_dir() / "enrich"
RULES = QUERIES / "rules.json"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _simple_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} is not a lower-case name (letters, digits, _)")
    return value


SimpleName = Annotated[str, AfterValidator(_simple_name)]
"""A name of rules kept as data (a tag, a segment, a query file): lower-case letters, digits, _."""


class TagRule(BaseModel):
    """One tag: the query that finds it and its parameters."""

    tag: SimpleName
    query: SimpleName
    params: dict[str, int | str] = Field(default_factory=dict)
    description: str = ""


LABELS = {
    "fresh_2d": "requested in the last 2 days",
    "fresh_7d": "requested in the last 7 days",
    "stale_30d": "requested over 30 days ago",
    "showroom_visit": "showroom visit near the lead",
    "repeat_inquiry": "other leads within 30 days",
    "multi_dealer_shopper": "shopping at several dealers",
    "unfinished_deal": "unfinished digital deal",
    "trade_in_on_lead": "trade-in on the lead",
    "trade_in_candidate": "owns an older vehicle",
    "specific_vehicle": "asked about a specific vehicle",
    "phone_and_email": "reachable by phone and e-mail",
    "walk_in_or_phone": "walked in or phoned",
    "past_buyer": "bought before",
    "service_customer": "service customer",
    "lapsed_customer": "lapsed customer",
}
"""What each feature means, in the words the reasons use."""


class Score(BaseModel):
    """The lead score: ``base`` plus the weight of every feature the lead has, clipped to 0–100."""

    base: int = 20
    weights: dict[str, int]

    @field_validator("weights")
    @classmethod
    def _known_features(cls, weights: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(weights) - set(LABELS))
        if unknown:
            raise ValueError(f"weights of unknown features {unknown}; features: {', '.join(LABELS)}")
        return weights


class Attribution(BaseModel):
    window_days: int = Field(default=30, ge=1)
    """Campaign touches of the person in this many days up to the lead count."""


class Value(BaseModel):
    service_years: float = Field(default=3, ge=0)
    """Expected value counts the last year's service gross this many years ahead…"""
    sale_gross: float = Field(default=2500, ge=0)
    """…plus this gross per expected sale (score / 100 of it)."""


class Rules(BaseModel):
    """Everything enrichment can be told, from one JSON file."""

    description: str = ""
    lead_days: int = Field(default=90, ge=1)
    """Leads requested in this many days before the run are enriched."""
    tags: list[TagRule]
    score: Score
    attribution: Attribution = Attribution()
    value: Value = Value()

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[TagRule]) -> list[TagRule]:
        names = [t.tag for t in tags]
        if len(set(names)) != len(names):
            raise ValueError("tag names repeat")
        for rule in tags:
            if not (QUERIES / "tags" / f"{rule.query}.sql").is_file():
                raise ValueError(f"tag {rule.tag!r}: no query queries/enrich/tags/{rule.query}.sql")
        return tags


def load(path: Path | None = None) -> Rules:
    """The rules in ``path`` (default: ``queries/enrich/rules.json``); raises ValueError naming
    the problem."""
    return Rules.model_validate_json((path or RULES).read_text(encoding="utf-8"))


def literal(value: int | float | str | datetime) -> str:
    """``value`` as a Trino SQL literal."""
    if isinstance(value, bool):
        raise TypeError("no boolean parameters")
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S.%f} UTC'"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + value.replace("'", "''") + "'"


def render(path: Path, params: dict[str, int | float | str | datetime]) -> str:
    """The SQL of ``path`` with every ``{{name}}`` replaced by ``params[name]``. A placeholder inside
    a quoted interval (``INTERVAL '{{days}}' DAY``) takes the bare number. Raises KeyError naming a
    placeholder without a parameter."""
    text = path.read_text(encoding="utf-8")

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(
                f"{path.name}: no value for {{{{{name}}}}}; parameters: {', '.join(sorted(params))}"
            )
        quoted = match.start() > 0 and text[match.start() - 1] == "'"
        given = params[name]
        if quoted:
            if not isinstance(given, int) or isinstance(given, bool):
                raise TypeError(
                    f"{path.name}: {{{{{name}}}}} sits in a quoted interval and takes a whole number"
                )
            return str(given)
        return literal(given)

    return _PLACEHOLDER.sub(value, text)


def tag_sql(rule: TagRule, as_of: datetime) -> str:
    """The tag's query, ready to run."""
    return render(QUERIES / "tags" / f"{rule.query}.sql", {**rule.params, "as_of": as_of})


# --- PII classes ------------------------------------------------------------------------------


@cache
def activity_classes() -> dict[str, str]:
    """Each ``activity`` column → the strictest PII class of the curated columns it is computed from."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.lineage import lineage

    from forecourt import schemas

    datasets = schemas.load_all()
    classes: dict[str, str] = {f"{name}.{c.name}": c.pii for name, d in datasets.items() for c in d.columns}
    sql = render(QUERIES / "activity.sql", {"as_of": datetime(2000, 1, 1, tzinfo=UTC)})
    tree = sqlglot.parse_one(sql, read="trino")
    assert isinstance(tree, exp.Query)
    known = {name: {c.name: "varchar" for c in d.columns} for name, d in datasets.items()}
    result: dict[str, str] = {}
    for select in tree.selects:
        column = select.alias_or_name
        sources = [
            n.name for n in lineage(column, tree, schema=known, dialect="trino").walk() if not n.downstream
        ]
        found = [classes[s] for s in sources if s in classes]
        result[column] = strictest(found)
    return result


def _source_column(node: Any) -> str:
    """A lineage leaf as ``table.column``, through its alias (``p.person_id`` →
    ``person_links.person_id``)."""
    from sqlglot import exp

    column = node.name.rsplit(".", 1)[-1]
    if isinstance(node.source, exp.Table):
        return f"{node.source.name}.{column}"
    return node.name


def strictest(classes: list[str]) -> str:
    """The strictest of ``classes`` (none when empty)."""
    from forecourt.schemas import PII_RANK

    return max(classes, key=PII_RANK.__getitem__, default="none")


def classes_read(sql: str) -> dict[str, str]:
    """Each ``activity`` column a query over it names anywhere (select, filter, join, order) → that
    column's PII class."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="trino")
    classes = activity_classes()
    # SQL names are case-insensitive: Deal_Gross is deal_gross
    return {
        c.name.lower(): classes[c.name.lower()]
        for c in tree.find_all(exp.Column)
        if c.name.lower() in classes
    }


def pii_class(sql: str) -> str:
    """The PII class of what a query over ``activity`` computes: the strictest of every activity
    column it reads (``classes_read``)."""
    return strictest(list(classes_read(sql).values()))
