"""The dealer registry (DynamoDB): who may send files, on which feeds, in which time zone and country."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator

from forecourt import aws
from forecourt.config import settings
from forecourt.lake import OEM_DEALER_ID


class Dealer(BaseModel):
    """A registered dealer (or the OEM pseudo dealer)."""

    dealer_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = ""
    feeds: list[str] = Field(default_factory=list)
    """Feeds this dealer sends; detection tries them first."""
    timezone: str = "America/New_York"
    country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    zip: str | None = None
    active: bool = True

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


def list_dealers() -> list[Dealer]:
    """Every registered dealer, sorted by id."""
    paginator = aws.client("dynamodb").get_paginator("scan")
    dealers = [
        _from_item(i)
        for page in paginator.paginate(TableName=settings().registry_table)
        for i in page["Items"]
    ]
    return sorted(dealers, key=lambda d: d.dealer_id)
