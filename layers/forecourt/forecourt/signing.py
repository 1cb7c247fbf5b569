"""The webhook signing scheme: HMAC-SHA256 over the timestamp and the raw body (ARCHITECTURE §9).

A sender puts ``Forecourt-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
on each request, and its name in ``Forecourt-Sender``. During a secret rotation it may send one
``v1=`` per secret; any of them matching any of the sender's valid secrets accepts the request. The
timestamp bounds replays: a request signed more than ``TOLERANCE_SECONDS`` from now, in either
direction, is refused. Schemes other than ``v1`` (``v0=…``) are ignored so that a new scheme can be
introduced next to this one. Pure: no AWS, no clock (the caller passes ``now``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from enum import StrEnum

SIGNATURE_HEADER = "Forecourt-Signature"
SENDER_HEADER = "Forecourt-Sender"
TOLERANCE_SECONDS = 300
"""How far (either way) a request's ``t=`` may be from the receiver's clock."""

_SCHEME = "v1"
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_SHOWN_CHARS = 40
"""Longest piece of a malformed header quoted back in a message."""


class SignatureReason(StrEnum):
    """Why a request's signature was refused (a closed set: the webhook answers 401 with it)."""

    MISSING_SIGNATURE = "missing_signature"
    """The request has no ``Forecourt-Signature`` header, or an empty one."""
    MALFORMED_SIGNATURE = "malformed_signature"
    """The header does not parse: no or several ``t=``, a ``t=`` that is not unix seconds, no ``v1=``, a
    ``v1=`` that is not 64 hex digits, or a part that is not ``key=value``."""
    STALE_TIMESTAMP = "stale_timestamp"
    """``t=`` is more than the tolerance (300 s) before or after the receiver's clock."""
    BAD_SIGNATURE = "bad_signature"
    """No ``v1=`` matches the body under any of the sender's valid secrets."""


class SignatureError(Exception):
    """A request's signature was refused: ``reason`` is the code, ``message`` says precisely what is
    wrong (never a secret nor an expected signature)."""

    def __init__(self, reason: SignatureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secrets: Sequence[str], body: bytes, timestamp: int) -> str:
    """The ``Forecourt-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds): one ``v1=``
    per secret, in the order given. Raises ValueError without secrets or with a negative timestamp."""
    if not secrets:
        raise ValueError("sign needs at least one secret")
    if timestamp < 0:
        raise ValueError(f"timestamp must be unix seconds (>= 0), not {timestamp}")
    t = str(int(timestamp))
    return ",".join([f"t={t}", *(f"{_SCHEME}={_digest(secret, t, body)}" for secret in secrets)])


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


def _malformed(message: str) -> SignatureError:
    return SignatureError(SignatureReason.MALFORMED_SIGNATURE, f"{SIGNATURE_HEADER} {message}")


def _parse(header: str) -> tuple[str, list[str]]:
    """The header's timestamp (digits as sent) and its ``v1`` signatures (lowercase hex)."""
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        item = part.strip()
        if not item:
            continue
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise _malformed(f"has a part that is not key=value: {_shown(item)}")
        if key == "t":
            timestamps.append(value)
        elif key == _SCHEME:
            if not _HEX_DIGEST.fullmatch(value):
                raise _malformed(f"has a v1= that is not 64 hex digits (HMAC-SHA256): {_shown(value)}")
            signatures.append(value.lower())
    if not timestamps:
        raise _malformed("has no t= timestamp")
    if len(timestamps) > 1:
        raise _malformed(f"has {len(timestamps)} t= timestamps; send exactly one")
    if not _TIMESTAMP.fullmatch(timestamps[0]):
        raise _malformed(f"has a t= that is not a unix time in whole seconds: {_shown(timestamps[0])}")
    if not signatures:
        raise _malformed("has no v1= signature")
    return timestamps[0], signatures


def _check_window(timestamp: int, now: float, tolerance: int) -> None:
    drift = now - timestamp
    if abs(drift) <= tolerance:
        return
    when = f"{abs(drift):.0f} s in the {'past' if drift > 0 else 'future'}"
    hint = "; t= must be unix seconds, not milliseconds" if timestamp > now * 100 else ""
    raise SignatureError(
        SignatureReason.STALE_TIMESTAMP,
        f"timestamp t={timestamp} is {when}; requests are accepted within ±{tolerance} s "
        f"of the receiver's clock{hint}",
    )


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Accept ``body`` when ``header`` (the ``Forecourt-Signature`` value) carries a timestamp within
    ``tolerance`` seconds of ``now`` and a ``v1=`` that matches under any of ``secrets``.

    Raises SignatureError (missing_signature, malformed_signature, stale_timestamp or bad_signature,
    checked in that order), or ValueError when ``secrets`` is empty (a caller's mistake, not the
    sender's). Signatures are compared in constant time.
    """
    if not secrets:
        raise ValueError("verify needs at least one secret")
    if header is None or not header.strip():
        raise SignatureError(
            SignatureReason.MISSING_SIGNATURE, f"the request has no {SIGNATURE_HEADER} header"
        )
    timestamp, signatures = _parse(header)
    _check_window(int(timestamp), now, tolerance)
    expected = [_digest(secret, timestamp, body) for secret in secrets]
    if any(hmac.compare_digest(given, wanted) for given in signatures for wanted in expected):
        return
    raise SignatureError(
        SignatureReason.BAD_SIGNATURE,
        f"no v1= signature ({len(signatures)} given) matches the body under the sender's secrets; "
        'sign "<t>.<raw body>" with HMAC-SHA256 and send it as lowercase hex',
    )
