"""Timestamps (to UTC) and dates."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from forecourt.normalize import Locale, Normalized, normalize_column, timezones
from forecourt.normalize._base import Request
from forecourt.normalize._kernels import clean_strings
from forecourt.normalize._wallclock import days_from_civil, strptime_regex
from forecourt.normalize.times import normalize_date
from forecourt.normalize.timezones import local_to_utc, local_to_utc_by_hour

UTC = pa.timestamp("us", tz="UTC")
NEW_YORK = Locale("US", "America/New_York")


def run(values: list[str | None], locale: Locale = NEW_YORK, formats: tuple[str, ...] = ()) -> Normalized:
    return normalize_column("timestamp", pa.array(values, pa.string()), UTC, locale, formats=formats)


def iso(result: Normalized) -> list[str | None]:
    """UTC instants as ISO text (None for null)."""
    return [None if v is None else v.strftime("%Y-%m-%dT%H:%M:%S.%f") for v in result.values.to_pylist()]


# --- timestamp ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["2026-11-02T14:05:00", "2026-11-02 14:05:00", "2026-11-02T14:05", "2026-11-02 14:05", "11/02/2026 14:05",
     "11/02/2026 2:05 PM", "11/02/2026 02:05:00 pm", "20261102140500", "2026/11/02 14:05:00",
     "Nov 2, 2026 2:05 PM"],
)  # fmt: skip
def test_naive_timestamps_are_dealer_local_times(raw: str) -> None:
    # 2 Nov 2026 is after the DST change: New York is UTC-5.
    assert iso(run([raw])) == ["2026-11-02T19:05:00.000000"]


@pytest.mark.parametrize(
    ("raw", "utc"),
    [("2026-11-02T14:05:00Z", "2026-11-02T14:05:00.000000"),
     ("2026-11-02T14:05:00+01:00", "2026-11-02T13:05:00.000000"),
     ("2026-11-02T14:05:00-0500", "2026-11-02T19:05:00.000000"),
     ("2026-11-02T14:05Z", "2026-11-02T14:05:00.000000"),
     ("2026-11-02 14:05:00 +05:30", "2026-11-02T08:35:00.000000"),
     ("2026-11-02T14:05:00.123456Z", "2026-11-02T14:05:00.123456"),
     ("2026-11-02T14:05:00.123456789+00:00", "2026-11-02T14:05:00.123456"),
     ("2026-11-02T14:05:00,5 UTC", "2026-11-02T14:05:00.500000")],
)  # fmt: skip
def test_explicit_offsets_win_over_the_dealer_zone(raw: str, utc: str) -> None:
    assert iso(run([raw])) == [utc]


def test_a_column_mixing_every_shape_keeps_each_row_in_place() -> None:
    raw = ["2026-11-02T14:05:00", None, "11/02/2026 2:05 PM", "garbage", "2026-11-02T19:05:00Z",
           "20261102140500", "", "Nov 2, 2026 2:05 PM", "2026/11/02 14:05", "2026-11-02 14:05:00 -05:00"]  # fmt: skip
    result = run(raw)
    expected = "2026-11-02T19:05:00.000000"
    assert iso(result) == [
        expected,
        None,
        expected,
        None,
        expected,
        expected,
        None,
        expected,
        expected,
        expected,
    ]
    assert result.invalid.to_pylist() == [False, False, False, True] + [False] * 6


def test_dates_alone_are_local_midnight() -> None:
    assert iso(run(["11/02/2026", "2026-11-02", "20261102"])) == ["2026-11-02T05:00:00.000000"] * 3


def test_12_am_and_12_pm() -> None:
    assert iso(run(["11/02/2026 12:05 AM", "11/02/2026 12:05 PM"])) == [
        "2026-11-02T05:05:00.000000",
        "2026-11-02T17:05:00.000000",
    ]


def test_summer_time_changes_the_offset() -> None:
    assert iso(run(["2026-07-01T12:00:00"])) == ["2026-07-01T16:00:00.000000"]
    assert iso(run(["2026-07-01T12:00:00"], Locale("DE", "Europe/Berlin"))) == ["2026-07-01T10:00:00.000000"]


def test_ambiguous_times_take_the_earliest_and_skipped_times_move_forward() -> None:
    # 1 Nov 2026 01:30 happens twice in New York (EDT then EST); 8 Mar 2026 02:30 never happens.
    assert iso(run(["2026-11-01T01:30:00", "2026-03-08T02:30:00"])) == [
        "2026-11-01T05:30:00.000000",
        "2026-03-08T07:00:00.000000",
    ]


@pytest.mark.parametrize(
    "bad",
    ["2026-02-30", "2026-02-30T10:00:00", "2026-13-01", "2026-11-02T24:00:00", "2026-11-02T23:60:00",
     "11/02/2026 13:05 PM", "13/02/2026", "1899-12-31", "2101-01-01", "garbage", "2026", "11/2026",
     "2026-11-02T14:05:00+23:59", "2026-11-02 14:05 +05:75", "2026-11-02 14:05 +99:00"],
)  # fmt: skip
def test_impossible_and_out_of_range_timestamps_are_invalid(bad: str) -> None:
    result = run([bad])
    assert result.values.to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]


def test_one_bad_value_does_not_spoil_the_fast_path_for_its_neighbours() -> None:
    values = ["2026-11-02T14:05:00"] * 70_000 + ["2026-02-30T10:00:00"] + ["2024-02-29T00:00:00"]
    result = run(values)
    assert result.invalid.true_count == 1
    assert iso(result)[-3:] == ["2026-11-02T19:05:00.000000", None, "2024-02-29T05:00:00.000000"]


def test_feed_formats_are_tried_first() -> None:
    berlin = Locale("DE", "Europe/Berlin")
    result = run(["02.11.2026 14:05", "31.02.2026 10:00", "2026-11-02T14:05:00"], berlin, ("%d.%m.%Y %H:%M",))
    assert iso(result) == ["2026-11-02T13:05:00.000000", None, "2026-11-02T13:05:00.000000"]
    assert result.invalid.to_pylist() == [False, True, False]


def test_a_feed_format_decides_day_month_order() -> None:
    assert iso(run(["03/04/2026"], formats=("%d/%m/%Y",))) == ["2026-04-03T04:00:00.000000"]
    assert iso(run(["03/04/2026"])) == ["2026-03-04T05:00:00.000000"]


def test_feed_formats_with_offsets_and_untranslated_directives() -> None:
    result = run(["2026-11-02T14:05:00+0100", "306 2026"], formats=("%Y-%m-%dT%H:%M:%S%z", "%j %Y"))
    assert iso(result) == ["2026-11-02T13:05:00.000000", "2026-11-02T05:00:00.000000"]


def test_a_format_without_a_date_is_refused() -> None:
    with pytest.raises(ValueError, match="has no year"):
        run(["14:05"], formats=("%H:%M",))
    with pytest.raises(ValueError, match="has no year"):
        run(["306"], formats=("%j",))


def test_strptime_formats_translate_to_our_groups() -> None:
    assert (
        strptime_regex("%d.%m.%Y %H:%M")
        == r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})\s+(?P<H>\d{1,2}):(?P<M>\d{2})$"
    )
    assert strptime_regex("%j %Y") is None
    assert strptime_regex("%H:%M") is None  # no date in it


def test_timestamps_for_a_utc_dealer_are_not_shifted() -> None:
    assert iso(run(["2026-11-02 14:05"], Locale("GB", "UTC"))) == ["2026-11-02T14:05:00.000000"]


# --- time zones without the system database -----------------------------------------------------

EDGES = ["2026-03-08T01:59:59", "2026-03-08T02:00:00", "2026-03-08T02:30:00", "2026-03-08T03:00:00",
         "2026-11-01T00:59:00", "2026-11-01T01:00:00", "2026-11-01T01:30:00", "2026-11-01T02:00:00",
         "2026-03-29T02:30:00", "2026-10-25T02:30:00", "1950-06-01T12:00:00", "2099-12-31T23:59:59.999999"]  # fmt: skip


@pytest.mark.parametrize("zone", ["America/New_York", "America/Los_Angeles", "Europe/Berlin", "Asia/Kolkata"])
def test_zoneinfo_fallback_agrees_with_arrow(zone: str) -> None:
    wall = pa.array([*EDGES, None]).cast(pa.timestamp("us")).cast(pa.int64())
    assert local_to_utc_by_hour(wall, zone).equals(local_to_utc(wall, zone))


def test_the_fallback_is_used_when_arrow_has_no_time_zone_database(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_database(*args: object, **kwargs: object) -> pa.Array:
        raise pa.ArrowInvalid(
            "Cannot locate or parse timezone 'America/New_York': not found in timezone database"
        )

    monkeypatch.setattr(timezones.pc, "assume_timezone", no_database)
    assert iso(run(["2026-11-01T01:30:00", "2026-03-08T02:30:00", "2026-11-02 14:05"])) == [
        "2026-11-01T05:30:00.000000",
        "2026-03-08T07:00:00.000000",
        "2026-11-02T19:05:00.000000",
    ]


# --- date ---------------------------------------------------------------------------------------


def dates(
    values: list[str | None], today: dt.date = dt.date(2026, 5, 1), formats: tuple[str, ...] = ()
) -> Normalized:
    request = Request(pa.date32(), NEW_YORK, formats=formats)
    return normalize_date(clean_strings(pa.array(values, pa.string())), request, today=today)


@pytest.mark.parametrize(
    "raw",
    ["2026-11-02", "20261102", "11/02/2026", "11/2/26", "2026-11-02T23:30:00", "2026-11-02T23:30:00-08:00",
     "11/02/2026 11:30 PM", "02-Nov-2026", "November 2nd, 2026"],
)  # fmt: skip
def test_dates_keep_the_calendar_day_as_written(raw: str) -> None:
    assert dates([raw]).values.to_pylist() == [dt.date(2026, 11, 2)]


def test_two_digit_years_pivot_twenty_years_ahead() -> None:
    result = dates(["1/5/46", "1/5/47", "1/5/99", "1/5/00"])
    assert result.values.to_pylist() == [
        dt.date(2046, 1, 5),
        dt.date(1947, 1, 5),
        dt.date(1999, 1, 5),
        dt.date(2000, 1, 5),
    ]


def test_impossible_dates_are_invalid() -> None:
    raw = ["2026-02-29", "2024-02-29", "2/30/2026", "0000-01-01", "99999999", None, "2026-11-02T25:00:00"]
    result = dates(raw)
    assert result.values.to_pylist() == [None, dt.date(2024, 2, 29), None, None, None, None, None]
    assert result.invalid.to_pylist() == [True, False, True, True, True, False, True]


def test_date_column_through_the_dispatcher() -> None:
    result = normalize_column("date", pa.array(["2026-11-02", "x"]), pa.date32(), NEW_YORK)
    assert result.values.type == pa.date32()
    assert result.values.to_pylist() == [dt.date(2026, 11, 2), None]


def test_days_from_civil_matches_the_calendar() -> None:
    days = [dt.date(1900, 1, 1) + dt.timedelta(days=step) for step in range(0, 73_000, 97)]
    computed = days_from_civil(
        pa.array([d.year for d in days], pa.int32()),
        pa.array([d.month for d in days], pa.int32()),
        pa.array([d.day for d in days], pa.int32()),
    )
    assert pc.cast(computed, pa.date32()).to_pylist() == days
