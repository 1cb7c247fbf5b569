"""The ``resolve`` job over the lake: every curated record with a person in it → ``persons`` and
``person_links`` (ARCHITECTURE §6).

It reads the records (``queries/identity/people_records.sql``), the previous run's ``person_links``
(so that persons keep their ids), the pairs split apart by hand (``identity_splits``) and the ids
merged away earlier, resolves, and writes both tables as one run: every row carries the upload id
``identity-resolve``, so the committer replaces the previous run's rows with this run's in one
commit per table.

A run is incremental once a previous run exists: only the records that are new or changed since
(``received_at`` after the version last resolved) are compared with everyone (blocking keeps that
near-linear), and only the persons they link to — with those whose records changed or vanished, or
that hold a pair split apart since — are resolved again, with the same SQL; every other person is
carried over as it was. ``full=True`` (or a run in which most records are new) resolves everything,
which is what a run gives after the settings change. Running it twice on the same lake changes
nothing but ``received_at``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.identity.features import features
from forecourt.identity.resolve import FIELDS, Resolution, ResolveConfig, links_of, resolve, sql

RUN_ID = "identity-resolve"
FULL_SHARE = 0.5
"""An incremental run whose new or changed records are more than this share of all resolves them
all instead: comparing them with everyone would cost a full run, and then some."""


@dataclass
class ResolveRun:
    """What one run did."""

    mode: str
    """'full' (every record resolved) or 'incremental'."""
    records: int
    changed: int
    """Records new or changed since the previous run (all of them on a first run)."""
    resolved: int
    """Records resolved this run: the changed ones and the records of the persons they reach."""
    persons: int
    multi_record_persons: int
    cross_dealer_persons: int
    kept: int
    """Persons whose id an earlier run gave (carried over or found again)."""
    new: int
    merged: int
    published: int
    """Identity index items written (``identity_index.publish``): the keys whose persons changed."""
    requests: list[Any]
    """The commit requests sent (one per table)."""


def run(now: datetime, config: ResolveConfig | None = None, *, full: bool = False) -> ResolveRun:
    """Resolve the lake's records and queue the commits of ``persons`` and ``person_links``:
    incrementally when a previous run exists, unless ``full``."""
    from forecourt import analytics, commits

    people = analytics.run_query(sql("people_records")).to_arrow()
    everyone = features(people)
    earlier = analytics.run_query(f"SELECT {', '.join(_CARRIED)} FROM person_links").to_arrow()
    apart = analytics.run_query("SELECT DISTINCT left_id, right_id FROM identity_splits").to_arrow()
    retired = analytics.run_query(
        "SELECT person_id, created_at, merged_into FROM persons WHERE merged_into IS NOT NULL"
    ).to_arrow()
    changed = _changed(people, earlier)
    scope = None if full else _scope(people, everyone, earlier, apart, changed, config)
    if scope is None:
        resolving, resolving_features, carried = people, everyone, earlier.slice(0, 0)
    else:
        in_scope = pc.is_in(people["record_id"], value_set=scope)
        resolving, resolving_features = people.filter(in_scope), everyone.filter(in_scope)
        still = pc.is_in(earlier["record_id"], value_set=people["record_id"])
        carried = earlier.filter(pc.and_(still, pc.invert(pc.is_in(earlier["record_id"], value_set=scope))))
    previous = dict(zip(earlier["record_id"].to_pylist(), earlier["person_id"].to_pylist(), strict=True))
    created = {
        person: when.isoformat(timespec="seconds")
        for person, when in zip(
            earlier["person_id"].to_pylist(), earlier["person_created"].to_pylist(), strict=True
        )
    }
    result = resolve(
        resolving_features,
        config,
        previous,
        created,
        now.isoformat(timespec="seconds"),
        population=everyone,
        cannot_link=apart,
        retired=set(retired["person_id"].to_pylist()),
    )
    links = pa.concat_tables([link_rows(resolving, result, now), _carry(carried, now)]).sort_by("record_id")
    persons = person_rows(links, result, now, retired)
    requests = [
        commits.write_table("person_links", links, RUN_ID, now.date()),
        commits.write_table("persons", persons, RUN_ID, now.date()),
    ]
    # first: a failed run is redone whole; before a first run of this version (rows without
    # record_received_at) nothing is assumed published
    published_before = earlier.num_rows > 0 and not earlier["record_received_at"].null_count
    published = _publish(people, links, previous if published_before else {}, now)
    commits.send(requests)
    current = persons.filter(pc.is_null(persons["merged_into"]))
    return ResolveRun(
        mode="full" if scope is None else "incremental",
        records=links.num_rows,
        changed=pc.sum(changed).as_py() or 0,
        resolved=resolving.num_rows,
        persons=current.num_rows,
        multi_record_persons=pc.sum(pc.greater(current["records"], 1)).as_py() or 0,
        cross_dealer_persons=pc.sum(pc.greater(current["dealers"], 1)).as_py() or 0,
        kept=current.num_rows - result.naming.new,
        new=result.naming.new,
        merged=len(result.naming.merged),
        published=published,
        requests=requests,
    )


@dataclass
class Split:
    """A person split by hand: ``records`` leave ``person_id`` and are kept apart from ``rest``."""

    split_id: str
    person_id: str
    records: list[str]
    rest: list[str]
    request: Any
    """The commit request of the ``identity_splits`` rows."""


def split(records: list[str], reason: str | None, now: datetime) -> Split:
    """Record that ``records`` (all of one person, not all of it) are not the rest of that person's
    records: one ``identity_splits`` row per pair, honoured by every later resolve run, which gives
    them a person of their own. Raises ValueError naming the record that is in no person, the
    persons when they are several, or that nothing would be left."""
    from forecourt import analytics, commits
    from forecourt.lake import stable_hash

    wanted = sorted(set(records))
    if not wanted:
        raise ValueError("name at least one record to split off")
    quoted = ", ".join("'" + r.replace("'", "''") + "'" for r in wanted)
    owners = analytics.run_query(
        f"SELECT record_id, person_id FROM person_links WHERE record_id IN ({quoted})"
    ).to_arrow()
    person_of = dict(zip(owners["record_id"].to_pylist(), owners["person_id"].to_pylist(), strict=True))
    missing = [r for r in wanted if r not in person_of]
    if missing:
        raise ValueError(f"{', '.join(missing)}: in no person (run `forecourt identity run` first?)")
    persons = sorted(set(person_of.values()))
    if len(persons) > 1:
        raise ValueError(
            f"the records are in {len(persons)} persons ({', '.join(persons)}): split one at a time"
        )
    person = persons[0]
    rest = (
        analytics.run_query(
            f"SELECT record_id FROM person_links WHERE person_id = '{person}' ORDER BY record_id"
        )
        .to_arrow()["record_id"]
        .to_pylist()
    )
    rest = [r for r in rest if r not in person_of]
    if not rest:
        raise ValueError(f"those are all the records of {person}: nothing to split them from")
    split_id = stable_hash(person, *wanted, now.isoformat())[:16]
    upload = f"identity-split-{split_id}"
    rows = [
        {"upload_id": upload, "split_id": split_id, "left_id": left, "right_id": right, "person_id": person,
         "reason": reason, "received_at": now}
        for left in wanted
        for right in rest
    ]  # fmt: skip
    request = commits.write_records("identity_splits", rows, upload, now.date())
    commits.send([request])
    return Split(split_id, person, wanted, rest, request)


_CARRIED = (
    "record_id", "dataset", "dealer_id", "person_id", "person_created", "linked_to", "match_weight",
    "evidence", "record_received_at",
)  # fmt: skip


def _changed(people: pa.Table, earlier: pa.Table) -> pa.Array:
    """Per record of ``people``: new, or a version received after the one last resolved."""
    position = pc.index_in(people["record_id"], value_set=earlier["record_id"])
    resolved_version = pc.take(earlier["record_received_at"], position)
    same = pc.fill_null(pc.less_equal(people["received_at"], resolved_version), False)
    return pc.invert(same)


def _scope(
    people: pa.Table,
    everyone: pa.Table,
    earlier: pa.Table,
    apart: pa.Table,
    changed: pa.Array,
    config: ResolveConfig | None,
) -> pa.Array | None:
    """The records an incremental run resolves (None: all of them): the changed records and every
    record of the earlier persons they link to, of persons that lost a record, and of persons that
    hold a pair split apart since."""
    if earlier.num_rows == 0 or (pc.sum(changed).as_py() or 0) > FULL_SHARE * max(people.num_rows, 1):
        return None
    touched = people["record_id"].filter(changed)
    edges = links_of(touched, everyone, config)
    still = pc.is_in(earlier["record_id"], value_set=people["record_id"])
    gone = earlier["record_id"].filter(pc.invert(still))
    ends = [*edges["left_id"].chunks, *edges["right_id"].chunks]
    reached = pa.chunked_array([*ends, touched, gone], pa.string())
    hit = earlier["person_id"].filter(pc.is_in(earlier["record_id"], value_set=reached))

    def person_of(records: pa.ChunkedArray) -> pa.ChunkedArray:
        return pc.take(earlier["person_id"], pc.index_in(records, value_set=earlier["record_id"]))

    left, right = person_of(apart["left_id"]), person_of(apart["right_id"])
    together = left.filter(pc.fill_null(pc.equal(left, right), False))  # a split pair in one person
    hit = pa.chunked_array([*hit.chunks, *together.chunks], pa.string())
    theirs = earlier["record_id"].filter(pc.is_in(earlier["person_id"], value_set=hit))
    return pc.unique(pa.chunked_array([*theirs.chunks, touched], pa.string()).combine_chunks())


def _publish(people: pa.Table, links: pa.Table, previous: Mapping[str, str], at: datetime) -> int:
    """Bring the identity index up to date: publish every e-mail and phone (``routing.person_keys``,
    as routing reads them) whose persons, or those persons' keys, differ from what the ``previous``
    run's persons (record → person; empty: nothing published yet) give; returns the items written.
    A key no record carries any more (a changed e-mail, an erased record) keeps its item: erasure
    (issue 6) removes it."""
    from forecourt import identity_index
    from forecourt.routing import person_keys

    keyed = [
        (row["record_id"], person_keys(row))
        for row in people.select(["record_id", "email", "phone"]).to_pylist()
    ]
    now = _key_items(
        keyed, dict(zip(links["record_id"].to_pylist(), links["person_id"].to_pylist(), strict=True))
    )
    before = _key_items(keyed, previous) if previous else {}
    return identity_index.publish({key: item for key, item in now.items() if before.get(key) != item}, at)


def _key_items(
    keyed: list[tuple[str, list[str]]], person_of: Mapping[str, str]
) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Identity key → (the persons whose records carry it, all those persons' keys), from each
    record's keys (``keyed``) and its person (``person_of``)."""
    persons_by_key: dict[str, set[str]] = {}
    keys_of: dict[str, set[str]] = {}
    for record, keys in keyed:
        person = person_of.get(record)
        if person is None:
            continue
        for key in keys:
            persons_by_key.setdefault(key, set()).add(person)
            keys_of.setdefault(person, set()).add(key)
    return {
        key: (tuple(sorted(persons)), tuple(sorted({k for p in persons for k in keys_of[p]})))
        for key, persons in persons_by_key.items()
    }


def _carry(carried: pa.Table, now: datetime) -> pa.Table:
    """The ``person_links`` rows of the persons this run left alone, as this run writes them."""
    from forecourt import schemas

    rows = carried.num_rows
    table = carried.append_column("upload_id", pa.repeat(pa.scalar(RUN_ID), rows))
    table = table.append_column("received_at", pa.repeat(pa.scalar(now, _TS), rows))
    schema = schemas.get("person_links").arrow_schema()
    return table.select(schema.names).cast(schema)


def link_rows(people: pa.Table, result: Resolution, now: datetime) -> pa.Table:
    """``person_links`` rows: each record with its person and the evidence of its strongest link."""
    from forecourt import schemas

    linked = result.pairs.filter(result.pairs["linked"])
    levels = linked.select([f"{name}_level" for name in FIELDS]).to_pylist()
    evidence = pa.table(
        {
            "low": linked["left_id"],
            "high": linked["right_id"],
            "evidence": pa.array([_evidence(pair) for pair in levels], pa.string()),
        }
    )
    versions = people.select(["record_id", "dataset", "dealer_id", "received_at"])
    versions = versions.rename_columns(["record_id", "dataset", "dealer_id", "version"])
    links = result.links.join(versions, "record_id")
    record, other = links["record_id"], links["linked_to"]
    first = pc.less(record, other)  # pairs are kept with left_id < right_id
    links = links.append_column("low", pc.if_else(first, record, other))
    links = links.append_column("high", pc.if_else(first, other, record))
    links = links.join(evidence, ["low", "high"]).sort_by("record_id")
    rows = links.num_rows
    schema = schemas.get("person_links").arrow_schema()
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
            "record_received_at": links["version"].cast(_TS),
            "received_at": pa.repeat(pa.scalar(now, _TS), rows),
        }
    ).cast(schema)


def person_rows(
    links: pa.Table, result: Resolution, now: datetime, retired: pa.Table | None = None
) -> pa.Table:
    """``persons`` rows: one per person, and one per id merged into another, this run (naming) or
    earlier (``retired``: person_id, created_at, merged_into), pointing at the id that survives."""
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
    into = dict(result.naming.merged)

    def survivor(person: str) -> str:
        while person in into:
            person = into[person]
        return person

    merged = [
        {"upload_id": RUN_ID, "person_id": old, "created_at": created[new], "records": 0, "dealers": 0,
         "datasets": None, "merged_into": new, "received_at": now}
        for old, new in result.naming.merged
    ]  # fmt: skip
    earlier = [] if retired is None else retired.to_pylist()
    merged += [
        {"upload_id": RUN_ID, "person_id": old["person_id"], "created_at": old["created_at"], "records": 0,
         "dealers": 0, "datasets": None, "merged_into": survivor(old["merged_into"]), "received_at": now}
        for old in earlier
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
