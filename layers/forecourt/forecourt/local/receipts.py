"""What the local dealer receivers (HTTP CRM, SMTP mailbox) check and remember.

``check_adf`` is the receiving side of ADF 1.0: the document must be well-formed XML (read by
defusedxml, so entity declarations and external references are refused) and each prospect must
carry the spec's minimum — request date; vehicle year, make and model; a customer contact with a
name and a phone or an e-mail; a vendor name. A ``status="resend"`` prospect may carry only an id
and a request date (DOMAIN.md). Element names are matched without namespace and case, as lenient
real receivers do. ``check_json_lead`` holds a signed JSON lead to the same minimum.
``DeliveryLedger`` answers "first receipt of this delivery id at this inbox?".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from forecourt.adf_out import DELIVERY_ID_SOURCE, LEAD_ID_SOURCE


@dataclass(frozen=True)
class AdfCheck:
    """The outcome of ``check_adf``: ``reason`` is None when the document meets the minimum."""

    reason: str | None
    delivery_id: str | None = None
    lead_id: str | None = None

    @property
    def valid(self) -> bool:
        """True when the document meets the ADF 1.0 minimum."""
        return self.reason is None


def _name(element: Element) -> str:
    return str(element.tag).rsplit("}", 1)[-1].lower()


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _name(child) == name]


def _child(element: Element, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    return "".join(element.itertext()).strip() or None


def _id_from(prospect: Element, source: str) -> str | None:
    for ident in _children(prospect, "id"):
        if (ident.get("source") or "").strip().lower() == source.lower():
            return _text(ident)
    return None


def _requestdate_problem(prospect: Element) -> str | None:
    stamp = _text(_child(prospect, "requestdate"))
    if stamp is None:
        return "missing <requestdate>"
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return f"<requestdate> {stamp!r} is not an ISO 8601 date"
    return None


def _vehicle_problem(prospect: Element) -> str | None:
    vehicles = _children(prospect, "vehicle")
    if not vehicles:
        return "missing <vehicle>"
    for number, vehicle in enumerate(vehicles, start=1):
        which = "<vehicle>" if len(vehicles) == 1 else f"<vehicle> {number}"
        for field in ("year", "make", "model"):
            if _text(_child(vehicle, field)) is None:
                return f"{which} has no <{field}>"
        year = _text(_child(vehicle, "year")) or ""
        if not (len(year) == 4 and year.isascii() and year.isdigit()):
            return f"{which} <year> {year!r} is not a 4-digit year"
    return None


def _customer_problem(prospect: Element) -> str | None:
    customer = _child(prospect, "customer")
    if customer is None:
        return "missing <customer>"
    contact = _child(customer, "contact")
    if contact is None:
        return "<customer> has no <contact>"
    if not any(_text(name) for name in _children(contact, "name")):
        return "<customer><contact> has no <name>"
    reachable = [_text(item) for tag in ("phone", "email") for item in _children(contact, tag)]
    if not any(reachable):
        return "<customer><contact> has neither <phone> nor <email>"
    return None


def _vendor_problem(prospect: Element) -> str | None:
    vendor = _child(prospect, "vendor")
    if vendor is None:
        return "missing <vendor>"
    if _text(_child(vendor, "vendorname")) is None:
        return "<vendor> has no <vendorname>"
    return None


def _prospect_problem(prospect: Element) -> str | None:
    if (prospect.get("status") or "").strip().lower() == "resend":
        if not any(_text(ident) for ident in _children(prospect, "id")):
            return 'a status="resend" prospect has no <id>'
        return _requestdate_problem(prospect)
    for check in (_requestdate_problem, _vehicle_problem, _customer_problem, _vendor_problem):
        problem = check(prospect)
        if problem is not None:
            return problem
    return None


def check_adf(body: bytes) -> AdfCheck:
    """Check an ADF document against the ADF 1.0 minimum; never raises.

    The delivery id and lead id are the first prospect's ``<id>`` with source ``Forecourt-Delivery``
    and ``Forecourt`` (None when absent). Reasons name the element, e.g. ``<vehicle> has no
    <make>``, prefixed by ``prospect N:`` in a document with several prospects.
    """
    try:
        root = fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except ParseError as exc:
        return AdfCheck(f"not well-formed XML: {exc}")
    except DefusedXmlException as exc:
        return AdfCheck(f"XML entity declarations and external references are forbidden: {exc!r}")
    if _name(root) != "adf":
        return AdfCheck(f"the root element is <{_name(root)}>, not <adf>")
    prospects = _children(root, "prospect")
    if not prospects:
        return AdfCheck("<adf> has no <prospect>")
    first = prospects[0]
    ids = {"delivery_id": _id_from(first, DELIVERY_ID_SOURCE), "lead_id": _id_from(first, LEAD_ID_SOURCE)}
    for number, prospect in enumerate(prospects, start=1):
        problem = _prospect_problem(prospect)
        if problem is not None:
            where = f"prospect {number}: " if len(prospects) > 1 else ""
            return AdfCheck(where + problem, **ids)
    return AdfCheck(None, **ids)


def _missing(section: Any, names: tuple[str, ...]) -> bool:
    return not isinstance(section, dict) or not any(section.get(name) not in (None, "") for name in names)


def check_json_lead(payload: Any, dealer_id: str) -> str | None:
    """Why a JSON lead body is not acceptable for ``dealer_id`` (None when it is): an object with
    ``delivery_id``, ``lead_id``, ``dealer_id`` equal to the endpoint's, an ISO 8601
    ``requested_at``, ``vehicle`` year/make/model and a ``customer`` with a name and a way to
    reach them (the ADF 1.0 minimum)."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    for key in ("delivery_id", "lead_id", "dealer_id", "requested_at"):
        if not isinstance(payload.get(key), str) or not payload[key].strip():
            return f"missing {key}"
    if payload["dealer_id"] != dealer_id:
        return f"dealer_id {payload['dealer_id']!r} is not this endpoint's dealer {dealer_id!r}"
    try:
        datetime.fromisoformat(payload["requested_at"])
    except ValueError:
        return f"requested_at {payload['requested_at']!r} is not an ISO 8601 timestamp"
    vehicle, customer = payload.get("vehicle"), payload.get("customer")
    for name in ("year", "make", "model"):
        if _missing(vehicle, (name,)):
            return f"vehicle has no {name}"
    if _missing(customer, ("first_name", "last_name")):
        return "customer has no first_name or last_name"
    if _missing(customer, ("email", "phone", "mobile_phone", "alternate_phone")):
        return "customer has neither a phone nor an email"
    return None


class DeliveryLedger:
    """Delivery ids accepted per inbox (dealer id or mail address), safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, set[str]] = {}

    def first_receipt(self, inbox: str, delivery_id: str | None) -> bool:
        """Record ``delivery_id`` at ``inbox``; True when it was not seen there before (always True
        for a receipt without a delivery id: it cannot be recognised again)."""
        if delivery_id is None:
            return True
        with self._lock:
            seen = self._seen.setdefault(inbox, set())
            if delivery_id in seen:
                return False
            seen.add(delivery_id)
            return True

    def delivery_ids(self, inbox: str | None = None) -> set[str]:
        """Distinct delivery ids accepted at ``inbox`` (every inbox when None)."""
        with self._lock:
            if inbox is not None:
                return set(self._seen.get(inbox, set()))
            return {delivery for seen in self._seen.values() for delivery in seen}
