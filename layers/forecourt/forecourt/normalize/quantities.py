"""Counts and amounts: integers, floats and decimals as dealers and ad platforms write them."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._base import Normalized, Request, finish
from forecourt.normalize._kernels import NULL_STRING, delete_ascii, update_where

_INTEGER = r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.0*)?$"
"""``1234``, ``1,234``, ``-12``, ``12.0``; ``12.5`` is not an integer."""
_MAX_INTEGER_DIGITS = 18  # every 18-digit number fits int64: longer values are rejected before the cast
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+"
_SIGNED_NUMBER = rf"^(?:[+-]?(?:{_NUMBER})|\((?:{_NUMBER})\)|(?:{_NUMBER})-)$"
"""``-12.5``, ``(12.50)`` and ``12.50-`` (accounting negatives), ``1,234.5``, ``.5``."""
_SYMBOLS = " $%\t"  # ASCII removed from numbers; the first is delete_ascii's sentinel
_NON_ASCII_SYMBOLS = "[€£¥\u00a0\u202f\u2009]"
_SPLIT_DIGITS = r"[\d.,][\s\x{00a0}\x{202f}\x{2009}]+[\d.,]"
_WORKING_PRECISION = 38


def _integer_range(target: pa.DataType) -> tuple[int, int]:
    bits = target.bit_width
    if pa.types.is_unsigned_integer(target):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def normalize_integer(cleaned: pa.Array, request: Request) -> Normalized:
    """Integers with thousands separators (``1,234``) or a zero fraction (``12.0``) accepted.

    Values that are not integers or do not fit ``request.target`` are nulled and flagged invalid.
    Raises nothing.
    """
    shaped = pc.match_substring_regex(cleaned, _INTEGER)
    whole = delete_ascii(cleaned, ",+")
    whole = update_where(
        whole, pc.match_substring(whole, "."), lambda rows: pc.replace_substring_regex(rows, r"\.0*$", "")
    )
    digit_count = pc.subtract(pc.binary_length(whole), pc.cast(pc.starts_with(whole, "-"), pa.int32()))
    usable = pc.and_(shaped, pc.less_equal(digit_count, _MAX_INTEGER_DIGITS))
    number = pc.cast(pc.if_else(usable, whole, NULL_STRING), pa.int64())
    low, high = _integer_range(request.target)
    fits = pc.and_(pc.greater_equal(number, low), pc.less_equal(number, high))
    number = pc.if_else(fits, number, pa.scalar(None, pa.int64()))
    return finish(cleaned, number.cast(request.target))


def _amount_strings(cleaned: pa.Array) -> tuple[pa.Array, pa.Array]:
    """``(digits with a decimal point, negative)`` of amounts; non-numbers are null."""
    text = update_where(
        cleaned,
        pc.invert(pc.string_is_ascii(cleaned)),
        lambda rows: pc.replace_substring_regex(rows, _NON_ASCII_SYMBOLS, ""),
    )
    text = delete_ascii(text, _SYMBOLS)
    split = pc.match_substring_regex(cleaned, _SPLIT_DIGITS)  # "12 34" is two numbers, not 1234
    shaped = pc.and_(pc.match_substring_regex(text, _SIGNED_NUMBER), pc.invert(split))
    negative = pc.or_(
        pc.or_(pc.starts_with(text, "-"), pc.starts_with(text, "(")),
        pc.ends_with(text, "-"),
    )
    digits = delete_ascii(text, ",()+-")
    return pc.if_else(shaped, digits, NULL_STRING), negative


def _to_decimal(digits: pa.Array, negative: pa.Array, target: pa.Decimal128Type) -> pa.Array:
    """Round half-even to the target scale; values whose integer part does not fit become null."""
    integer_digits = target.precision - target.scale
    working_scale = _WORKING_PRECISION - integer_digits - 1
    if working_scale < target.scale:
        raise ValueError(f"cannot normalize numbers to {target}")
    fits_shape = pc.match_substring_regex(
        digits, rf"^0*\d{{0,{integer_digits}}}(?:\.\d{{0,{working_scale}}})?$"
    )
    working = pa.decimal128(_WORKING_PRECISION, working_scale)
    amount = pc.cast(pc.if_else(fits_shape, digits, NULL_STRING), working)
    amount = pc.round(amount, ndigits=target.scale, round_mode="half_to_even")
    limit = pa.scalar(Decimal(10) ** integer_digits, working)
    amount = pc.if_else(pc.less(amount, limit), amount, pa.scalar(None, working))
    amount = pc.if_else(negative, pc.negate(amount), amount)
    return amount.cast(target)


def normalize_number(cleaned: pa.Array, request: Request) -> Normalized:
    """Amounts to float64 or decimal128(p, s): ``$1,234.50``, ``€12``, ``12.5%``, ``(12.50)``, ``12.50-``.

    Currency symbols, thousands separators and ``%`` are dropped (``6.9%`` → 6.9); parentheses and a
    trailing minus mean negative. Decimals are rounded half-even to the scale; a value too large for
    the precision is nulled and flagged, like any non-number. Raises ValueError for a decimal type
    with more than 37 integer digits.
    """
    digits, negative = _amount_strings(cleaned)
    target = request.target
    if isinstance(target, pa.Decimal128Type):
        return finish(cleaned, _to_decimal(digits, negative, target))
    number = pc.cast(digits, pa.float64())
    number = pc.if_else(negative, pc.negate(number), number)
    return finish(cleaned, number.cast(target))
