"""The Conversions API half of the local fake Graph API (``fake_meta.FakeMeta``): ``POST
/vNN.0/<dataset id>/events``, checked against Meta's documented contract, keeping what it received.

A request (form-encoded with ``data`` as JSON text, or a JSON body) carries ``data``: 1 to 1,000
events, each with

- ``event_name`` (a non-empty string), ``event_time`` (unix seconds, an integer: more than 7 days
  in the past fails the whole request, as Meta documents; more than an hour ahead of the fake's
  clock too), ``action_source`` (one of Meta's), ``event_id`` (required here: the fake stands for
  a CRM integration that must deduplicate);
- ``user_data``: an object with at least one of ``em``, ``ph``, ``lead_id``, ``external_id``;
  ``em``, ``ph``, ``fn``, ``ln``, ``ge``, ``db``, ``ct``, ``st``, ``zp``, ``country`` each a SHA-256
  lowercase hex string or a list of them (unhashed contact information is refused); ``lead_id``
  an integer (or a string of digits) of 15 to 17 digits;
- optional ``custom_data`` (an object; a ``value`` needs a three-letter ``currency``).

Any violation answers 400 with error code 100 and no event is kept, as Meta does for a bad event.
Events are kept per dataset and deduplicated by ``event_id`` and ``event_name`` within 48 hours
only, as Meta documents ("if we find a match between events sent within 48 hours of each other, we
only consider the first one"); the fake measures the 48 hours by ``event_time``, from the first
event counted with that id and name. ``FakeMeta.datasets[<id>].events``: the first event of each id
and name; ``counted``: every event Meta counts (a repeat more than 48 hours from the first counts
again: a conversion sent twice); ``received`` counts every event accepted, repeats included.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EVENTS_PATH = re.compile(r"^/v\d+\.\d+/(\d+)/events/?$")
MAX_EVENTS = 1_000
MAX_AGE_SECONDS = 7 * 86_400
MAX_AHEAD_SECONDS = 3_600
DEDUPLICATION_SECONDS = 48 * 3_600
ACTION_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store", "system_generated",
     "business_messaging", "other"}
)  # fmt: skip
HASHED = ("em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_LEAD_ID = re.compile(r"^\d{15,17}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


class InvalidEvent(Exception):
    """A request Meta refuses (error code 100): the message names the event's index, no value."""


@dataclass
class Dataset:
    dataset_id: str
    events: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(event_id, event_name) → the first event received with them."""
    counted: list[dict[str, Any]] = field(default_factory=list)
    """Every event counted as a conversion: the first of each id and name, and any repeat whose
    ``event_time`` is more than 48 hours from that first one's."""
    received: int = 0

    def keep(self, event: dict[str, Any]) -> None:
        """Count ``event`` unless it repeats the id and name of one within 48 hours."""
        key = (str(event["event_id"]), str(event["event_name"]))
        first = self.events.setdefault(key, event)
        if first is event or abs(event["event_time"] - first["event_time"]) > DEDUPLICATION_SECONDS:
            self.counted.append(event)


def receive(
    datasets: dict[str, Dataset], dataset_id: str, fields: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """Check one ``/events`` request and keep its events; Meta's answer. Raises InvalidEvent."""
    data = fields.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            raise InvalidEvent("(#100) data is not valid JSON") from None
    if not isinstance(data, list) or not data:
        raise InvalidEvent("(#100) The parameter data is required")
    if len(data) > MAX_EVENTS:
        raise InvalidEvent(f"(#100) at most {MAX_EVENTS} events a request; got {len(data)}")
    for index, event in enumerate(data):
        _check(index, event, now)
    dataset = datasets.setdefault(dataset_id, Dataset(dataset_id))
    for event in data:
        dataset.keep(event)
    dataset.received += len(data)
    return {"events_received": len(data), "messages": [], "fbtrace_id": "A" + secrets.token_hex(10)}


def _check(index: int, event: Any, now: float) -> None:
    where = f"data[{index}]"
    if not isinstance(event, dict):
        raise InvalidEvent(f"(#100) {where} must be an object")
    if not isinstance(event.get("event_name"), str) or not event["event_name"]:
        raise InvalidEvent(f"(#100) {where}.event_name is required")
    moment = event.get("event_time")
    if not isinstance(moment, int) or isinstance(moment, bool):
        raise InvalidEvent(f"(#100) {where}.event_time must be a unix timestamp in seconds")
    if moment < now - MAX_AGE_SECONDS:
        raise InvalidEvent(f"(#100) {where}.event_time is more than 7 days in the past")
    if moment > now + MAX_AHEAD_SECONDS:
        raise InvalidEvent(f"(#100) {where}.event_time is in the future")
    if event.get("action_source") not in ACTION_SOURCES:
        raise InvalidEvent(f"(#100) {where}.action_source must be one of {sorted(ACTION_SOURCES)}")
    if not isinstance(event.get("event_id"), str) or not event["event_id"]:
        raise InvalidEvent(f"(#100) {where}.event_id is required for deduplication")
    _check_user_data(where, event.get("user_data"))
    custom = event.get("custom_data", {})
    if not isinstance(custom, dict):
        raise InvalidEvent(f"(#100) {where}.custom_data must be an object")
    if "value" in custom:
        if not isinstance(custom["value"], int | float) or isinstance(custom["value"], bool):
            raise InvalidEvent(f"(#100) {where}.custom_data.value must be a number")
        if not isinstance(custom.get("currency"), str) or not _CURRENCY.match(custom["currency"]):
            raise InvalidEvent(f"(#100) {where}.custom_data.currency is required with a value")


def _check_user_data(where: str, user: Any) -> None:
    if not isinstance(user, dict):
        raise InvalidEvent(f"(#100) {where}.user_data is required")
    if not any(user.get(key) for key in ("em", "ph", "lead_id", "external_id")):
        raise InvalidEvent(f"(#100) {where}.user_data has no customer information parameter to match on")
    for key in HASHED:
        if key in user:
            values = user[key] if isinstance(user[key], list) else [user[key]]
            if not values or not all(isinstance(v, str) and _HEX.match(v) for v in values):
                raise InvalidEvent(
                    f"(#100) {where}.user_data.{key} must be SHA-256 hashed (64 lowercase hex)"
                )
    if "lead_id" in user:
        lead = user["lead_id"]
        if isinstance(lead, bool) or not isinstance(lead, int | str) or not _LEAD_ID.match(str(lead)):
            raise InvalidEvent(f"(#100) {where}.user_data.lead_id must be Meta's 15 to 17 digit lead id")
