"""When a delivery is sent again: the backoff schedule with full jitter, Retry-After in both of its
forms (RFC 9110 §10.2.3), and which answers are worth another attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from forecourt.retry_policy import RetryPolicy, Verdict, http_verdict, parse_retry_after, smtp_verdict
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2026, 11, 2, 15, 0, 0, tzinfo=UTC)


def test_the_ceiling_doubles_from_half_a_second_and_stops_at_eight() -> None:
    policy = RetryPolicy()
    assert [policy.ceiling(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert policy.ceiling(10_000) == 8.0  # no overflow however far it goes


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    policy = RetryPolicy()
    assert policy.delay(3, lambda: 0.0) == 0.0
    assert policy.delay(3, lambda: 0.5) == 1.0
    assert policy.delay(3, lambda: 0.999) == pytest.approx(1.998)


@given(retry=st.integers(min_value=1, max_value=80), draw=st.floats(min_value=0, max_value=0.9999))
def test_every_wait_lies_within_its_ceiling(retry: int, draw: float) -> None:
    policy = RetryPolicy(max_attempts=5, base_seconds=0.5, cap_seconds=8)
    assert 0 <= policy.delay(retry, lambda: draw) < policy.ceiling(retry) <= 8


def test_retry_after_is_honoured_as_given_even_beyond_the_cap() -> None:
    policy = RetryPolicy()
    assert policy.wait(1, 30.0, lambda: 0.5) == 30.0
    assert policy.wait(1, 0.0, lambda: 0.5) == 0.0
    assert policy.wait(2, None, lambda: 0.5) == 0.5


@pytest.mark.parametrize(("max_attempts", "base", "cap"), [(0, 0.5, 8), (3, 0, 8), (3, 1.0, 0.5), (3, -1, 8)])
def test_a_policy_that_cannot_work_is_refused(max_attempts: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts, base, cap)


def test_retries_are_numbered_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        RetryPolicy().ceiling(0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("Mon, 02 Nov 2026 15:00:30 GMT", 30.0),  # IMF-fixdate
        ("Mon, 02 Nov 2026 14:59:00 GMT", 0.0),  # already past: no wait
        ("Mon, 02 Nov 2026 15:01:00 -0000", 60.0),
        ("Monday, 02-Nov-26 15:00:10 GMT", 10.0),  # obsolete RFC 850 form
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(header: str, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "   ", "-5", "1.5", "soon", "12 seconds", "99999999999"])
def test_retry_after_that_is_neither_form_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, NOW) is None


def test_an_http_date_is_compared_with_an_aware_or_naive_now() -> None:
    later = "Mon, 02 Nov 2026 15:00:05 GMT"
    assert parse_retry_after(later, NOW.replace(tzinfo=None)) == 5.0
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    assert parse_retry_after(later, eastern) == 5.0


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.ACKNOWLEDGED),
        (201, Verdict.ACKNOWLEDGED),
        (202, Verdict.ACKNOWLEDGED),
        (204, Verdict.ACKNOWLEDGED),
        (408, Verdict.RETRY),
        (409, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (504, Verdict.RETRY),
        (301, Verdict.PERMANENT),  # redirects are not followed with a lead in the body
        (307, Verdict.PERMANENT),
        (400, Verdict.PERMANENT),
        (401, Verdict.PERMANENT),
        (403, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (410, Verdict.PERMANENT),
        (413, Verdict.PERMANENT),
        (415, Verdict.PERMANENT),
        (422, Verdict.PERMANENT),
    ],
)
def test_which_http_answers_are_worth_another_attempt(status: int, verdict: Verdict) -> None:
    assert http_verdict(status) is verdict


@pytest.mark.parametrize(
    ("code", "verdict"),
    [(250, Verdict.ACKNOWLEDGED), (421, Verdict.RETRY), (451, Verdict.RETRY), (550, Verdict.PERMANENT),
     (554, Verdict.PERMANENT), (-1, Verdict.PERMANENT)],
)  # fmt: skip
def test_smtp_replies_4yz_are_transient_and_5yz_permanent(code: int, verdict: Verdict) -> None:
    assert smtp_verdict(code) is verdict
