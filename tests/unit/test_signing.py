"""Forecourt-Signature: HMAC-SHA256 over "<t>.<body>", several v1 during rotation, ±300 s window."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from forecourt.signing import SignatureProblem, SignatureRejected, sign, signature_header, verify

BODY = b'{"lead_id":"lead-0001"}'
NOW = 1_715_523_330


def test_the_signature_is_the_hex_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(b"s3cret", b"1715523330." + BODY, hashlib.sha256).hexdigest()
    assert sign("s3cret", BODY, NOW) == expected
    assert signature_header(["s3cret"], BODY, NOW) == f"t=1715523330,v1={expected}"


def test_a_header_made_by_the_signer_verifies_and_returns_its_timestamp() -> None:
    header = signature_header(["s3cret"], BODY, NOW)
    assert verify(header, BODY, ["s3cret"], now=NOW + 299) == NOW


def test_during_a_rotation_either_secret_is_accepted() -> None:
    header = signature_header(["old", "new"], BODY, NOW)
    assert header.count("v1=") == 2
    assert verify(header, BODY, ["new"], now=NOW) == NOW
    assert verify(header, BODY, ["old"], now=NOW) == NOW
    assert verify(signature_header(["new"], BODY, NOW), BODY, ["old", "new"], now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "body", "now", "problem"),
    [
        (None, BODY, NOW, SignatureProblem.MISSING),
        ("  ", BODY, NOW, SignatureProblem.MISSING),
        ("v1=abc", BODY, NOW, SignatureProblem.MALFORMED),
        ("t=soon,v1=abc", BODY, NOW, SignatureProblem.MALFORMED),
        (f"t={NOW}", BODY, NOW, SignatureProblem.MALFORMED),
        (f"t={NOW},garbage", BODY, NOW, SignatureProblem.MALFORMED),
        (signature_header(["s3cret"], BODY, NOW), BODY, NOW + 301, SignatureProblem.STALE),
        (signature_header(["s3cret"], BODY, NOW), BODY, NOW - 301, SignatureProblem.STALE),
        (signature_header(["wrong"], BODY, NOW), BODY, NOW, SignatureProblem.MISMATCH),
        (signature_header(["s3cret"], BODY, NOW), BODY + b" ", NOW, SignatureProblem.MISMATCH),
        (
            signature_header(["s3cret"], BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}"),
            BODY,
            NOW,
            SignatureProblem.MISMATCH,
        ),
    ],
)
def test_each_bad_signature_is_refused_with_its_reason(
    header: str | None, body: bytes, now: int, problem: SignatureProblem
) -> None:
    with pytest.raises(SignatureRejected) as caught:
        verify(header, body, ["s3cret"], now=now)
    assert caught.value.problem is problem


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        signature_header([], BODY, NOW)
