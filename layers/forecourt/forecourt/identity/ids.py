"""Person ids that last: a new run keeps the ids of the persons it finds again.

Resolution groups records into components; this names them. A component none of whose records had
a person names itself from its smallest record id (``person_id``), so a first run, or a re-run on
the same records, gives the same ids. A component that holds records of earlier persons takes the
oldest of their ids (earliest ``created``, then smallest id); the others are recorded as merged into
it. When an earlier person's records now fall into several components, the component holding most
of them (then the one with the smallest label) keeps its id; the others are new persons.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass


def person_id(label: str) -> str:
    """The id of a new person whose smallest record id is ``label``."""
    return "P" + hashlib.sha256(label.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Naming:
    """The ids of this run's components."""

    ids: dict[str, str]
    """Component label → person id."""
    created: dict[str, str]
    """Person id → when it was first created (ISO 8601): carried over for kept ids, ``now`` for new."""
    merged: list[tuple[str, str]]
    """(earlier person id, the person id it was merged into)."""
    kept: int
    new: int


def name_components(
    labels: Sequence[str],
    records: Sequence[str],
    previous: Mapping[str, str],
    created: Mapping[str, str],
    now: str,
    retired: Set[str] = frozenset(),
) -> Naming:
    """Ids for the components ``labels`` (one per record of ``records``) given the ``previous``
    record → person ids and each earlier person's ``created`` time; no new person takes an id of
    ``previous`` or one ``retired`` (merged away earlier)."""
    members: dict[str, Counter[str]] = {}
    for label, record in zip(labels, records, strict=True):
        earlier = previous.get(record)
        counts = members.setdefault(label, Counter())
        if earlier is not None:
            counts[earlier] += 1
    claims: dict[str, tuple[int, str]] = {}  # earlier id → (records, label) of its best component
    for label, counts in members.items():
        for earlier, count in counts.items():
            best = claims.get(earlier)
            if best is None or (-count, label) < (-best[0], best[1]):
                claims[earlier] = (count, label)
    ids: dict[str, str] = {}
    merged: list[tuple[str, str]] = []
    taken = set(previous.values()) | set(retired)
    for label in sorted(members):
        mine = sorted(
            (earlier for earlier, (_, owner) in claims.items() if owner == label),
            key=lambda earlier: (created.get(earlier, now), earlier),
        )
        if mine:
            ids[label] = mine[0]
            merged += [(other, mine[0]) for other in mine[1:]]
            continue
        candidate, n = person_id(label), 1
        while candidate in taken:
            candidate, n = person_id(f"{label}#{n}"), n + 1
        taken.add(candidate)
        ids[label] = candidate
    kept = set(claims)
    out_created = {pid: (created.get(pid, now) if pid in kept else now) for pid in ids.values()}
    new = sum(1 for pid in ids.values() if pid not in kept)
    return Naming(ids, out_created, merged, len(ids) - new, new)
