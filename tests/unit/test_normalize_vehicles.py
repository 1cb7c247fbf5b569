"""VIN, model year, make and new/used status."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pytest
from forecourt.normalize import Locale, Normalized, normalize_column
from forecourt.normalize._base import Request
from forecourt.normalize._kernels import clean_strings
from forecourt.normalize.vehicles import normalize_model_year, vin_check_digit

VIN_CHARACTERS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
STRING = pa.string()


def run(kind: str, values: list[str | None], target: pa.DataType = STRING) -> Normalized:
    return normalize_column(kind, pa.array(values, pa.string()), target, Locale())


# --- VIN ----------------------------------------------------------------------------------------


def test_check_digit_of_published_examples() -> None:
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"  # remainder 10 is written X (49 CFR 565.15)
    assert vin_check_digit("11111111111111111") == "1"


def test_vins_are_uppercased_without_spaces_or_dashes() -> None:
    result = run("vin", ["1m8gdm9axkp042788", " 1M8-GDM9AX KP042788 "])
    assert result.values.to_pylist() == ["1M8GDM9AXKP042788"] * 2
    assert result.invalid.to_pylist() == [False, False]


@pytest.mark.parametrize(
    "bad",
    ["1M8GDM9A1KP042788", "1M8GDM9AXKP04278", "1M8GDM9AXKP0427888", "1M8GDM9AXKPO42788", "IM8GDM9AXKP042788",
     "1M8GDM9AXKP04278Q", "UNKNOWN", "0"],
)  # fmt: skip
def test_wrong_check_digit_length_or_letters_is_invalid(bad: str) -> None:
    result = run("vin", [bad])
    assert result.values.to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]


def test_check_digit_is_only_required_for_north_american_vins() -> None:
    # A European VIN (first character W) carries no check digit; its position 9 can be anything.
    assert run("vin", ["WVWZZZ1JZXW000001"]).values.to_pylist() == ["WVWZZZ1JZXW000001"]
    assert run("vin", ["JH4KA7561PC008269"]).invalid.to_pylist() == [False]


def test_vectorized_check_digit_agrees_with_the_per_value_rule() -> None:
    rng = random.Random(11)
    vins = ["".join([rng.choice("12345"), *rng.choices(VIN_CHARACTERS, k=16)]) for _ in range(3000)]
    vins = [vin[:8] + (vin_check_digit(vin) if i % 3 else vin[8]) + vin[9:] for i, vin in enumerate(vins)]
    result = run("vin", vins)
    expected = [vin[8] == vin_check_digit(vin) for vin in vins]
    assert [value is not None for value in result.values.to_pylist()] == expected
    assert 0 < sum(expected) < len(vins)


# --- model year ---------------------------------------------------------------------------------


def model_years(values: list[str | None], today: dt.date) -> list[int | None]:
    cleaned = clean_strings(pa.array(values, pa.string()))
    return normalize_model_year(cleaned, Request(pa.int32(), Locale()), today=today).values.to_pylist()


def test_model_years_run_from_1900_to_two_years_ahead() -> None:
    today = dt.date(2026, 5, 1)
    assert model_years(["1900", "2019", "2028", "1899", "2029"], today) == [1900, 2019, 2028, None, None]


def test_two_digit_model_years_use_a_sliding_pivot() -> None:
    assert model_years(["19", "98", "28", "29", "00"], dt.date(2026, 5, 1)) == [2019, 1998, 2028, 1929, 2000]
    assert model_years(["29"], dt.date(2027, 5, 1)) == [2029]


def test_model_year_column_is_int32_and_flags_garbage() -> None:
    result = run("model_year", ["2019", "2019.0", "MY2019", "19.5", "20191", "abc"], pa.int32())
    assert result.values.type == pa.int32()
    assert result.values.to_pylist() == [2019, 2019, None, None, None, None]
    assert result.invalid.to_pylist() == [False, False, True, True, True, True]


# --- make ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("chevy", "Chevrolet"), ("CHEVROLET", "Chevrolet"), ("vw", "Volkswagen"), ("mercedes", "Mercedes-Benz"),
     ("Mercedes Benz", "Mercedes-Benz"), ("MERCEDES-BENZ", "Mercedes-Benz"), ("bmw", "BMW"), ("gmc", "GMC"),
     ("RAM", "Ram"), ("kia", "Kia"), ("mini", "MINI"), ("land rover", "Land Rover"), ("Land-Rover", "Land Rover"),
     ("alfa romeo", "Alfa Romeo"), ("rolls royce", "Rolls-Royce"), ("mclaren", "McLaren"), ("toyota", "Toyota")],
)  # fmt: skip
def test_makes_get_their_canonical_spelling(raw: str, canonical: str) -> None:
    assert run("make", [raw]).values.to_pylist() == [canonical]


def test_unknown_makes_are_title_cased_not_invalid() -> None:
    result = run("make", ["DELOREAN", "zeekr  motors"])
    assert result.values.to_pylist() == ["Delorean", "Zeekr Motors"]
    assert result.invalid.to_pylist() == [False, False]


# --- vehicle status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [("N", "new"), ("NEW", "new"), ("new", "new"), ("U", "used"), ("Used", "used"), ("Pre-Owned", "used"),
     ("CPO", "used"), ("Certified", "used"), ("certified pre-owned", "used"), ("Demo", "used")],
)  # fmt: skip
def test_vehicle_status_is_new_or_used(raw: str, status: str) -> None:
    assert run("vehicle_status", [raw]).values.to_pylist() == [status]


def test_other_vehicle_statuses_are_invalid() -> None:
    result = run("vehicle_status", ["lease", "sold", None])
    assert result.values.to_pylist() == [None, None, None]
    assert result.invalid.to_pylist() == [True, True, False]
