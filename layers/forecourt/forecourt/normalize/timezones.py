"""Dealer-local wall times to UTC.

``pyarrow.compute.assume_timezone`` does the work, with ambiguous times (the repeated hour in
autumn) read as the earliest instant and nonexistent times (the skipped hour in spring) moved
forward to the end of the gap, like ``pandas``' ``shift_forward``.

On Linux and macOS Arrow reads the system time-zone database under ``/usr/share/zoneinfo`` and
fails when it is missing (minimal containers; Windows needs a separate download). The Python
``tzdata`` package cannot stand in for it (Arrow wants the text database), so when Arrow cannot find
the zone we fall back to ``zoneinfo`` (which uses ``tzdata``): one offset per distinct local hour,
exact for zones whose transitions fall on whole hours (all of North America and Europe).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
_EPOCH = dt.datetime(1970, 1, 1)  # naive on purpose: wall-clock arithmetic
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z", "Etc/Zulu", "Zulu", "UCT", "Etc/UCT"})


@lru_cache(maxsize=64)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA zone called ``name``; raises ValueError when there is no such zone."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def local_to_utc(wall_us: pa.Array, timezone: str) -> pa.Array:
    """UTC microseconds (int64) of local wall times ``wall_us`` (int64 µs since 1970-01-01 local).

    Ambiguous times give the earliest instant, nonexistent times the end of the gap. Raises
    ValueError for an unknown zone.
    """
    zone(timezone)
    if timezone in _UTC_NAMES:
        return wall_us
    local = wall_us.cast(pa.timestamp("us"))
    try:
        utc = pc.assume_timezone(local, timezone, ambiguous="earliest", nonexistent="latest")
    except pa.ArrowInvalid:  # no system tz database: see the module docstring
        return local_to_utc_by_hour(wall_us, timezone)
    return utc.cast(pa.int64())


@lru_cache(maxsize=65536)
def _utc_of_local_hour(hour_us: int, timezone: str) -> tuple[int, bool]:
    """UTC µs of the local hour starting at ``hour_us`` and whether that hour was skipped (DST gap)."""
    wall = _EPOCH + dt.timedelta(microseconds=hour_us)
    instant = wall.replace(tzinfo=zone(timezone)).astimezone(dt.UTC)  # fold=0: earliest / pre-gap offset
    skipped = instant.astimezone(zone(timezone)).replace(tzinfo=None) != wall
    utc_us = (instant.replace(tzinfo=None) - _EPOCH) // dt.timedelta(microseconds=1)
    return utc_us, skipped


def local_to_utc_by_hour(wall_us: pa.Array, timezone: str) -> pa.Array:
    """``local_to_utc`` through ``zoneinfo``: one Python conversion per distinct local hour.

    Matches ``assume_timezone(ambiguous="earliest", nonexistent="latest")`` for zones whose offset
    changes on whole hours. Raises ValueError for an unknown zone.
    """
    zone(timezone)
    hours = pc.floor_temporal(wall_us.cast(pa.timestamp("us")), 1, "hour").cast(pa.int64())
    within_hour = pc.subtract(wall_us, hours)
    distinct = pc.drop_null(pc.unique(hours))
    converted = [_utc_of_local_hour(hour, timezone) for hour in distinct.to_pylist()]
    positions = pc.index_in(hours, value_set=distinct)
    hour_start = pc.take(pa.array([utc for utc, _ in converted], pa.int64()), positions)
    skipped = pc.take(pa.array([gap for _, gap in converted], pa.bool_()), positions)
    return pc.add(hour_start, pc.if_else(skipped, pa.scalar(0, pa.int64()), within_hour))
