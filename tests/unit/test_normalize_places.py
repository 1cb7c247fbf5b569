"""State, postal code and country."""

from __future__ import annotations

import pyarrow as pa
import pytest
from forecourt.normalize import Locale, Normalized, normalize_column
from forecourt.normalize.places import ISO_ALPHA2

US = Locale()


def run(kind: str, values: list[str | None], locale: Locale = US) -> Normalized:
    return normalize_column(kind, pa.array(values, pa.string()), pa.string(), locale)


# --- state --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [("ny", "NY"), ("NY", "NY"), ("N.Y.", "NY"), ("new york", "NY"), ("New  York", "NY"),
     ("california", "CA"), ("Calif.", "CA"), ("District of Columbia", "DC"), ("Washington, D.C.", "DC"),
     ("Puerto Rico", "PR"), ("ontario", "ON"), ("Québec", "QC"), ("BC", "BC")],
)  # fmt: skip
def test_states_and_provinces_become_two_letter_codes(raw: str, code: str) -> None:
    result = run("state", [raw])
    assert result.values.to_pylist() == [code]
    assert result.invalid.to_pylist() == [False]


def test_unknown_states_are_invalid_for_us_and_canadian_dealers() -> None:
    for locale in (US, Locale("CA", "America/Toronto")):
        result = run("state", ["XX", "Narnia", "N Y C"], locale)
        assert result.values.to_pylist() == [None, None, None]
        assert result.invalid.to_pylist() == [True, True, True]


def test_other_countries_keep_the_region_as_text() -> None:
    result = run("state", ["  Bayern ", "Île-de-France"], Locale("DE", "Europe/Berlin"))
    assert result.values.to_pylist() == ["Bayern", "Île-de-France"]
    assert result.invalid.to_pylist() == [False, False]


# --- zip ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "zip5", "zip4"),
    [("10001", "10001", None), ("10001-1234", "10001", "1234"), ("100011234", "10001", "1234"),
     ("10001 1234", "10001", "1234"), ("2134", "02134", None), ("2134-5678", "02134", "5678"),
     ("21345678", "02134", "5678")],
)  # fmt: skip
def test_us_zips_are_five_digits_with_the_add_on_apart(raw: str, zip5: str, zip4: str | None) -> None:
    result = run("zip", [raw])
    assert result.values.to_pylist() == [zip5]
    assert result.parts["zip4"].to_pylist() == [zip4]
    assert result.invalid.to_pylist() == [False]


@pytest.mark.parametrize("bad", ["123", "1234567", "00000", "ABCDE", "10001-12", "1000112345", "10OO1"])
def test_malformed_us_zips_are_invalid(bad: str) -> None:
    result = run("zip", [bad])
    assert result.values.to_pylist() == [None]
    assert result.parts["zip4"].to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]


def test_canadian_postal_codes_are_kept_for_us_dealers_near_the_border() -> None:
    assert run("zip", ["k1a0b1", "K1A 0B1"]).values.to_pylist() == ["K1A 0B1", "K1A 0B1"]


def test_non_us_postal_codes_are_uppercased_text() -> None:
    result = run("zip", [" sw1a 1aa ", "75008", "k1a 0b1"], Locale("GB", "Europe/London"))
    assert result.values.to_pylist() == ["SW1A 1AA", "75008", "K1A 0B1"]
    assert result.invalid.to_pylist() == [False, False, False]
    assert result.parts["zip4"].to_pylist() == [None, None, None]


# --- country ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [("US", "US"), ("us", "US"), ("USA", "US"), ("U.S.", "US"), ("U.S.A.", "US"), ("United States", "US"),
     ("united states of america", "US"), ("Canada", "CA"), ("CAN", "CA"), ("Germany", "DE"), ("DEU", "DE"),
     ("Mexico", "MX"), ("México", "MX"), ("United Kingdom", "GB"), ("UK", "GB"), ("fr", "FR"), ("NZ", "NZ")],
)  # fmt: skip
def test_countries_become_iso_alpha2(raw: str, code: str) -> None:
    assert run("country", [raw]).values.to_pylist() == [code]


def test_null_country_stays_null_and_unknown_is_invalid() -> None:
    result = run("country", [None, "Narnia", "XX"])
    assert result.values.to_pylist() == [None, None, None]
    assert result.invalid.to_pylist() == [False, True, True]


def test_every_assigned_alpha2_code_is_known() -> None:
    assert len(ISO_ALPHA2) == 249
    codes = sorted(ISO_ALPHA2)
    assert run("country", [code.lower() for code in codes]).values.to_pylist() == codes
