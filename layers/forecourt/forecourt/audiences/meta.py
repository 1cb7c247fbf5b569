"""Meta custom audiences (customer file): how each key of the multi-key schema must look.

- ``EMAIL``: trimmed, lowercased (no gmail rule); SHA-256, lowercase hex. Meta's published example:
  ``mary@example.com`` hashes to ``f1904cf1…``.
- ``PHONE``: digits only, with the country code, no ``+``, no leading zeros (``13125550137``); SHA-256.
- ``FN`` / ``LN``: lowercase letters only (no spaces or punctuation; letters outside a–z stay, in
  UTF-8); SHA-256.
- ``ZIP``: lowercase, no spaces or dash; US: the first 5 digits; SHA-256.
- ``COUNTRY``: ISO 3166-1 alpha-2, lowercase (``us``); SHA-256 (Meta hashes it, Google does not).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.audiences.hashing import sha256_hex

SCHEMA = ("EMAIL", "PHONE", "FN", "LN", "ZIP", "COUNTRY")
"""The multi-key schema, in the order of every row sent (and of ``identifiers``' columns)."""


def normalize_phone(e164: pa.Array) -> pa.Array:
    """E.164 (``+13125550137``) as Meta's digits (``13125550137``)."""
    return pc.replace_substring_regex(e164, r"^\+0*", "")


def normalize_name(name: pa.Array) -> pa.Array:
    """Lowercase letters only."""
    letters = pc.replace_substring_regex(pc.utf8_lower(name), r"[^\p{L}]", "")
    return pc.if_else(pc.equal(letters, ""), pa.scalar(None, pa.string()), letters)


def normalize_zip(zip_code: pa.Array, country: pa.Array) -> pa.Array:
    """Lowercase without spaces or dashes; a US zip cut to its 5 digits."""
    bare = pc.replace_substring_regex(pc.utf8_lower(zip_code), r"[\s-]", "")
    us = pc.fill_null(pc.equal(country, "US"), False)
    return pc.if_else(us, pc.utf8_slice_codeunits(bare, 0, 5), bare)


def identifiers(people: pa.Table) -> pa.Table:
    """``SCHEMA`` for each row of ``people.prepare``'s table, row for row, every key hashed."""
    country = people["country"].combine_chunks()
    return pa.table(
        {
            "EMAIL": sha256_hex(people["email"].combine_chunks()),
            "PHONE": sha256_hex(normalize_phone(people["phone"].combine_chunks())),
            "FN": sha256_hex(normalize_name(people["first_name"].combine_chunks())),
            "LN": sha256_hex(normalize_name(people["last_name"].combine_chunks())),
            "ZIP": sha256_hex(normalize_zip(people["zip"].combine_chunks(), country)),
            "COUNTRY": sha256_hex(pc.utf8_lower(country)),
        }
    )
