"""E-mail addresses and phone numbers.

Phones become E.164 (``+12125550123``) with the dealer's country as default region. North American
numbers (the bulk of our files) take a vectorized path whose validity test is the ``phonenumbers``
metadata itself: the number-type patterns of every NANP region, matched by RE2 over the column. So
the fast path accepts exactly what ``phonenumbers.is_valid_number`` accepts — including the fictional
``555-01xx`` range, which the metadata treats as valid and which demo and test data use. Everything
else (``+44 …``, ``00…``, other countries, vanity letters, odd lengths, extensions) is parsed by
``phonenumbers`` once per distinct value, cached. ``phonenumbers`` itself is imported on the first
phone column (about 20 ms of a cold start), not with this module: campaign and spend feeds have none.
"""

from __future__ import annotations

from functools import cache, lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._base import Normalized, Request, finish
from forecourt.normalize._kernels import (
    NULL_STRING,
    STRING,
    count_true,
    delete_ascii,
    map_distinct,
    update_where,
)

# --- e-mail -------------------------------------------------------------------------------------

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
EMAIL_PATTERN = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})$"
"""local@domain.tld: RFC 5322 dot-atoms (no quoted local parts), DNS labels, a TLD of letters or IDN."""
_UNWRAP = r"^(?:[^<]*<)?\s*(?:mailto:)?\s*([^<>]*?)\s*>?$"
_MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3 path limit minus the angle brackets


def normalize_email(cleaned: pa.Array, request: Request) -> Normalized:
    """Lowercase e-mail addresses; ``<…>``, ``mailto:`` and a display name around them are removed.

    Values that are not ``local@domain.tld`` (spaces, two ``@``, no TLD, over 254 characters) are
    nulled and flagged invalid. Raises nothing.
    """
    lowered = pc.utf8_lower(cleaned)
    wrapped = pc.or_(pc.starts_with(lowered, "mailto:"), pc.ends_with(lowered, ">"))
    address = update_where(lowered, wrapped, lambda rows: pc.replace_substring_regex(rows, _UNWRAP, r"\1"))
    usable = pc.and_(
        pc.match_substring_regex(address, EMAIL_PATTERN),
        pc.less_equal(pc.binary_length(address), _MAX_EMAIL_LENGTH),
    )
    return finish(cleaned, pc.if_else(usable, address, NULL_STRING))


# --- phone --------------------------------------------------------------------------------------

NANP_FAST_REGIONS = frozenset({"US", "CA"})
_PUNCTUATION = " -().+/\t"  # removed before counting digits (the first one is delete_ascii's sentinel)
_EXTENSION = r"(?i)^(?P<main>.*?\d.*?)[\s,;]*(?:x|ext|extn|extension|#)[\s.:#]*(?P<ext>\d{1,7})$"
_NUMBER_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)
JUNK_NATIONAL_NUMBERS = frozenset(
    [digit * 10 for digit in "0123456789"] + ["1234567890", "0123456789", "9876543210", "2345678901"]
)
"""Placeholders typed into CRMs to get past a required field; never a customer's number."""


@cache
def nanp_valid_pattern() -> str:
    """RE2 pattern of every valid 10-digit NANP national number, built from ``phonenumbers`` metadata."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    patterns: list[str] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        for number_type in _NUMBER_TYPES:
            description = getattr(metadata, number_type, None)
            if description is not None and description.national_number_pattern:
                patterns.append(f"(?:{description.national_number_pattern})")
    return "^(?:" + "|".join(dict.fromkeys(patterns)) + ")$"


@lru_cache(maxsize=65536)
def parse_phone(value: str, region: str) -> tuple[str | None, str | None]:
    """E.164 and extension of one phone number, or ``(None, None)`` when it is not a valid number.

    A leading ``00`` is read as the international prefix (ITU-T E.164 recommends it and most of the
    world dials it), also in regions that dial something else (``011`` in North America).
    """
    import phonenumbers

    if value.startswith("00"):
        value = "+" + value[2:]
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None, None
    if not (phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number)):
        return None, None
    if phonenumbers.national_significant_number(number)[-10:] in JUNK_NATIONAL_NUMBERS:
        return None, None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, (number.extension or None)


def _split_extensions(cleaned: pa.Array, digits: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """``(main, digits of main, extension)``: ``x123``, ``ext. 123``, ``ext123``, ``#123`` split off."""
    extension = pa.nulls(len(cleaned), STRING)
    candidates = pc.fill_null(pc.invert(pc.ascii_is_decimal(digits)), False)
    if count_true(candidates) == 0:
        return cleaned, digits, extension
    groups = pc.extract_regex(pc.filter(cleaned, candidates), _EXTENSION)
    found = pc.is_valid(groups)
    matched = pc.replace_with_mask(pa.repeat(False, len(cleaned)), candidates, found)
    if count_true(matched) == 0:
        return cleaned, digits, extension
    groups = pc.filter(groups, found)
    main_part, extension_part = groups.field(0), groups.field(1)
    main = pc.replace_with_mask(cleaned, matched, main_part)
    digits = pc.replace_with_mask(digits, matched, delete_ascii(main_part, _PUNCTUATION))
    return main, digits, pc.replace_with_mask(extension, matched, extension_part)


def _nanp_fast_path(cleaned: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """``(taken, e164, extension)`` for the rows the vectorized NANP path decides."""
    digits = delete_ascii(cleaned, _PUNCTUATION)
    main, digits, extension = _split_extensions(cleaned, digits)
    length = pc.binary_length(digits)
    explicit_country = pc.or_(pc.starts_with(main, "+"), pc.starts_with(main, "00"))
    ten = pc.and_(pc.equal(length, 10), pc.invert(explicit_country))
    eleven = pc.and_(pc.equal(length, 11), pc.starts_with(digits, "1"))
    taken = pc.fill_null(pc.and_(pc.ascii_is_decimal(digits), pc.or_(ten, eleven)), False)
    national = pc.utf8_slice_codeunits(digits, -10)
    valid = pc.and_(
        pc.match_substring_regex(national, nanp_valid_pattern()),
        pc.invert(pc.is_in(national, value_set=pa.array(sorted(JUNK_NATIONAL_NUMBERS), STRING))),
    )
    keep = pc.and_(taken, pc.fill_null(valid, False))
    e164 = pc.if_else(keep, pc.binary_join_element_wise("+1", national, ""), NULL_STRING)
    return taken, e164, pc.if_else(keep, extension, NULL_STRING)


def _parse_distinct(rows: pa.Array, region: str) -> list[pa.Array]:
    """E.164 and extension of each distinct value of ``rows`` through ``phonenumbers``."""

    def parse_all(distinct: pa.Array) -> list[pa.Array]:
        parsed = [parse_phone(value, region) for value in distinct.to_pylist()]
        return [pa.array([p[0] for p in parsed], STRING), pa.array([p[1] for p in parsed], STRING)]

    return map_distinct(rows, parse_all)


def normalize_phone(cleaned: pa.Array, request: Request) -> Normalized:
    """Phone numbers to E.164 with ``request.locale`` as default region; extensions in ``parts["ext"]``.

    Invalid numbers (wrong length, unassigned area codes, ``0000000000``, ``1234567890`` …) are nulled
    and flagged. Raises nothing.
    """
    region = request.locale.region
    n = len(cleaned)
    e164 = pa.nulls(n, STRING)
    extension = pa.nulls(n, STRING)
    slow = pc.is_valid(cleaned)
    if region in NANP_FAST_REGIONS and n:
        taken, e164, extension = _nanp_fast_path(cleaned)
        slow = pc.and_(slow, pc.invert(taken))
    if count_true(slow):
        parsed_e164, parsed_ext = _parse_distinct(pc.filter(cleaned, slow), region)
        e164 = pc.replace_with_mask(e164, slow, parsed_e164)
        extension = pc.replace_with_mask(extension, slow, parsed_ext)
    return finish(cleaned, e164, {"ext": extension})
