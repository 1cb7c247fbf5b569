"""Names (people and cities) and free text."""

from __future__ import annotations

import pyarrow as pa
import pytest
from forecourt.normalize import Locale, Normalized, normalize_column
from forecourt.normalize.names import fix_title_case


def run(kind: str, values: list[str | None]) -> Normalized:
    return normalize_column(kind, pa.array(values, pa.string()), pa.string(), Locale())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("JOHN", "John"), ("mary", "Mary"), ("MARY ANN", "Mary Ann"), ("o'brien", "O'Brien"),
     ("O'BRIEN", "O'Brien"), ("mcdonald", "McDonald"), ("SMITH-JONES", "Smith-Jones"),
     ("mcdonald-smith", "McDonald-Smith"), ("VAN DER BERG", "Van der Berg"),
     ("ludwig van beethoven", "Ludwig van Beethoven"), ("JOHN SMITH III", "John Smith III"),
     ("ÉLODIE", "Élodie"), ("ST. LOUIS", "St. Louis"), ("NEW YORK", "New York")],
)  # fmt: skip
def test_one_case_names_are_title_cased(raw: str, expected: str) -> None:
    assert run("name", [raw]).values.to_pylist() == [expected]


@pytest.mark.parametrize(
    "typed", ["DeShawn", "McDonald", "van der Berg", "MacKenzie", "de la Cruz", "LeBron"]
)
def test_mixed_case_names_are_kept_as_typed(typed: str) -> None:
    assert run("name", [typed]).values.to_pylist() == [typed]


def test_quotes_and_inner_whitespace_are_removed() -> None:
    result = run("name", ['"Smith"', "'Jane'", "“Ana”", "  Mary \t  Ann  "])
    assert result.values.to_pylist() == ["Smith", "Jane", "Ana", "Mary Ann"]


def test_a_value_of_only_quotes_is_blank_not_invalid() -> None:
    result = run("name", ['""', "''"])
    assert result.values.to_pylist() == [None, None]
    assert result.invalid.to_pylist() == [False, False]


@pytest.mark.parametrize("bad", ["R2D2", "John 3", "12345", "---", "?!", "..."])
def test_names_with_digits_or_without_letters_are_invalid(bad: str) -> None:
    result = run("name", [bad])
    assert result.values.to_pylist() == [None]
    assert result.invalid.to_pylist() == [True]


def test_fix_title_case_keeps_the_first_word_capitalized() -> None:
    assert fix_title_case("Van Halen") == "Van Halen"
    assert fix_title_case("Mary Van") == "Mary Van"  # a last word is a name, not a particle
    assert fix_title_case("Mc") == "Mc"


def test_text_collapses_whitespace_and_is_never_invalid() -> None:
    result = run("text", ["  red \t car\n\n with  sunroof ", "R2D2", "---", "\u00a0x\u00a0\u00a0y"])
    assert result.values.to_pylist() == ["red car with sunroof", "R2D2", "---", "x y"]
    assert result.invalid.to_pylist() == [False] * 4
