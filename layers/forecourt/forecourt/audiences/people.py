"""A list of people normalized once for every platform: the columns a platform module formats.

Input columns (``forecourt audiences hash``'s CSV, or an audience's rows): email, phone, first_name,
last_name, zip, country; any may be missing or empty. ``prepare`` gives, row for row: ``email``
(trimmed, lowercased, syntax checked), ``phone`` (E.164 with ``+``, parsed with the person's own
country as the default region), ``first_name`` / ``last_name`` (trimmed, as typed), ``zip`` (US:
5 digits; elsewhere as typed, uppercased), ``country`` (ISO 3166-1 alpha-2; the default when the
row gives none, null when it gives an unknown one) and ``issues`` (``email:invalid``…: a value
that could not be used is left out, not guessed).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize import Locale, Normalized, normalize_column

COLUMNS = ("email", "phone", "first_name", "last_name", "zip", "country")
ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "phone_number": "phone",
    "mobile": "phone",
    "mobile_phone": "phone",
    "firstname": "first_name",
    "given_name": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "zip_code": "zip",
    "postal_code": "zip",
    "postcode": "zip",
    "country_code": "country",
}
"""Other names a list's header may give a column (folded: lowercase, ``_`` for spaces and dashes)."""


def with_known_names(raw: pa.Table) -> pa.Table:
    """``raw`` with aliased columns renamed to ``COLUMNS`` (the first of several for one column wins)."""
    names, taken = [], set(raw.column_names) & set(COLUMNS)
    for name in raw.column_names:
        known = ALIASES.get(name)
        if known is not None and known not in taken:
            taken.add(known)
            names.append(known)
        else:
            names.append(name)
    return raw.rename_columns(names)


def prepare(raw: pa.Table, default_country: str = "US") -> pa.Table:
    """``raw``'s people normalized (see the module); raises ValueError for an unknown
    ``default_country``."""
    rows = raw.num_rows
    default = _countries(pa.array([default_country], pa.string()))
    if default.values[0].as_py() is None:
        raise ValueError(f"unknown country {default_country!r}: give an ISO 3166-1 code such as US")

    def column(name: str) -> pa.Array:
        if name in raw.column_names:
            return pc.utf8_trim_whitespace(raw.column(name).combine_chunks().cast(pa.string()))
        return pa.nulls(rows, pa.string())

    issues: list[pa.Array] = []

    def flag(name: str, invalid: pa.Array) -> None:
        issues.append(pc.if_else(invalid, pa.scalar(f"{name}:invalid"), pa.scalar(None, pa.string())))

    given = _countries(column("country"))
    flag("country", given.invalid)
    # a blank country is the default one; an unknown one is no country (not sent), and that row's
    # phone and zip are read as the default country's
    country = pc.if_else(
        given.invalid, pa.scalar(None, pa.string()), pc.fill_null(given.values, default.values[0])
    )
    region = pc.fill_null(country, default.values[0])
    email = normalize_column("email", column("email"), pa.string(), Locale())
    flag("email", email.invalid)
    phone, phone_invalid = _by_country(column("phone"), region, "phone")
    flag("phone", phone_invalid)
    zip_code, zip_invalid = _by_country(column("zip"), region, "zip")
    flag("zip", zip_invalid)
    # (pyarrow 26's null_handling="skip" drops whole rows here: join blanks, then tidy the commas)
    joined = pc.binary_join_element_wise(*(pc.fill_null(issue, "") for issue in issues), ",")
    joined = pc.replace_substring_regex(pc.replace_substring_regex(joined, ",+", ","), "^,|,$", "")
    return pa.table(
        {
            "email": email.values,
            "phone": phone,
            "first_name": _blank_to_null(column("first_name")),
            "last_name": _blank_to_null(column("last_name")),
            "zip": zip_code,
            "country": country,
            "issues": pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined),
        }
    )


def _countries(values: pa.Array) -> Normalized:
    return normalize_column("country", values, pa.string(), Locale())


def _blank_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def _by_country(values: pa.Array, country: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """``values`` normalized by ``kind`` with each row's own country as the locale."""
    out: pa.Array = pa.nulls(len(values), pa.string())
    invalid: pa.Array = pa.array([False] * len(values), pa.bool_())
    for code in pc.unique(country).to_pylist():  # every code is some row's: each mask selects rows
        rows = pc.equal(country, code)
        done = normalize_column(kind, values.filter(rows), pa.string(), Locale(country=code))
        out = pc.replace_with_mask(out, rows, done.values)
        invalid = pc.replace_with_mask(invalid, rows, done.invalid)
    return out, invalid
