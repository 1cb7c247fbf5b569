"""Timestamps and dates in the shapes dealer systems write them.

Every value goes through a chain of parsers; each parser sees only the rows the previous ones left
unparsed: first the feed's own ``formats`` (a ``<date> <time>`` format is matched half by half, once
per distinct date and time of day, with exactly the whole format's result), then a fast path for
ISO 8601 (Arrow's own parser behind a strict regex, about 0.1 s per million values), then
``date time`` values split at the first space (each half has few distinct values, so each is parsed
once per distinct value), then whole-value regex parsers for the rest. A parser yields wall-clock
parts (``_wallclock.Parts``): the day, the time of day and, when the value says so, its UTC offset.
Values without an offset are local times of the dealer's zone (``timezones``).

Accepted without a feed format: ``2026-11-02T14:05[:00[.123456]]`` (``T`` or space; ``Z``, ``UTC``
or ``±hh[:mm]``), ``2026/11/02``, ``11/02/2026 2:05[:00] PM``, ``11/02/2026``, ``11-02-26``,
``20261102``, ``20261102140500``, ``Nov 2, 2026 2:05 PM``, ``02-Nov-2026``. Years outside 1900–2100
are rejected; two-digit years are 20yy up to 20 years ahead, else 19yy.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._base import Normalized, Request, finish
from forecourt.normalize._kernels import NULL_STRING, count_true, few_distinct, map_distinct
from forecourt.normalize._wallclock import (
    FIRST_DAY,
    LAST_DAY,
    Parts,
    clock_of,
    day_number,
    parts_of,
    strptime_halves,
    strptime_regex,
)
from forecourt.normalize.timezones import US_PER_SECOND, local_to_utc

US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_DAY = 86_400 * US_PER_SECOND
_CAST_CHUNK = 65_536

_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?$"
_FAST_OFFSET = r"(?:Z|[+-](?:0\d|1[0-7])(?::?[0-5]\d)?|[+-]18(?::?00)?)"
"""Offsets within ±18:00 (``MAX_OFFSET``); Arrow itself would take up to ±23:59."""
_ISO_ZONED = rf"^\d{{4}}-\d{{2}}-\d{{2}}[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d{{1,6}})?)?{_FAST_OFFSET}$"
_ISO_ANY = (
    rf"^\d{{4}}-\d{{2}}-\d{{2}}(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?{_FAST_OFFSET}?)?$"
)
"""Any ISO 8601 timestamp, for dates: the time is checked for sense, then ignored."""
_ZONE = r"\s*(?P<z>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_CLOCK = r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?\s*(?P<p>[AaPp]\.?[Mm]\.?)?"
_TIME = rf"(?:(?:T|\s+|,\s*){_CLOCK})?"
_MONTH_NAME = r"(?P<b>[A-Za-z]{3,9})\.?"
DATE_PATTERNS = (
    r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})$",
    r"^(?P<m>\d{1,2})[/-](?P<d>\d{1,2})[/-](?P<y>\d{4}|\d{2})$",
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$",
)
"""The date half of a ``date time`` value: ISO-like, US month/day/year, compact."""
TIME_PATTERN = rf"^(?:{_CLOCK})?{_ZONE}$"
"""The time half of a ``date time`` value (may be empty: a date alone is midnight)."""
WHOLE_VALUE_PATTERNS = (
    *(pattern.removesuffix("$") + _TIME + _ZONE + "$" for pattern in DATE_PATTERNS[:2]),
    r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:T?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?(?P<z>Z)?$",
    rf"^{_MONTH_NAME}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}}){_TIME}{_ZONE}$",
    rf"^(?P<d>\d{{1,2}})[-\s]{_MONTH_NAME}[-\s,]+(?P<y>\d{{4}}|\d{{2}}){_TIME}{_ZONE}$",
)
"""Regex parsers for what the faster ones left (RE2 syntax; group names as in ``_wallclock``)."""

Parser = Callable[[pa.Array], Parts]


def _scatter(parts: Parts, mask: pa.Array, found: Parts) -> Parts:
    """``parts`` with the rows selected by ``mask`` replaced by ``found`` (one row per true)."""
    return Parts(
        pc.replace_with_mask(parts.days, mask, found.days.cast(pa.int32())),
        pc.replace_with_mask(parts.time_of_day, mask, found.time_of_day.cast(pa.int64())),
        pc.replace_with_mask(parts.offset, mask, found.offset.cast(pa.int32())),
    )


def _typed(parts: Parts) -> Parts:
    """``parts`` with the types ``Parts.empty`` has (a parser may compute an offset as int64)."""
    days, clock, offset = parts.days, parts.time_of_day, parts.offset
    return Parts(days.cast(pa.int32()), clock.cast(pa.int64()), offset.cast(pa.int32()))


def _regex_parser(pattern: str, this_year: int, strings: pa.Array) -> Parts:
    """Whole values against one pattern; only the rows that match pay for the capture groups."""
    shaped = pc.fill_null(pc.match_substring_regex(strings, pattern), False)
    matches = count_true(shaped)
    if matches == 0:
        return Parts.empty(len(strings))
    if matches == len(strings):
        return _typed(parts_of(pc.extract_regex(strings, pattern), this_year))
    found = parts_of(pc.extract_regex(pc.filter(strings, shaped), pattern), this_year)
    return _scatter(Parts.empty(len(strings)), shaped, found)


def _date_half(pattern: str, this_year: int, dates: pa.Array) -> pa.Array:
    """Day numbers of date halves; null where one does not match ``pattern`` or is no real date."""
    return day_number(pc.extract_regex(dates, pattern), this_year)


def _time_half(pattern: str, times: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Times of day (null where one does not match ``pattern`` or is impossible) and UTC offsets."""
    return clock_of(pc.extract_regex(times, pattern))


SplitFormats = Sequence[tuple[tuple[str, str], str]]
"""``<date> <time>`` feed formats as ``(strptime_halves, strptime_regex)`` pairs."""


def _halves_parser(formats: SplitFormats, this_year: int, strings: pa.Array) -> Parts:
    """Consecutive ``<date> <time>`` feed formats, first match wins: the values are cut at their
    first space once, and each half is matched and checked once per distinct value and format (a
    file has few dates and few times of day). Values where the cut may differ from a pattern's (a
    tab, two spaces) are matched against the formats' whole patterns instead. The result is that of
    ``_regex_parser`` for each format in turn."""
    codes = few_distinct(strings)
    if codes is None:
        return _halves_of_values(formats, this_year, strings)
    parts = _halves_of_values(formats, this_year, codes.dictionary)
    return Parts(*(part.take(codes.indices) for part in (parts.days, parts.time_of_day, parts.offset)))


def _halves_of_values(formats: SplitFormats, this_year: int, strings: pa.Array) -> Parts:
    cut = pc.split_pattern(pc.binary_join_element_wise(strings, "", " "), " ", max_splits=1)
    dates = pc.dictionary_encode(pc.list_element(cut, 0))
    times = pc.dictionary_encode(pc.utf8_slice_codeunits(pc.list_element(cut, 1), 0, -1))
    odd = pc.or_(  # the cut may fall elsewhere than at a pattern's own space
        pc.match_substring_regex(dates.dictionary, r"\s").take(dates.indices),
        pc.match_substring_regex(times.dictionary, r"^\s").take(times.indices),
    )
    odd = pc.fill_null(odd, False)
    parts = Parts.empty(len(strings))
    for (date_pattern, time_pattern), _ in formats:
        days = _date_half(date_pattern, this_year, dates.dictionary)
        clock, offset = _time_half(time_pattern, times.dictionary)
        # a real date and a possible time, on a row no earlier format took
        found = pc.and_(pc.is_valid(days).take(dates.indices), pc.is_valid(clock).take(times.indices))
        found = pc.fill_null(pc.and_(found, pc.is_null(parts.days)), False)
        if count_true(found):
            parts = Parts(
                pc.if_else(found, days.take(dates.indices), parts.days),
                pc.if_else(found, clock.take(times.indices), parts.time_of_day),
                pc.if_else(found, offset.cast(pa.int32()).take(times.indices), parts.offset),
            )
            if parts.days.null_count == 0:
                break
    if count_true(odd):
        whole = [partial(_regex_parser, pattern, this_year) for _, pattern in formats]
        parts = _scatter(parts, odd, _chain(whole, pc.filter(strings, odd)))
    return parts


def _days_of_distinct(this_year: int, dates: pa.Array) -> list[pa.Array]:
    days = [day_number(pc.extract_regex(dates, pattern), this_year) for pattern in DATE_PATTERNS]
    return [pc.coalesce(*days)]


def _clock_of_distinct(times: pa.Array) -> list[pa.Array]:
    return list(clock_of(pc.extract_regex(times, TIME_PATTERN)))


def _split_parser(this_year: int, strings: pa.Array) -> Parts:
    """``date[ time]`` values: each half parsed once per distinct value (few dates, few times)."""
    halves = pc.split_pattern(pc.binary_join_element_wise(strings, "", " "), " ", max_splits=1)
    (days,) = map_distinct(pc.list_element(halves, 0), partial(_days_of_distinct, this_year))
    clock, offset = map_distinct(pc.utf8_trim_whitespace(pc.list_element(halves, 1)), _clock_of_distinct)
    return Parts(pc.if_else(pc.is_valid(clock), days, pa.scalar(None, pa.int32())), clock, offset)


def _cast_in_chunks(strings: pa.Array, type_: pa.DataType) -> pa.Array:
    """Arrow's cast chunk by chunk; a chunk holding an impossible value (2026-02-30) comes back null."""
    pieces: list[pa.Array] = []
    for start in range(0, len(strings), _CAST_CHUNK):
        chunk = strings.slice(start, _CAST_CHUNK)
        try:
            pieces.append(chunk.cast(type_))
        except pa.ArrowInvalid:
            pieces.append(pa.nulls(len(chunk), type_))  # those rows go on to the regex parsers
    return pa.concat_arrays(pieces) if pieces else pa.nulls(0, type_)


def _parts_of_timestamps(timestamps: pa.Array, utc: bool) -> Parts:
    """Parts of Arrow timestamps: naive wall times, or UTC instants (offset 0) when ``utc``."""
    micros = timestamps.cast(pa.int64())  # via int64: a tz-aware cast would consult the tz database
    days = micros.cast(pa.timestamp("us")).cast(pa.date32()).cast(pa.int32())
    time_of_day = pc.subtract(micros, pc.multiply(days.cast(pa.int64()), US_PER_DAY))
    offset = pc.if_else(
        pc.is_valid(days), pa.scalar(0 if utc else None, pa.int32()), pa.scalar(None, pa.int32())
    )
    return Parts(days, time_of_day, offset)


def _iso_parser(pattern: str, type_: pa.TimestampType, strings: pa.Array) -> Parts:
    shaped = pc.match_substring_regex(strings, pattern)
    timestamps = _cast_in_chunks(pc.if_else(shaped, strings, NULL_STRING), type_)
    return _parts_of_timestamps(timestamps, utc=type_.tz is not None)


def _iso_date_parser(strings: pa.Array) -> Parts:
    shaped = pc.match_substring_regex(strings, _ISO_ANY)
    dates = _cast_in_chunks(
        pc.if_else(shaped, pc.utf8_slice_codeunits(strings, 0, 10), NULL_STRING), pa.date32()
    )
    days = dates.cast(pa.int32())
    midnight = pc.if_else(pc.is_valid(days), pa.scalar(0, pa.int64()), pa.scalar(None, pa.int64()))
    return Parts(days, midnight, pa.nulls(len(strings), pa.int32()))


def _strptime_parser(format_: str, strings: pa.Array) -> Parts:
    timestamps = pc.strptime(strings, format=format_, unit="us", error_is_null=True)
    return _parts_of_timestamps(timestamps, utc=timestamps.type.tz is not None)


def _parsers(formats: Sequence[str], this_year: int, *, dates: bool) -> list[Parser]:
    parsers: list[Parser] = []
    split: list[tuple[tuple[str, str], str]] = []  # consecutive <date> <time> formats, parsed together
    for format_ in formats:
        if not re.search(r"%[YyFD]", format_):
            raise ValueError(f"format {format_!r} has no year: every value would be read as 1900")
        pattern = strptime_regex(format_)
        halves = strptime_halves(format_)
        if pattern is not None and halves is not None:
            split.append((halves, pattern))
            continue
        if split:
            parsers.append(partial(_halves_parser, tuple(split), this_year))
            split = []
        if pattern is None:  # a directive we do not translate: Arrow's strptime (no day-of-month check)
            parsers.append(partial(_strptime_parser, format_))
        else:
            parsers.append(partial(_regex_parser, pattern, this_year))
    if split:
        parsers.append(partial(_halves_parser, tuple(split), this_year))
    if dates:
        parsers.append(_iso_date_parser)
    else:
        parsers.append(partial(_iso_parser, _ISO_NAIVE, pa.timestamp("us")))
        parsers.append(partial(_iso_parser, _ISO_ZONED, pa.timestamp("us", "UTC")))
    parsers.append(partial(_split_parser, this_year))
    parsers += [partial(_regex_parser, pattern, this_year) for pattern in WHOLE_VALUE_PATTERNS]
    return parsers


def _chain(parsers: Sequence[Parser], strings: pa.Array) -> Parts:
    """Each parser in turn on the rows the ones before it left unparsed."""
    parts = Parts.empty(len(strings))
    for parser in parsers:
        todo = pc.and_(pc.is_valid(strings), pc.is_null(parts.days))
        left = count_true(todo)
        if left == 0:
            break
        if left == len(strings):  # nothing parsed yet and no nulls: no rows to pick and put back
            parts = _typed(parser(strings))
            continue
        parts = _scatter(parts, todo, parser(pc.filter(strings, todo)))
    return parts


def parse_wall_clock(strings: pa.Array, formats: Sequence[str], this_year: int, *, dates: bool) -> Parts:
    """Run the parser chain: each parser gets the rows still unparsed; years outside 1900–2100 fail."""
    parts = _chain(_parsers(formats, this_year, dates=dates), strings)
    in_range = pc.and_(pc.greater_equal(parts.days, FIRST_DAY), pc.less_equal(parts.days, LAST_DAY))
    return Parts(
        pc.if_else(in_range, parts.days, pa.scalar(None, pa.int32())), parts.time_of_day, parts.offset
    )


def normalize_timestamp(cleaned: pa.Array, request: Request, today: dt.date | None = None) -> Normalized:
    """Instants in UTC from dealer timestamps; values without an offset are local to the dealer.

    ``request.formats`` (strptime syntax) are tried first, then the shapes in the module docstring.
    Unparseable values and years outside 1900–2100 are nulled and flagged invalid. Raises ValueError
    for an unknown ``request.locale.timezone`` or a format without a date in it.
    """
    this_year = (today or dt.date.today()).year
    parts = parse_wall_clock(cleaned, request.formats, this_year, dates=False)
    wall = pc.add(pc.multiply(parts.days.cast(pa.int64()), US_PER_DAY), parts.time_of_day)
    has_offset = pc.is_valid(parts.offset)
    utc = local_to_utc(pc.if_else(has_offset, pa.scalar(None, pa.int64()), wall), request.locale.timezone)
    if count_true(has_offset):
        shifted = pc.subtract(wall, pc.multiply(parts.offset.cast(pa.int64()), US_PER_MINUTE))
        utc = pc.if_else(has_offset, shifted, utc)
    return finish(cleaned, utc.cast(pa.timestamp("us", tz="UTC")).cast(request.target))


def normalize_date(cleaned: pa.Array, request: Request, today: dt.date | None = None) -> Normalized:
    """Calendar dates as written (no time-zone conversion; the time part is ignored).

    Same shapes and ``request.formats`` as ``normalize_timestamp``. Unparseable values and years
    outside 1900–2100 are nulled and flagged invalid. Raises ValueError for a format without a date.
    """
    this_year = (today or dt.date.today()).year
    parts = parse_wall_clock(cleaned, request.formats, this_year, dates=True)
    return finish(cleaned, parts.days.cast(pa.date32()).cast(request.target))
