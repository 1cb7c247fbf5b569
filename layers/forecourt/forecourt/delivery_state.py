"""In-flight delivery state (DynamoDB, template ``DeliveryStateTable``): the part of "exactly once as
seen by the dealer" that is ours.

One item per delivery id: ``status`` (in_flight, pending, delivered, failed), ``attempts`` so far
(across receives), a lease (``lease_token``, ``lease_until``) while an invocation sends, the
acknowledgement once there is one, and ``expires_at`` for TTL. Every write that decides is
conditional:

- ``claim`` takes the lease only when the delivery is not delivered and no live lease is held, so
  a lead already acknowledged is never sent again and two invocations holding duplicates of one
  SQS message never send side by side;
- ``mark_delivered`` records the acknowledgement (terminal);
- ``release`` gives the lease back (pending: try again later; failed: permanent) only if it is
  still ours.

What this cannot close is the window between the dealer's acknowledgement and ``mark_delivered``
(a crash there): the next receive sends again, with the same delivery id, and the receiver's own
deduplication on it answers "duplicate".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from forecourt import aws
from forecourt.config import settings

_DELIVERED, _IN_FLIGHT = "delivered", "in_flight"


@dataclass(frozen=True)
class Claim:
    """The lease an invocation holds on a delivery, and the attempts made before it."""

    delivery_id: str
    token: str
    attempts: int


class AlreadyDelivered(Exception):
    """The delivery was acknowledged before: it is not sent again."""

    def __init__(self, delivery_id: str, acknowledged_at: datetime | None, http_status: int | None) -> None:
        super().__init__(f"delivery {delivery_id} was acknowledged at {acknowledged_at}")
        self.delivery_id = delivery_id
        self.acknowledged_at = acknowledged_at
        self.http_status = http_status


class InFlightElsewhere(Exception):
    """Another invocation holds a live lease on the delivery (a duplicate SQS message)."""


def _table() -> str:
    return settings().delivery_state_table


def _expiry(now: datetime) -> str:
    return str(int((now + timedelta(days=settings().delivery_state_days)).timestamp()))


def claim(delivery_id: str, dealer_id: str, lead_id: str, *, now: datetime, lease_seconds: float) -> Claim:
    """Take the delivery's lease until ``now + lease_seconds`` (the invocation's deadline).

    Raises AlreadyDelivered when it was acknowledged before, InFlightElsewhere when another
    invocation's lease is still live."""
    dynamodb = aws.client("dynamodb")
    token = uuid.uuid4().hex
    until = now + timedelta(seconds=max(lease_seconds, 1.0))
    try:
        answer = dynamodb.update_item(
            TableName=_table(),
            Key={"delivery_id": {"S": delivery_id}},
            UpdateExpression=(
                "SET #status = :in_flight, lease_token = :token, lease_until = :until, dealer_id = :dealer, "
                "lead_id = :lead, expires_at = :expires, attempts = if_not_exists(attempts, :zero)"
            ),
            ConditionExpression=(
                "attribute_not_exists(delivery_id) OR "
                "(#status <> :delivered AND (#status <> :in_flight OR lease_until < :now))"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":in_flight": {"S": _IN_FLIGHT},
                ":delivered": {"S": _DELIVERED},
                ":token": {"S": token},
                ":until": {"N": f"{until.timestamp():.3f}"},
                ":now": {"N": f"{now.timestamp():.3f}"},
                ":dealer": {"S": dealer_id},
                ":lead": {"S": lead_id},
                ":expires": {"N": _expiry(now)},
                ":zero": {"N": "0"},
            },
            ReturnValues="ALL_NEW",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise _refusal(delivery_id) from None
    return Claim(delivery_id, token, int(answer["Attributes"]["attempts"]["N"]))


def _refusal(delivery_id: str) -> AlreadyDelivered | InFlightElsewhere:
    """Why a claim was refused, as the exception to raise."""
    item = get(delivery_id) or {}
    if item.get("status") == _DELIVERED:
        acknowledged = item.get("acknowledged_at")
        return AlreadyDelivered(
            delivery_id,
            datetime.fromisoformat(acknowledged) if acknowledged else None,
            int(item["http_status"]) if item.get("http_status") is not None else None,
        )
    return InFlightElsewhere(f"delivery {delivery_id} is being sent by another invocation")


def get(delivery_id: str) -> dict[str, Any] | None:
    """The delivery's state as plain values (strings and numbers), or None when there is none."""
    answer = aws.client("dynamodb").get_item(
        TableName=_table(), Key={"delivery_id": {"S": delivery_id}}, ConsistentRead=True
    )
    if "Item" not in answer:
        return None
    return {name: next(iter(value.values())) for name, value in answer["Item"].items()}


def mark_delivered(
    held: Claim, *, attempts: int, acknowledged_at: datetime, http_status: int | None, now: datetime
) -> None:
    """Record the acknowledgement: the delivery is never sent again (unconditional: whoever holds
    the lease, the dealer has the lead)."""
    values: dict[str, Any] = {
        ":delivered": {"S": _DELIVERED},
        ":attempts": {"N": str(attempts)},
        ":acknowledged": {"S": acknowledged_at.isoformat()},
        ":expires": {"N": _expiry(now)},
    }
    update = (
        "SET #status = :delivered, attempts = :attempts, acknowledged_at = :acknowledged, "
        "expires_at = :expires"
    )
    if http_status is not None:
        values[":http"] = {"N": str(http_status)}
        update += ", http_status = :http"
    aws.client("dynamodb").update_item(
        TableName=_table(),
        Key={"delivery_id": {"S": held.delivery_id}},
        UpdateExpression=update + " REMOVE lease_token, lease_until",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues=values,
    )


def release(held: Claim, *, attempts: int, status: Literal["pending", "failed"], now: datetime) -> bool:
    """Give the lease back with the attempts made: ``pending`` (another receive may try again) or
    ``failed`` (permanent until someone redrives the message). False when the lease was no longer
    ours (it expired and another invocation took it): nothing is written then."""
    dynamodb = aws.client("dynamodb")
    try:
        dynamodb.update_item(
            TableName=_table(),
            Key={"delivery_id": {"S": held.delivery_id}},
            UpdateExpression=(
                "SET #status = :status, attempts = :attempts, expires_at = :expires "
                "REMOVE lease_token, lease_until"
            ),
            ConditionExpression="lease_token = :token",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": {"S": status},
                ":attempts": {"N": str(attempts)},
                ":expires": {"N": _expiry(now)},
                ":token": {"S": held.token},
            },
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True
