"""Personal names, city names and free text.

Names typed in one case (``JOHN SMITH``, ``mary o'neil``) are title-cased with ``pc.utf8_title``; names
already in mixed case are trusted as typed (``DeShawn``, ``McDonald``, ``van der Berg``). The few
title-cased values that need more than ``utf8_title`` (``Mc`` prefixes, Dutch/German particles,
generational suffixes) are fixed per distinct value in Python.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._base import Normalized, Request, finish
from forecourt.normalize._kernels import NULL_STRING, STRING, collapse_whitespace, map_python, update_where

_QUOTES_AND_SPACE = "\"'`“”‘’„«» \t\u00a0"
_USABLE_NAME = r"^[^0-9]*\pL[^0-9]*$"
"""At least one letter and no digit: ``R2D2`` and ``---`` are not names."""
PARTICLES = frozenset({"van", "von", "der", "den", "de", "ter", "ten", "vom", "zu", "zur"})
"""Lowercase inside a name (``Ludwig van Beethoven``, ``Van der Berg``); the first word keeps its capital."""
SUFFIXES = frozenset({"II", "III", "IV", "VI", "VII", "VIII"})
_NEEDS_FIX = (
    r"(?:^|[\s-])Mc\pL"
    r"|\s(?:" + "|".join(sorted(p.title() for p in PARTICLES)) + r")\s"
    r"|\s(?:" + "|".join(sorted(s.title() for s in SUFFIXES)) + r")$"
)


def _fix_word(word: str, position: int, last: int) -> str:
    if 0 < position < last and word.lower() in PARTICLES:
        return word.lower()
    if position > 0 and word.upper() in SUFFIXES:
        return word.upper()
    parts = word.split("-")
    for index, part in enumerate(parts):
        if len(part) > 2 and part.startswith("Mc"):
            parts[index] = "Mc" + part[2].upper() + part[3:]
    return "-".join(parts)


def fix_title_case(name: str) -> str:
    """Repair what ``str.title``-like casing gets wrong in a name: ``Mcdonald`` → ``McDonald`` …"""
    words = name.split(" ")
    last = len(words) - 1
    return " ".join(_fix_word(word, position, last) for position, word in enumerate(words))


def _title_case(rows: pa.Array) -> pa.Array:
    titled = pc.utf8_title(rows)
    needs_fix = pc.match_substring_regex(titled, _NEEDS_FIX)
    return update_where(titled, needs_fix, lambda fix: map_python(fix, fix_title_case, STRING))


def normalize_name(cleaned: pa.Array, request: Request) -> Normalized:
    """Names: surrounding quotes removed, whitespace collapsed, one-case values title-cased.

    A value without letters or with digits is nulled and flagged invalid; a value that was only
    quotes counts as blank. Raises nothing.
    """
    # whitespace inside the quotes too (`"Ann\r"`): what is left must be canonical as it is
    unquoted = pc.utf8_trim_whitespace(pc.utf8_trim(cleaned, characters=_QUOTES_AND_SPACE))
    name = collapse_whitespace(pc.if_else(pc.equal(unquoted, ""), NULL_STRING, unquoted))
    usable = pc.match_substring_regex(name, _USABLE_NAME)
    one_case = pc.and_(usable, pc.or_(pc.utf8_is_upper(name), pc.utf8_is_lower(name)))
    titled = update_where(name, one_case, _title_case)
    return finish(name, pc.if_else(usable, titled, NULL_STRING))


def normalize_text(cleaned: pa.Array, request: Request) -> Normalized:
    """Free text: whitespace runs (tabs, newlines, no-break spaces) collapsed to one space; never invalid."""
    return finish(cleaned, collapse_whitespace(cleaned))


def plain_string(cleaned: pa.Array, request: Request) -> Normalized:
    """A column without a normalizer: trimmed, blank as null, nothing else."""
    return finish(cleaned, cleaned)
