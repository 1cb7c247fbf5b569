"""Audience snapshots (ARCHITECTURE §6 ``audiences``, first half; issue 6): every segment's lists as
of a moment, each member marked with whether it may leave for an advertising platform.

1. ``activity`` as of ``as_of`` (the enrichment's, ``queries/enrich/activity.sql``).
2. Each segment of ``segments.json`` runs its query over it: the members of its lists.
3. The records of those persons (``queries/audiences/people.sql``, every version's latest, whatever
   its date) go through the consent gate with the suppression list (``consent.gate``).
4. ``audience_members``: one row per list and member, ``excluded`` naming why a member is kept back
   (null when it may leave; ``no_records`` when the person's records were not found, so nothing is
   let through unchecked), committed as a new snapshot named by its build time: the dated history
   the syncs diff against, never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.audiences import consent
from forecourt.audiences import segments as segments_module
from forecourt.audiences.segments import QUERIES, Segments, audience_name
from forecourt.privacy import suppression

_TS = pa.timestamp("us", tz="UTC")
NO_RECORDS = "no_records"
"""A member whose records the gate could not read (e.g. re-resolved meanwhile): never let through."""
FINANCIAL = ("finance_type", "finance_ends", "deal_gross")
"""``activity``'s columns from ``sales_finance``: removed before any segment query runs."""


def snapshot_id(built_at: datetime) -> str:
    """The ``upload_id`` of the snapshot built at ``built_at``: that moment, UTC (``20261207T110102Z``).

    Every build is a new snapshot, and a snapshot never changes once written: a sync that used one
    can always derive again what it sent. Nothing before the time: Iceberg keeps 16 characters of a
    string column's bounds, and the committer tells uploads apart by those bounds."""
    return f"{built_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


@dataclass
class ListCount:
    """One list of a snapshot: its members, those who may leave, and why the others stay."""

    audience: str
    segment: str
    kind: str
    members: int
    eligible: int
    excluded: dict[str, int]


@dataclass
class BuildRun:
    """What one build did."""

    as_of: datetime
    snapshot: str
    lists: list[ListCount]
    requests: list[Any] = field(default_factory=list)


def run(now: datetime, as_of: datetime | None = None, segments: Segments | None = None) -> BuildRun:
    """Build every list as of ``as_of`` (default ``now``) and queue the snapshot's commit."""
    from forecourt import commits
    from forecourt.enrich.job import activity

    segments = segments or segments_module.load()
    as_of = as_of or now
    members = member_rows(activity(as_of), segments, as_of)
    records = people_records(members["person_id"])
    gated = consent.gate(records, suppressed=suppression.suppressed_persons(records))
    reason = pc.index_in(members["person_id"], value_set=gated.reasons["person_id"].combine_chunks())
    excluded = gated.reasons["reason"].combine_chunks().take(reason)
    found = pc.is_in(members["person_id"], value_set=pc.unique(records["person_id"]))
    excluded = pc.if_else(found, excluded, pa.scalar(NO_RECORDS))
    snapshot = snapshot_id(now)
    n = members.num_rows
    table = members.append_column("excluded", excluded)
    table = table.append_column("upload_id", pa.repeat(pa.scalar(snapshot), n))
    table = table.append_column("as_of", pa.repeat(pa.scalar(as_of, _TS), n))
    table = table.append_column("received_at", pa.repeat(pa.scalar(now, _TS), n))
    request = commits.write_table("audience_members", table, snapshot, now.date())
    commits.send([request])
    return BuildRun(as_of=as_of, snapshot=snapshot, lists=counts(table, segments), requests=[request])


def member_rows(activity: pa.Table, segments: Segments, as_of: datetime) -> pa.Table:
    """``audience``, ``segment``, ``list_key``, ``kind``, ``person_id``, ``evidence_at``: every
    segment's query over ``activity``, sorted by list and person."""
    from forecourt import analytics

    found = [_MEMBERS.empty_table()]
    # the segment files are checked for financial columns; without them here, none can slip through
    activity = activity.drop_columns([name for name in FINANCIAL if name in activity.column_names])
    for segment in segments.segments:
        rows = analytics.run_query(segment.sql(as_of), tables={"activity": activity}).to_arrow()
        keys = rows["list_key"].combine_chunks().cast(pa.string())
        encoded = pc.dictionary_encode(keys, null_encoding="encode")  # a name per distinct key, not per row
        names = [audience_name(segment.segment, key) for key in encoded.dictionary.to_pylist()]
        n = rows.num_rows
        found.append(
            pa.table(
                {
                    "audience": pa.array(names, pa.string()).take(encoded.indices),
                    "segment": pa.repeat(pa.scalar(segment.segment), n),
                    "list_key": keys,
                    "kind": pa.repeat(pa.scalar(segment.kind), n),
                    "person_id": rows["person_id"],
                    "evidence_at": rows["evidence_at"].cast(_TS),
                }
            ).cast(_MEMBERS)
        )
    return pa.concat_tables(found).sort_by([("audience", "ascending"), ("person_id", "ascending")])


_MEMBERS = pa.schema(
    [
        ("audience", pa.string()),
        ("segment", pa.string()),
        ("list_key", pa.string()),
        ("kind", pa.string()),
        ("person_id", pa.string()),
        ("evidence_at", _TS),
    ]
)


def people_records(person_ids: pa.ChunkedArray | pa.Array) -> pa.Table:
    """The records of ``person_ids`` with what the gate and the platforms read
    (``queries/audiences/people.sql``)."""
    from forecourt import analytics

    wanted = pa.table({"person_id": pc.unique(person_ids)})
    people = (QUERIES / "people.sql").read_text(encoding="utf-8")
    sql = f"SELECT * FROM ({people}) AS r WHERE r.person_id IN (SELECT person_id FROM wanted)"
    sources = {name: analytics.iceberg_source(name) for name in ("leads", "visits", "sales", "person_links")}
    return analytics.run_query(sql, tables={**sources, "wanted": wanted}).to_arrow()


def counts(snapshot: pa.Table, segments: Segments) -> list[ListCount]:
    """Per list of ``snapshot`` (``audience_members`` rows): members, eligible, and excluded per
    reason (every reason of ``consent.REASONS`` but ``no_person``, zero included)."""
    kinds = {s.segment: s.kind for s in segments.segments}
    reasons = [r for r in consent.REASONS if r != "no_person"] + [NO_RECORDS]
    per: dict[str, ListCount] = {}
    grouped = (
        snapshot.append_column("reason", pc.fill_null(snapshot["excluded"], ""))
        .group_by(["audience", "segment", "reason"])
        .aggregate([("person_id", "count")])
    )
    for row in grouped.to_pylist():
        entry = per.setdefault(
            row["audience"],
            ListCount(row["audience"], row["segment"], kinds.get(row["segment"], "include"), 0, 0,
                      dict.fromkeys(reasons, 0)),
        )  # fmt: skip
        entry.members += row["person_id_count"]
        if row["reason"]:
            entry.excluded[row["reason"]] += row["person_id_count"]
        else:
            entry.eligible += row["person_id_count"]
    return [per[name] for name in sorted(per)]
