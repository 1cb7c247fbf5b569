"""Two lead timings, named apart (issue 4), each per dealer with median and p90, actual and within
the dealer's business hours:

- **delivery latency** (ours): from the webhook's receipt of a lead to the dealer CRM's
  acknowledgement of its delivery (``deliveries`` rows with status ``delivered``);
- **speed-to-lead** (theirs): from the lead's request time to the first ``contacted`` event the
  dealer's CRM reported for it (``lead_events``, matched on our ``lead_id`` or the CRM's own key).

Business-hours figures count only the time inside the dealer's opening hours (registry
``business_hours``, in the dealer's time zone): a lead arriving Saturday evening and contacted
Monday at 09:10 took 10 business minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from forecourt.registry import WEEKDAYS, Dealer

DELIVERY_LATENCY_SQL = """
SELECT dealer_id, received_at AS started_at, acknowledged_at AS ended_at
FROM deliveries
WHERE status = 'delivered' AND acknowledged_at IS NOT NULL AND received_at IS NOT NULL
"""
SPEED_TO_LEAD_SQL = """
SELECT e.dealer_id, l.requested_at AS started_at, min(e.occurred_at) AS ended_at
FROM leads AS l
JOIN lead_events AS e
  ON e.lead_id = l.record_id
  OR (e.crm_lead_id IS NOT NULL AND e.crm_lead_id = l.source_key AND e.dealer_id = l.dealer_id)
WHERE e.event_type = 'contacted' AND l.requested_at IS NOT NULL AND e.occurred_at >= l.requested_at
GROUP BY e.dealer_id, l.record_id, l.requested_at
"""
"""The dealer is the one that reported the contact: a lead routed to it (the ``leads`` row names the
dealer the lead named, ``oem`` when it named none) is matched on our lead id; a CRM's own key is
matched within its dealer."""


def business_seconds(start: datetime, end: datetime, hours: Mapping[str, str], timezone: str) -> float:
    """Seconds between ``start`` and ``end`` (aware datetimes) that fall inside ``hours``
    (``mon`` … ``sun`` → ``HH:MM-HH:MM`` in ``timezone``; a day not listed is closed)."""
    if end <= start:
        return 0.0
    zone = ZoneInfo(timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        span = hours.get(WEEKDAYS[day.weekday()])
        if span:
            opening, closing = span.split("-")
            opens, closes = _clock(opening), _clock(closing)
            open_at = datetime.combine(day, opens or time(0), zone)
            close_at = datetime.combine(
                day + timedelta(days=1) if closes is None else day, closes or time(0), zone
            )
            # subtract in UTC: aware datetimes of one zone subtract as wall clocks (DST would be lost)
            overlap = min(close_at, local_end).astimezone(UTC) - max(open_at, local_start).astimezone(UTC)
            total += max(overlap.total_seconds(), 0.0)
        day += timedelta(days=1)
    return total


def _clock(text: str) -> time | None:
    """``HH:MM`` as a time; ``24:00`` (end of day) as None."""
    hour, minute = (int(part) for part in text.split(":"))
    return None if hour == 24 else time(hour, minute)


@dataclass(frozen=True)
class Timing:
    """One timing of one dealer."""

    measure: str
    dealer_id: str
    count: int
    median_minutes: float
    p90_minutes: float
    business_median_minutes: float
    business_p90_minutes: float

    def as_row(self) -> dict[str, object]:
        return dict(self.__dict__)


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile by linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(
    measure: str, spans: Iterable[tuple[str, datetime, datetime]], dealers: Mapping[str, Dealer]
) -> list[Timing]:
    """Per dealer: how many spans, median and p90 in minutes, actual and in business hours. A dealer
    not in ``dealers`` (the OEM fallback) has no hours: its business figures equal the actual ones."""
    actual: dict[str, list[float]] = {}
    business: dict[str, list[float]] = {}
    for dealer_id, started, ended in spans:
        seconds = max((ended - started).total_seconds(), 0.0)
        dealer = dealers.get(dealer_id)
        inside = (
            seconds
            if dealer is None
            else business_seconds(started, ended, dealer.business_hours, dealer.timezone)
        )
        actual.setdefault(dealer_id, []).append(seconds / 60)
        business.setdefault(dealer_id, []).append(inside / 60)
    return [
        Timing(
            measure,
            dealer_id,
            len(values),
            round(percentile(values, 0.5), 1),
            round(percentile(values, 0.9), 1),
            round(percentile(business[dealer_id], 0.5), 1),
            round(percentile(business[dealer_id], 0.9), 1),
        )
        for dealer_id, values in sorted(actual.items())
    ]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def lake_timings(
    tables: Mapping[str, Any] | None = None, dealers: Mapping[str, Dealer] | None = None
) -> list[Timing]:
    """Both timings over the lake's current data (DuckDB locally; the same SQL runs on Athena);
    ``tables`` and ``dealers`` default to the lake's tables and the registry."""
    from forecourt import analytics, registry

    if dealers is None:
        dealers = {d.dealer_id: d for d in registry.list_dealers()}
    out: list[Timing] = []
    for measure, sql in (("delivery_latency", DELIVERY_LATENCY_SQL), ("speed_to_lead", SPEED_TO_LEAD_SQL)):
        rows = analytics.run_query(sql, tables).to_arrow().to_pylist()
        spans = ((r["dealer_id"], _utc(r["started_at"]), _utc(r["ended_at"])) for r in rows)
        out += summarize(measure, spans, dealers)
    return out
