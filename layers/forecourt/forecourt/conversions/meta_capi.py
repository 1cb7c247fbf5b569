"""Meta Conversions API, CRM events (Meta's "Conversions API for CRM integration", conversion leads
payload specification, and the server event and customer information parameters).

One request: ``POST /<version>/<dataset (pixel) id>/events`` with the JSON body ``{"data": [events],
"test_event_code"?}`` and the access token; at most 1,000 events a request, and an event whose
``event_time`` is more than 7 days in the past fails the whole request, so such events are never
put in one (``sendable``). Each event, as the CRM integration documents it:

- ``event_name``: the CRM stage (free form: ``appointment_set``, ``shown``, ``sold``);
- ``event_time``: when it happened, unix seconds (UTC);
- ``action_source``: ``system_generated``;
- ``event_id``: the conversion's id (a hash of lead and stage): Meta deduplicates events that share
  ``event_id`` and ``event_name`` sent within 48 hours of each other, so a resend after a crash
  counts once (later, only the ledger keeps a conversion from being sent twice);
- ``user_data``: the hashed identifiers (``em``, ``ph``, ``fn``, ``ln``, ``zp``, ``country``; SHA-256
  lowercase hex, normalized as for custom audiences, ``audiences.meta``) and, for a lead from Meta
  lead ads, Meta's own ``lead_id`` (an integer), the strongest match;
- ``custom_data``: ``event_source`` ``crm``, ``lead_event_source`` ``Forecourt`` (the CRM's name as
  Meta asks for it) and, for a sale, ``value`` and ``currency``.

Credentials: the Meta secret (``<prefix>/platforms/meta``, ``audiences.meta_api``) with, for
conversions, ``dataset_id`` (or ``pixel_id``): the CRM dataset the events go to; optionally
``test_event_code`` (the events then show in Events Manager's test tool only).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from forecourt.audiences.meta_api import GRAPH_URL, TIMEOUT_SECONDS, MetaError

API_VERSION = "v21.0"
MAX_EVENTS = 1_000
MAX_AGE = timedelta(days=7)
MARGIN = timedelta(hours=1)
"""Events within this of the 7-day limit are not sent: they could age past it before Meta reads them."""
ACTION_SOURCE = "system_generated"
EVENT_SOURCE = "crm"
LEAD_EVENT_SOURCE = "Forecourt"
USER_DATA = ("em", "ph", "fn", "ln", "zp", "country")


def event(row: dict[str, Any]) -> dict[str, Any] | None:
    """The CAPI event of one conversion (a row of ``stages.prepare``); None when it has nothing Meta
    can match it on (no lead id, e-mail or phone)."""
    user_data: dict[str, Any] = {key: [row[key]] for key in USER_DATA if row.get(key)}
    if row.get("meta_lead_id") is not None:
        user_data["lead_id"] = int(row["meta_lead_id"])
    if not any(key in user_data for key in ("em", "ph", "lead_id")):
        return None
    custom: dict[str, Any] = {"event_source": EVENT_SOURCE, "lead_event_source": LEAD_EVENT_SOURCE}
    if row["stage"] == "sold" and row.get("sale_value") is not None and row.get("currency"):
        custom["value"] = round(float(row["sale_value"]), 2)
        custom["currency"] = row["currency"]
    occurred: datetime = row["occurred_at"]
    return {
        "event_name": row["stage"],
        "event_time": int(occurred.timestamp()),
        "action_source": ACTION_SOURCE,
        "event_id": row["conversion_id"],
        "user_data": user_data,
        "custom_data": custom,
    }


def sendable(occurred_at: datetime, now: datetime) -> str | None:
    """Why an event of ``occurred_at`` cannot be sent ``now`` (``too_old``: past Meta's 7 days;
    ``in_future``: a CRM clock ahead of ours; sent when its time has come), or None."""
    if occurred_at < now - MAX_AGE + MARGIN:
        return "too_old"
    if occurred_at > now:
        return "in_future"
    return None


def request_body(events: list[dict[str, Any]], test_event_code: str | None = None) -> dict[str, Any]:
    """The body of one ``/events`` request (without the access token); raises ValueError beyond
    Meta's 1,000 events."""
    if not events or len(events) > MAX_EVENTS:
        raise ValueError(f"{len(events)} events in one request: Meta takes 1 to {MAX_EVENTS:,}")
    body: dict[str, Any] = {"data": events}
    if test_event_code:
        body["test_event_code"] = test_event_code
    return body


@dataclass(frozen=True)
class Dataset:
    """Where the events go: a Meta dataset (pixel) and the token allowed to send to it."""

    base_url: str
    version: str
    access_token: str
    dataset_id: str
    test_event_code: str | None = None

    @property
    def path(self) -> str:
        return f"/{self.version}/{self.dataset_id}/events"

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST one ``request_body``; Meta's answer (``events_received``, ``fbtrace_id``). Raises
        ``RateLimited`` or ``MetaError`` (``audiences.meta_api``)."""
        from forecourt.audiences.meta_api import _error

        data = json.dumps({**body, "access_token": self.access_token}, separators=(",", ":")).encode()
        request = urllib.request.Request(  # noqa: S310 (the base URL is configuration: https or loopback)
            f"{self.base_url.rstrip('/')}{self.path}",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as error:
            raise _error(error.code, error.read()) from None


def from_secret() -> Dataset:
    """The ``Dataset`` the Meta secret describes; raises LookupError naming the secret when there
    is none or it names no dataset, ValueError when it lacks the token."""
    from forecourt import aws
    from forecourt.audiences.meta_api import secret_name

    client = aws.client("secretsmanager")
    try:
        text = client.get_secret_value(SecretId=secret_name())["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        raise LookupError(f"no Meta credentials: create the secret {secret_name()!r}") from None
    given = json.loads(text)
    dataset = given.get("dataset_id") or given.get("pixel_id")
    if not dataset:
        raise LookupError(f"the secret {secret_name()!r} names no dataset_id for conversions")
    if not given.get("access_token"):
        raise ValueError(f"secret {secret_name()!r} lacks access_token")
    return Dataset(
        base_url=str(given.get("base_url") or GRAPH_URL),
        version=str(given.get("version") or API_VERSION),
        access_token=str(given["access_token"]),
        dataset_id=str(dataset),
        test_event_code=str(given["test_event_code"]) if given.get("test_event_code") else None,
    )


__all__ = ["Dataset", "MetaError", "event", "from_secret", "request_body", "sendable"]
