"""SHA-256, lowercase hex, column-wise: every platform wants its identifiers hashed this way."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc


def hex_digests(values: pa.Array | pa.ChunkedArray, digest: Callable[[bytes], str]) -> pa.Array:
    """``digest`` of each UTF-8 string; null and empty stay null (an empty value is no identifier).
    Each distinct value is hashed once."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    present = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    encoded = pc.dictionary_encode(present)
    distinct = encoded.dictionary.to_pylist()
    digests = pa.array([digest(value.encode("utf-8")) for value in distinct], pa.string())
    return digests.take(encoded.indices)


def sha256_hex(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The SHA-256 lowercase hex digest of each UTF-8 string (``hex_digests``)."""
    return hex_digests(values, lambda value: hashlib.sha256(value).hexdigest())
