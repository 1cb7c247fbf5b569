"""Lead documents that are not tables: ADF 1.0 XML prospects and web-form JSON lines.

ADF: one ``<adf>`` holds many prospects; the processing instruction comes in several spellings
(``<?adf version="1.0"?>``, ``<?ADF VERSION "1.0"?>``); vendors add extension elements. JSON
lines: nested customer / vehicle / tracking / consent objects; some senders wrap scalars in
one-element lists.
"""

from __future__ import annotations

import json
import random
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from forecourt.local.activity import Lead
from forecourt.local.dialects import aware, contact, provider, vehicle_cells
from forecourt.local.population import between


def element(tag: str, text: str, attrs: str = "") -> str:
    """``<tag attrs>text</tag>`` with the text escaped; nothing for an empty value."""
    return f"<{tag}{attrs}>{escape(text)}</{tag}>" if text else ""


def adf_prospect(rng: random.Random, lead: Lead, vendor: str) -> str:
    """One ADF 1.0 ``<prospect>`` (with a vendor extension element now and then)."""
    view = contact(rng, lead.person, dms=False, defect=lead.defect)
    year, make, model = vehicle_cells(rng, lead.vehicle, lead.defect)
    stamp = aware(lead).isoformat() if rng.random() < 0.9 else f"{lead.at:%Y-%m-%dT%H:%M:%S}"
    vehicle = "".join(
        (
            element("year", year),
            element("make", make),
            f"<model>{escape(model)}</model>",
            element("vin", lead.vehicle.vin if rng.random() < 0.5 else ""),
            element("trim", lead.vehicle.trim),
        )
    )
    phones = element("phone", view["home"], ' type="voice"') + element(
        "phone", view["mobile"], ' type="cellphone"'
    )
    address = (
        element("street", view["street"], ' line="1"')
        + element("city", view["city"])
        + element("regioncode", view["state"])
        + element("postalcode", view["zip"])
        + "<country>US</country>"
    )
    names = element("name", view["first"], ' part="first"') + element("name", view["last"], ' part="last"')
    trade = ""
    if lead.trade is not None:
        trade = (
            f'<vehicle interest="trade-in" status="used">{element("year", str(lead.trade.year))}'
            f"{element('make', lead.trade.make)}{element('model', lead.trade.model)}</vehicle>"
        )
    extension = f"<x_gclid>{rng.getrandbits(64):016x}</x_gclid>" if rng.random() < 0.1 else ""
    source = lead.source if lead.source not in ("Phone Up", "Walk-In") else "Dealer Website"
    provider_name = element("name", provider(lead) or source, ' part="full"')
    return (
        f'<prospect status="new"><id sequence="1" source={quoteattr(source)}>{escape(lead.key)}</id>'
        f"<requestdate>{stamp}</requestdate>"
        f'<vehicle interest="{lead.interest}" status="{lead.vehicle.status}">{vehicle}</vehicle>{trade}'
        f'<customer><contact>{names}{element("email", view["email"])}{phones}<address type="home">{address}'
        f"</address></contact></customer><vendor>{element('vendorname', vendor)}</vendor>"
        f"<provider>{provider_name}</provider>"
        f"{extension}</prospect>\n"
    )


def adf_document(prospects: list[str], *, shouting: bool) -> bytes:
    """An ``<adf>`` document; some senders spell the processing instruction ``<?ADF VERSION "1.0"?>``."""
    instruction = '<?ADF VERSION "1.0"?>' if shouting else '<?adf version="1.0"?>'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{instruction}\n<adf>\n' + "".join(prospects) + "</adf>\n"
    ).encode()


def _wrapped(rng: random.Random, value: Any) -> Any:
    """Some senders wrap every scalar in a one-element list."""
    return [value] if rng.random() < 0.05 else value


def jsonl_line(rng: random.Random, lead: Lead) -> str:
    """A web-form / lead-relay JSON object for ``lead``."""
    view = contact(rng, lead.person, dms=False, defect=lead.defect)
    year, make, model = vehicle_cells(rng, lead.vehicle, lead.defect)
    wrap = rng.random() < 0.05
    customer = {
        "first_name": view["first"],
        "last_name": view["last"],
        "email": view["email"],
        "phone": view["mobile"] or view["home"],
        "zip": view["zip"],
    }
    vehicle: dict[str, Any] = {
        "year": int(year) if year.isdigit() else year,
        "make": make,
        "model": model or None,
        "trim": lead.vehicle.trim,
        "condition": lead.vehicle.status,
    }
    record: dict[str, Any] = {
        "lead_id": lead.key,
        "created_at": aware(lead).isoformat(),
        "source": lead.source,
        "lead_type": "internet",
        "provider": provider(lead) or f"{lead.dealer.name} website",
    }
    record["customer"], record["vehicle"] = customer, vehicle
    if wrap:
        record["customer"] = {key: [value] for key, value in customer.items()}
        record["vehicle"] = {key: [value] for key, value in vehicle.items()}
    campaign = lead.campaign
    if campaign is not None:
        click = "gclid" if campaign.platform == "google_ads" else "fbclid"
        record["tracking"] = {
            click: f"{rng.getrandbits(96):024x}",
            "campaign_id": campaign.campaign_id,
            "utm_campaign": campaign.name,
            "utm_source": "google" if click == "gclid" else "facebook",
        }
        if click == "fbclid" and rng.random() < 0.5:
            record["platform_lead_id"] = str(between(rng, 10**15, 10**16 - 1))
    record["consent"] = {
        "ccpa_opt_out": _wrapped(rng, lead.flags["ccpa_opt_out"]),
        "gpc": lead.flags["gpc"],
        "source": "web form",
        "captured_at": record["created_at"],
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
