"""Routed leads as route_lead puts them on DeliveryQueue, and dealers to deliver them to (shared by the
delivery tests)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from forecourt import registry

LEAD = {
    "record_id": "lead-1",
    "requested_at": "2026-11-02T14:58:00+00:00",
    "provider_name": "Ford Direct",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@example.com",
    "phone": "+13125550142",
    "vehicle_year": 2026,
    "vehicle_make": "Chevrolet",
    "vehicle_model": "Equinox",
}


def dealer(method: str | None, endpoint: str | Callable[[str], str] | None = None, **changes: Any) -> str:
    """A new dealer in the registry delivered by ``method`` (None: no delivery configured) at
    ``endpoint`` (or the URL ``endpoint(dealer_id)`` gives, e.g. ``crm.adf_url``); its id."""
    dealer_id = f"X{uuid.uuid4().hex[:10]}"
    url = endpoint(dealer_id) if callable(endpoint) else endpoint
    delivery = registry.Delivery(method=method, endpoint=url) if method else None  # type: ignore[arg-type]
    registry.put_dealer(
        registry.Dealer(dealer_id=dealer_id, name="Lakeside Chevrolet", delivery=delivery, **changes)
    )
    return dealer_id


def body(dealer_id: str, delivery_id: str | None = None, **changes: Any) -> str:
    """A DeliveryQueue message body for a lead received two seconds ago, routed to ``dealer_id``."""
    received = datetime.now(UTC) - timedelta(seconds=2)
    message = {
        "delivery_id": delivery_id or f"dlv-{uuid.uuid4().hex[:16]}",
        "lead_id": "lead-1",
        "dealer_id": dealer_id,
        "action": "new",
        "duplicate_of": None,
        "routing": {"rule": "territory", "reason": "zip 60601 is in the territory", "distance_miles": None},
        "received_at": received.isoformat(),
        "routed_at": (received + timedelta(seconds=1)).isoformat(),
        "lead": LEAD | {"received_at": received.isoformat()},
    }
    return json.dumps(message | changes)


def delivery_id_of(text: str) -> str:
    """The delivery id of a message body."""
    return str(json.loads(text)["delivery_id"])
