"""What identity resolution compares: per record, the keys built from its people fields, column-wise.

A record is any row that names a person (a lead, a visit, a sale, a webhook lead, a row of a user's
CSV). Its comparison fields (``FEATURE_SCHEMA``) are folded so that equal means "the same as far as
matching goes": names to lowercase ASCII letters (``Núñez`` → ``nunez``, ``O'Brien`` → ``obrien``),
a first name also to its canonical form (``Bill`` → ``william``, from ``nicknames.txt``; a nickname
of two names, ``Ted`` of Edward and Theodore, to both: ``first_canon``, ``first_canon_also``), the zip to
five digits, the street to house number plus the first word of its name (``12 N. Oak St Apt 4`` →
``12 oak``: a direction is skipped, the street type and unit are not looked at). E-mail and phone
are taken as the normalizers left them (lowercase address, E.164).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize import Locale, normalize_column

PEOPLE_COLUMNS = (
    "record_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "city",
    "state",
    "zip",
    "birth_date",
    "vin",
)
"""The columns a people table may have (``forecourt identity resolve``'s CSV); all but ``record_id``
may be missing or empty."""

FEATURE_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("first_name", pa.string()),
        ("first_canon", pa.string()),
        ("first_canon_also", pa.string()),
        ("last_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("zip5", pa.string()),
        ("street_key", pa.string()),
        ("birth_date", pa.string()),
        ("vin", pa.string()),
    ]
)
"""What the SQL of ``queries/identity/`` reads as ``identity_features``."""

_STREET_SKIP = (
    r"^(?:n|s|e|w|ne|nw|se|sw|north|south|east|west|old|the)$"  # a direction is not the street's name
)
_NORMALIZED_KINDS = {
    "first_name": "name",
    "last_name": "name",
    "email": "email",
    "phone": "phone",
    "zip": "zip",
    "birth_date": "date",
    "vin": "vin",
}


@cache
def nicknames() -> tuple[pa.Array, pa.Array, pa.Array]:
    """(name, canonical name, other canonical name) of ``nicknames.txt``: a canonical name stands for
    itself, a nickname for the first line it appears on; a name that is also a nickname of another
    line (``ted``: edward, theodore; ``jose``: jose, joseph) has that line's name as its other
    canonical name (null for the rest). ``nicknames.txt`` gives no name more than two."""
    text = resources.files("forecourt.identity").joinpath("nicknames.txt").read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    entries = [line.partition(":") for line in lines if line]
    canonical = {name.strip(): name.strip() for name, _, _ in entries}
    also: dict[str, str] = {}
    for name, _, variants in entries:
        for variant in variants.split():
            if canonical.setdefault(variant, name.strip()) != name.strip():
                also.setdefault(variant, name.strip())
    meanings = defaultdict(set)
    for name, _, variants in entries:
        for variant in [name.strip(), *variants.split()]:
            meanings[variant].add(name.strip())
    if crowded := sorted(name for name, of in meanings.items() if len(of) > 2):
        raise ValueError(f"nicknames.txt gives {', '.join(crowded)} more than two canonical names")
    keys = sorted(canonical)
    return (
        pa.array(keys, pa.string()),
        pa.array([canonical[k] for k in keys], pa.string()),
        pa.array([also.get(k) for k in keys], pa.string()),
    )


def fold_letters(values: pa.Array) -> pa.Array:
    """Lowercase ASCII letters only: accents removed, everything else dropped; empty becomes null."""
    folded = pc.utf8_lower(pc.utf8_normalize(values, "NFKD"))
    folded = pc.replace_substring_regex(folded, r"[^a-z]", "")
    return pc.if_else(pc.equal(folded, ""), pa.scalar(None, pa.string()), folded)


def _first_word(values: pa.Array) -> pa.Array:
    """The first word of each value (``Mary Ann`` → ``Mary``; a middle name or initial is dropped)."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.list_element(pc.split_pattern_regex(trimmed, r"\s+", max_splits=1), 0)


def _street_key(street: pa.Array) -> pa.Array:
    """House number and the first word of the street's name: ``1208 W. Oak Street Apt 4`` → ``1208 oak``."""
    lowered = pc.utf8_lower(pc.utf8_normalize(street, "NFKD"))
    words = pc.split_pattern_regex(pc.replace_substring_regex(lowered, r"[^a-z0-9 ]", " "), r"\s+")
    number = pc.list_element(words, 0)
    second = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(words), 1), words, None), 1)
    third = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(words), 2), words, None), 2)
    name = pc.if_else(pc.fill_null(pc.match_substring_regex(second, _STREET_SKIP), False), third, second)
    usable = pc.and_(pc.match_substring_regex(number, r"^\d+[a-z]?$"), pc.is_valid(name))
    return pc.if_else(
        pc.fill_null(usable, False),
        pc.binary_join_element_wise(number, name, " "),
        pa.scalar(None, pa.string()),
    )


def normalize_people(raw: pa.Table, locale: Locale) -> pa.Table:
    """A table of people as typed (strings) with each known column normalized like ingest does; an
    unreadable value becomes null (it cannot be evidence). Unknown columns are dropped."""
    columns: dict[str, pa.Array] = {}
    for name in PEOPLE_COLUMNS:
        if name not in raw.column_names:
            continue
        values = raw.column(name).combine_chunks().cast(pa.string())
        kind = _NORMALIZED_KINDS.get(name)
        if kind is not None:
            target = pa.date32() if kind == "date" else pa.string()
            values = normalize_column(kind, values, target, locale).values
        columns[name] = values
    return pa.table(columns)


def features(people: pa.Table) -> pa.Table:
    """The ``identity_features`` rows of normalized people (``normalize_people``, or curated rows):
    e-mail, phone and VIN are compared as the normalizers left them."""
    rows = people.num_rows

    def column(name: str) -> pa.Array:
        if name in people.column_names:
            return people.column(name).combine_chunks().cast(pa.string())
        return pa.nulls(rows, pa.string())

    first = fold_letters(_first_word(column("first_name")))
    nick, canon, also = nicknames()
    known = pc.index_in(first, value_set=nick)
    first_canon = pc.coalesce(canon.take(known), first)
    zip5 = pc.utf8_slice_codeunits(pc.replace_substring_regex(column("zip"), r"\D", ""), 0, 5)
    out = {
        "record_id": column("record_id"),
        "first_name": first,
        "first_canon": first_canon,
        "first_canon_also": also.take(known),
        "last_name": fold_letters(column("last_name")),
        "email": column("email"),
        "phone": column("phone"),
        "zip5": pc.if_else(pc.equal(pc.utf8_length(zip5), 5), zip5, pa.scalar(None, pa.string())),
        "street_key": _street_key(column("street")),
        "birth_date": column("birth_date"),
        "vin": column("vin"),
    }
    return pa.table(out, schema=FEATURE_SCHEMA)
