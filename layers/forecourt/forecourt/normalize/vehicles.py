"""Vehicles: VIN, model year, make, new/used status."""

from __future__ import annotations

import datetime as dt
import struct

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._base import Normalized, Request, finish
from forecourt.normalize._kernels import (
    NULL_STRING,
    STRING,
    LookupTable,
    collapse_whitespace,
    count_true,
    delete_ascii,
    lookup_folded,
    map_distinct,
)

# --- VIN ----------------------------------------------------------------------------------------

VIN_PATTERN = r"^[A-HJ-NPR-Z0-9]{17}$"
"""17 characters; I, O and Q are never used (49 CFR 565.15)."""
VIN_TRANSLITERATION = dict(
    zip(
        "ABCDEFGHJKLMNPRSTUVWXYZ",
        (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9),
        strict=True,
    )
)
"""Letter values of 49 CFR 565.15(c) table IV; digits count as themselves."""
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
"""Position weights of 49 CFR 565.15(c) table V; position 9 is the check digit itself."""
_VIN_LENGTH = 17
_CHECK_POSITION = 8


def vin_check_digit(vin: str) -> str:
    """The check digit (``0``–``9`` or ``X``) a 17-character VIN must carry in position 9."""
    total = sum(
        (int(char) if char.isdigit() else VIN_TRANSLITERATION[char]) * weight
        for char, weight in zip(vin, VIN_WEIGHTS, strict=True)
    )
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def _weighted_table(weight: int) -> pa.Array:
    values = {ord(str(digit)): digit for digit in range(10)}
    values.update({ord(letter): value for letter, value in VIN_TRANSLITERATION.items()})
    return pa.array([values.get(byte, 0) * weight for byte in range(256)], pa.int16())


_WEIGHTED_TABLES = [_weighted_table(weight) for weight in VIN_WEIGHTS]
_CHECK_CHARACTERS = pa.array([ord(char) for char in "0123456789X"], pa.uint8())


def _check_digits_match(vins: pa.Array) -> pa.Array:
    """Whether each VIN's position 9 is its check digit; ``vins`` are 17 ASCII characters, no nulls.

    Works on the bytes: the values sit back to back in the data buffer, so the characters of one
    position are a strided ``take`` (about 0.2 s per million VINs, no per-value Python).
    """
    n = len(vins)
    _, offsets_buffer, data_buffer = vins.buffers()
    start = pa.Array.from_buffers(pa.int32(), n + 1, [None, offsets_buffer], offset=vins.offset)[0].as_py()
    flat = pa.Array.from_buffers(pa.uint8(), n * _VIN_LENGTH, [None, data_buffer], offset=start)
    strides = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(struct.pack("<i", _VIN_LENGTH) * n)])
    row_starts = pc.subtract(pc.cumulative_sum(strides), _VIN_LENGTH)
    total = pa.repeat(pa.scalar(0, pa.int16()), n)
    for position, weight in enumerate(VIN_WEIGHTS):
        if weight:
            characters = pc.take(flat, pc.add(row_starts, position))
            total = pc.add(total, pc.take(_WEIGHTED_TABLES[position], characters))
    expected = pc.take(_CHECK_CHARACTERS, pc.subtract(total, pc.multiply(pc.divide(total, 11), 11)))
    return pc.equal(pc.take(flat, pc.add(row_starts, _CHECK_POSITION)), expected)


def normalize_vin(cleaned: pa.Array, request: Request) -> Normalized:
    """VINs uppercased without spaces or dashes; 17 legal characters required.

    North American VINs (first character 1–5) must also carry the right check digit (49 CFR 565.15);
    other regions do not use it. Failures are nulled and flagged invalid. Raises nothing.
    """
    vin = pc.utf8_upper(delete_ascii(cleaned, " -"))
    usable = pc.fill_null(pc.match_substring_regex(vin, VIN_PATTERN), False)
    north_american = pc.and_(usable, pc.match_substring_regex(vin, "^[1-5]"))
    if count_true(north_american):
        checked = _check_digits_match(pc.filter(vin, north_american))
        usable = pc.replace_with_mask(usable, north_american, checked)
    return finish(cleaned, pc.if_else(usable, vin, NULL_STRING))


# --- model year ---------------------------------------------------------------------------------

FIRST_MODEL_YEAR = 1900
MODEL_YEARS_AHEAD = 2
"""Model years run ahead of the calendar: a 2027 model is sold from spring 2026."""


def _model_years(distinct: pa.Array, latest: int) -> list[pa.Array]:
    two_digits = pc.match_substring_regex(distinct, r"^\d{2}$")
    shaped = pc.or_(two_digits, pc.match_substring_regex(distinct, r"^\d{4}(?:\.0+)?$"))
    number = pc.cast(pc.if_else(shaped, pc.utf8_slice_codeunits(distinct, 0, 4), NULL_STRING), pa.int32())
    this_century = pc.add(number, 2000)
    widened = pc.if_else(pc.less_equal(this_century, latest), this_century, pc.add(number, 1900))
    year = pc.if_else(two_digits, widened, number)
    in_range = pc.and_(pc.greater_equal(year, FIRST_MODEL_YEAR), pc.less_equal(year, latest))
    return [pc.if_else(in_range, year, pa.scalar(None, pa.int32()))]


def normalize_model_year(cleaned: pa.Array, request: Request, today: dt.date | None = None) -> Normalized:
    """Model years as integers from 1900 to next year + 1 (``MODEL_YEARS_AHEAD``).

    Two-digit years use a sliding pivot: ``yy`` is 20yy unless that is past the latest model year,
    then 19yy (in 2026: ``28`` → 2028, ``29`` → 1929, ``98`` → 1998). Anything else is nulled and
    flagged. Raises nothing.
    """
    latest = (today or dt.date.today()).year + MODEL_YEARS_AHEAD
    (years,) = map_distinct(cleaned, lambda distinct: _model_years(distinct, latest))
    return finish(cleaned, years)


# --- make ---------------------------------------------------------------------------------------

MAKES = {
    "Acura": [], "Alfa Romeo": ["alfa"], "Aston Martin": ["aston"], "Audi": [], "Bentley": [],
    "BMW": ["bmw", "b m w"], "Buick": [], "Cadillac": ["caddy", "caddilac", "cadilac"],
    "Chevrolet": ["chevy", "chev", "chevy trucks", "chevorlet", "chevrolet trucks"],
    "Chrysler": [], "Daewoo": [], "Datsun": [], "Dodge": [], "Eagle": [], "Ferrari": [], "Fiat": [],
    "Fisker": [], "Ford": ["ford motor", "ford trucks"], "Genesis": [], "Geo": [], "GMC": ["gmc trucks"],
    "Honda": [], "Hummer": [], "Hyundai": ["hyundia", "hundai"], "Infiniti": ["infinity"],
    "INEOS": ["ineos"], "Isuzu": [], "Jaguar": ["jag"], "Jeep": [], "Karma": [], "Kia": ["kia motors"],
    "Lamborghini": ["lambo"], "Land Rover": ["landrover", "range rover"], "Lexus": [], "Lincoln": [],
    "Lotus": [], "Lucid": [], "Maserati": [], "Maybach": [], "Mazda": [], "McLaren": [],
    "Mercedes-Benz": ["mercedes", "mercedes benz", "mercedesbenz", "benz", "mb", "merc"],
    "Mercury": [], "MINI": ["mini cooper"], "Mitsubishi": [], "Nissan": [], "Oldsmobile": ["olds"],
    "Plymouth": [], "Polestar": [], "Pontiac": [], "Porsche": [], "Ram": ["ram trucks", "dodge ram"],
    "Rivian": [], "Rolls-Royce": ["rolls royce", "rolls"], "Saab": [], "Saturn": [], "Scion": [],
    "smart": [], "Subaru": [], "Suzuki": [], "Tesla": [], "Toyota": [], "VinFast": [],
    "Volkswagen": ["vw", "volkswagon", "v w"], "Volvo": [],
}  # fmt: skip
"""Canonical spellings (the makers' own) and the aliases dealers type; keys are folded for lookup."""


def _make_table() -> LookupTable:
    mapping: dict[str, str] = {}
    for canonical, aliases in MAKES.items():
        mapping[canonical.lower().replace("-", " ")] = canonical
        mapping.update(dict.fromkeys(aliases, canonical))
    return LookupTable.build(mapping)


_MAKES = _make_table()


def normalize_make(cleaned: pa.Array, request: Request) -> Normalized:
    """Makes in their canonical spelling (``chevy`` → ``Chevrolet``, ``VW`` → ``Volkswagen``).

    Makes not in the table are kept, title-cased; never invalid. Raises nothing.
    """
    known = lookup_folded(cleaned, _MAKES)
    return finish(cleaned, pc.coalesce(known, pc.utf8_title(collapse_whitespace(cleaned))))


# --- new / used ---------------------------------------------------------------------------------

VEHICLE_STATUSES = {
    "new": "new", "n": "new", "brand new": "new",
    "used": "used", "u": "used", "pre owned": "used", "preowned": "used", "previously owned": "used",
    "cpo": "used", "certified": "used", "certified pre owned": "used", "certified used": "used",
    "demo": "used", "demonstrator": "used", "loaner": "used", "program": "used",
}  # fmt: skip
"""ADF ``vehicle@status`` is new|used; certified, demo and loaner cars are sold as used."""
_STATUSES = LookupTable.build(VEHICLE_STATUSES, STRING)


def normalize_vehicle_status(cleaned: pa.Array, request: Request) -> Normalized:
    """``new`` or ``used`` (N, U, Used, CPO, Certified, Demo …); anything else is nulled and flagged."""
    return finish(cleaned, lookup_folded(cleaned, _STATUSES))
