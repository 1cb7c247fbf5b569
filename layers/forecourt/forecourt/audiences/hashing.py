"""SHA-256, lowercase hex, column-wise: every platform wants its identifiers hashed this way."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc


def sha256_hex(values: pa.Array) -> pa.Array:
    """The SHA-256 lowercase hex digest of each UTF-8 string; null and empty stay null (an empty
    value is no identifier). Each distinct value is hashed once."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    present = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    encoded = pc.dictionary_encode(present)
    digests = pa.array(
        [hashlib.sha256(value.encode("utf-8")).hexdigest() for value in encoded.dictionary.to_pylist()],
        pa.string(),
    )
    return digests.take(encoded.indices)
