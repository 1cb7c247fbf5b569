"""The webhook signing scheme: ``Forecourt-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from forecourt.signing import (
    SIGNATURE_HEADER,
    TOLERANCE_SECONDS,
    SignatureError,
    SignatureReason,
    sign,
    verify,
)

SECRET = "q3Zb6m0cW1u6Yt1Jf0p0mH8c2nq2R8c4l3o9x7v5s1k"
NEW_SECRET = "Xr8d2p9QmB7w1c4V0n6Z3y5t8u2i1o4p7a9s6d3f0g1"
BODY = b'{"dealer_id":"D100","customer":{"email":"pat@example.com"}}'
T = 1_767_225_600  # 2026-01-01T00:00:00Z


def reason_of(
    header: str | None, body: bytes = BODY, secrets: list[str] | None = None, now: float = T
) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(header, body, secrets or [SECRET], now)
    return caught.value.reason


def v1(secret: str, t: int | str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


# --- signing ----------------------------------------------------------------------------------------


def test_header_is_the_timestamp_then_hmac_sha256_of_timestamp_dot_body_in_hex() -> None:
    assert sign([SECRET], BODY, T) == f"t={T},v1={v1(SECRET, T)}"


def test_a_known_vector_computed_with_openssl() -> None:
    # printf '1767225600.{}' | openssl dgst -sha256 -hmac secret
    assert sign(["secret"], b"{}", T) == (
        "t=1767225600,v1=fa7eaa06bf97d7815f3f456e97cde70c9e50cb005f01660c8d10b10c21964887"
    )


def test_one_v1_per_secret_in_the_order_given() -> None:
    header = sign([NEW_SECRET, SECRET], BODY, T)
    assert header == f"t={T},v1={v1(NEW_SECRET, T)},v1={v1(SECRET, T)}"


def test_signing_needs_a_secret_and_unix_seconds() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign([], BODY, T)
    with pytest.raises(ValueError, match="unix seconds"):
        sign([SECRET], BODY, -1)


def test_header_names() -> None:
    assert SIGNATURE_HEADER == "Forecourt-Signature"
    assert TOLERANCE_SECONDS == 300


# --- round trips ------------------------------------------------------------------------------------


def test_a_signed_body_verifies() -> None:
    verify(sign([SECRET], BODY, T), BODY, [SECRET], now=T)


def test_an_empty_body_and_binary_bytes_round_trip() -> None:
    for body in (b"", bytes(range(256)), "Zoë Müller".encode()):
        verify(sign([SECRET], body, T), body, [SECRET], now=T)


def test_a_tampered_body_is_a_bad_signature() -> None:
    header = sign([SECRET], BODY, T)
    assert reason_of(header, BODY.replace(b"D100", b"D200")) == "bad_signature"
    assert reason_of(header, BODY + b" ") == "bad_signature"


def test_a_signature_for_another_timestamp_is_a_bad_signature() -> None:
    assert reason_of(f"t={T + 1},v1={v1(SECRET, T)}") == "bad_signature"


def test_another_secret_is_a_bad_signature() -> None:
    assert reason_of(sign([NEW_SECRET], BODY, T)) == "bad_signature"


def test_the_timestamp_is_signed_as_sent() -> None:
    # leading zeros are the sender's business: what it signed is what it sent
    verify(f"t=0{T},v1={v1(SECRET, f'0{T}')}", BODY, [SECRET], now=T)


# --- rotation ---------------------------------------------------------------------------------------


def test_during_a_rotation_either_secret_verifies_a_single_signature() -> None:
    for signer in (SECRET, NEW_SECRET):
        verify(sign([signer], BODY, T), BODY, [NEW_SECRET, SECRET], now=T)


def test_a_sender_may_sign_with_both_secrets_and_any_match_accepts() -> None:
    header = sign([NEW_SECRET, SECRET], BODY, T)
    verify(header, BODY, [SECRET], now=T)
    verify(header, BODY, [NEW_SECRET], now=T)


def test_after_the_rotation_the_old_secret_no_longer_verifies() -> None:
    assert reason_of(sign([SECRET], BODY, T), secrets=[NEW_SECRET]) == "bad_signature"


def test_verifying_without_any_secret_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        verify(sign([SECRET], BODY, T), BODY, [], now=T)


# --- the timestamp window ---------------------------------------------------------------------------


@pytest.mark.parametrize("drift", [0, 1, 299, 300, -300, 300.0])
def test_a_timestamp_within_300_seconds_either_way_is_accepted(drift: float) -> None:
    verify(sign([SECRET], BODY, T), BODY, [SECRET], now=T + drift)


@pytest.mark.parametrize("drift", [301, 300.5, 86_400])
def test_a_timestamp_more_than_300_seconds_old_is_stale(drift: float) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(sign([SECRET], BODY, T), BODY, [SECRET], now=T + drift)
    assert caught.value.reason == "stale_timestamp"
    assert "in the past" in caught.value.message and "±300 s" in caught.value.message


@pytest.mark.parametrize("drift", [301, 3_600])
def test_a_timestamp_from_the_future_is_stale_too(drift: int) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(sign([SECRET], BODY, T + drift), BODY, [SECRET], now=T)
    assert caught.value.reason == "stale_timestamp"
    assert f"{drift} s in the future" in caught.value.message


def test_milliseconds_instead_of_seconds_are_stale_with_a_hint() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(sign([SECRET], BODY, T * 1000), BODY, [SECRET], now=T)
    assert caught.value.reason == "stale_timestamp"
    assert "not milliseconds" in caught.value.message


def test_the_tolerance_can_be_narrowed() -> None:
    header = sign([SECRET], BODY, T)
    verify(header, BODY, [SECRET], now=T + 30, tolerance=30)
    with pytest.raises(SignatureError) as caught:
        verify(header, BODY, [SECRET], now=T + 31, tolerance=30)
    assert caught.value.reason == "stale_timestamp"


def test_a_stale_timestamp_is_reported_even_with_a_wrong_signature() -> None:
    # cheap checks first: the window is checked before any HMAC is computed
    assert reason_of(f"t={T - 1000},v1={'0' * 64}") == "stale_timestamp"


# --- parsing the header -----------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_header_is_a_missing_signature(header: str | None) -> None:
    assert reason_of(header) == "missing_signature"


def test_whitespace_around_parts_keys_and_values_is_tolerated() -> None:
    header = f"  t = {T} ,\tv1= {v1(SECRET, T)}  "
    verify(header, BODY, [SECRET], now=T)


def test_parts_may_come_in_any_order_and_empty_parts_are_skipped() -> None:
    verify(f"v1={v1(SECRET, T)},,t={T},", BODY, [SECRET], now=T)


def test_uppercase_hex_is_accepted() -> None:
    verify(f"t={T},v1={v1(SECRET, T).upper()}", BODY, [SECRET], now=T)


def test_unknown_schemes_are_ignored() -> None:
    verify(f"t={T},v0=deadbeef,v1={v1(SECRET, T)},v2=whatever", BODY, [SECRET], now=T)


def test_only_unknown_schemes_is_malformed_for_want_of_a_v1() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(f"t={T},v0={v1(SECRET, T)}", BODY, [SECRET], now=T)
    assert caught.value.reason == "malformed_signature"
    assert "no v1=" in caught.value.message


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (f"v1={'a' * 64}", "no t="),
        (f"t={T},t={T},v1={'a' * 64}", "2 t= timestamps"),
        (f"t={T},t={T + 1},v1={'a' * 64}", "2 t= timestamps"),
        (f"t=,v1={'a' * 64}", "not a unix time"),
        (f"t=-{T},v1={'a' * 64}", "not a unix time"),
        (f"t=+{T},v1={'a' * 64}", "not a unix time"),
        (f"t={T}.5,v1={'a' * 64}", "not a unix time"),
        (f"t=1e9,v1={'a' * 64}", "not a unix time"),
        (f"t=१२३,v1={'a' * 64}", "not a unix time"),  # Devanagari digits: isdigit() but not ASCII
        (f"t={'9' * 40},v1={'a' * 64}", "not a unix time"),
        (f"t={T}", "no v1="),
        (f"t={T},v1=", "not 64 hex digits"),
        (f"t={T},v1={'a' * 63}", "not 64 hex digits"),
        (f"t={T},v1={'a' * 65}", "not 64 hex digits"),
        (f"t={T},v1={'g' * 64}", "not 64 hex digits"),
        (f"t={T},v1={'é' * 64}", "not 64 hex digits"),
        (f"t={T};v1={'a' * 64}", "not a unix time"),
        (f"t={T},{'a' * 64}", "not key=value"),
        (f"t={T},=abc,v1={'a' * 64}", "not key=value"),
        ("sha256=abcdef", "no t="),
    ],
)
def test_malformed_headers_say_what_is_wrong(header: str, says: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(header, BODY, [SECRET], now=T)
    assert caught.value.reason == "malformed_signature"
    assert says in caught.value.message
    assert caught.value.message.startswith("Forecourt-Signature ")


def test_messages_never_carry_a_secret_or_the_expected_signature() -> None:
    expected = v1(SECRET, T)
    headers = [None, "t=x", f"t={T - 999},v1={'0' * 64}", f"t={T},v1={'0' * 64}", f"t={T},v1={'0' * 64},v0=1"]
    for header in headers:
        with pytest.raises(SignatureError) as caught:
            verify(header, BODY, [SECRET], now=T)
        assert SECRET not in str(caught.value) and expected not in str(caught.value)


def test_quoted_pieces_of_a_long_malformed_header_are_cut_short() -> None:
    with pytest.raises(SignatureError) as caught:
        verify(f"t={T},v1={'z' * 5000}", BODY, [SECRET], now=T)
    assert len(caught.value.message) < 200


def test_the_reasons_are_a_closed_set() -> None:
    assert {r.value for r in SignatureReason} == {
        "missing_signature",
        "malformed_signature",
        "stale_timestamp",
        "bad_signature",
    }


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify(sign([SECRET], BODY, T), BODY, [SECRET], now=T)
    assert compared == [(v1(SECRET, T), v1(SECRET, T))]
