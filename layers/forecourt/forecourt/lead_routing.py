"""route_lead's work (ARCHITECTURE §2): a lead from the realtime queue → a routing decision, queued
for delivery (or for OEM staff), remembered in the identity index, and kept in ``lead_routes``.

``route_message`` handles one realtime lead (``forecourt.realtime.RealtimeMessage``); its decision
goes to the lake with the rest of the batch (``realtime.record_batch``). Both are safe to repeat: a
redelivered message is decided the same way (the index ignores the lead's own entry and the windows
are measured from its arrival), ``remember`` does not add it twice, its delivery message carries the
same ``delivery_id`` (the deliver function and the dealer's CRM deduplicate on it), and the same
batch written again replaces its ``lead_routes`` rows.

Where each action goes:

- ``new`` / ``update`` → the delivery queue (``DeliveryQueue``), for the deliver function;
- ``hold`` → the fallback queue (``FallbackQueue``), which OEM staff work by hand;
- ``suppress`` (a test lead, or a duplicate the dealer does not want) → nowhere.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from forecourt import aws, identity_index, lake, registry, routing
from forecourt.config import settings
from forecourt.realtime import RealtimeMessage
from forecourt.registry import Dealer

TABLE = "lead_routes"
DEALER_CACHE_SECONDS = 60.0
"""How long route_lead trusts its copy of the dealer registry (a registry change shows within this)."""
_QUEUE_OF_ACTION = {"new": "delivery_queue_url", "update": "delivery_queue_url", "hold": "fallback_queue_url"}
_dealers: tuple[float, list[Dealer]] | None = None


def current_dealers(max_age: float = DEALER_CACHE_SECONDS) -> list[Dealer]:
    """The registered dealers (not the OEM pseudo dealer), read at most every ``max_age`` seconds."""
    global _dealers  # noqa: PLW0603 (a warm Lambda's cache)
    if _dealers is None or time.monotonic() - _dealers[0] > max_age:
        dealers = [d for d in registry.list_dealers() if d.dealer_id != lake.OEM_DEALER_ID]
        _dealers = (time.monotonic(), dealers)
    return _dealers[1]


def forget_dealers() -> None:
    """Drop the cached registry (tests; the next lead reads it again)."""
    global _dealers  # noqa: PLW0603
    _dealers = None


def delivery_id(lead_id: str, dealer_id: str | None) -> str:
    """The id of a lead's delivery to a dealer: the same on every redelivery of the lead."""
    return lake.stable_hash("delivery", lead_id, dealer_id or lake.OEM_DEALER_ID)


def route_message(message: RealtimeMessage, routed_at: datetime | None = None) -> dict[str, Any]:
    """Route one realtime lead: decide, queue, remember; returns its ``lead_routes`` row (without
    ``upload_id``, which ``realtime.record_batch`` sets). Raises ValueError for a message that is
    not a lead, botocore's ClientError or IdentityIndexBusy when AWS fails (the message is then
    retried)."""
    if message.kind != "lead" or message.record is None or message.lead_id is None:
        raise ValueError(f"a {message.kind} message is not a lead to route")
    chosen = None if message.dealer_id == lake.OEM_DEALER_ID else message.dealer_id
    rules = routing.RoutingRules.from_settings()
    lead = message.record | {"record_id": message.record.get("record_id") or message.lead_id}
    seen = identity_index.look_up(lead)
    decision = routing.route(lead, chosen, current_dealers(), seen.leads, message.received_at, rules)
    routed_at = routed_at or datetime.now(UTC)
    # on its way first, remembered next: a retry after a failed ``remember`` decides and queues the
    # same delivery again, which the deliver function and the dealer's CRM deduplicate
    sent = _queue(message, decision, routed_at)
    identity_index.remember(lead, decision, message.received_at, rules, seen)
    return {
        "lead_id": decision.lead_id,
        "dealer_id": decision.dealer_id,
        "chosen_dealer_id": chosen,
        "rule": decision.rule,
        "reason": decision.reason,
        "action": decision.action,
        "duplicate_of": decision.duplicate_of,
        "distance_miles": decision.distance_miles,
        "is_test": decision.is_test,
        "delivery_id": sent,
        "sender": message.sender,
        "received_at": message.received_at.astimezone(UTC),
        "routed_at": routed_at,
    }


def delivery_message(
    message: RealtimeMessage, decision: routing.RouteDecision, routed_at: datetime
) -> dict[str, Any]:
    """The body queued for the deliver function (or, on hold, for OEM staff)."""
    return {
        "delivery_id": delivery_id(decision.lead_id, decision.dealer_id),
        "lead_id": decision.lead_id,
        "dealer_id": decision.dealer_id,
        "action": decision.action,
        "duplicate_of": decision.duplicate_of,
        "routing": {
            "rule": decision.rule,
            "reason": decision.reason,
            "distance_miles": decision.distance_miles,
        },
        "received_at": message.received_at.astimezone(UTC).isoformat(),
        "routed_at": routed_at.astimezone(UTC).isoformat(),
        "lead": message.record,
    }


def _queue(message: RealtimeMessage, decision: routing.RouteDecision, routed_at: datetime) -> str | None:
    """Send the decision where its action goes; returns the delivery id sent, None when nothing was."""
    setting = _QUEUE_OF_ACTION.get(decision.action)
    if setting is None:
        return None
    body = delivery_message(message, decision, routed_at)
    aws.client("sqs").send_message(QueueUrl=getattr(settings(), setting), MessageBody=json.dumps(body))
    return str(body["delivery_id"])
