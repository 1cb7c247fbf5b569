"""The ``resolve`` job over the lake: every curated record with a person in it → ``persons`` and
``person_links`` (ARCHITECTURE §6).

It reads the records (``queries/identity/people_records.sql``) and the previous run's
``person_links`` (so that persons keep their ids), resolves, and writes both tables as one run:
every row carries the upload id ``identity-resolve``, so the committer replaces the previous run's
rows with this run's in one commit per table. Running it twice on the same lake changes nothing but
``received_at``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.identity.features import features
from forecourt.identity.resolve import FIELDS, Resolution, ResolveConfig, resolve, sql

RUN_ID = "identity-resolve"


@dataclass
class ResolveRun:
    """What one run did."""

    records: int
    persons: int
    multi_record_persons: int
    cross_dealer_persons: int
    kept: int
    new: int
    merged: int
    requests: list[Any]
    """The commit requests sent (one per table)."""


def run(now: datetime, config: ResolveConfig | None = None) -> ResolveRun:
    """Resolve the lake's records and queue the commits of ``persons`` and ``person_links``."""
    from forecourt import analytics, commits

    people = analytics.run_query(sql("people_records")).to_arrow()
    earlier = analytics.run_query("SELECT record_id, person_id, person_created FROM person_links").to_arrow()
    previous = dict(zip(earlier["record_id"].to_pylist(), earlier["person_id"].to_pylist(), strict=True))
    created = {
        person: when.isoformat(timespec="seconds")
        for person, when in zip(
            earlier["person_id"].to_pylist(), earlier["person_created"].to_pylist(), strict=True
        )
    }
    result = resolve(features(people), config, previous, created, now.isoformat(timespec="seconds"))
    links = link_rows(people, result, now)
    persons = person_rows(links, result, now)
    requests = [
        commits.write_table("person_links", links, RUN_ID, now.date()),
        commits.write_table("persons", persons, RUN_ID, now.date()),
    ]
    commits.send(requests)
    current = persons.filter(pc.is_null(persons["merged_into"]))
    return ResolveRun(
        records=links.num_rows,
        persons=current.num_rows,
        multi_record_persons=pc.sum(pc.greater(current["records"], 1)).as_py() or 0,
        cross_dealer_persons=pc.sum(pc.greater(current["dealers"], 1)).as_py() or 0,
        kept=result.naming.kept,
        new=result.naming.new,
        merged=len(result.naming.merged),
        requests=requests,
    )


def link_rows(people: pa.Table, result: Resolution, now: datetime) -> pa.Table:
    """``person_links`` rows: each record with its person and the evidence of its strongest link."""
    linked = result.pairs.filter(result.pairs["linked"])
    levels = linked.select([f"{name}_level" for name in FIELDS]).to_pylist()
    evidence = pa.table(
        {
            "low": linked["left_id"],
            "high": linked["right_id"],
            "evidence": pa.array([_evidence(pair) for pair in levels], pa.string()),
        }
    )
    links = result.links.join(people.select(["record_id", "dataset", "dealer_id"]), "record_id")
    record, other = links["record_id"], links["linked_to"]
    first = pc.less(record, other)  # pairs are kept with left_id < right_id
    links = links.append_column("low", pc.if_else(first, record, other))
    links = links.append_column("high", pc.if_else(first, other, record))
    links = links.join(evidence, ["low", "high"]).sort_by("record_id")
    rows = links.num_rows
    return pa.table(
        {
            "upload_id": pa.repeat(pa.scalar(RUN_ID), rows),
            "record_id": links["record_id"],
            "dataset": links["dataset"],
            "dealer_id": links["dealer_id"],
            "person_id": links["person_id"],
            "person_created": links["person_created"].cast(_TS),
            "linked_to": links["linked_to"],
            "match_weight": links["match_weight"],
            "evidence": links["evidence"],
            "received_at": pa.repeat(pa.scalar(now, _TS), rows),
        }
    )


def person_rows(links: pa.Table, result: Resolution, now: datetime) -> pa.Table:
    """``persons`` rows: one per person, and one per earlier id merged into another."""
    from forecourt import schemas

    ordered = links.sort_by([("person_id", "ascending"), ("dataset", "ascending")])
    grouped = ordered.group_by("person_id", use_threads=False).aggregate(  # keeps the order: datasets sorted
        [
            ("person_created", "min"),
            ("record_id", "count"),
            ("dealer_id", "count_distinct"),
            ("dataset", "distinct"),
        ]
    )
    persons = grouped.num_rows
    current = pa.table(
        {
            "upload_id": pa.repeat(pa.scalar(RUN_ID), persons),
            "person_id": grouped["person_id"],
            "created_at": grouped["person_created_min"],
            "records": grouped["record_id_count"],
            "dealers": grouped["dealer_id_count_distinct"],
            "datasets": pc.binary_join(grouped["dataset_distinct"], ","),
            "merged_into": pa.nulls(persons, pa.string()),
            "received_at": pa.repeat(pa.scalar(now, _TS), persons),
        }
    )
    created = dict(
        zip(grouped["person_id"].to_pylist(), grouped["person_created_min"].to_pylist(), strict=True)
    )
    merged = [
        {"upload_id": RUN_ID, "person_id": old, "created_at": created[into], "records": 0, "dealers": 0,
         "datasets": None, "merged_into": into, "received_at": now}
        for old, into in result.naming.merged
    ]  # fmt: skip
    schema = schemas.get("persons").arrow_schema()
    return pa.concat_tables([current.cast(schema), pa.Table.from_pylist(merged, schema)])


_TS = pa.timestamp("us", tz="UTC")


def _evidence(levels: dict[str, str]) -> str:
    """A linked pair's comparison levels as JSON, fields without a value on either side left out."""
    return json.dumps(
        {name: levels[f"{name}_level"] for name in FIELDS if levels[f"{name}_level"] != "missing"},
        sort_keys=True,
    )
