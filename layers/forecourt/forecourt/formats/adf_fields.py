"""How an ADF 1.0 ``<prospect>`` becomes one flat record of string fields.

Field paths join element names with "." and attributes with "@" (``vehicle@interest``,
``customer.contact.name.first``). The ADF elements that ingest maps have their own columns
(``ADF_COLUMNS``); every other element and attribute — vendor extensions such as ``x_gclid``,
a second vehicle, the ``sequence`` of an id, a phone's ``time`` — goes into the JSON object
``extras`` under its path, a repeated element numbered from its second occurrence
(``customer.contact.phone[2]``). Nothing in a prospect is dropped.

ADF 1.0 (the Auto-lead Data Format specification, 2000): ``name`` parts by the ``part`` attribute
(first, middle, last, full); ``phone`` ``type`` voice, fax, cellphone, pager; ``vehicle``
``interest`` buy, lease, sell, trade-in, test-drive and ``status`` new, used; ``address`` has up to
five ``street`` lines numbered by ``line``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

_VEHICLE_FIELDS = ("year", "make", "model", "vin", "stock", "trim", "odometer", "price", "comments")
_TRADEIN_FIELDS = ("year", "make", "model", "vin", "odometer")
_TRADE_INTERESTS = frozenset({"trade-in", "sell"})
_NAME_PARTS = ("first", "middle", "last", "full")
_PHONE_TYPES = ("voice", "cellphone", "fax")
_ADDRESS_FIELDS = ("city", "regioncode", "postalcode", "country")

ADF_COLUMNS: tuple[str, ...] = (
    "prospect@status",
    "id",
    "id@source",
    "requestdate",
    "vehicle@interest",
    "vehicle@status",
    *(f"vehicle.{name}" for name in _VEHICLE_FIELDS),
    *(f"tradein.{name}" for name in _TRADEIN_FIELDS),
    *(f"customer.contact.name.{part}" for part in _NAME_PARTS),
    "customer.contact.email",
    "customer.contact.phone",
    *(f"customer.contact.phone.{kind}" for kind in _PHONE_TYPES),
    "customer.contact.address.street",
    *(f"customer.contact.address.{name}" for name in _ADDRESS_FIELDS),
    "customer.timeframe.description",
    "customer.comments",
    "vendor.vendorname",
    "vendor.id",
    "vendor.contact.name.full",
    "provider.name",
    "provider.service",
    "provider.id",
    "extras",
)
"""Every ADF record has these columns, in this order (null when the prospect lacks the field)."""

Fields = dict[str, str | None]


@dataclass(eq=False)
class Node:
    """An element of a prospect: what the mapping takes from it is marked, the rest is extras."""

    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    text_taken: bool = False

    def text(self) -> str | None:
        """The element's own text, trimmed; None when blank."""
        return "".join(self.parts).strip() or None

    def take(self) -> str | None:
        """The element's text, marked as mapped."""
        self.text_taken = True
        return self.text()

    def pop(self, attr: str) -> str | None:
        """An attribute's value (trimmed; None when absent or blank), marked as mapped."""
        value = self.attrs.pop(attr, None)
        return value.strip() or None if value is not None else None

    def all(self, tag: str) -> list[Node]:
        """The child elements called ``tag``."""
        return [child for child in self.children if child.tag == tag]

    def first(self, tag: str) -> Node | None:
        """The first child element called ``tag``."""
        return next((child for child in self.children if child.tag == tag), None)

    def take_child(self, tag: str) -> str | None:
        """The text of the first child called ``tag``, marked as mapped."""
        child = self.first(tag)
        return child.take() if child is not None else None


def _attr(node: Node, name: str) -> str:
    return (node.attrs.get(name) or "").strip().lower()


def _map_vehicles(prospect: Node, out: Fields) -> None:
    """The first vehicle that is not a trade-in → ``vehicle.*``; the first trade-in → ``tradein.*``."""
    vehicles = prospect.all("vehicle")
    trade_ins = [vehicle for vehicle in vehicles if _attr(vehicle, "interest") in _TRADE_INTERESTS]
    wanted = next((vehicle for vehicle in vehicles if vehicle not in trade_ins), None)
    if wanted is not None:
        out["vehicle@interest"] = wanted.pop("interest")
        out["vehicle@status"] = wanted.pop("status")
        for name in _VEHICLE_FIELDS:
            out[f"vehicle.{name}"] = wanted.take_child(name)
    if trade_ins:
        for name in _TRADEIN_FIELDS:
            out[f"tradein.{name}"] = trade_ins[0].take_child(name)


def _map_names(contact: Node, out: Fields, prefix: str, parts: tuple[str, ...]) -> None:
    """``<name part="first">`` → ``<prefix>.first`` (a name without ``part`` is the full name)."""
    for name in contact.all("name"):
        part = _attr(name, "part") or "full"
        key = f"{prefix}.{part}"
        if part in parts and out.get(key) is None:
            out[key] = name.take()
            name.attrs.pop("part", None)


def _map_phones(contact: Node, out: Fields, prefix: str) -> None:
    """The first phone → ``<prefix>``; the first of each type voice/cellphone/fax → ``<prefix>.<type>``."""
    for index, phone in enumerate(contact.all("phone")):
        kind = _attr(phone, "type")
        if index == 0:
            out[prefix] = phone.take()
        if kind in _PHONE_TYPES and out.get(f"{prefix}.{kind}") is None:
            out[f"{prefix}.{kind}"] = phone.take()
            phone.attrs.pop("type", None)


def _map_address(address: Node, out: Fields, prefix: str) -> None:
    """Street lines joined with ", ", then city, region code, postal code, country."""
    streets = address.all("street")
    lines = [text for street in streets if (text := street.take())]
    for street in streets:
        street.attrs.pop("line", None)
    out[f"{prefix}.street"] = ", ".join(lines) or None
    for name in _ADDRESS_FIELDS:
        out[f"{prefix}.{name}"] = address.take_child(name)


def _map_customer(customer: Node, out: Fields) -> None:
    contact = customer.first("contact")
    if contact is not None:
        _map_names(contact, out, "customer.contact.name", _NAME_PARTS)
        out["customer.contact.email"] = contact.take_child("email")
        _map_phones(contact, out, "customer.contact.phone")
        address = contact.first("address")
        if address is not None:
            _map_address(address, out, "customer.contact.address")
    timeframe = customer.first("timeframe")
    if timeframe is not None:
        out["customer.timeframe.description"] = timeframe.take_child("description")
    out["customer.comments"] = customer.take_child("comments")


def _map_vendor(vendor: Node, out: Fields) -> None:
    out["vendor.vendorname"] = vendor.take_child("vendorname")
    out["vendor.id"] = vendor.take_child("id")
    contact = vendor.first("contact")
    if contact is not None:
        _map_names(contact, out, "vendor.contact.name", ("full",))


def _map_provider(provider: Node, out: Fields) -> None:
    name = provider.first("name")
    if name is not None:
        out["provider.name"] = name.take()
        if _attr(name, "part") == "full":
            name.attrs.pop("part")
    out["provider.service"] = provider.take_child("service")
    out["provider.id"] = provider.take_child("id")


def _collect_extras(node: Node, path: str, extras: dict[str, str], child_prefix: str) -> None:
    """Everything of ``node`` the mapping did not take, by path."""
    for name, value in node.attrs.items():
        extras[f"{path}@{name}"] = value
    text = None if node.text_taken else node.text()
    if text is not None:
        extras[path] = text
    seen: Counter[str] = Counter()
    for child in node.children:
        seen[child.tag] += 1
        child_path = f"{child_prefix}{child.tag}"
        if seen[child.tag] > 1:
            child_path += f"[{seen[child.tag]}]"
        _collect_extras(child, child_path, extras, f"{child_path}.")


def flatten_prospect(prospect: Node) -> Fields:
    """One prospect as ``{column: text or None}`` over ADF_COLUMNS (``extras`` a JSON object or None)."""
    out: Fields = dict.fromkeys(ADF_COLUMNS)
    out["prospect@status"] = prospect.pop("status")
    ident = prospect.first("id")
    if ident is not None:
        out["id"] = ident.take()
        out["id@source"] = ident.pop("source")
    out["requestdate"] = prospect.take_child("requestdate")
    _map_vehicles(prospect, out)
    for tag, mapper in (("customer", _map_customer), ("vendor", _map_vendor), ("provider", _map_provider)):
        node = prospect.first(tag)
        if node is not None:
            mapper(node, out)
    extras: dict[str, str] = {}
    _collect_extras(prospect, "prospect", extras, "")
    out["extras"] = json.dumps(extras, ensure_ascii=False) if extras else None
    return out
