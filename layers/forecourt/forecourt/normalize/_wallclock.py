"""Wall-clock parts (day, time of day, UTC offset) from regex matches, checked column-wise.

The parsers in ``times`` match values with RE2 patterns whose named groups are ``y`` ``m`` ``b``
(month name) ``d`` ``H`` ``M`` ``S`` ``f`` (fraction) ``p`` (AM/PM) and ``z`` (zone); this module
turns a match struct into validated numbers: no 02-30, no 25:00, years 1900–2100 only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._kernels import STRING, LookupTable
from forecourt.normalize.timezones import US_PER_SECOND

FIRST_YEAR, LAST_YEAR = 1900, 2100
FIRST_DAY = (dt.date(FIRST_YEAR, 1, 1) - dt.date(1970, 1, 1)).days
LAST_DAY = (dt.date(LAST_YEAR, 12, 31) - dt.date(1970, 1, 1)).days
TWO_DIGIT_YEARS_AHEAD = 20
"""``yy`` is 20yy when that is at most this many years ahead of today, else 19yy."""
MAX_OFFSET = 18 * 60  # minutes; the ISO 8601 / java.time bound on UTC offsets
_MONTH_NAME = r"(?P<b>[A-Za-z]{3,9})\.?"

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")  # fmt: skip
"""English month names (not the process locale's: exports are read the same everywhere)."""
_MONTH_NAMES = {
    **{name: number for number, name in enumerate(MONTHS, start=1)},
    **{name[:3]: number for number, name in enumerate(MONTHS, start=1)},
    "sept": 9,
}
_MONTHS = LookupTable.build(_MONTH_NAMES, pa.int32())
_DIRECTIVES = {
    "Y": r"(?P<y>\d{4})", "y": r"(?P<y>\d{2})", "m": r"(?P<m>\d{1,2})", "d": r"(?P<d>\d{1,2})",
    "e": r"\s?(?P<d>\d{1,2})", "H": r"(?P<H>\d{1,2})", "I": r"(?P<H>\d{1,2})", "M": r"(?P<M>\d{2})",
    "S": r"(?P<S>\d{2})", "f": r"(?P<f>\d{1,9})", "p": r"(?P<p>[AaPp]\.?[Mm]\.?)",
    "z": r"(?P<z>Z|[+-]\d{2}(?::?\d{2})?)", "b": _MONTH_NAME, "B": _MONTH_NAME, "h": _MONTH_NAME,
    "a": r"[A-Za-z]{2,9}\.?", "A": r"[A-Za-z]{2,9}\.?", "%": "%",
    "T": r"(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2})", "F": r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})",
    "D": r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{2})",
}  # fmt: skip
"""strptime directives we translate to regex groups, so feed formats get the same checks as ours."""


@dataclass(frozen=True)
class Parts:
    """Wall-clock parts of parsed values; ``days`` is null where a value was not parsed."""

    days: pa.Array  # int32, days since 1970-01-01 on the value's own calendar
    time_of_day: pa.Array  # int64 µs since midnight
    offset: pa.Array  # int32 minutes east of UTC, null when the value carries no offset

    @classmethod
    def empty(cls, n: int) -> Parts:
        """Parts of ``n`` values none of which is parsed yet."""
        return cls(pa.nulls(n, pa.int32()), pa.nulls(n, pa.int64()), pa.nulls(n, pa.int32()))


def _translate(format_: str) -> str | None:
    """The RE2 pieces (unanchored) of a strptime ``format_``; None if it uses other directives."""
    pieces: list[str] = []
    position = 0
    while position < len(format_):
        char = format_[position]
        if char == "%":
            directive = format_[position + 1 : position + 2]
            if directive not in _DIRECTIVES:
                return None
            pieces.append(_DIRECTIVES[directive])
            position += 2
            continue
        pieces.append(r"\s+" if char.isspace() else re.escape(char))
        position += 1
    return "".join(pieces)


def _group_names(pattern: str) -> list[str]:
    return re.findall(r"\(\?P<(\w+)>", pattern)


def strptime_regex(format_: str) -> str | None:
    """An RE2 pattern with our group names for a strptime ``format_``; None if it uses other directives."""
    pieces = _translate(format_)
    if pieces is None:
        return None
    pattern = "^" + pieces + "$"
    names = _group_names(pattern)
    return pattern if len(names) == len(set(names)) and "y" in names and "d" in names else None


_DATE_GROUPS = frozenset({"y", "m", "b", "d"})
_TIME_GROUPS = frozenset({"H", "M", "S", "f", "p", "z"})


def strptime_halves(format_: str) -> tuple[str, str] | None:
    """``(date pattern, time pattern)`` of a ``<date> <time>`` strptime format, else None.

    Only for formats whose date half (before the first space) has the date groups and cannot match
    whitespace, and whose time half has the time groups and cannot start with whitespace: then a
    value matches ``strptime_regex(format_)`` exactly when, cut at its first space, the halves match
    these patterns (or the cut fell elsewhere: a tab or two spaces, which the caller must check).
    """
    if strptime_regex(format_) is None:
        return None
    head, _, tail = format_.partition(" ")
    if not tail or tail[0].isspace() or tail.startswith("%e") or re.search(r"\s|%e", head):
        return None
    date, time = _translate(head), _translate(tail)
    if not date or not time:
        return None
    if set(_group_names(date)) <= _DATE_GROUPS and set(_group_names(time)) <= _TIME_GROUPS:
        return f"^{date}$", f"^{time}$"
    return None


def _field(groups: pa.StructArray, name: str) -> pa.Array | None:
    """The strings captured by group ``name``, or None when the pattern has no such group."""
    index = groups.type.get_field_index(name)
    return None if index < 0 else groups.field(index)


def _integer(text: pa.Array | None, n: int) -> pa.Array:
    """Digits as int32; a missing group or an empty match counts as 0."""
    if text is None:
        return pa.repeat(pa.scalar(0, pa.int32()), n)
    return pc.cast(pc.utf8_lpad(text, 1, "0"), pa.int32())


def _year(text: pa.Array, this_year: int) -> pa.Array:
    year = _integer(text, len(text))
    pivot = this_year + TWO_DIGIT_YEARS_AHEAD
    widened = pc.if_else(pc.less_equal(pc.add(year, 2000), pivot), pc.add(year, 2000), pc.add(year, 1900))
    return pc.if_else(pc.equal(pc.binary_length(text), 2), widened, year)


def _hour(groups: pa.StructArray, n: int) -> tuple[pa.Array, pa.Array]:
    """24-hour clock hour and whether it is plausible (1–12 with AM/PM, 0–23 without)."""
    hour = _integer(_field(groups, "H"), n)
    meridiem = _field(groups, "p")
    if meridiem is None:
        return hour, pc.less_equal(hour, 23)
    has_meridiem = pc.not_equal(meridiem, "")
    afternoon = pc.starts_with(meridiem, "p", ignore_case=True)
    twelve_hour = pc.add(pc.if_else(pc.equal(hour, 12), 0, hour), pc.if_else(afternoon, 12, 0))
    plausible = pc.if_else(
        has_meridiem, pc.and_(pc.greater_equal(hour, 1), pc.less_equal(hour, 12)), pc.less_equal(hour, 23)
    )
    return pc.if_else(has_meridiem, twelve_hour, hour), plausible


def utc_offset(zone: pa.Array | None, n: int) -> pa.Array:
    """Minutes east of UTC of ``Z``/``UTC``/``±hh[:mm]``; null where the value has none.

    Offsets beyond ±18:00 (ISO 8601's range) or with 60+ minutes come back as ``MAX_OFFSET + 1``.
    """
    if zone is None:
        return pa.nulls(n, pa.int32())
    numeric = pc.or_(pc.starts_with(zone, "+"), pc.starts_with(zone, "-"))
    digits = pc.if_else(numeric, pc.replace_substring(zone, ":", ""), "+0000")  # Z, UTC, GMT: +0000
    hours = _integer(pc.utf8_slice_codeunits(digits, 1, 3), n)
    minutes = _integer(pc.utf8_slice_codeunits(digits, 3, 5), n)
    size = pc.add(pc.multiply(hours, 60), minutes)
    size = pc.if_else(pc.less_equal(minutes, 59), size, MAX_OFFSET + 1)
    signed = pc.if_else(pc.starts_with(digits, "-"), pc.negate(size), size)
    return pc.if_else(pc.equal(zone, ""), pa.scalar(None, pa.int32()), signed)


def days_from_civil(year: pa.Array, month: pa.Array, day: pa.Array) -> pa.Array:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm; years ≥ 1)."""
    march_based_year = pc.subtract(year, pc.cast(pc.less_equal(month, 2), pa.int32()))
    era = pc.divide(march_based_year, 400)
    year_of_era = pc.subtract(march_based_year, pc.multiply(era, 400))
    march_month = pc.if_else(pc.greater(month, 2), pc.subtract(month, 3), pc.add(month, 9))
    day_of_year = pc.add(pc.divide(pc.add(pc.multiply(march_month, 153), 2), 5), pc.subtract(day, 1))
    leap_days = pc.subtract(pc.divide(year_of_era, 4), pc.divide(year_of_era, 100))
    day_of_era = pc.add(pc.add(pc.multiply(year_of_era, 365), leap_days), day_of_year)
    return pc.subtract(pc.add(pc.multiply(era, 146_097), day_of_era), 719_468).cast(pa.int32())


def _all(checks: Sequence[pa.Array]) -> pa.Array:
    result = checks[0]
    for check in checks[1:]:
        result = pc.and_(result, check)
    return pc.fill_null(result, False)


def day_number(groups: pa.StructArray, this_year: int) -> pa.Array:
    """Days since 1970-01-01 of the matched date; null where it is no real date in 1900–2100."""
    n = len(groups)
    year_text = _field(groups, "y")
    year = _year(pa.nulls(n, STRING) if year_text is None else year_text, this_year)
    month_name = _field(groups, "b")
    month = (
        _integer(_field(groups, "m"), n) if month_name is None else _MONTHS.lookup(pc.utf8_lower(month_name))
    )
    day = _integer(_field(groups, "d"), n)
    plausible = _all(
        [
            pc.is_valid(groups),
            pc.greater_equal(year, FIRST_YEAR),
            pc.less_equal(year, LAST_YEAR),
            pc.greater_equal(month, 1),
            pc.less_equal(month, 12),
            pc.greater_equal(day, 1),
            pc.less_equal(day, 31),
        ]
    )
    days = days_from_civil(year, month, day)
    # days_from_civil rolls 02-30 over to 03-02: a real date keeps its day of month
    real = pc.fill_null(pc.equal(pc.day(days.cast(pa.date32())), day.cast(pa.int64())), False)
    return pc.if_else(pc.and_(plausible, real), days, pa.scalar(None, pa.int32()))


def time_of_day(groups: pa.StructArray) -> pa.Array:
    """Microseconds since midnight of the matched time (0 without one); null for 25:00, 10:61 …"""
    n = len(groups)
    hour, plausible_hour = _hour(groups, n)
    minute, second = _integer(_field(groups, "M"), n), _integer(_field(groups, "S"), n)
    fraction = _field(groups, "f")
    if fraction is not None:
        fraction = pc.utf8_slice_codeunits(pc.utf8_rpad(fraction, 6, "0"), 0, 6)
    micros = _integer(fraction, n).cast(pa.int64())
    seconds = pc.add(pc.multiply(pc.add(pc.multiply(hour.cast(pa.int64()), 60), minute), 60), second)
    plausible = _all(
        [pc.is_valid(groups), plausible_hour, pc.less_equal(minute, 59), pc.less_equal(second, 59)]
    )
    micros_of_day = pc.add(pc.multiply(seconds, US_PER_SECOND), micros)
    return pc.if_else(plausible, micros_of_day, pa.scalar(None, pa.int64()))


def clock_of(groups: pa.StructArray) -> tuple[pa.Array, pa.Array]:
    """``(time of day, UTC offset)`` of a match; the time is null when either is impossible."""
    clock = time_of_day(groups)
    offset = utc_offset(_field(groups, "z"), len(groups))
    plausible_offset = pc.fill_null(pc.less_equal(pc.abs(offset), MAX_OFFSET), True)
    return pc.if_else(plausible_offset, clock, pa.scalar(None, pa.int64())), offset


def parts_of(groups: pa.StructArray, this_year: int) -> Parts:
    """Validated wall-clock parts from a regex match struct (null struct rows did not match)."""
    clock, offset = clock_of(groups)
    days = pc.if_else(pc.is_valid(clock), day_number(groups, this_year), pa.scalar(None, pa.int32()))
    return Parts(days, clock, offset)
