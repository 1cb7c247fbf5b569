"""E-mail and phone normalization."""

from __future__ import annotations

import random

import phonenumbers
import pyarrow as pa
import pytest
from forecourt.normalize import Locale, Normalized, normalize_column

US = Locale()


def run(kind: str, values: list[str | None], locale: Locale = US) -> Normalized:
    return normalize_column(kind, pa.array(values, pa.string()), pa.string(), locale)


# --- e-mail -------------------------------------------------------------------------------------


def test_emails_are_trimmed_and_lowercased() -> None:
    result = run("email", ["  Jane.Doe@Example.COM ", "BOB+cars@dealer.example.com"])
    assert result.values.to_pylist() == ["jane.doe@example.com", "bob+cars@dealer.example.com"]
    assert result.invalid.to_pylist() == [False, False]


def test_gmail_dots_are_kept_here_because_that_is_an_ad_platform_rule() -> None:
    assert run("email", ["J.Doe@gmail.com"]).values.to_pylist() == ["j.doe@gmail.com"]


def test_angle_brackets_mailto_and_display_names_are_removed() -> None:
    result = run("email", ["<jane@example.com>", "mailto:Jane@Example.com", "Jane Doe <jane@example.com>"])
    assert result.values.to_pylist() == ["jane@example.com"] * 3


@pytest.mark.parametrize(
    "bad",
    ["jane", "jane@", "@example.com", "jane@example", "jane doe@example.com", "jane@@example.com",
     "jane@exa mple.com", "jane@example.c", "jane..doe@example.com", ".jane@example.com", "n/a"],
)  # fmt: skip
def test_malformed_emails_are_nulled_and_flagged(bad: str) -> None:
    result = run("email", [bad])
    assert result.values.to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]


def test_overlong_email_is_invalid() -> None:
    address = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"
    assert run("email", [address]).invalid.to_pylist() == [True]


# --- phone: North American fast path -----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["(212) 555-1234", "212-555-1234", "212.555.1234", "2125551234", "12125551234", "1-212-555-1234",
     "+1 212 555 1234", "+1 (212) 555-1234", " 212 555 1234 "],
)  # fmt: skip
def test_us_phone_shapes_become_e164(raw: str) -> None:
    result = run("phone", [raw])
    assert result.values.to_pylist() == ["+12125551234"]
    assert result.invalid.to_pylist() == [False]


@pytest.mark.parametrize(
    ("raw", "extension"),
    [("212-555-1234 x123", "123"), ("212-555-1234 ext. 45", "45"), ("(212) 555-1234 ext123", "123"),
     ("212.555.1234 #9", "9"), ("2125551234X77", "77"), ("212-555-1234 Extension 5", "5")],
)  # fmt: skip
def test_extensions_are_kept_apart(raw: str, extension: str) -> None:
    result = run("phone", [raw])
    assert result.values.to_pylist() == ["+12125551234"]
    assert result.parts["ext"].to_pylist() == [extension]


def test_fictional_555_01xx_numbers_are_accepted() -> None:
    # phonenumbers' metadata treats 555-0100..0199 as valid, and test and demo data use them.
    result = run("phone", ["(212) 555-0100", "415-555-0199"])
    assert result.values.to_pylist() == ["+12125550100", "+14155550199"]


@pytest.mark.parametrize(
    "junk", ["0000000000", "1111111111", "1234567890", "9999999999", "555-1234", "(123) 456-7890",
             "212-155-1234", "call me", "n/a", "21255512345678"],
)  # fmt: skip
def test_junk_and_impossible_numbers_are_invalid(junk: str) -> None:
    result = run("phone", [junk])
    assert result.values.to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]
    assert result.parts["ext"].to_pylist() == [None]


def test_canadian_and_caribbean_numbers_are_nanp_too() -> None:
    result = run("phone", ["613-555-0123", "876-555-1234"], Locale("CA", "America/Toronto"))
    assert result.values.to_pylist() == ["+16135550123", "+18765551234"]


def test_fast_path_accepts_exactly_what_phonenumbers_accepts() -> None:
    rng = random.Random(7)
    numbers = [f"{rng.randint(2_000_000_000, 9_999_999_999)}" for _ in range(3000)]
    numbers += [f"{area}{rng.randint(2_000_000, 9_999_999)}" for area in (212, 416, 800, 900, 876, 555, 211)]
    result = run("phone", numbers)
    expected = [phonenumbers.is_valid_number(phonenumbers.parse(number, "US")) for number in numbers]
    assert [value is not None for value in result.values.to_pylist()] == expected


# --- phone: everything else through phonenumbers ------------------------------------------------


def test_international_numbers_keep_their_country_code() -> None:
    result = run("phone", ["+44 20 7946 0958", "0044 20 7946 0958", "011 44 20 7946 0958"])
    assert result.values.to_pylist() == ["+442079460958"] * 3


def test_other_dealer_countries_use_their_own_default_region() -> None:
    berlin = Locale("DE", "Europe/Berlin")
    result = run("phone", ["030 1234567", "+49 30 1234567", "+1 212 555 1234", "12"], berlin)
    assert result.values.to_pylist() == ["+49301234567", "+49301234567", "+12125551234", None]
    assert result.invalid.to_pylist() == [False, False, False, True]


def test_a_number_with_an_explicit_other_country_code_is_not_read_as_nanp() -> None:
    # +212 is Morocco: ten digits after the plus must not become +1 212 …
    assert run("phone", ["+2125551234"]).values.to_pylist() != ["+12125551234"]


def test_vanity_numbers_are_translated() -> None:
    assert run("phone", ["1-800-FLOWERS"]).values.to_pylist() == ["+18003569377"]


def test_nulls_and_blanks_in_between_keep_their_place() -> None:
    result = run("phone", [None, "212 555 1234", "", "+44 20 7946 0958", None])
    assert result.values.to_pylist() == [None, "+12125551234", None, "+442079460958", None]
    assert result.invalid.to_pylist() == [False] * 5
