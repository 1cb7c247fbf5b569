"""Arrow building blocks shared by the normalizers.

Everything here works on whole columns with ``pyarrow.compute``. Two tricks keep the hot paths fast:
expensive work runs only on the rows (``update_where``) or the distinct values (``map_distinct``) that
need it, and ``delete_ascii`` removes punctuation at byte level instead of with a regex replace (which
costs ~0.6 s per million values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

STRING = pa.string()
NULL_STRING = pa.scalar(None, STRING)
_WHITESPACE_RUN = r"[\s\x{00a0}\x{2007}\x{202f}]+"
_NEEDS_COLLAPSE = r"[\s\x{00a0}\x{2007}\x{202f}]{2}|[\t\n\r\f\v\x{00a0}\x{2007}\x{202f}]"


def as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one ``pa.string()`` array (chunks combined, large/dictionary strings cast)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != STRING:
        values = values.cast(STRING)
    return values


def clean_strings(values: pa.Array) -> pa.Array:
    """Trim every value; blank and whitespace-only values become null."""
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), NULL_STRING, trimmed)


def count_true(mask: pa.Array) -> int:
    """How many entries of a boolean array are true (nulls count as false)."""
    total = pc.sum(mask).as_py()
    return int(total or 0)


def update_where(values: pa.Array, mask: pa.Array, compute: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``values`` with the rows where ``mask`` is true replaced by ``compute(those rows)``.

    ``compute`` receives only the selected rows and must return as many values of the same type;
    nothing runs when no row is selected.
    """
    mask = pc.fill_null(mask, False)
    if count_true(mask) == 0:
        return values
    replacement = compute(pc.filter(values, mask))
    return pc.replace_with_mask(values, mask, replacement.cast(values.type))


def map_distinct(values: pa.Array, compute: Callable[[pa.Array], Sequence[pa.Array]]) -> list[pa.Array]:
    """Run ``compute`` on the distinct values only and spread its outputs back to every row.

    ``compute`` gets the distinct non-null values and returns one or more arrays aligned with them;
    null inputs give null outputs.
    """
    encoded = pc.dictionary_encode(values)
    outputs = compute(encoded.dictionary)
    return [pc.take(output, encoded.indices) for output in outputs]


_SAMPLE_ROWS = 4096
_SAMPLE_SHARE = 0.9
_DISTINCT_SHARE = 0.5


def few_distinct(values: pa.Array) -> pa.DictionaryArray | None:
    """``values`` dictionary-encoded (null a value of its own) when at most half of them are
    distinct, so that computing each distinct value once pays for the encoding; else None. A column
    whose first rows hardly repeat (ids, e-mails) is not encoded at all."""
    if len(values) < 2 * _SAMPLE_ROWS:
        return None
    sample = pc.count_distinct(values.slice(0, _SAMPLE_ROWS), mode="all").as_py()
    if sample > _SAMPLE_ROWS * _SAMPLE_SHARE:
        return None
    codes: pa.DictionaryArray = pc.dictionary_encode(values, null_encoding="encode")
    return codes if len(codes.dictionary) <= len(values) * _DISTINCT_SHARE else None


def map_python(values: pa.Array, function: Callable[[str], Any], type_: pa.DataType) -> pa.Array:
    """Apply a per-value Python ``function`` to each distinct value (the fallback for rare cases)."""

    def per_distinct(distinct: pa.Array) -> list[pa.Array]:
        return [pa.array([function(value) for value in distinct.to_pylist()], type=type_)]

    return map_distinct(values, per_distinct)[0]


def collapse_whitespace(values: pa.Array) -> pa.Array:
    """Runs of whitespace (tabs, newlines, no-break spaces) inside a value become one space."""
    needs = pc.match_substring_regex(values, _NEEDS_COLLAPSE)
    return update_where(values, needs, lambda rows: pc.replace_substring_regex(rows, _WHITESPACE_RUN, " "))


def fold_key(values: pa.Array) -> pa.Array:
    """A lookup key: lowercase, no dots, commas or apostrophes, ``-_/`` as spaces, spaces collapsed."""
    folded = pc.utf8_lower(values)
    folded = pc.replace_substring_regex(folded, r"[.,'’]", "")
    folded = pc.replace_substring_regex(folded, r"[\s\-_/]+", " ")
    return pc.utf8_trim_whitespace(folded)


@dataclass(frozen=True)
class LookupTable:
    """A string → value mapping held as two Arrow arrays, for ``pc.index_in`` + ``pc.take``."""

    keys: pa.Array
    values: pa.Array

    @classmethod
    def build(cls, mapping: Mapping[str, Any], type_: pa.DataType = STRING) -> LookupTable:
        """A table from a Python mapping (keys already folded)."""
        return cls(pa.array(list(mapping), STRING), pa.array(list(mapping.values()), type_))

    def lookup(self, keys: pa.Array) -> pa.Array:
        """The value of every key; null for keys the table does not know."""
        return pc.take(self.values, pc.index_in(keys, value_set=self.keys))


def lookup_folded(values: pa.Array, table: LookupTable) -> pa.Array:
    """Look every value up by its folded key, computing the fold once per distinct value."""
    return map_distinct(values, lambda distinct: [table.lookup(fold_key(distinct))])[0]


@cache
def _translate_table(chars: str) -> pa.Array:
    """Byte → byte table sending every character of ``chars`` to ``chars[0]`` and the rest to itself."""
    deleted = {ord(char) for char in chars}
    sentinel = ord(chars[0])
    return pa.array([sentinel if byte in deleted else byte for byte in range(256)], pa.uint8())


def delete_ascii(values: pa.Array, chars: str) -> pa.Array:
    """``values`` with every occurrence of the ASCII characters ``chars`` removed.

    Works on the UTF-8 bytes (a multi-byte UTF-8 sequence never contains an ASCII byte): one table
    lookup turns every character of ``chars`` into ``chars[0]``, then one literal replace removes it.
    That is about five times faster than a regex replace. Raises ValueError for non-ASCII ``chars``.
    """
    if not chars:
        return values
    if not chars.isascii():
        raise ValueError("delete_ascii removes ASCII characters only")
    n = len(values)
    _, offsets_buffer, data_buffer = values.buffers()
    if n == 0 or data_buffer is None:
        return values
    offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, offsets_buffer], offset=values.offset)
    start, end = offsets[0].as_py(), offsets[n].as_py()
    data = pa.Array.from_buffers(pa.uint8(), end - start, [None, data_buffer], offset=start)
    translated = pc.take(_translate_table(chars), data)
    if start != 0 or values.offset != 0:
        offsets = pc.subtract(offsets, pa.scalar(start, pa.int32()))
    validity = None if values.null_count == 0 else pc.is_valid(values).buffers()[1]
    view = pa.Array.from_buffers(
        STRING, n, [validity, offsets.buffers()[1], translated.buffers()[1]], null_count=values.null_count
    )
    return pc.replace_substring(view, chars[0], "")


def lost_values(cleaned: pa.Array, result: pa.Array) -> pa.Array:
    """The ``invalid`` mask: a non-blank input whose normalized value is null (never null itself)."""
    return pc.and_(pc.is_valid(cleaned), pc.is_null(result))
