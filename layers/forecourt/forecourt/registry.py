"""The dealer registry (DynamoDB): who may send files, on which feeds, in which time zone and country."""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from forecourt import aws
from forecourt.config import settings
from forecourt.lake import OEM_DEALER_ID

DeliveryMethod = Literal["adf_http", "adf_email", "json_webhook", "file"]
_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS = dict.fromkeys(WEEKDAYS[:5], "09:00-19:00") | {"sat": "09:00-18:00"}


class Delivery(BaseModel):
    """How leads reach a dealer's CRM: ADF by HTTPS POST or by e-mail, signed JSON, or a file in
    ``outbound/dealer=<id>/`` the dealer picks up."""

    method: DeliveryMethod
    endpoint: str | None = None
    """The URL (``adf_http``, ``json_webhook``) or the lead-intake address (``adf_email``)."""

    @model_validator(mode="after")
    def _endpoint_fits(self) -> Delivery:
        if self.method in ("adf_http", "json_webhook"):
            if not (self.endpoint or "").startswith(("https://", "http://127.0.0.1", "http://localhost")):
                raise ValueError(f"{self.method} needs an https:// endpoint")
        elif self.method == "adf_email":
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", self.endpoint or ""):
                raise ValueError("adf_email needs the CRM's lead-intake e-mail address as endpoint")
        elif self.endpoint:
            raise ValueError("file delivery takes no endpoint (files go to outbound/dealer=<id>/)")
        return self


class Dealer(BaseModel):
    """A registered dealer (or the OEM pseudo dealer)."""

    dealer_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = ""
    feeds: list[str] = Field(default_factory=list)
    """Feeds this dealer sends; detection tries them first."""
    timezone: str = "America/New_York"
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    zip: str | None = Field(default=None, pattern=r"^\d{5}$")
    active: bool = True
    territory_zips: list[str] = Field(default_factory=list)
    """The dealer's area of responsibility (PMA/AOR): leads from these zips are routed to it."""
    delivery: Delivery | None = None
    """None: leads for this dealer wait in the OEM fallback queue."""
    duplicate_policy: Literal["update", "suppress"] = "update"
    """A repeat lead (same person and vehicle within the window) is sent as an update, or not at all."""
    business_hours: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_HOURS))
    """Opening hours in the dealer's time zone per weekday (``mon`` … ``sun`` → ``HH:MM-HH:MM``);
    a day not listed is closed. Business-hours speed-to-lead counts only these."""

    @field_validator("territory_zips")
    @classmethod
    def _zip_codes(cls, value: list[str]) -> list[str]:
        bad = [z for z in value if not re.match(r"^\d{5}$", z)]
        if bad:
            raise ValueError(f"territory zips must be 5 digits: {', '.join(bad[:5])}")
        return sorted(set(value))

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: dict[str, str]) -> dict[str, str]:
        for day, span in value.items():
            if day not in WEEKDAYS or not _HOURS.match(span) or span[:5] >= span[6:]:
                raise ValueError(f"business hours {day}={span!r}: use mon..sun=HH:MM-HH:MM (opening first)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like America/Chicago)") from exc
        return value

    @field_validator("feeds")
    @classmethod
    def _known_feeds(cls, value: list[str]) -> list[str]:
        from forecourt import feeds

        for name in value:
            feeds.get(name)
        return value


OEM = Dealer(dealer_id=OEM_DEALER_ID, name="OEM", timezone="UTC")


def _to_item(dealer: Dealer) -> dict[str, Any]:
    item: dict[str, Any] = {
        "dealer_id": {"S": dealer.dealer_id},
        "name": {"S": dealer.name},
        "timezone": {"S": dealer.timezone},
        "country": {"S": dealer.country},
        "active": {"BOOL": dealer.active},
        "feeds": {"L": [{"S": f} for f in dealer.feeds]},
    }
    if dealer.zip:
        item["zip"] = {"S": dealer.zip}
    routing = dealer.model_dump(
        mode="json", include={"territory_zips", "delivery", "duplicate_policy", "business_hours"}
    )
    item["routing"] = {"S": json.dumps(routing, sort_keys=True)}
    return item


def _from_item(item: dict[str, Any]) -> Dealer:
    return Dealer(
        dealer_id=item["dealer_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        timezone=item.get("timezone", {}).get("S", "America/New_York"),
        country=item.get("country", {}).get("S", "US"),
        active=item.get("active", {}).get("BOOL", True),
        feeds=[f["S"] for f in item.get("feeds", {}).get("L", [])],
        zip=item.get("zip", {}).get("S"),
        **(json.loads(item["routing"]["S"]) if "routing" in item else {}),
    )


def get_dealer(dealer_id: str) -> Dealer | None:
    """The registered dealer, the OEM pseudo dealer for ``oem``, or None when unknown."""
    if dealer_id == OEM_DEALER_ID:
        return OEM
    answer = aws.client("dynamodb").get_item(
        TableName=settings().registry_table, Key={"dealer_id": {"S": dealer_id}}, ConsistentRead=True
    )
    return _from_item(answer["Item"]) if "Item" in answer else None


def put_dealer(dealer: Dealer) -> None:
    """Register or replace a dealer."""
    aws.client("dynamodb").put_item(TableName=settings().registry_table, Item=_to_item(dealer))


class DealerExists(ValueError):
    """``add_dealer`` of a dealer id already registered."""

    def __init__(self, dealer_id: str) -> None:
        super().__init__(
            f"dealer {dealer_id} is already registered; change it with `forecourt dealers update {dealer_id}`"
        )


def add_dealer(dealer: Dealer) -> None:
    """Register a new dealer; raises DealerExists when its id is taken (a conditional write: two
    operators adding the same id at once cannot overwrite each other)."""
    dynamodb = aws.client("dynamodb")
    try:
        dynamodb.put_item(
            TableName=settings().registry_table,
            Item=_to_item(dealer),
            ConditionExpression="attribute_not_exists(dealer_id)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException as exc:
        raise DealerExists(dealer.dealer_id) from exc


def list_dealers() -> list[Dealer]:
    """Every registered dealer, sorted by id."""
    paginator = aws.client("dynamodb").get_paginator("scan")
    dealers = [
        _from_item(i)
        for page in paginator.paginate(TableName=settings().registry_table)
        for i in page["Items"]
    ]
    return sorted(dealers, key=lambda d: d.dealer_id)
