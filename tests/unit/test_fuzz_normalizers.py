"""Property tests of the column normalizers (issue 8): whatever a dealer's system puts in a cell,
normalizing never raises, keeps the column's length, flags what it could not use, and normalizing
the result again changes nothing (idempotence: a value read back from the lake and sent through
the same rules is already canonical).

The default run tries a few hundred values per kind; ``make test-slow`` runs the long version
(``FORECOURT_FUZZ_EXAMPLES``, default 5,000 there)."""

from __future__ import annotations

import os
import string
from decimal import Decimal

import pyarrow as pa
import pytest
from forecourt.normalize import Locale, normalize_column
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# the default run (CI) replays the same examples every time, so that main stays green or red for a
# reason; the long run (FORECOURT_FUZZ_EXAMPLES, make test-slow) searches anew each time
RANDOM = os.environ.get("FORECOURT_FUZZ_EXAMPLES")
EXAMPLES = int(RANDOM or "60")
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=RANDOM is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LOCALES = [
    Locale(),
    Locale(country="CA", timezone="America/Toronto"),
    Locale(country="DE", timezone="Europe/Berlin"),
]

# cells as dealer exports write them: real-looking values, their near misses, and any text at all
_junk = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
_digits = st.text(alphabet=string.digits, min_size=1, max_size=16)
_emails = st.builds(
    lambda user, host, tld, pad: f"{pad}{user}@{host}.{tld}{pad}",
    st.text(alphabet=string.ascii_letters + string.digits + "._%+-'", min_size=1, max_size=20),
    st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=15),
    st.sampled_from(["com", "org", "CO.UK", "de", "io", "c", "123"]),
    st.sampled_from(["", " ", "\t", "\u00a0"]),
)
_phones = st.one_of(
    st.builds(
        lambda a, b, c, sep, ext: f"({a}){sep}{b}-{c}{ext}",
        st.integers(200, 999),
        st.integers(200, 999),
        st.integers(0, 9999).map(lambda n: f"{n:04d}"),
        st.sampled_from([" ", "", ".", "-"]),
        st.sampled_from(["", " x12", " ext. 345", ";ext=9"]),
    ),
    st.builds(lambda d: f"+{d}", _digits),
    _digits,
)
_vins = st.text(alphabet=string.ascii_uppercase + string.digits + " -ioq", min_size=0, max_size=20)
_dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.strftime("%m/%d/%Y")),
    st.dates().map(lambda d: d.strftime("%m/%d/%y")),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S")),
    st.datetimes().map(lambda d: d.strftime("%m/%d/%Y %I:%M %p")),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S+02:00")),
)
_zips = st.one_of(
    st.integers(0, 99999).map(lambda n: f"{n:05d}"),
    st.builds(lambda a, b: f"{a:05d}-{b:04d}", st.integers(0, 99999), st.integers(0, 9999)),
    st.sampled_from(["K1A 0B1", "k1a0b1", "10115", "SW1A 1AA", "9021", "00000"]),
)


def _cells(valued: st.SearchStrategy[str]) -> st.SearchStrategy[list[str | None]]:
    return st.lists(st.one_of(valued, _junk, st.none(), st.just(""), st.just("   ")), min_size=1, max_size=12)


def _text_of(values: pa.Array) -> pa.Array:
    """The canonical values as the text a later file would carry them in."""
    if pa.types.is_timestamp(values.type):
        return pa.array([None if v is None else v.isoformat() for v in values.to_pylist()], pa.string())
    if pa.types.is_date32(values.type):
        return pa.array([None if v is None else v.isoformat() for v in values.to_pylist()], pa.string())
    if pa.types.is_floating(values.type):  # plain digits: files carry 10000000000.0, not 1e+10
        return pa.array([None if v is None else format(Decimal(repr(v)), "f") for v in values.to_pylist()])
    return values.cast(pa.string())


def _check(kind: str | None, cells: list[str | None], target: pa.DataType, locale: Locale) -> None:
    raw = pa.array(cells, pa.string())
    first = normalize_column(kind, raw, target, locale)
    assert len(first.values) == len(first.invalid) == len(cells)
    assert first.values.type == target and first.invalid.null_count == 0
    # a value that came out is canonical: the same rules give it back unchanged and valid
    second = normalize_column(kind, _text_of(first.values), target, locale)
    assert second.values.to_pylist() == first.values.to_pylist(), (kind, cells)
    assert not any(second.invalid.to_pylist()), (kind, cells)
    # a blank cell is null, never invalid; an invalid cell is always nulled
    for cell, value, invalid in zip(cells, first.values.to_pylist(), first.invalid.to_pylist(), strict=True):
        if cell is None or not cell.strip():
            assert value is None and not invalid, (kind, cell)
        if invalid:
            assert value is None, (kind, cell)


@pytest.mark.parametrize("locale", LOCALES, ids=lambda loc: loc.country)
@FUZZ
@given(cells=_cells(_emails))
def test_emails(cells: list[str | None], locale: Locale) -> None:
    _check("email", cells, pa.string(), locale)


@pytest.mark.parametrize("locale", LOCALES, ids=lambda loc: loc.country)
@FUZZ
@given(cells=_cells(_phones))
def test_phones(cells: list[str | None], locale: Locale) -> None:
    _check("phone", cells, pa.string(), locale)


@FUZZ
@given(cells=_cells(_vins))
def test_vins(cells: list[str | None]) -> None:
    _check("vin", cells, pa.string(), Locale())


@pytest.mark.parametrize("locale", LOCALES, ids=lambda loc: loc.country)
@FUZZ
@given(cells=_cells(_zips))
def test_zips(cells: list[str | None], locale: Locale) -> None:
    _check("zip", cells, pa.string(), locale)


@pytest.mark.parametrize("kind", ["name", "text", "state", "country", "make", "lead_source", "event_type"])
@FUZZ
@given(cells=_cells(st.sampled_from(["O'BRIEN", "mcdonald", "van der berg", "Ill.", "IL", "usa", "Chevy"])))
def test_text_kinds(cells: list[str | None], kind: str) -> None:
    _check(kind, cells, pa.string(), Locale())


@pytest.mark.parametrize("locale", LOCALES[:2], ids=lambda loc: loc.country)
@FUZZ
@given(cells=_cells(_dates))
def test_timestamps(cells: list[str | None], locale: Locale) -> None:
    _check("timestamp", cells, pa.timestamp("us", tz="UTC"), locale)


@FUZZ
@given(cells=_cells(_dates))
def test_dates(cells: list[str | None]) -> None:
    _check("date", cells, pa.date32(), Locale())


@FUZZ
@given(cells=_cells(st.one_of(st.integers(-(10**12), 10**12).map(str), st.floats().map(str))))
def test_numbers_and_integers(cells: list[str | None]) -> None:
    _check("integer", cells, pa.int64(), Locale())
    _check("number", cells, pa.float64(), Locale())
    _check("model_year", cells, pa.int32(), Locale())


@FUZZ
@given(cells=_cells(st.sampled_from(["Y", "n", "TRUE", "0", "1", "yes", "opt-out", "GRANTED", "denied"])))
def test_flags_and_consent(cells: list[str | None]) -> None:
    _check("flag", cells, pa.bool_(), Locale())
    _check("consent", cells, pa.string(), Locale())
