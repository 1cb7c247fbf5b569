"""Outbound leads for a dealer's CRM: an ADF 1.0 XML document, or the body of a signed JSON webhook.

Both take one row of the ``leads`` dataset as a mapping (column names of ``schemas/leads.json``;
timestamps as ``datetime``, naive ones meaning UTC; a missing value is None or absent) and refuse a
lead that lacks the ADF 1.0 minimum (``IncompleteLead``): a dealer CRM would reject it, and a
delivery that can never succeed must not be retried.

ADF element order follows the ADF 1.0 DTD (``prospect (id*, requestdate, vehicle+, customer, vendor,
provider?)``, ``vehicle (id*, year, make, model, vin?, stock?, trim?, odometer? …)``, ``contact
(name+, email?, phone*, address?)``, ``vendor (id*, vendorname, url?, contact)``). An absent optional
value is left out, never written as an empty element. The XML is built with ElementTree, so every
value is escaped by the library; characters that XML 1.0 cannot carry at all (C0 controls other
than tab and line breaks, U+FFFE/U+FFFF, lone surrogates) are dropped first, since ElementTree would
write them through and make the document ill-formed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from xml.etree.ElementTree import Element, SubElement, indent, tostring
from zoneinfo import ZoneInfo

ADF_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n'
LEAD_ID_SOURCE = "Forecourt"
DELIVERY_ID_SOURCE = "Forecourt-Delivery"
DEALER_ID_SOURCE = "Forecourt-Dealer"
JSON_PAYLOAD_VERSION = 1
NOTE_PREFIX = "Forecourt"

# ADF 1.0 attribute values (DTD): anything else is left out rather than sent invalid.
_INTERESTS = frozenset({"buy", "lease", "sell", "trade-in", "test-drive"})
_STATUSES = frozenset({"new", "used"})
_NOT_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NAME_PARTS = (("first", "first_name"), ("middle", "middle_name"), ("last", "last_name"))
_PHONES = (("voice", "phone"), ("cellphone", "mobile_phone"), ("voice", "alternate_phone"))
_TRADE_FIELDS = ("trade_year", "trade_make", "trade_model", "trade_vin", "trade_odometer")
_CONTACT_COLUMNS = ("email", "phone", "mobile_phone", "alternate_phone")
_JSON_CUSTOMER = (
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "phone",
    "phone_ext",
    "mobile_phone",
    "alternate_phone",
    "street",
    "city",
    "state",
    "zip",
    "zip4",
    "country",
    "comments",
    "do_not_call",
    "do_not_email",
    "do_not_text",
)
_JSON_VEHICLE = ("interest", "status", "year", "make", "model", "trim", "vin", "stock")


@dataclass(frozen=True)
class DealerRef:
    """The dealer a lead is delivered to: its id, its name as the CRM knows it, and its time zone
    (IANA name; the ADF ``requestdate`` is written in it, with its offset; None: UTC)."""

    dealer_id: str
    name: str
    timezone: str | None = None

    @classmethod
    def of(cls, dealer: _RegisteredDealer) -> DealerRef:
        """The reference of a registry dealer: its name as the CRM knows it, else its id."""
        return cls(dealer.dealer_id, dealer.name or dealer.dealer_id, dealer.timezone)


class _RegisteredDealer(Protocol):
    """What ``DealerRef.of`` reads of a ``registry.Dealer``."""

    @property
    def dealer_id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...


class IncompleteLead(ValueError):
    """The lead lacks what ADF 1.0 requires (request date; vehicle year, make, model; a name; a phone
    or an e-mail). ``missing`` names the leads columns, alternatives joined with ``|``."""

    def __init__(self, lead_id: str, missing: list[str]) -> None:
        super().__init__(f"lead {lead_id} cannot be delivered: it has no {', '.join(missing)}")
        self.lead_id = lead_id
        self.missing = missing


def _text(value: Any) -> str | None:
    """``value`` as XML-safe, trimmed text; None when absent or blank."""
    if value is None:
        return None
    cleaned = _NOT_XML_CHARS.sub("", str(value)).strip()
    return cleaned or None


def missing_minimum(lead: Mapping[str, Any]) -> list[str]:
    """The leads columns that keep ``lead`` from meeting the ADF 1.0 minimum (empty when it does)."""
    missing = [
        name
        for name in ("requested_at", "vehicle_year", "vehicle_make", "vehicle_model")
        if _text(lead.get(name)) is None
    ]
    if not any(_text(lead.get(name)) for name in ("first_name", "last_name")):
        missing.append("first_name|last_name")
    if not any(_text(lead.get(name)) for name in _CONTACT_COLUMNS):
        missing.append("|".join(_CONTACT_COLUMNS))
    return missing


def _require_minimum(lead: Mapping[str, Any], lead_id: str) -> None:
    missing = missing_minimum(lead)
    if missing:
        raise IncompleteLead(lead_id, missing)


def _timestamp(value: datetime, timezone: str | None) -> str:
    """ISO 8601 with offset, to the second; a naive ``value`` is UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    zone = ZoneInfo(timezone) if timezone else UTC
    return aware.astimezone(zone).isoformat(timespec="seconds")


def _add(parent: Element, tag: str, value: Any, **attrs: str | None) -> Element | None:
    """``<tag attrs>value</tag>`` under ``parent``; nothing when ``value`` is absent or blank."""
    text = _text(value)
    if text is None:
        return None
    child = SubElement(parent, tag, {key: val for key, val in attrs.items() if val is not None})
    child.text = text
    return child


def _allowed(value: Any, allowed: frozenset[str]) -> str | None:
    text = _text(value)
    return text.lower() if text is not None and text.lower() in allowed else None


def _vehicle(prospect: Element, lead: Mapping[str, Any]) -> None:
    attrs = {
        "interest": _allowed(lead.get("vehicle_interest"), _INTERESTS),
        "status": _allowed(lead.get("vehicle_status"), _STATUSES),
    }
    vehicle = SubElement(prospect, "vehicle", {key: val for key, val in attrs.items() if val})
    for tag in ("year", "make", "model", "vin", "stock", "trim"):
        _add(vehicle, tag, lead.get(f"vehicle_{tag}"))


def _trade_in(prospect: Element, lead: Mapping[str, Any]) -> None:
    """The trade-in as a second ``<vehicle interest="trade-in" status="used">`` when the lead has one."""
    if not any(_text(lead.get(name)) for name in _TRADE_FIELDS):
        return
    vehicle = SubElement(prospect, "vehicle", {"interest": "trade-in", "status": "used"})
    for tag in ("year", "make", "model", "vin", "odometer"):
        _add(vehicle, tag, lead.get(f"trade_{tag}"))


def _phone(lead: Mapping[str, Any], column: str) -> str | None:
    number = _text(lead.get(column))
    extension = _text(lead.get("phone_ext")) if column == "phone" else None
    return f"{number} x{extension}" if number and extension else number


def _postal_code(lead: Mapping[str, Any]) -> str | None:
    zip5, zip4 = _text(lead.get("zip")), _text(lead.get("zip4"))
    return f"{zip5}-{zip4}" if zip5 and zip4 else zip5


def _contact(customer: Element, lead: Mapping[str, Any]) -> None:
    contact = SubElement(customer, "contact")
    for part, column in _NAME_PARTS:
        _add(contact, "name", lead.get(column), part=part)
    _add(contact, "email", lead.get("email"))
    for kind, column in _PHONES:
        _add(contact, "phone", _phone(lead, column), type=kind)
    if not any(_text(lead.get(name)) for name in ("street", "city", "state", "zip")):
        return
    address = SubElement(contact, "address")
    _add(address, "street", lead.get("street"), line="1")
    _add(address, "city", lead.get("city"))
    _add(address, "regioncode", lead.get("state"))
    _add(address, "postalcode", _postal_code(lead))
    _add(address, "country", lead.get("country"))


def delivery_notes(routing_reason: str | None, enrichment: Mapping[str, str] | None) -> list[str]:
    """Our notes for the salesperson, one line each: ``Forecourt routing: …`` first, then
    ``Forecourt <name>: <value>`` per enrichment entry, by name."""
    notes = []
    reason = _text(routing_reason)
    if reason:
        notes.append(f"{NOTE_PREFIX} routing: {reason}")
    for name in sorted(enrichment or {}):
        value = _text((enrichment or {})[name])
        if value:
            notes.append(f"{NOTE_PREFIX} {_text(name)}: {value}")
    return notes


def _comments(lead: Mapping[str, Any], notes: list[str]) -> str | None:
    """The customer's own comments first, then a blank line and our notes."""
    blocks = [text for text in (_text(lead.get("comments")), "\n".join(notes)) if text]
    return "\n\n".join(blocks) or None


def to_adf(
    lead: Mapping[str, Any],
    dealer: DealerRef,
    *,
    delivery_id: str,
    lead_id: str,
    provider_name: str,
    routing_reason: str | None,
    enrichment: Mapping[str, str] | None = None,
) -> bytes:
    """One lead as an ADF 1.0 document (UTF-8 bytes, one ``<prospect status="new">``).

    Identity: ``<id sequence="1" source="Forecourt">`` is the lead id (the same on every delivery
    of the lead); ``<id source="Forecourt-Delivery">`` is this delivery's id, constant across its
    retries, so a receiver that deduplicates on prospect ids sees a retried delivery once. The
    vendor is the dealer (``vendorname``, ``<id source="Forecourt-Dealer">``, and the name again
    as the vendor contact, which the DTD requires and some CRMs read instead of ``vendorname``);
    the provider is ``provider_name``.

    Routing reason and enrichment go into ``<customer><comments>``, after the customer's own
    comments and a blank line, one ``Forecourt …: …`` line each (``delivery_notes``). Why there:
    ADF 1.0 has no element for them, and customer comments are the one free-text field that dealer
    CRMs import and show to the salesperson; the customer's words come first so that a CRM that
    truncates long comments cuts our notes, not theirs. An extension element would be silently
    dropped by most CRMs (they ignore unknown elements), and a namespaced one would put an
    ``xmlns`` declaration on the ``<adf>`` root, which naive receivers that match ``<adf>`` as text
    trip over.

    Optional fields absent from the lead are left out. ``vehicle_interest`` / ``vehicle_status``
    outside the ADF values are left out (the receiver applies the DTD defaults). The phone
    extension is written after the primary number as ``x123``; ZIP+4 as ``12345-6789``.

    Raises IncompleteLead when the lead lacks the ADF 1.0 minimum, and ZoneInfoNotFoundError for
    an unknown ``dealer.timezone``.
    """
    adf = Element("adf")
    add_prospect(
        adf,
        lead,
        dealer,
        delivery_id=delivery_id,
        lead_id=lead_id,
        provider_name=provider_name,
        routing_reason=routing_reason,
        enrichment=enrichment,
    )
    return adf_document(adf)


def add_prospect(
    adf: Element,
    lead: Mapping[str, Any],
    dealer: DealerRef,
    *,
    delivery_id: str,
    lead_id: str,
    provider_name: str,
    routing_reason: str | None,
    enrichment: Mapping[str, str] | None = None,
) -> None:
    """One lead as a ``<prospect>`` appended to ``adf`` (see ``to_adf``); an ADF document may carry
    several (``adf (prospect+)``). Raises IncompleteLead as ``to_adf``."""
    _require_minimum(lead, lead_id)
    prospect = SubElement(adf, "prospect", {"status": "new"})
    _add(prospect, "id", lead_id, sequence="1", source=LEAD_ID_SOURCE)
    _add(prospect, "id", delivery_id, source=DELIVERY_ID_SOURCE)
    _add(prospect, "requestdate", _timestamp(lead["requested_at"], dealer.timezone))
    _vehicle(prospect, lead)
    _trade_in(prospect, lead)
    customer = SubElement(prospect, "customer")
    _contact(customer, lead)
    _add(customer, "comments", _comments(lead, delivery_notes(routing_reason, enrichment)))
    vendor = SubElement(prospect, "vendor")
    _add(vendor, "id", dealer.dealer_id, source=DEALER_ID_SOURCE)
    _add(vendor, "vendorname", dealer.name)
    vendor_contact = SubElement(vendor, "contact")
    _add(vendor_contact, "name", dealer.name, part="full")
    provider = SubElement(prospect, "provider")
    _add(provider, "name", provider_name, part="full")


def adf_document(adf: Element) -> bytes:
    """An ``<adf>`` element with its prospects as a UTF-8 ADF 1.0 document."""
    indent(adf, space="  ")
    return (ADF_PROLOG + tostring(adf, encoding="unicode") + "\n").encode("utf-8")


def _value(lead: Mapping[str, Any], column: str) -> Any:
    """A JSON value: text trimmed (blank → None), numbers and booleans as they are."""
    value = lead.get(column)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _text(value)


def to_json_payload(
    lead: Mapping[str, Any],
    dealer: DealerRef,
    *,
    delivery_id: str,
    lead_id: str,
    provider_name: str,
    routing_reason: str | None,
    enrichment: Mapping[str, str] | None = None,
) -> bytes:
    """One lead as the UTF-8 JSON body of a signed webhook delivery (compact, keys in this order)::

        {"version": 1, "lead_id", "delivery_id", "dealer_id", "requested_at" (ISO 8601, UTC offset),
         "provider", "routing_reason",
         "customer": {"first_name", "middle_name", "last_name", "email", "phone", "phone_ext",
                      "mobile_phone", "alternate_phone", "street", "city", "state", "zip", "zip4",
                      "country", "comments", "do_not_call", "do_not_email", "do_not_text"},
         "vehicle": {"interest", "status", "year", "make", "model", "trim", "vin", "stock"},
         "trade_in": {"year", "make", "model", "vin", "odometer"} or null,
         "enrichment": {name: value, … by name}}

    Every key is always present (null when the lead has no value), so receivers can rely on the
    shape; ``version`` changes only when a key is removed or changes meaning. Values are the
    normalized leads values (phones E.164, e-mail lowercased). ``delivery_id`` is constant across
    retries of one delivery: receivers deduplicate on it. Raises IncompleteLead as ``to_adf``.
    """
    _require_minimum(lead, lead_id)
    trade_in = {name.removeprefix("trade_"): _value(lead, name) for name in _TRADE_FIELDS}
    payload = {
        "version": JSON_PAYLOAD_VERSION,
        "lead_id": lead_id,
        "delivery_id": delivery_id,
        "dealer_id": dealer.dealer_id,
        "requested_at": _timestamp(lead["requested_at"], None),
        "provider": _text(provider_name),
        "routing_reason": _text(routing_reason),
        "customer": {name: _value(lead, name) for name in _JSON_CUSTOMER},
        "vehicle": {name: _value(lead, f"vehicle_{name}") for name in _JSON_VEHICLE},
        "trade_in": trade_in if any(value is not None for value in trade_in.values()) else None,
        "enrichment": {name: _text(value) for name, value in sorted((enrichment or {}).items())},
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
