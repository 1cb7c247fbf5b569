"""The identity index (DynamoDB, template ``IdentityIndexTable``; ARCHITECTURE §6): a person's recent
leads by the hash of their normalized e-mail or phone, for routing's dealer of record and duplicates.

One item per identity key (``routing.person_keys``: ``email#<sha256 hex>`` / ``phone#<sha256 hex>``).
An item holds the last ``MAX_ENTRIES`` leads under that key — lead id, the dealer it was routed to,
the vehicle's VIN and ``make|model``, arrival and request times — and expires (``expires_at``,
DynamoDB TTL) when the longest routing window has passed since its newest lead. No e-mail address
or phone number is ever stored: only their SHA-256.

Identity resolution (the ``resolve`` job) publishes who is who next to them: ``resolved#<key>``
holds the persons that key belongs to and every identity key of those persons (``publish``). A
lookup reads both, then the leads under the person's other keys, so that a lead giving only a phone
finds the person's earlier leads given with an e-mail at another dealer. A key on the records of
more than ``MAX_PERSONS`` persons (a household line, a showroom's phone) lists no keys.

Writes are read-modify-write with a version condition, so two leads of one person routed at the
same moment both land; remembering a lead already remembered changes nothing (a redelivery).
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from forecourt import aws
from forecourt.config import settings
from forecourt.routing import PriorLead, RouteDecision, RoutingRules, person_keys, vehicle_key

MAX_ENTRIES = 20
"""Leads kept per identity key (the newest): enough for any window, bounded for a busy shopper."""
RESOLVED = "resolved#"
"""Prefix of the items ``publish`` writes: ``resolved#email#<sha256 hex>``."""
MAX_PERSONS = 4
"""A key shared by more persons than this names none of their other keys."""
MAX_PERSON_KEYS = 32
"""Keys listed per published key, at most: a person with more (a data-entry accident) lists the
first ones in order."""
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
    """Read ``lead``'s identity keys and what resolution published for them (one BatchGetItem,
    strongly consistent), then the leads under the other keys of the persons found (a second one,
    only when there are such keys). A lead found through a person carries the lead's own key that
    led to it. Raises IdentityIndexBusy when DynamoDB leaves keys unprocessed after retries,
    botocore's ClientError on other failures."""
    keys = person_keys(lead)
    if not keys:
        return Seen([], {})
    items = _get([*keys, *(RESOLVED + k for k in keys)])
    via: dict[str, str] = {}  # another key of the person → the lead's key that named it
    for key in keys:
        for other in _strings(items.get(RESOLVED + key), "keys"):
            if other not in keys:
                via.setdefault(other, key)
    found: dict[str, PriorLead] = {}
    own = {key: items[key] for key in keys if key in items}
    for key, item in [*own.items(), *((via[k], i) for k, i in _get(list(via)[:_BATCH_KEYS]).items())]:
        for entry in _entries(item):
            known = found.get(entry.lead_id)
            found[entry.lead_id] = _with_key(known or entry, key)
    return Seen(
        sorted(found.values(), key=lambda p: (p.received_at, p.lead_id), reverse=True),
        {key: own.get(key) for key in keys},
    )


_BATCH_KEYS = 100
"""BatchGetItem reads at most 100 keys a request."""


def _get(keys: list[str]) -> dict[str, dict[str, Any]]:
    """The items of ``keys`` (at most ``_BATCH_KEYS``) that exist, by key: one BatchGetItem,
    strongly consistent, repeated for what DynamoDB leaves unprocessed."""
    if not keys:
        return {}
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
    return {item["key"]["S"]: item for item in items}


def _strings(item: Mapping[str, Any] | None, name: str) -> list[str]:
    return sorted(item[name]["SS"]) if item and name in item else []


def publish(entries: Mapping[str, tuple[Sequence[str], Sequence[str]]], at: datetime) -> int:
    """Write ``resolved#<key>`` for each key of ``entries``: key → (the persons whose records carry
    it, every key of those persons); the keys are left out when the key is shared by more than
    ``MAX_PERSONS``. Returns the items written. Threads of BatchWriteItem (25 items each), retrying
    what DynamoDB leaves unprocessed."""
    from concurrent.futures import ThreadPoolExecutor

    items = []
    for key, (persons, keys) in entries.items():
        item: dict[str, Any] = {
            "key": {"S": RESOLVED + key},
            "persons": {"SS": sorted(persons)[: MAX_PERSONS + 1]},
            "resolved_at": {"S": _iso(at)},
        }
        if len(persons) <= MAX_PERSONS:
            item["keys"] = {"SS": sorted(keys)[:MAX_PERSON_KEYS]}
        items.append({"PutRequest": {"Item": item}})
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_write_batch, batches))
    return len(items)


def _write_batch(batch: list[dict[str, Any]]) -> None:
    table = settings().identity_index_table
    dynamodb = aws.client("dynamodb")
    request: dict[str, Any] = {table: batch}
    for attempt in range(_WRITE_ATTEMPTS):
        request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        if not request:
            return
        time.sleep(0.05 * 2**attempt)
    raise IdentityIndexBusy("DynamoDB left identity index writes unprocessed after retries")


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
