"""How each dealer system writes what happened: one row (or prospect, or JSON line) per event.

Every system records a person a little differently (nicknames, upper case, the work e-mail, the
home phone, zip+4, formats of phones and dates) and a few values are plain wrong (~2 % bad e-mails,
~1.5 % bad phones), always in a way that keeps the record's minimum contract satisfiable; only the
events built with a ``defect`` fail it. Column names follow the feed profiles in
``forecourt/feeds/profiles``.
"""

from __future__ import annotations

import csv
import io
import random
from bisect import bisect_right
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from forecourt.local.activity import Lead
from forecourt.local.population import Person, Vehicle, pick

Row = dict[str, str]

MAKE_ALIASES = {
    "Chevrolet": ("CHEVY", "Chevy", "CHEVROLET", "chevrolet"),
    "Volkswagen": ("VW", "VW", "VOLKSWAGEN"),
}
VINSOLUTIONS_HEADER = (
    "LeadID", "CustomerID", "DateCreated", "LeadSource", "LeadType", "LeadStatus", "LeadProvider",
    "FirstName", "MiddleName", "LastName", "Email", "AlternateEmail", "DayTimePhone", "DayTimePhoneExt",
    "EveningPhone", "CellPhone", "Address1", "City", "State", "Zip", "VehicleYear", "VehicleMake",
    "VehicleModel", "VehicleTrim", "VIN", "StockNumber", "NewUsed", "TradeYear", "TradeMake", "TradeModel",
    "TradeVIN", "TradeMileage", "SalesRep", "FirstAttemptedContact", "ResponseTime(min)", "DoNotCall",
    "DoNotEmail", "CanText", "DoNotMail", "ExpressConsentSource", "ExpressConsentDate", "Comments",
)  # fmt: skip
ELEAD_HEADER = (
    "Opportunity ID", "Customer ID", "Date In", "Source", "Up Type", "Status", "Lead Provider", "Salesperson",
    "First Name", "Middle Name", "Last Name", "Home Phone", "Cell Phone", "Work Phone", "E-Mail", "E-Mail 2",
    "Address", "City", "St", "Zip Code", "N/U", "Year", "Make", "Model", "Trim", "VIN", "Stock #",
    "Trade Year", "Trade Make", "Trade Model", "Trade VIN", "Trade Mileage", "First Contact", "Block Phone",
    "Block Email", "Allow Text", "Block Mail", "Notes",
)  # fmt: skip
GENERIC_HEADER = (
    "lead_id", "requested_at", "lead_source", "first_name", "last_name", "Email Address", "Phone Number",
    "mobile_phone", "street", "city", "state", "Zip Code", "vehicle_year", "vehicle_make", "vehicle_model",
    "vehicle_trim", "vehicle_status", "do_not_call", "do_not_email", "comments",
)  # fmt: skip
PROVIDERS = {
    "Chevrolet.com": "GM Shopping Tools",
    "VW.com": "VW Lead Hub",
    "Cars.com": "Cars.com",
    "Autotrader": "Autotrader",
    "CarGurus": "CarGurus",
    "TrueCar": "TrueCar",
    "Edmunds": "Edmunds",
}


_PHONE_STYLE_CUMULATIVE = (40, 65, 73, 88, 94, 100)


def yes_no(flag: bool) -> str:
    """A flag as dealer systems write it."""
    return "Y" if flag else "N"


def phone_text(rng: random.Random, digits: str) -> str:
    """Ten digits the way people and systems type them."""
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    styles = (
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        digits,
        f"+1 {area} {exchange} {line}",
        f"1-{area}-{exchange}-{line}",
    )
    return styles[bisect_right(_PHONE_STYLE_CUMULATIVE, rng.random() * 100)]


def zip_text(rng: random.Random, person: Person, *, nine_digits: bool = False) -> str:
    """5-digit zip, zip+4, or the zip a spreadsheet stripped of its leading zero."""
    roll = rng.random()
    if roll < 0.12:
        return f"{person.zip}{person.zip4}" if nine_digits else f"{person.zip}-{person.zip4}"
    if roll < 0.18 and person.zip.startswith("0"):
        return person.zip[1:]
    return person.zip


def name_text(rng: random.Random, name: str, *, upper: bool = False) -> str:
    """A name as typed: mostly as given, sometimes shouted, lower-cased or padded with spaces."""
    if upper:
        return name.upper()
    roll = rng.random()
    if roll < 0.06:
        return name.upper()
    if roll < 0.08:
        return name.lower()
    if roll < 0.11:
        return f" {name} "
    return name


def make_text(rng: random.Random, make: str) -> str:
    """A make as typed into a CRM: CHEVY, VW and shouting, now and then."""
    aliases = MAKE_ALIASES.get(make)
    if aliases and rng.random() < (0.5 if make == "Volkswagen" else 0.15):
        return pick(rng, aliases)
    return make.upper() if rng.random() < 0.05 else make


def broken_email(rng: random.Random, email: str) -> str:
    """An e-mail address as it arrives broken: no TLD, doubled @, a typed placeholder."""
    local, domain = email.split("@", 1)
    return pick(
        rng,
        (
            f"{local}@{domain.split('.')[0]}",
            f"{local}@@{domain}",
            "n/a",
            f"{local} {domain}",
            f"{local}@{domain},",
        ),
    )


def contact(rng: random.Random, person: Person, *, dms: bool, upper: bool = False, defect: str = "") -> Row:
    """What one system knows of ``person``: name parts, e-mails, phones, address (raw text)."""
    first = person.nickname if person.nickname and rng.random() < (0.05 if dms else 0.3) else person.first
    personal, work = (0.55, 0.15) if dms else (0.85, 0.1)
    roll = rng.random()
    email = person.email if roll < personal else (person.work_email if roll < personal + work else "")
    mobile = person.mobile if rng.random() < 0.9 else ""
    home = person.home if rng.random() < 0.8 else ""
    if not (email or mobile or home):
        email = person.email
    phones = [p for p in (mobile, home) if p]
    view = {
        "first": name_text(rng, first, upper=upper),
        "middle": person.middle if dms or rng.random() < 0.2 else "",
        "last": name_text(rng, person.last, upper=upper),
        "email": email,
        "mobile": mobile,
        "home": home,
        "street": person.street.upper() if upper else person.street,
        "city": person.city.upper() if upper else person.city,
        "state": person.state,
        "zip": zip_text(rng, person, nine_digits=upper),
    }
    if email and phones and rng.random() < 0.02:
        view["email"] = broken_email(rng, email)
    elif email and phones and rng.random() < 0.015:
        view["mobile" if mobile else "home"] = pick(rng, ("555-0100", "000-000-0000", "12345"))
    for key in ("mobile", "home"):
        if view[key].isdigit() and len(view[key]) == 10:
            view[key] = phone_text(rng, view[key])
    if email and rng.random() < 0.05:
        view["email"] = view["email"].upper()
    if defect == "missing_one_of":
        view.update(email="", mobile="", home="")
    return view


def vehicle_cells(rng: random.Random, vehicle: Vehicle, defect: str) -> tuple[str, str, str]:
    """Year, make, model as written; a defect blanks the model or mistypes the year."""
    year = str(vehicle.year)
    if defect == "invalid_required_field":
        year = pick(rng, (year.replace("0", "O"), year + "4"))
    model = "" if defect == "missing_required_field" else vehicle.model
    return year, make_text(rng, vehicle.make), model


def us_time(moment: datetime) -> str:
    """``2/12/2024 9:05 AM``."""
    hour = moment.hour % 12 or 12
    return (
        f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M} {'AM' if moment.hour < 12 else 'PM'}"
    )


def provider(lead: Lead) -> str:
    """Who generated the lead, for the sources that are lead providers ("" otherwise)."""
    return PROVIDERS.get(lead.source, "")


def vinsolutions_row(rng: random.Random, lead: Lead) -> Row:
    """A VinSolutions lead export row."""
    view = contact(rng, lead.person, dms=False, defect=lead.defect)
    year, make, model = vehicle_cells(rng, lead.vehicle, lead.defect)
    trade = lead.trade
    contacted = (
        lead.at.replace(second=0) + _minutes(lead.contact_minutes)
        if lead.contact_minutes is not None
        else None
    )
    created = us_time(lead.at) if rng.random() < 0.9 else f"{lead.at:%Y-%m-%d %H:%M:%S}"
    kind = {"Phone Up": "Phone", "Walk-In": "Showroom"}.get(lead.source, "Internet")
    return {
        "LeadID": lead.key,
        "CustomerID": lead.customer_id,
        "DateCreated": created,
        "LeadSource": lead.source,
        "LeadType": kind,
        "LeadStatus": lead.status,
        "LeadProvider": provider(lead),
        "FirstName": view["first"],
        "MiddleName": view["middle"],
        "LastName": view["last"],
        "Email": view["email"],
        "DayTimePhone": view["home"],
        "CellPhone": view["mobile"],
        "Address1": view["street"],
        "City": view["city"],
        "State": view["state"],
        "Zip": view["zip"],
        "VehicleYear": year,
        "VehicleMake": make,
        "VehicleModel": model,
        "VehicleTrim": lead.vehicle.trim,
        "VIN": lead.vehicle.vin if rng.random() < 0.4 else "",
        "NewUsed": lead.vehicle.status.title(),
        "TradeYear": str(trade.year) if trade else "",
        "TradeMake": trade.make if trade else "",
        "TradeModel": trade.model if trade else "",
        "TradeVIN": trade.vin if trade and rng.random() < 0.5 else "",
        "SalesRep": lead.salesperson,
        "FirstAttemptedContact": us_time(contacted) if contacted else "",
        "ResponseTime(min)": str(lead.contact_minutes) if lead.contact_minutes is not None else "",
        "DoNotCall": yes_no(lead.flags["do_not_call"]),
        "DoNotEmail": yes_no(lead.flags["do_not_email"]),
        "CanText": yes_no(lead.flags["can_text"]),
        "DoNotMail": yes_no(lead.flags["do_not_mail"]),
    }


def elead_row(rng: random.Random, lead: Lead) -> Row:
    """An Elead opportunity export row (inverted 'Block Email', 'Allow Text')."""
    view = contact(rng, lead.person, dms=False, defect=lead.defect)
    year, make, model = vehicle_cells(rng, lead.vehicle, lead.defect)
    trade = lead.trade
    contacted = lead.at + _minutes(lead.contact_minutes) if lead.contact_minutes is not None else None
    return {
        "Opportunity ID": lead.key,
        "Customer ID": lead.customer_id,
        "Date In": f"{lead.at:%m/%d/%Y %I:%M %p}",
        "Source": lead.source,
        "Up Type": {"Phone Up": "Phone", "Walk-In": "Showroom"}.get(lead.source, "Internet"),
        "Status": lead.status,
        "Lead Provider": provider(lead),
        "Salesperson": lead.salesperson,
        "First Name": view["first"],
        "Middle Name": view["middle"],
        "Last Name": view["last"],
        "Home Phone": view["home"],
        "Cell Phone": view["mobile"],
        "E-Mail": view["email"],
        "Address": view["street"],
        "City": view["city"],
        "St": view["state"],
        "Zip Code": view["zip"],
        "N/U": lead.vehicle.status[0].upper(),
        "Year": year,
        "Make": make,
        "Model": model,
        "Trim": lead.vehicle.trim,
        "VIN": lead.vehicle.vin if rng.random() < 0.4 else "",
        "Trade Year": str(trade.year) if trade else "",
        "Trade Make": trade.make if trade else "",
        "Trade Model": trade.model if trade else "",
        "First Contact": f"{contacted:%m/%d/%Y %I:%M %p}" if contacted else "",
        "Block Phone": yes_no(lead.flags["do_not_call"]),
        "Block Email": yes_no(lead.flags["do_not_email"]),
        "Allow Text": yes_no(lead.flags["can_text"]),
        "Block Mail": yes_no(lead.flags["do_not_mail"]),
    }


def generic_row(rng: random.Random, lead: Lead) -> Row:
    """A row of the Forecourt leads template (snake_case headers and spreadsheet aliases)."""
    view = contact(rng, lead.person, dms=False, defect=lead.defect)
    year, make, model = vehicle_cells(rng, lead.vehicle, lead.defect)
    at = aware(lead).isoformat() if rng.random() < 0.7 else f"{lead.at:%Y-%m-%d %H:%M}"
    return {
        "lead_id": lead.key,
        "requested_at": at,
        "lead_source": lead.source,
        "first_name": view["first"],
        "last_name": view["last"],
        "Email Address": view["email"],
        "Phone Number": view["home"],
        "mobile_phone": view["mobile"],
        "street": view["street"],
        "city": view["city"],
        "state": view["state"],
        "Zip Code": view["zip"],
        "vehicle_year": year,
        "vehicle_make": make,
        "vehicle_model": model,
        "vehicle_trim": lead.vehicle.trim,
        "vehicle_status": lead.vehicle.status,
        "do_not_call": str(lead.flags["do_not_call"]).lower(),
        "do_not_email": str(lead.flags["do_not_email"]).lower(),
    }


def aware(lead: Lead) -> datetime:
    """The lead's dealer-local time with its UTC offset."""
    return lead.at.replace(tzinfo=ZoneInfo(lead.dealer.timezone))


def _minutes(minutes: int | None) -> timedelta:
    return timedelta(minutes=minutes or 0)


def dms_date(day: date | None, style: str, defect: str) -> str:
    """A deal date as the DMS writes it (``YYYYMMDD`` or ``MM/DD/YYYY``); defects blank or garble it."""
    if day is None or defect == "missing_required_field":
        return ""
    if defect == "invalid_required_field":
        return f"{day.year}1341" if style == "cdk" else f"13/41/{day.year}"
    return f"{day:%Y%m%d}" if style == "cdk" else f"{day:%m/%d/%Y}"


def csv_bytes(
    header: tuple[str, ...],
    rows: list[Row],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    preamble: str = "",
) -> bytes:
    """A delimited file as a dealer system saves it (CRLF; UTF-16 with its BOM; cp1252 replaces what it
    cannot encode with '?', as Windows exports do)."""
    buffer = io.StringIO()
    buffer.write(preamble)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    blanks = [""] * len(header)
    writer.writerows(list(map(row.get, header, blanks)) for row in rows)
    text = buffer.getvalue()
    if encoding == "utf-16":
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode(encoding, errors="replace")
