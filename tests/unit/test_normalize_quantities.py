"""Integers and amounts."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from forecourt.normalize import Locale, Normalized, normalize_column


def run(kind: str, values: list[str | None], target: pa.DataType) -> Normalized:
    return normalize_column(kind, pa.array(values, pa.string()), target, Locale())


# --- integer ------------------------------------------------------------------------------------


def test_integers_accept_thousands_separators_and_zero_fractions() -> None:
    result = run("integer", ["1,234", "12.0", "12.", "-7", "+8", "1,234,567", "0", "12,345.00"], pa.int64())
    assert result.values.to_pylist() == [1234, 12, 12, -7, 8, 1234567, 0, 12345]
    assert result.invalid.true_count == 0


@pytest.mark.parametrize("bad", ["12.5", "1,23", "12,3456", "abc", "1 234", "1e3", "--1", "12-"])
def test_non_integers_are_invalid(bad: str) -> None:
    result = run("integer", [bad], pa.int64())
    assert result.values.to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]


def test_integers_that_do_not_fit_the_target_are_invalid() -> None:
    result = run("integer", ["2147483647", "2147483648", "-2147483649"], pa.int32())
    assert result.values.type == pa.int32()
    assert result.values.to_pylist() == [2147483647, None, None]
    assert result.invalid.to_pylist() == [False, True, True]
    big = run("integer", ["999999999999999999", "9999999999999999999"], pa.int64())
    assert big.values.to_pylist() == [999999999999999999, None]


# --- number -------------------------------------------------------------------------------------


def test_amount_spellings_become_floats() -> None:
    raw = [
        "$1,234.50",
        "€12",
        "£ 7",
        "12.5%",
        "(12.50)",
        "12.50-",
        "-$3",
        "$-3",
        "($1,000.00)",
        ".5",
        "1,234",
    ]
    result = run("number", raw, pa.float64())
    assert result.values.to_pylist() == [
        1234.5,
        12.0,
        7.0,
        12.5,
        -12.5,
        -12.5,
        -3.0,
        -3.0,
        -1000.0,
        0.5,
        1234.0,
    ]
    assert result.invalid.true_count == 0


@pytest.mark.parametrize("bad", ["abc", "1,23.4", "12.5.1", "-(3)", "(3", "$", "1e3", "12 34"])
def test_non_numbers_are_invalid(bad: str) -> None:
    result = run("number", [bad], pa.float64())
    assert result.values.to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]


def test_decimals_round_half_to_even_at_the_scale() -> None:
    result = run(
        "number", ["12.345", "12.355", "0.005", "0.015", "(2.505)", "$1,234,567.891"], pa.decimal128(14, 2)
    )
    assert result.values.type == pa.decimal128(14, 2)
    assert result.values.to_pylist() == [
        Decimal("12.34"), Decimal("12.36"), Decimal("0.00"), Decimal("0.02"), Decimal("-2.50"), Decimal("1234567.89")
    ]  # fmt: skip


def test_decimals_that_overflow_the_precision_are_invalid() -> None:
    result = run(
        "number", ["999999999999.99", "999999999999.995", "1000000000000", "0000012.5"], pa.decimal128(14, 2)
    )
    assert result.values.to_pylist() == [Decimal("999999999999.99"), None, None, Decimal("12.50")]
    assert result.invalid.to_pylist() == [False, True, True, False]


def test_apr_percentages_keep_their_value() -> None:
    result = run("number", ["6.9%", "6.875 %", "12.3456"], pa.decimal128(6, 3))
    assert result.values.to_pylist() == [Decimal("6.900"), Decimal("6.875"), Decimal("12.346")]
