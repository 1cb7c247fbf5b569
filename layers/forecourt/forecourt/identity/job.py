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
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
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
    requests = [_write("person_links", links, now), _write("persons", persons, now)]
    commits.send(requests)
    dealers = defaultdict(set)
    for person, dealer in zip(links["person_id"].to_pylist(), links["dealer_id"].to_pylist(), strict=True):
        dealers[person].add(dealer)
    sizes = pc.value_counts(links["person_id"]).field("counts").to_pylist()
    return ResolveRun(
        records=links.num_rows,
        persons=len(sizes),
        multi_record_persons=sum(1 for n in sizes if n > 1),
        cross_dealer_persons=sum(1 for d in dealers.values() if len(d) > 1),
        kept=result.naming.kept,
        new=result.naming.new,
        merged=len(result.naming.merged),
        requests=requests,
    )


def link_rows(people: pa.Table, result: Resolution, now: datetime) -> pa.Table:
    """``person_links`` rows: each record with its person and the evidence of its strongest link."""
    evidence: dict[tuple[str, str], str] = {}
    for pair in result.pairs.filter(result.pairs["linked"]).to_pylist():
        levels = {name: pair[f"{name}_level"] for name in FIELDS if pair[f"{name}_level"] != "missing"}
        evidence[(pair["left_id"], pair["right_id"])] = json.dumps(levels, sort_keys=True)
    links = result.links
    by_record = {
        r: (d, s)
        for r, d, s in zip(
            people["record_id"].to_pylist(),
            people["dataset"].to_pylist(),
            people["dealer_id"].to_pylist(),
            strict=True,
        )
    }
    records = links["record_id"].to_pylist()
    linked_to = links["linked_to"].to_pylist()
    rows = len(records)
    return pa.table(
        {
            "upload_id": pa.repeat(pa.scalar(RUN_ID), rows),
            "record_id": links["record_id"],
            "dataset": pa.array([by_record[r][0] for r in records], pa.string()),
            "dealer_id": pa.array([by_record[r][1] for r in records], pa.string()),
            "person_id": links["person_id"],
            "person_created": pa.array([_instant(c) for c in links["person_created"].to_pylist()], _TS),
            "linked_to": links["linked_to"],
            "match_weight": links["match_weight"],
            "evidence": pa.array(
                [
                    None if o is None else evidence.get((min(r, o), max(r, o)))
                    for r, o in zip(records, linked_to, strict=True)
                ],
                pa.string(),
            ),
            "received_at": pa.repeat(pa.scalar(now, _TS), rows),
        }
    )


def person_rows(links: pa.Table, result: Resolution, now: datetime) -> pa.Table:
    """``persons`` rows: one per person, and one per earlier id merged into another."""
    grouped: dict[str, dict[str, Any]] = {}
    for person, created, dealer, dataset in zip(
        links["person_id"].to_pylist(),
        links["person_created"].to_pylist(),
        links["dealer_id"].to_pylist(),
        links["dataset"].to_pylist(),
        strict=True,
    ):
        row = grouped.setdefault(
            person, {"created_at": created, "records": 0, "dealers": set(), "datasets": set()}
        )
        row["records"] += 1
        row["dealers"].add(dealer)
        row["datasets"].add(dataset)
    rows = [
        {
            "upload_id": RUN_ID,
            "person_id": person,
            "created_at": row["created_at"],
            "records": row["records"],
            "dealers": len(row["dealers"]),
            "datasets": ",".join(sorted(row["datasets"])),
            "merged_into": None,
            "received_at": now,
        }
        for person, row in sorted(grouped.items())
    ]
    for merged, into in result.naming.merged:
        rows.append(
            {
                "upload_id": RUN_ID,
                "person_id": merged,
                "created_at": grouped[into]["created_at"],
                "records": 0,
                "dealers": 0,
                "datasets": None,
                "merged_into": into,
                "received_at": now,
            }
        )
    from forecourt import schemas

    return pa.Table.from_pylist(rows, schemas.get("persons").arrow_schema())


_TS = pa.timestamp("us", tz="UTC")


@cache
def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _write(table: str, rows: pa.Table, now: datetime) -> Any:
    """One run's rows of ``table`` as data files in the lake; the commit request for them."""
    from forecourt import aws, lake, schemas
    from forecourt.commits import CommitRequest
    from forecourt.config import settings

    dataset = schemas.get(table)
    conf = settings()
    writer = lake.DataFileWriter(
        aws.s3_filesystem(),
        conf.lake_bucket,
        table,
        dataset.arrow_schema(),
        RUN_ID,
        now.date(),
        row_group_rows=conf.row_group_rows,
        file_rows=conf.file_rows,
    )
    writer.write(rows.select(dataset.column_names).cast(dataset.arrow_schema()))
    files = writer.close()
    return CommitRequest(table=table, upload_id=RUN_ID, files=[f"s3://{f}" for f in files])
