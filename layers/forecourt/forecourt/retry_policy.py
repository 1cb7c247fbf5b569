"""When to send a delivery again: which answers are worth a retry, how long to wait, and the
receiver's own ``Retry-After`` (pure: no clock, no I/O).

- Backoff is exponential with **full jitter** (AWS Architecture Blog, "Exponential Backoff And
  Jitter"): the wait before retry *n* is uniform in ``[0, min(cap, base·2^(n−1)))``, so that many
  deliveries failing together do not come back together.
- HTTP (RFC 9110 §15): 2xx is an acknowledgement. 408 Request Timeout, 409 Conflict, 425 Too Early,
  429 Too Many Requests and every 5xx are worth another attempt; any other answer (3xx, the other
  4xx) will not change by sending the same request again, so it is permanent.
- ``Retry-After`` (RFC 9110 §10.2.3) is delay-seconds or an HTTP-date; it is honoured on 429 and
  503 (RFC 6585 §4, RFC 9110 §15.6.4).
- SMTP (RFC 5321 §4.2.1): 2yz accepted, 4yz transient, 5yz permanent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})
"""The 4xx answers that are worth another attempt; every other 4xx is permanent."""
RETRY_AFTER_STATUSES = frozenset({429, 503})
"""The answers whose ``Retry-After`` header is honoured."""
_DELAY_SECONDS = re.compile(r"[0-9]{1,10}")


class Verdict(StrEnum):
    """What an answer means for the delivery."""

    ACKNOWLEDGED = "acknowledged"
    """The receiver took the lead."""
    RETRY = "retry"
    """Not taken, but the same request may succeed later."""
    PERMANENT = "permanent"
    """Not taken, and sending the same request again will not change that."""


def http_verdict(status: int) -> Verdict:
    """What an HTTP answer ``status`` means for a delivery (see the module docstring)."""
    if 200 <= status <= 299:
        return Verdict.ACKNOWLEDGED
    if status in RETRYABLE_CLIENT_ERRORS or 500 <= status <= 599:
        return Verdict.RETRY
    return Verdict.PERMANENT


def smtp_verdict(code: int) -> Verdict:
    """What an SMTP reply ``code`` means: 2yz acknowledged, 4yz retry, anything else permanent."""
    if 200 <= code <= 299:
        return Verdict.ACKNOWLEDGED
    if 400 <= code <= 499:
        return Verdict.RETRY
    return Verdict.PERMANENT


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait, counted from ``now``: delay-seconds as
    they are, an HTTP-date minus ``now`` (0 when it is past). None when the header is absent or is
    neither form (the caller then falls back to its own backoff)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" in the date: UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    aware_now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return max(0.0, (when - aware_now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts one invocation makes, and how long it waits between them."""

    max_attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_seconds <= 0 or self.cap_seconds < self.base_seconds:
            raise ValueError(
                f"a retry policy needs max_attempts >= 1 and 0 < base <= cap, not {self.max_attempts}, "
                f"{self.base_seconds}, {self.cap_seconds}"
            )

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1: the wait after the first attempt):
        ``min(cap, base·2^(retry−1))``. Raises ValueError for ``retry`` < 1."""
        if retry < 1:
            raise ValueError(f"retries are numbered from 1, not {retry}")
        return min(self.cap_seconds, self.base_seconds * 2 ** min(retry - 1, 62))

    def delay(self, retry: int, random: Callable[[], float]) -> float:
        """The wait before retry number ``retry``, with full jitter: ``random()`` (uniform in [0, 1))
        times the ceiling."""
        return random() * self.ceiling(retry)

    def wait(self, retry: int, retry_after: float | None, random: Callable[[], float]) -> float:
        """The wait before retry number ``retry``: the receiver's ``Retry-After`` when it gave one
        (honoured as it is, even beyond the cap: the receiver knows its own load), else ``delay``."""
        return retry_after if retry_after is not None else self.delay(retry, random)
