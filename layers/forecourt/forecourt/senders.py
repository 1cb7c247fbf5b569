"""Webhook senders: who may post leads and events, for which dealers, with which secrets (ARCHITECTURE §9).

A sender is a lead provider, an OEM site or a dealer CRM. The sender registry (DynamoDB, template
``SenderRegistryTable``) says which dealers it may post for, or all of them; its signing secret is a
Secrets Manager secret ``<secret_prefix>/senders/<name>`` (see ``forecourt.signing``). A rotation
uses the secret's staging labels: ``rotate`` puts a new value, which Secrets Manager labels
AWSCURRENT while the old one becomes AWSPREVIOUS — both verify — and ``finish_rotation`` takes
AWSPREVIOUS away. The signature authenticates the sender and nothing else: whether it may post for a
dealer is ``Sender.may_post_for``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from forecourt import aws, rotating_secret
from forecourt.config import settings

SenderKind = Literal["lead_provider", "oem_site", "dealer_crm"]
SECRET_BYTES = rotating_secret.SECRET_BYTES
"""Random bytes in a sender's secret (``secrets.token_urlsafe``: 43 URL-safe characters)."""
SECRET_CACHE_SECONDS = rotating_secret.CACHE_SECONDS
"""How long ``secrets_for`` keeps a sender's secrets in the process: a warm Lambda asks Secrets
Manager at most once a minute per sender, and sees a rotation within a minute."""

_DEALER_ID = r"^[A-Za-z0-9_-]{1,64}$"


class SenderError(Exception):
    """A sender registry operation was refused; the message says why."""


class SenderNotFound(SenderError):
    """No sender of that name is registered (or its secret is gone)."""


class SenderExists(SenderError):
    """A sender of that name is already registered."""


class UnknownDealers(SenderError):
    """Some dealers a sender was to post for are not in the dealer registry."""

    def __init__(self, dealers: Sequence[str]) -> None:
        self.dealers = list(dealers)
        super().__init__(
            f"unknown dealer(s): {', '.join(self.dealers)}; register them with `forecourt dealers add` "
            "or give --all"
        )


class Sender(BaseModel):
    """A registered webhook sender and the dealers it may post for."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    kind: SenderKind
    dealers: list[str] = Field(default_factory=list)
    """Dealer ids this sender may post for (sorted, without repeats); empty when ``all_dealers``."""
    all_dealers: bool = False
    """May post for every dealer, and leads that name no dealer (an OEM site, a national provider)."""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("dealers")
    @classmethod
    def _dealer_ids(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if not re.fullmatch(_DEALER_ID, d)]
        if bad:
            raise ValueError(f"not dealer ids: {', '.join(map(repr, bad))}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _dealers_or_all(self) -> Sender:
        if self.all_dealers and self.dealers:
            raise ValueError("give either dealers or all_dealers, not both")
        if not self.all_dealers and not self.dealers:
            raise ValueError("a sender must be allowed some dealers, or all_dealers")
        return self

    def may_post_for(self, dealer_id: str | None) -> bool:
        """Whether this sender may post for ``dealer_id``; None (a lead that names no dealer, routed
        by us) only for a sender allowed all dealers."""
        if self.all_dealers:
            return True
        return dealer_id is not None and dealer_id in self.dealers


# --- storage --------------------------------------------------------------------------------------


def secret_name(name: str) -> str:
    """The Secrets Manager name of a sender's secret: ``<secret_prefix>/senders/<name>``."""
    return f"{settings().secret_prefix}/senders/{name}"


def _to_item(sender: Sender) -> dict[str, Any]:
    return {
        "sender_name": {"S": sender.name},
        "kind": {"S": sender.kind},
        "dealers": {"L": [{"S": d} for d in sender.dealers]},
        "all_dealers": {"BOOL": sender.all_dealers},
        "created_at": {"S": sender.created_at.isoformat()},
    }


def _from_item(item: dict[str, Any]) -> Sender:
    return Sender(
        name=item["sender_name"]["S"],
        kind=item["kind"]["S"],
        dealers=[d["S"] for d in item.get("dealers", {}).get("L", [])],
        all_dealers=item.get("all_dealers", {}).get("BOOL", False),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
    )


def _check_dealers(sender: Sender) -> None:
    from forecourt import registry

    unknown = [d for d in sender.dealers if registry.get_dealer(d) is None]
    if unknown:
        raise UnknownDealers(unknown)


def add_sender(
    name: str, kind: SenderKind, dealers: Sequence[str] = (), all_dealers: bool = False
) -> tuple[Sender, str]:
    """Register a sender and create its secret; returns the sender and the secret (shown once).

    Raises pydantic.ValidationError (bad name, kind or dealer ids; neither or both of dealers and
    all_dealers), UnknownDealers (a dealer not in the registry), SenderExists."""
    sender = Sender(name=name, kind=kind, dealers=list(dealers), all_dealers=all_dealers)
    _check_dealers(sender)
    dynamodb = aws.client("dynamodb")
    try:
        dynamodb.put_item(
            TableName=settings().sender_table,
            Item=_to_item(sender),
            ConditionExpression="attribute_not_exists(sender_name)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as exc:
        raise SenderExists(f"sender {name!r} is already registered") from exc
    try:
        secret = rotating_secret.create(
            secret_name(name), f"Forecourt webhook signing secret of sender {name} ({kind})"
        )
    except Exception:
        dynamodb.delete_item(TableName=settings().sender_table, Key={"sender_name": {"S": name}})
        raise
    if secret is None:
        # No sender without its secret. A secret left behind by an earlier sender of this name is
        # not adopted: we did not make it, so it may be known to someone else.
        dynamodb.delete_item(TableName=settings().sender_table, Key={"sender_name": {"S": name}})
        raise SenderExists(
            f"a secret {secret_name(name)!r} already exists without a registered sender; delete "
            "it before adding the sender again"
        )
    return sender, secret


def get_sender(name: str) -> Sender | None:
    """The registered sender, or None."""
    answer = aws.client("dynamodb").get_item(
        TableName=settings().sender_table, Key={"sender_name": {"S": name}}, ConsistentRead=True
    )
    return _from_item(answer["Item"]) if "Item" in answer else None


def _require(name: str) -> Sender:
    sender = get_sender(name)
    if sender is None:
        raise SenderNotFound(f"no sender {name!r} is registered (see `forecourt senders list`)")
    return sender


def list_senders() -> list[Sender]:
    """Every registered sender, sorted by name."""
    paginator = aws.client("dynamodb").get_paginator("scan")
    found = [
        _from_item(item)
        for page in paginator.paginate(TableName=settings().sender_table)
        for item in page["Items"]
    ]
    return sorted(found, key=lambda s: s.name)


def update_dealers(name: str, dealers: Sequence[str] = (), all_dealers: bool = False) -> Sender:
    """Replace the dealers a sender may post for; returns the updated sender.

    Raises SenderNotFound, pydantic.ValidationError, UnknownDealers."""
    current = _require(name)
    sender = Sender(
        name=current.name,
        kind=current.kind,
        dealers=list(dealers),
        all_dealers=all_dealers,
        created_at=current.created_at,
    )
    _check_dealers(sender)
    dynamodb = aws.client("dynamodb")
    try:
        dynamodb.put_item(
            TableName=settings().sender_table,
            Item=_to_item(sender),
            ConditionExpression="attribute_exists(sender_name)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as exc:
        raise SenderNotFound(f"sender {name!r} was removed meanwhile") from exc
    return sender


# --- secrets --------------------------------------------------------------------------------------


def rotate(name: str) -> str:
    """Give a sender a new secret and return it (shown once). The new secret becomes AWSCURRENT and
    the one it replaces AWSPREVIOUS: both verify until ``finish_rotation``. Rotating again before
    finishing retires the oldest secret at once (only two are ever valid). Raises SenderNotFound."""
    _require(name)
    try:
        return rotating_secret.rotate(secret_name(name))
    except rotating_secret.SecretMissing as exc:
        raise SenderNotFound(f"sender {name!r} has no secret {secret_name(name)!r}") from exc


def rotation_in_progress(name: str) -> bool:
    """Whether a sender has a previous secret that still verifies. Raises SenderNotFound."""
    try:
        return rotating_secret.rotation_in_progress(secret_name(name))
    except rotating_secret.SecretMissing as exc:
        raise SenderNotFound(f"sender {name!r} has no secret {secret_name(name)!r}") from exc


def finish_rotation(name: str) -> bool:
    """End a rotation: take the AWSPREVIOUS label away so that only the current secret verifies.
    Returns False when no rotation was in progress. Raises SenderNotFound."""
    _require(name)
    try:
        return rotating_secret.finish_rotation(secret_name(name))
    except rotating_secret.SecretMissing as exc:
        raise SenderNotFound(f"sender {name!r} has no secret {secret_name(name)!r}") from exc


def secrets_for(name: str, *, clock: Callable[[], float] = time.monotonic) -> list[str]:
    """A sender's valid secrets, current first, then the previous one during a rotation; kept for
    ``SECRET_CACHE_SECONDS`` on ``clock`` so that a warm Lambda does not ask Secrets Manager on every
    request. Raises SenderNotFound when the sender has no secret."""
    try:
        return rotating_secret.values(secret_name(name), clock=clock)
    except rotating_secret.SecretMissing as exc:
        raise SenderNotFound(f"sender {name!r} has no secret {secret_name(name)!r}") from exc


def clear_cache() -> None:
    """Forget every cached secret (tests; after changing the settings)."""
    rotating_secret.clear_cache()
