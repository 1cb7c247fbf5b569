"""One-ID: which records are the same person (ARCHITECTURE §6 ``resolve``, §7).

The set-based work is the Athena (Trino) SQL of ``queries/identity/``, run here on DuckDB (translated
by sqlglot, as ``forecourt query`` does) and on Athena at scale: blocking (``candidate_pairs``),
comparison with Fellegi-Sunter weights (``scored_pairs``), the links (``match_edges``) and connected
components (``propagate_labels``, repeated until no label changes). The few components in which a
chain of links joined two records found to conflict (``conflicted_components``) are re-formed in
Python, strongest links first, never joining the conflicting pair. Python also folds the comparison
fields (``features``) and names the persons.

Person ids (``ids``): a new person's id derives from its smallest ``record_id``, so the same records
give the same ids on every run, in any order; given the previous run's ids, persons found again keep
theirs, and when persons merge the oldest id survives.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Mapping, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from forecourt import bundled
from forecourt.analytics import configure, translate
from forecourt.identity.ids import Naming, name_components

if TYPE_CHECKING:
    import duckdb

QUERIES = bundled.queries_dir() / "identity"
STEPS = ("candidate_pairs", "scored_pairs", "match_edges")
FIELDS = ("first", "last", "email", "phone", "zip", "street", "birth", "vin")
"""The compared fields, as named in ``scored_pairs`` (``<field>_level``, ``<field>_weight``)."""
MAX_ROUNDS = 64


@dataclass(frozen=True)
class Level:
    """One comparison level of a field: how often true matches (m) and random pairs (u) show it."""

    m: float
    u: float

    @property
    def weight(self) -> float:
        """log2(m / u): the evidence this level adds to the match weight, in bits."""
        return math.log2(self.m / self.u)


def _default_levels() -> dict[str, dict[str, Level]]:
    return {
        "email": {"exact": Level(0.70, 1e-4), "close": Level(0.03, 3e-3), "different": Level(0.25, 0.9999)},
        "phone": {"exact": Level(0.60, 1e-4), "shared": Level(0.60, 1e-2), "different": Level(0.40, 0.9999)},
        "first": {
            "exact": Level(0.80, 1e-4),
            "nickname": Level(0.10, 2e-3),
            "swapped": Level(0.01, 1e-4),
            "close": Level(0.06, 5e-3),
            "initial": Level(0.02, 5e-2),
            "different": Level(0.02, 0.93),
        },
        "last": {
            "exact": Level(0.85, 1e-5),
            "swapped": Level(0.01, 1e-4),
            "close": Level(0.08, 2e-3),
            "different": Level(0.07, 0.99),
        },
        "zip": {"exact": Level(0.85, 1e-2), "different": Level(0.15, 0.99)},
        "street": {"exact": Level(0.75, 5e-4), "close": Level(0.10, 5e-4), "different": Level(0.15, 0.9999)},
        "birth": {"exact": Level(0.90, 1e-4), "close": Level(0.07, 1e-3), "different": Level(0.03, 0.9999)},
        "vin": {"exact": Level(0.50, 1e-5), "different": Level(0.50, 0.9999)},
    }


@dataclass(frozen=True)
class ResolveConfig:
    """The knobs of resolution (``forecourt identity resolve --config FILE.json`` overrides them)."""

    threshold: float = 0.9
    """Match probability from which a pair links. Raise it for fewer false merges, lower it to link
    more."""
    records_per_person: float = 2.0
    """How many records a person has on average: sets the prior (``scored_pairs.sql``)."""
    max_block: int = 100
    """A blocking key shared by more records proposes no pairs (see ``candidate_pairs.sql``)."""
    max_names: int = 4
    """An e-mail or phone on the records of more different first names is a placeholder and is not
    compared (``scored_pairs.sql``): a household has a few names, a dealership's own line many."""
    levels: dict[str, dict[str, Level]] = field(default_factory=_default_levels)

    @classmethod
    def from_json(cls, text: str) -> ResolveConfig:
        """Overrides from JSON: ``{"threshold": 14, "max_block": 300, "levels": {"email": {"exact":
        {"m": 0.7, "u": 0.0001}}}}``; what is not given keeps its default. Raises ValueError on an
        unknown field or level, or an m or u outside (0, 1]."""
        given = json.loads(text)
        unknown = set(given) - {"threshold", "records_per_person", "max_block", "max_names", "levels"}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        levels = _default_levels()
        for name, by_level in given.get("levels", {}).items():
            if name not in levels:
                raise ValueError(f"unknown field {name!r}; fields: {', '.join(levels)}")
            for level, mu in by_level.items():
                if level not in levels[name]:
                    raise ValueError(f"unknown level {name}.{level}; levels: {', '.join(levels[name])}")
                m, u = float(mu["m"]), float(mu["u"])
                if not (0 < m <= 1 and 0 < u <= 1):
                    raise ValueError(f"{name}.{level}: m and u must be in (0, 1]")
                levels[name][level] = Level(m, u)
        default = cls()
        return cls(
            threshold=float(given.get("threshold", default.threshold)),
            records_per_person=float(given.get("records_per_person", default.records_per_person)),
            max_block=int(given.get("max_block", default.max_block)),
            max_names=int(given.get("max_names", default.max_names)),
            levels=levels,
        )

    def weights_table(self) -> pa.Table:
        """``identity_weights``: one row, a column per field and level (its weight in bits); exact
        first names, last names and zips as their m and u, since their u depends on the value."""
        row: dict[str, float] = {}
        for name, by_level in self.levels.items():
            for level, values in by_level.items():
                if name in ("first", "last", "zip") and level == "exact":
                    row[f"{name}_exact_m"], row[f"{name}_exact_u"] = values.m, values.u
                else:
                    row[f"{name}_{level}"] = values.weight
        return pa.Table.from_pylist([row])

    def config_table(self) -> pa.Table:
        """``identity_config``: one row."""
        row = {
            "threshold": self.threshold,
            "records_per_person": self.records_per_person,
            "max_block": self.max_block,
            "max_names": self.max_names,
        }
        return pa.Table.from_pylist([row])


@dataclass
class Resolution:
    """What resolution found."""

    links: pa.Table
    """Per record: record_id, person_id, person_created, and the link that put it there (linked_to,
    match_weight; null for a record that is a person of its own)."""
    pairs: pa.Table
    """Every scored candidate pair with its levels, weight and whether it linked."""
    naming: Naming
    """How the persons were named: ids kept from the previous run, new ones, merges."""


def sql(step: str) -> str:
    """The Athena SQL of one step, as kept in ``queries/identity/``."""
    return (QUERIES / f"{step}.sql").read_text(encoding="utf-8")


def resolve(
    features: pa.Table,
    config: ResolveConfig | None = None,
    previous: Mapping[str, str] | None = None,
    created: Mapping[str, str] | None = None,
    now: str = "",
    *,
    population: pa.Table | None = None,
    cannot_link: pa.Table | None = None,
    retired: Set[str] = frozenset(),
) -> Resolution:
    """Resolve ``features`` (``identity.features.features``) into persons; ``previous`` (record →
    person id of an earlier run) and ``created`` (person id → when created) keep earlier ids.
    ``population`` (default: ``features``) is every record, when only some are resolved: block
    sizes and value frequencies count it all. ``cannot_link`` (left_id, right_id) are pairs that
    must never be one person (``forecourt identity split``); ``retired`` are ids merged away earlier,
    never given again. Raises ValueError when ``record_id``
    is missing on a row or not unique."""
    config = config or ResolveConfig()
    _check_ids(features)
    with _session(features, population, features, config, cannot_link) as con:
        _components(con, translate(sql("propagate_labels")))
        _split_conflicts(con, translate(sql("conflicted_components")))
        links, naming = _links(con, previous or {}, created or {}, now, retired)
        pairs = con.sql(
            "SELECT s.*, (e.left_id IS NOT NULL) AS linked FROM scored_pairs s "
            "LEFT JOIN match_edges e USING (left_id, right_id) ORDER BY left_id, right_id"
        ).to_arrow_table()
    return Resolution(links, pairs, naming)


def links_of(records: pa.Array, population: pa.Table, config: ResolveConfig | None = None) -> pa.Table:
    """The links (left_id, right_id, match_weight: ``match_edges``) between ``records`` and any
    record of ``population`` (which holds them): how an incremental run finds the persons its new
    records reach without comparing everyone with everyone."""
    _check_ids(population)
    scope = pa.table({"record_id": records})
    with _session(population, population, scope, config or ResolveConfig(), None) as con:
        return con.sql("SELECT * FROM match_edges ORDER BY left_id, right_id").to_arrow_table()


def _check_ids(features: pa.Table) -> None:
    ids = features.column("record_id")
    if ids.null_count:
        raise ValueError(f"{ids.null_count} record(s) without a record_id")
    if pc.count_distinct(ids).as_py() != features.num_rows:
        raise ValueError("record_id is not unique")


@contextmanager
def _session(
    features: pa.Table,
    population: pa.Table | None,
    scope: pa.Table,
    config: ResolveConfig,
    cannot_link: pa.Table | None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the inputs registered and the pair steps (``STEPS``) run."""
    import duckdb

    con = duckdb.connect()
    spill = tempfile.TemporaryDirectory(prefix="forecourt-identity-")
    try:
        configure(con, spill.name)
        con.register("identity_features", features)
        con.register("identity_population", features if population is None else population)
        con.register("identity_scope", scope.select(["record_id"]))
        con.register("identity_cannot_link", _NO_PAIRS if cannot_link is None else cannot_link)
        con.register("identity_config", config.config_table())
        con.register("identity_weights", config.weights_table())
        for step in STEPS:
            con.execute(f"CREATE TABLE {step} AS {translate(sql(step))}")
        yield con
    finally:
        con.close()
        spill.cleanup()


_NO_PAIRS = pa.table({"left_id": pa.array([], pa.string()), "right_id": pa.array([], pa.string())})


def _components(con: duckdb.DuckDBPyConnection, propagate: str) -> None:
    con.execute("CREATE TABLE identity_labels AS SELECT record_id, record_id AS label FROM identity_features")
    for _ in range(MAX_ROUNDS):
        con.execute(f"CREATE TABLE next_labels AS {propagate}")
        ((changed,),) = con.sql(
            "SELECT count(*) FROM next_labels n JOIN identity_labels l USING (record_id) "
            "WHERE n.label <> l.label"
        ).fetchall()
        con.execute("DROP TABLE identity_labels")
        con.execute("ALTER TABLE next_labels RENAME TO identity_labels")
        if changed == 0:
            return
    raise RuntimeError(f"labels still changing after {MAX_ROUNDS} rounds")


def _split_conflicts(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Re-form each component that holds a conflicting pair: its links strongest first, skipping a
    link that would put a conflicting pair in one person (``conflicted_components.sql``). The parts
    are labelled by their smallest record id."""
    rows = con.sql(query).fetchall()
    if not rows:
        return
    by_label: dict[str, list[tuple[str, str, str, float]]] = {}
    for label, kind, left, right, weight in rows:
        by_label.setdefault(label, []).append((kind, left, right, weight))
    relabel: list[tuple[str, str]] = []
    for items in by_label.values():
        relabel += _constrained_parts(items)
    con.register(
        "split_labels", pa.table({"record_id": [r for r, _ in relabel], "label": [n for _, n in relabel]})
    )
    con.execute(
        "UPDATE identity_labels SET label = s.label FROM split_labels s "
        "WHERE identity_labels.record_id = s.record_id"
    )


def _constrained_parts(items: list[tuple[str, str, str, float]]) -> list[tuple[str, str]]:
    """(record, label) for the records of one component: union-find over its links, strongest first
    (ties by record ids, so the result does not depend on row order), never joining two groups
    between which a conflict is known."""
    parent: dict[str, str] = {}
    members: dict[str, set[str]] = {}

    def root(record: str) -> str:
        while parent.setdefault(record, record) != record:
            parent[record] = parent[parent[record]]
            record = parent[record]
        members.setdefault(record, {record})
        return record

    conflicts: dict[str, set[str]] = {}
    for kind, left, right, _ in items:
        root(left), root(right)
        if kind == "conflict":
            conflicts.setdefault(left, set()).add(right)
            conflicts.setdefault(right, set()).add(left)
    links = sorted((i for i in items if i[0] == "link"), key=lambda i: (-i[3], i[1], i[2]))
    for _, left, right, _ in links:
        a, b = root(left), root(right)
        if a == b:
            continue
        small, big = sorted((members[a], members[b]), key=len)
        if any(conflicts.get(record, set()) & big for record in small):
            continue
        keep, gone = (a, b) if len(members[a]) >= len(members[b]) else (b, a)
        parent[gone] = keep
        members[keep] |= members.pop(gone)
    out: list[tuple[str, str]] = []
    for group in members.values():
        label = min(group)
        out += [(record, label) for record in group]
    return out


def _links(
    con: duckdb.DuckDBPyConnection,
    previous: Mapping[str, str],
    created: Mapping[str, str],
    now: str,
    retired: Set[str],
) -> tuple[pa.Table, Naming]:
    table = con.sql(
        """
        WITH kept AS (  -- the links inside one person (a conflict may have cut some)
            SELECT e.* FROM match_edges e
            JOIN identity_labels a ON a.record_id = e.left_id
            JOIN identity_labels b ON b.record_id = e.right_id
            WHERE a.label = b.label
        ),
        strongest AS (
            SELECT record_id, arg_max(other, match_weight) AS linked_to, max(match_weight) AS match_weight
            FROM (
                SELECT left_id AS record_id, right_id AS other, match_weight FROM kept
                UNION ALL
                SELECT right_id, left_id, match_weight FROM kept
            ) GROUP BY record_id
        )
        SELECT l.record_id, l.label, s.linked_to, s.match_weight
        FROM identity_labels l LEFT JOIN strongest s USING (record_id)
        ORDER BY l.record_id
        """
    ).to_arrow_table()
    labels = table.column("label").to_pylist()
    naming = name_components(labels, table.column("record_id").to_pylist(), previous, created, now, retired)
    persons = [naming.ids[label] for label in labels]
    links = pa.table(
        {
            "record_id": table.column("record_id"),
            "person_id": pa.array(persons, pa.string()),
            "person_created": pa.array([naming.created[p] for p in persons], pa.string()),
            "linked_to": table.column("linked_to"),
            "match_weight": table.column("match_weight"),
        }
    )
    return links, naming
