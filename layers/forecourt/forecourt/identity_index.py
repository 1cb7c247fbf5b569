"""The identity index (DynamoDB, template ``IdentityIndexTable``; ARCHITECTURE §6): a person's recent
leads by the hash of their normalized e-mail or phone, for routing's dealer of record and duplicates.

One item per identity key (``routing.person_keys``: ``email#<sha256 hex>`` / ``phone#<sha256 hex>``;
until identity resolution (issue 5) gives person ids, the key is the person). An item holds the
person's last ``MAX_ENTRIES`` leads — lead id, the dealer it was routed to, the vehicle's VIN and
``make|model``, arrival and request times — and expires (``expires_at``, DynamoDB TTL) when the
longest routing window has passed since its newest lead. No e-mail address or phone number is ever
stored: only their SHA-256.

Writes are read-modify-write with a version condition, so two leads of one person routed at the
same moment both land; remembering a lead already remembered changes nothing (a redelivery).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from forecourt import aws
from forecourt.config import settings
from forecourt.routing import PriorLead, RouteDecision, RoutingRules, person_keys, vehicle_key

MAX_ENTRIES = 20
"""Leads kept per identity key (the newest): enough for any window, bounded for a busy shopper."""
_WRITE_ATTEMPTS = 6
_READ_ATTEMPTS = 5


class IdentityIndexBusy(RuntimeError):
    """An identity key kept changing under us (or DynamoDB kept keys unprocessed); retry the lead."""


@dataclass(frozen=True)
class Seen:
    """What the index held for a lead's identity keys when it was read."""

    leads: list[PriorLead]
    """The leads remembered under any of the keys, each with the keys it was found under; newest
    first."""
    items: dict[str, dict[str, Any] | None]
    """Each key's item as read (None: no item): ``remember`` starts its read-modify-write from it
    instead of reading the key again."""


def prior_leads(lead: Mapping[str, Any]) -> list[PriorLead]:
    """The leads the index remembers for ``lead``'s identity keys (``look_up``)."""
    return look_up(lead).leads


def look_up(lead: Mapping[str, Any]) -> Seen:
    """Read ``lead``'s identity keys (one BatchGetItem, strongly consistent). Raises
    IdentityIndexBusy when DynamoDB leaves keys unprocessed after retries, botocore's ClientError on
    other failures."""
    keys = person_keys(lead)
    if not keys:
        return Seen([], {})
    table = settings().identity_index_table
    request: dict[str, Any] = {table: {"Keys": [{"key": {"S": k}} for k in keys], "ConsistentRead": True}}
    items: list[dict[str, Any]] = []
    for attempt in range(_READ_ATTEMPTS):
        answer = aws.client("dynamodb").batch_get_item(RequestItems=request)
        items += answer.get("Responses", {}).get(table, [])
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            break
        time.sleep(0.05 * 2**attempt)
    else:
        raise IdentityIndexBusy("DynamoDB left identity keys unprocessed after retries")
    found: dict[str, PriorLead] = {}
    for item in items:
        key = item["key"]["S"]
        for entry in _entries(item):
            known = found.get(entry.lead_id)
            found[entry.lead_id] = _with_key(known or entry, key)
    by_key = {item["key"]["S"]: item for item in items}
    return Seen(
        sorted(found.values(), key=lambda p: (p.received_at, p.lead_id), reverse=True),
        {key: by_key.get(key) for key in keys},
    )


def remember(
    lead: Mapping[str, Any],
    decision: RouteDecision,
    at: datetime,
    rules: RoutingRules | None = None,
    seen: Seen | None = None,
) -> int:
    """Add the routed lead to the index under each of its identity keys; returns how many keys
    changed (0 when it was already remembered, or is a test lead: those never count).

    ``at`` is the lead's arrival time: entries older than the longest window before it are dropped,
    and the item expires that long after its newest lead. ``seen``: the keys as ``look_up`` read
    them for this lead (the first write attempt starts from them; the version condition catches a
    change since). Raises IdentityIndexBusy when a key keeps changing under concurrent writers."""
    if decision.is_test:
        return 0
    rules = rules or RoutingRules.from_settings()
    vin, make_model = vehicle_key(lead)
    entry: dict[str, Any] = {"lead_id": {"S": decision.lead_id}, "received_at": {"S": _iso(at)}}
    optional = {
        "dealer_id": decision.dealer_id,
        "vin": vin,
        "make_model": make_model,
        "requested_at": _text(lead.get("requested_at")),
    }
    entry |= {name: {"S": value} for name, value in optional.items() if value}
    read = seen.items if seen else {}
    return sum(_remember_under(key, entry, at, rules.memory_days, read) for key in person_keys(lead))


def _remember_under(
    key: str, entry: dict[str, Any], at: datetime, memory_days: int, read: Mapping[str, dict[str, Any] | None]
) -> bool:
    """``read``: items already read (``Seen.items``); a key among them is not read again first."""
    dynamodb = aws.client("dynamodb")
    table = settings().identity_index_table
    lead_id = entry["lead_id"]["S"]
    for attempt in range(_WRITE_ATTEMPTS):
        item = (
            read[key]
            if attempt == 0 and key in read
            else dynamodb.get_item(TableName=table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        )
        entries: list[dict[str, Any]] = item["leads"]["L"] if item else []
        if any(e["M"]["lead_id"]["S"] == lead_id for e in entries):
            return False
        oldest = _iso(at - timedelta(days=memory_days))
        kept = [e for e in entries if e["M"]["received_at"]["S"] >= oldest] + [{"M": entry}]
        kept.sort(key=lambda e: (e["M"]["received_at"]["S"], e["M"]["lead_id"]["S"]))
        newest = datetime.fromisoformat(kept[-1]["M"]["received_at"]["S"])
        version = int(item["version"]["N"]) if item else 0
        condition: dict[str, Any] = (
            {"ConditionExpression": "#v = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
            if item
            else {"ConditionExpression": "attribute_not_exists(#v)"}
        )
        try:
            dynamodb.put_item(
                TableName=table,
                Item={
                    "key": {"S": key},
                    "leads": {"L": kept[-MAX_ENTRIES:]},
                    "version": {"N": str(version + 1)},
                    "expires_at": {"N": str(int((newest + timedelta(days=memory_days)).timestamp()))},
                },
                ExpressionAttributeNames={"#v": "version"},
                **condition,
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            # another lead of this person was remembered meanwhile: back off (jittered), read again
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
            continue
        return True
    raise IdentityIndexBusy(f"identity key {key[:14]}… kept changing; retry the lead")


def _text(value: Any) -> str | None:
    if isinstance(value, datetime):
        return _iso(value)
    return str(value) if value else None


def _iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds, so that the strings sort as the times do."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _entries(item: Mapping[str, Any]) -> list[PriorLead]:
    out = []
    for value in item.get("leads", {}).get("L", []):
        entry = {name: v.get("S") for name, v in value["M"].items()}
        requested = entry.get("requested_at")
        out.append(
            PriorLead(
                lead_id=str(entry["lead_id"]),
                dealer_id=entry.get("dealer_id"),
                received_at=datetime.fromisoformat(str(entry["received_at"])),
                vin=entry.get("vin"),
                make_model=entry.get("make_model"),
                requested_at=datetime.fromisoformat(requested) if requested else None,
            )
        )
    return out


def _with_key(prior: PriorLead, key: str) -> PriorLead:
    return replace(prior, keys=prior.keys | {key})
