"""The ``enrich`` job over the lake (ARCHITECTURE §6): after ``resolve``, as of a moment.

1. ``activity``: every record of a resolved person up to ``as_of`` (``queries/enrich/activity.sql``).
2. ``lead_tags``: each rule of ``rules.json`` runs its tag query over ``activity``; each tag carries
   its PII class, derived from the columns its query reads (``rules.pii_class``).
3. ``enriched_leads``: one row per recent lead (``queries/enrich/enriched_leads.sql``), scored
   (``score.score``), with the expected value, and a fingerprint of what its dealer would see.
4. Outbound: per dealer, the leads whose fingerprint differs from the last run's (new or changed),
   as a CSV and an ADF document under ``outbound/dealer=<id>/enriched-leads/<date>/``
   (``outbound.write``); then both tables are committed, each run replacing the previous run's rows.

Files are written before the tables: a run that dies in between exports the same leads again on
the next run (dealers deduplicate on the ADF prospect ids), instead of never exporting them. A run
with nothing new writes no files, and a second run on the same lake exports nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.enrich import rules as rules_module
from forecourt.enrich.rules import QUERIES, Rules
from forecourt.enrich.score import score

RUN_ID = "enrich-run"
_TS = pa.timestamp("us", tz="UTC")


def moment(value: object, default: datetime) -> datetime:
    """An as-of moment from ISO 8601 (``2026-11-02``, ``2026-11-02T06:00:00Z``; UTC when it names no
    zone), or ``default`` when ``value`` is None. Raises ValueError naming the value otherwise."""
    if value is None:
        return default
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date or time (2026-11-02 or 2026-11-02T06:00:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class EnrichRun:
    """What one run did."""

    as_of: datetime
    activity: int
    tags: dict[str, int]
    leads: int
    exported: dict[str, int]
    """Dealer → leads exported (new or changed)."""
    files: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)


def run(now: datetime, as_of: datetime | None = None, rules: Rules | None = None) -> EnrichRun:
    """Enrich the lake as of ``as_of`` (default ``now``), write the outbound files of what changed,
    and queue the commits of ``lead_tags`` and ``enriched_leads``."""
    from forecourt import analytics, commits
    from forecourt.enrich import outbound

    rules = rules or rules_module.load()
    as_of = as_of or now
    activity_rows = activity(as_of)
    tags = tag_rows(activity_rows, rules, as_of, now)
    leads = lead_rows(activity_rows, tags, rules, as_of)
    previous = analytics.run_query(
        "SELECT record_id, fingerprint, exported_at FROM enriched_leads"
    ).to_arrow()
    leads = mark_changes(leads, previous, now)
    dealers = _dealers()
    registered = pa.array(sorted(dealers), pa.string())
    changed = leads.filter(
        pc.and_(pc.is_valid(leads["change"]), pc.is_in(leads["dealer_id"], value_set=registered))
    )
    files = outbound.write(changed, now, dealers)
    table = leads.append_column("as_of", pa.repeat(pa.scalar(as_of, _TS), leads.num_rows))
    table = table.append_column("received_at", pa.repeat(pa.scalar(now, _TS), leads.num_rows))
    table = table.append_column("upload_id", pa.repeat(pa.scalar(RUN_ID), leads.num_rows))
    requests = [
        commits.write_table("lead_tags", tags, RUN_ID, now.date()),
        commits.write_table("enriched_leads", table, RUN_ID, now.date()),
    ]
    commits.send(requests)
    per_tag = tags.group_by("tag").aggregate([("person_id", "count")]).to_pylist()
    per_dealer = changed.group_by("dealer_id").aggregate([("record_id", "count")]).to_pylist()
    return EnrichRun(
        as_of=as_of,
        activity=activity_rows.num_rows,
        tags={row["tag"]: row["person_id_count"] for row in sorted(per_tag, key=lambda r: r["tag"])},
        leads=leads.num_rows,
        exported={
            row["dealer_id"]: row["record_id_count"]
            for row in sorted(per_dealer, key=lambda r: r["dealer_id"])
        },
        files=files,
        requests=requests,
    )


def _dealers() -> dict[str, Any]:
    """The registered dealers by id: only they get outbound files (leads of an unregistered source
    such as the OEM's own lead file are enriched, not exported)."""
    from forecourt import registry

    return {d.dealer_id: d for d in registry.list_dealers()}


def activity(as_of: datetime) -> pa.Table:
    """Every record of a resolved person up to ``as_of`` (``queries/enrich/activity.sql`` on the lake)."""
    from forecourt import analytics

    return analytics.run_query(rules_module.render(QUERIES / "activity.sql", {"as_of": as_of})).to_arrow()


def tag_rows(activity: pa.Table, rules: Rules, as_of: datetime, now: datetime) -> pa.Table:
    """``lead_tags`` rows: every rule's query over ``activity``, with the tag's name and PII class."""
    from forecourt import analytics, schemas

    schema = schemas.get("lead_tags").arrow_schema()
    found = [schema.empty_table()]
    for rule in rules.tags:
        sql = rules_module.tag_sql(rule, as_of)
        rows = analytics.run_query(sql, tables={"activity": activity}).to_arrow()
        n = rows.num_rows
        found.append(
            pa.table(
                {
                    "upload_id": pa.repeat(pa.scalar(RUN_ID), n),
                    "person_id": rows["person_id"],
                    "tag": pa.repeat(pa.scalar(rule.tag), n),
                    "reason": rows["reason"],
                    "record_id": rows["record_id"],
                    "dealer_id": rows["dealer_id"],
                    "evidence_at": rows["evidence_at"].cast(_TS),
                    "pii": pa.repeat(pa.scalar(rules_module.pii_class(sql)), n),
                    "as_of": pa.repeat(pa.scalar(as_of, _TS), n),
                    "received_at": pa.repeat(pa.scalar(now, _TS), n),
                }
            ).cast(schema)
        )
    return pa.concat_tables(found).sort_by([("person_id", "ascending"), ("tag", "ascending")])


def lead_rows(activity: pa.Table, tags: pa.Table, rules: Rules, as_of: datetime) -> pa.Table:
    """The recent leads with everything ``enriched_leads`` and the outbound files need."""
    from forecourt import analytics

    sql = rules_module.render(
        QUERIES / "enriched_leads.sql",
        {"as_of": as_of, "lead_days": rules.lead_days, "window_days": rules.attribution.window_days},
    )
    sources = {
        "activity": activity,
        "lead_tags": tags,
        "leads": analytics.iceberg_source("leads"),
        "campaigns": analytics.iceberg_source("campaigns"),
    }
    leads = analytics.run_query(sql, tables=sources).to_arrow()
    scored = score(leads, rules.score)
    for name in scored.column_names:
        leads = leads.append_column(name, scored[name])
    no_tags = pa.scalar([], pa.list_(pa.string()))
    leads = leads.set_column(leads.column_names.index("tags"), "tags", pc.fill_null(leads["tags"], no_tags))
    service = pc.cast(leads["service_gross_year"], pa.float64())
    expected = pc.add(
        pc.multiply(service, rules.value.service_years),
        pc.multiply(pc.divide(leads["score"].cast(pa.float64()), 100.0), rules.value.sale_gross),
    )
    leads = leads.append_column("expected_value", pc.round(expected, 2))
    return leads.append_column("fingerprint", _fingerprints(leads))


def _fingerprints(leads: pa.Table) -> pa.Array:
    """A hash of each row's exported content: every column but ``_NOT_SHOWN``, as text, joined."""
    parts = []
    for name in sorted(set(leads.column_names) - _NOT_SHOWN):
        column = leads[name]
        if pa.types.is_list(column.type):
            column = pc.binary_join(column, "\x1f")
        parts.append(pc.cast(column, pa.string()))
    joined = pc.binary_join_element_wise(*parts, "\x1e", null_handling="replace", null_replacement="\x00")
    return pa.array(
        [hashlib.blake2b(text.encode(), digest_size=16).hexdigest() for text in joined.to_pylist()],
        pa.string(),
    )


_NOT_SHOWN = frozenset(
    {"record_id", "dealer_id", "score_features", "service_gross_year", "touches", "first_touch_at",
     "last_touch_at", "first_touch_dealer_id", "last_touch_dealer_id"}
)  # fmt: skip
"""Columns that do not reach the dealer's file on their own (the 0/1 features do, via the score)."""


def mark_changes(leads: pa.Table, previous: pa.Table, now: datetime) -> pa.Table:
    """``change`` ("new", "changed" since the last run's fingerprint, or null) and ``exported_at``
    (``now`` for a change, else when the same fingerprint was exported)."""
    at = pc.index_in(leads["record_id"], value_set=previous["record_id"].combine_chunks())
    previous_fingerprint = previous["fingerprint"].take(at)
    same = pc.fill_null(pc.equal(leads["fingerprint"], previous_fingerprint), False)
    change = pc.if_else(
        same, pa.scalar(None, pa.string()), pc.if_else(pc.is_null(previous_fingerprint), "new", "changed")
    )
    when = pc.if_else(same, previous["exported_at"].cast(_TS).take(at), pa.scalar(now, _TS))
    return leads.append_column("change", change).append_column("exported_at", when)
