"""Who may leave for an advertising platform (issue 6, "Segments and consent"): the consent gate.

``gate`` takes the records of an audience's people (one row per record: ``person_id`` and the
consent columns every dataset carries) and the persons on the suppression list, and keeps a person
only when none of that says no:

- ``suppressed``: an e-mail or phone of the person is on the suppression list (an erasure or a
  request never to be contacted again; ``privacy.suppression``);
- ``opted_out_of_sale_or_sharing``: any record with ``ccpa_opt_out`` (CCPA/CPRA): an opt-out stands
  until the person opts back in, which no feed reports, so one is enough;
- ``global_privacy_control``: any record with ``gpc`` (a browser's opt-out signal, honoured as one);
- ``eea_without_consent``: a person with any record in the EEA (or the UK or Switzerland, which
  Google's EU user consent policy also covers) whose latest stated consents (by ``consent_at``; a
  statement without a time counts as the latest, and at the same time a denial wins) are not both
  ``GRANTED`` for ad user data and ad personalization;
- ``consent_denied``: anywhere else, a person whose latest stated consent for ad user data or ad
  personalization is ``DENIED`` (no consent is needed there, but a stated no is not uploaded under
  a job that declares consent);
- ``no_person``: a record without a ``person_id`` never leaves (counted per record).

A person excluded for several reasons is counted under the first of that order. Financial columns
never enter: the gate reads only the columns of ``CONSENT_COLUMNS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

CONSENT_COLUMNS = (
    "person_id",
    "country",
    "ccpa_opt_out",
    "gpc",
    "ad_user_data_consent",
    "ad_personalization_consent",
    "consent_at",
)
REASONS = (
    "suppressed",
    "opted_out_of_sale_or_sharing",
    "global_privacy_control",
    "eea_without_consent",
    "consent_denied",
    "no_person",
)
"""Why people are kept back; ``no_person`` counts *records* without a ``person_id`` (not resolved)."""
CONSENT_REQUIRED = frozenset(
    # EU 27, the rest of the EEA (IS, LI, NO), and GB and CH (Google's EU user consent policy)
    ("AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
     "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB", "CH")
)  # fmt: skip


@dataclass(frozen=True)
class Gate:
    """What the gate let through and why the others stayed."""

    kept: pa.Array
    """The person ids that may leave, sorted."""
    excluded: dict[str, int]
    """Persons kept back per reason (every reason of ``REASONS``, zero included)."""
    reasons: pa.Table
    """``person_id``, ``reason``: each person kept back and the first reason that applies, sorted."""


def gate(records: pa.Table, suppressed: pa.Array | None = None) -> Gate:
    """The persons of ``records`` that may be sent to an advertising platform (see the module);
    ``suppressed``: the ids of persons on the suppression list."""
    every = records.select(list(CONSENT_COLUMNS))
    table = every.filter(pc.is_valid(every["person_id"]))
    flags = (
        pa.table(
            {
                "person_id": table["person_id"],
                "opted_out": pc.fill_null(table["ccpa_opt_out"], False),
                "gpc": pc.fill_null(table["gpc"], False),
                "in_eea": pc.fill_null(pc.is_in(_country(table["country"]), value_set=_REQUIRED), False),
            }
        )
        .group_by("person_id")
        .aggregate([("opted_out", "any"), ("gpc", "any"), ("in_eea", "any")])
    )
    consents = _latest_consents(table)
    people = flags.join(consents, "person_id", join_type="left outer").sort_by("person_id")
    granted = pc.and_(
        pc.fill_null(pc.equal(people["user_data"], "GRANTED"), False),
        pc.fill_null(pc.equal(people["personalization"], "GRANTED"), False),
    )
    on_list = pa.array([], pa.string()) if suppressed is None else suppressed
    reasons = [
        pc.is_in(people["person_id"], value_set=pa.array(on_list, pa.string())),
        people["opted_out_any"],
        people["gpc_any"],
        pc.and_(people["in_eea_any"], pc.invert(granted)),
        # anywhere: a person who said no to either use of their data is not uploaded saying yes
        pc.or_(
            pc.fill_null(pc.equal(people["user_data"], "DENIED"), False),
            pc.fill_null(pc.equal(people["personalization"], "DENIED"), False),
        ),
    ]
    excluded: dict[str, int] = {}
    left = pa.array([True] * people.num_rows, pa.bool_())
    why = pa.nulls(people.num_rows, pa.string())
    for reason, hit in zip(REASONS[:-1], reasons, strict=True):  # no_person is counted below
        first = pc.and_(left, hit)
        excluded[reason] = pc.sum(first).as_py() or 0
        why = pc.if_else(first, pa.scalar(reason), why)
        left = pc.and_(left, pc.invert(hit))
    excluded["no_person"] = every.num_rows - table.num_rows
    held = pc.is_valid(why)
    return Gate(
        kept=people["person_id"].filter(left).combine_chunks(),
        excluded=excluded,
        reasons=pa.table({"person_id": people["person_id"].filter(held), "reason": why.filter(held)}),
    )


def _country(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.utf8_upper(pc.utf8_trim_whitespace(values))


_REQUIRED = pa.array(sorted(CONSENT_REQUIRED), pa.string())
_UNDATED = datetime(9999, 12, 31, tzinfo=UTC)
"""Where a consent stated without a time sorts: after every dated one (it counts as the latest)."""


def _latest_consents(table: pa.Table) -> pa.Table:
    """Per person, each consent as its latest record that states one says (null: never stated)."""
    out = pa.table({"person_id": pc.unique(table["person_id"])})
    for column, name in (
        ("ad_user_data_consent", "user_data"),
        ("ad_personalization_consent", "personalization"),
    ):
        stated = table.filter(pc.is_valid(table[column]))
        # undated first (taken as the latest), then newest; at one time DENIED before GRANTED
        when = pc.fill_null(stated["consent_at"], pa.scalar(_UNDATED, stated.schema.field("consent_at").type))
        keyed = stated.append_column("_when", when)
        order = pc.sort_indices(
            keyed, sort_keys=[("person_id", "ascending"), ("_when", "descending"), (column, "ascending")]
        )
        latest = stated.take(order)
        # the first row of each person after the sort is the one that counts
        first = pc.equal(
            pc.rank(latest["person_id"], sort_keys="ascending", tiebreaker="first"),
            pc.rank(latest["person_id"], sort_keys="ascending", tiebreaker="min"),
        )
        latest = latest.filter(first).select(["person_id", column]).rename_columns(["person_id", name])
        out = out.join(latest, "person_id", join_type="left outer")
    return out
