"""HMAC-SHA256 signatures of HTTP bodies, the scheme of issue 4 for both directions.

Header ``Forecourt-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
During a secret rotation a signer sends one ``v1=`` per valid secret; a verifier accepts the body
when any of them matches any of its secrets. The timestamp is signed with the body, so a captured
request cannot be replayed outside the tolerance window (±300 s by default).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from enum import StrEnum

SIGNATURE_HEADER = "Forecourt-Signature"
TOLERANCE_SECONDS = 300


class SignatureProblem(StrEnum):
    """Why a signature was refused (a closed set: receivers answer 401 with it)."""

    MISSING = "signature_missing"
    """No ``Forecourt-Signature`` header, or an empty one."""
    MALFORMED = "signature_malformed"
    """The header is not ``t=<unix seconds>,v1=<hex>[,v1=<hex>…]``."""
    STALE = "signature_timestamp_out_of_window"
    """The signed timestamp is further from the receiver's clock than the tolerance."""
    MISMATCH = "signature_mismatch"
    """No ``v1`` value is the HMAC of this body under any of the receiver's secrets."""


class SignatureRejected(Exception):
    """A signature that does not authenticate the body; ``problem`` says which check failed."""

    def __init__(self, problem: SignatureProblem, message: str) -> None:
        super().__init__(f"{problem.value}: {message}")
        self.problem = problem
        self.message = message


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str | bytes], body: bytes, timestamp: int) -> str:
    """The ``Forecourt-Signature`` value for ``body``: one ``v1=`` per secret (two during a rotation).

    Raises ValueError when ``secrets`` is empty.
    """
    values = [f"v1={sign(secret, body, timestamp)}" for secret in secrets]
    if not values:
        raise ValueError("signature_header needs at least one secret")
    return ",".join([f"t={timestamp}", *values])


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureRejected(SignatureProblem.MALFORMED, f"{item.strip()!r} is not name=value")
        if name == "t" and value.isascii() and value.isdigit() and timestamp is None:
            timestamp = int(value)
        elif name == "t":
            raise SignatureRejected(SignatureProblem.MALFORMED, "t must appear once, as unix seconds")
        elif name == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureRejected(SignatureProblem.MALFORMED, "the header has no t=<unix seconds>")
    if not candidates:
        raise SignatureRejected(SignatureProblem.MALFORMED, "the header has no v1=<hex signature>")
    return timestamp, candidates


def verify(
    header: str | None,
    body: bytes,
    secrets: Iterable[str | bytes],
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check ``header`` against ``body`` and the receiver's ``secrets``; return the signed timestamp.

    Comparisons use ``hmac.compare_digest`` (constant time). Raises SignatureRejected: MISSING,
    MALFORMED, STALE (``|now - t| > tolerance``, checked before the HMAC) or MISMATCH.
    """
    if not header or not header.strip():
        raise SignatureRejected(SignatureProblem.MISSING, f"no {SIGNATURE_HEADER} header")
    timestamp, candidates = _parse(header)
    skew = now - timestamp
    if abs(skew) > tolerance:
        raise SignatureRejected(
            SignatureProblem.STALE,
            f"signed at t={timestamp}, {abs(skew):.0f} s from the receiver's clock (limit {tolerance} s)",
        )
    expected = [sign(secret, body, timestamp) for secret in secrets]
    matched = False
    for candidate in candidates:
        for digest in expected:
            matched |= hmac.compare_digest(candidate.lower().encode("ascii", "replace"), digest.encode())
    if not matched:
        raise SignatureRejected(SignatureProblem.MISMATCH, "no v1 signature matches this body")
    return timestamp
