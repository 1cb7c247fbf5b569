"""Column-wise normalizers: one call turns a raw string column into the typed, canonical column.

``normalize_column(kind, values, target, locale)`` is what the ingest core calls for every mapped
column; ``kind`` is the ``normalize`` attribute of the schema column (``schemas/*.json``). Every
kind trims its input and treats blank values as null (never invalid); a non-blank value that cannot
be used becomes null and is flagged in ``Normalized.invalid`` so the core can record a field issue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from forecourt.normalize._base import Locale, Normalized, Request
from forecourt.normalize._kernels import as_strings, clean_strings, few_distinct
from forecourt.normalize.contact import normalize_email, normalize_phone
from forecourt.normalize.names import normalize_name, normalize_text, plain_string
from forecourt.normalize.places import normalize_country, normalize_state, normalize_zip
from forecourt.normalize.quantities import normalize_integer, normalize_number
from forecourt.normalize.times import normalize_date, normalize_timestamp
from forecourt.normalize.timezones import zone
from forecourt.normalize.values import (
    normalize_consent,
    normalize_event_type,
    normalize_flag,
    normalize_lead_source,
)
from forecourt.normalize.vehicles import (
    normalize_make,
    normalize_model_year,
    normalize_vehicle_status,
    normalize_vin,
)

__all__ = ["KINDS", "Locale", "Normalized", "normalize_column"]

Normalizer = Callable[[pa.Array, Request], Normalized]


def _is_text(target: pa.DataType) -> bool:
    return pa.types.is_string(target) or pa.types.is_large_string(target)


def _is_number(target: pa.DataType) -> bool:
    return pa.types.is_floating(target) or isinstance(target, pa.Decimal128Type)


_NORMALIZERS: dict[str, tuple[Normalizer, Callable[[pa.DataType], bool]]] = {
    "email": (normalize_email, _is_text),
    "phone": (normalize_phone, _is_text),
    "name": (normalize_name, _is_text),
    "text": (normalize_text, _is_text),
    "state": (normalize_state, _is_text),
    "zip": (normalize_zip, _is_text),
    "country": (normalize_country, _is_text),
    "vin": (normalize_vin, _is_text),
    "make": (normalize_make, _is_text),
    "vehicle_status": (normalize_vehicle_status, _is_text),
    "lead_source": (normalize_lead_source, _is_text),
    "consent": (normalize_consent, _is_text),
    "event_type": (normalize_event_type, _is_text),
    "model_year": (normalize_model_year, pa.types.is_integer),
    "integer": (normalize_integer, pa.types.is_integer),
    "number": (normalize_number, _is_number),
    "flag": (normalize_flag, pa.types.is_boolean),
    "timestamp": (normalize_timestamp, pa.types.is_timestamp),
    "date": (normalize_date, lambda target: pa.types.is_date32(target) or pa.types.is_date64(target)),
}

KINDS: frozenset[str] = frozenset(_NORMALIZERS)
"""Every value of a schema column's ``normalize`` attribute this package understands."""


def _plain_kind(target: pa.DataType) -> str | None:
    """The kind that turns plain strings into ``target`` (None: strings stay strings)."""
    if _is_text(target):
        return None
    for kind in ("integer", "number", "flag", "timestamp", "date"):
        if _NORMALIZERS[kind][1](target):
            return kind
    raise ValueError(f"a column without a normalize kind cannot produce {target}")


def _normalizer(kind: str | None, target: pa.DataType) -> Normalizer:
    if kind is None:
        kind = _plain_kind(target)
        if kind is None:
            return plain_string
    if kind not in _NORMALIZERS:
        raise ValueError(f"unknown normalize kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    normalizer, accepts = _NORMALIZERS[kind]
    if not accepts(target):
        raise ValueError(f"normalize kind {kind!r} cannot produce {target}")
    return normalizer


def normalize_column(
    kind: str | None,
    values: pa.Array,
    target: pa.DataType,
    locale: Locale,
    *,
    invert: bool = False,
    formats: Sequence[str] = (),
) -> Normalized:
    """Normalize one raw string column to ``target`` by the rules of ``kind`` (see ``KINDS``).

    ``values`` is a string array (large, dictionary and chunked strings are accepted too) that may
    hold nulls; the result has the same length, ``values`` of exactly ``target`` and a never-null
    ``invalid`` mask. ``kind=None`` means a plain column: trimmed strings, or parsed as the integer,
    number, flag, timestamp or date ``target`` asks for. ``invert`` negates flags; ``formats`` are
    strptime formats tried first for timestamps and dates. A column that repeats its values is
    normalized once per distinct value. Raises ValueError for an unknown kind, a target the kind
    cannot produce, an unknown ``locale.timezone`` (timestamps) or a format without a date in it.
    """
    normalizer = _normalizer(kind, target)
    if normalizer is normalize_timestamp:
        zone(locale.timezone)
    request = Request(target=target, locale=locale, invert=invert, formats=tuple(formats))
    strings = as_strings(values)
    codes = few_distinct(strings) if normalizer in _PER_VALUE else None
    if codes is None:
        return _normalized(normalizer, strings, request)
    result = _normalized(normalizer, codes.dictionary, request)
    return Normalized(
        values=result.values.take(codes.indices),
        invalid=result.invalid.take(codes.indices),
        parts={name: part.take(codes.indices) for name, part in result.parts.items()},
    )


def _normalized(normalizer: Normalizer, strings: pa.Array, request: Request) -> Normalized:
    result = normalizer(clean_strings(strings), request)
    if result.values.type != request.target:
        result.values = result.values.cast(request.target)
    return result


_PER_VALUE = frozenset(
    normalizer
    for normalizer, _ in _NORMALIZERS.values()
    if normalizer not in (normalize_timestamp, normalize_date)  # their chunked ISO cast is not per value
)
"""Normalizers whose output for a value does not depend on the other values of the column."""
