"""What happens in the generated network: campaigns run, people send leads, visit, buy and get service.

Events carry the truth (the person, the vehicle, dealer-local times); ``forecourt.local.dialects``
renders them the way each dealer system records them. A few events are built to fail their dataset's
minimum contract (``defect`` names the quarantine reason they must get), so that the generated files
exercise the quarantine as real exports do.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from forecourt.local.population import (
    METROS,
    NEW_MODELS,
    DealerSpec,
    Person,
    Vehicle,
    Weighted,
    between,
    new_vehicle,
    pick,
    used_vehicle,
)

LEAD_DEFECTS = (("missing_required_field", 0.01), ("missing_one_of", 0.01), ("invalid_required_field", 0.01))
"""Share of leads built to fail the contract, by the reason they must be quarantined with (~3 %)."""
STAFF = ("Dana Whitfield", "Luis Ortega", "Mike Alvarez", "Keisha Brown", "Raj Patel", "Tom Sullivan",
         "Amy Chen", "Greg Novak", "Nina Rossi", "Chris Park", "Jorge Reyes", "Beth Murphy")  # fmt: skip
ADVISORS = ("PATEL, RAJ", "MORENO, ANA", "KLEIN, JOSH", "OKAFOR, EMEKA", "LIND, SARA")
LENDERS = ("GM FINANCIAL", "VW CREDIT INC", "ALLY FINANCIAL", "CHASE AUTO", "CAPITAL ONE AUTO FINANCE",
           "TD AUTO FINANCE", "SANTANDER CONSUMER USA", "PNC BANK", "NAVY FEDERAL CU")  # fmt: skip
CONCERNS = ("OIL CHANGE, TIRE ROTATION", "CHECK ENGINE LIGHT ON\nCHECK AND ADVISE", "STATE INSPECTION",
            "BRAKES SQUEAL WHEN STOPPING", "A/C BLOWING WARM", "RECALL - PERFORM CAMPAIGN",
            "BATTERY DIES OVERNIGHT", "30K SERVICE\nCUSTOMER WAITING",
            "NOISE FROM FRONT END OVER BUMPS\nROAD TEST WITH CUSTOMER")  # fmt: skip


@dataclass(slots=True)
class Campaign:
    """An OEM ad campaign on Google Ads or Meta, aimed at one metro and model."""

    platform: str
    campaign_id: str
    name: str
    kind: str
    """Google campaign type or Meta objective."""
    daily_budget: int
    start: date
    end: date | None
    status: str
    metro: str
    model: str


@dataclass(slots=True)
class Lead:
    """A sales lead as it happened: who asked which dealer about what, when (dealer-local time)."""

    key: str
    dealer: DealerSpec
    feed: str
    person: Person
    at: datetime
    source: str
    vehicle: Vehicle
    interest: str
    trade: Vehicle | None
    salesperson: str
    contact_minutes: int | None
    status: str
    campaign: Campaign | None
    flags: dict[str, bool] = field(default_factory=dict)
    defect: str = ""
    customer_id: str = ""


@dataclass(slots=True)
class Sale:
    """A delivered deal in a dealer's DMS, with its finance terms."""

    deal_number: int
    dealer: DealerSpec
    person: Person
    contract: date
    vehicle: Vehicle
    odometer: int
    salesperson: str
    finance_type: str
    trade: Vehicle | None
    cobuyer: Person | None
    price: int
    apr: float
    term: int
    down: int
    lender: str
    front_gross: float
    back_gross: float
    defect: str = ""
    customer_id: str = ""


@dataclass(slots=True)
class Visit:
    """A showroom visit or a service repair order."""

    key: str
    dealer: DealerSpec
    kind: str
    person: Person | None
    opened: datetime
    closed: datetime | None
    staff: str
    vehicle: Vehicle | None
    appointment: bool = False
    pay_type: str = "C"
    labor: float = 0.0
    parts: float = 0.0
    odometer: int = 0
    notes: str = ""
    defect: str = ""
    customer_id: str = ""


def pick_defect(rng: random.Random, table: Sequence[tuple[str, float]]) -> str:
    """The quarantine reason an event must fail with, or "" (most events)."""
    roll = rng.random()
    for reason, share in table:
        if roll < share:
            return reason
        roll -= share
    return ""


def local_time(rng: random.Random, day: date, first_hour: int = 7, last_hour: int = 22) -> datetime:
    """A dealer-local time on ``day`` within the hours people send leads or walk in."""
    seconds = int(rng.random() * (last_hour - first_hour) * 3600)
    return datetime.combine(day, time(first_hour + seconds // 3600, seconds // 60 % 60, seconds % 60))


def make_campaigns(rng: random.Random, start: date, today: date) -> list[Campaign]:
    """Google Ads and Meta campaigns per metro and model, all of them running during the window."""
    campaigns: list[Campaign] = []
    for metro_key, (metro_name, _, _, _) in METROS.items():
        brand = "Volkswagen" if metro_key == "phx" else "Chevrolet"
        models = [model[0] for model in NEW_MODELS[brand]][:4]
        for index, model in enumerate(models[:3]):
            kind = ("Search", "Performance Max", "Search")[index]
            label = f"OEM | {metro_name} DMA | {model} | {kind}"
            campaigns.append(
                _campaign(
                    rng,
                    "google_ads",
                    f"2093{between(rng, 1_000_000, 9_999_999)}",
                    label,
                    kind,
                    metro_key,
                    model,
                    start,
                    today,
                )
            )
        for index, model in enumerate(models[1:3]):
            objective = ("Leads", "Traffic")[index]
            label = f"OEM_{metro_key.upper()}_{model.replace(' ', '')}_{objective}_{start:%b%y}"
            campaigns.append(
                _campaign(
                    rng,
                    "meta",
                    f"1202088334{between(rng, 10_000_000, 99_999_999)}",
                    label,
                    objective,
                    metro_key,
                    model,
                    start,
                    today,
                )
            )
    return campaigns


def _campaign(
    rng: random.Random,
    platform: str,
    campaign_id: str,
    name: str,
    kind: str,
    metro: str,
    model: str,
    start: date,
    today: date,
) -> Campaign:
    begins = start - timedelta(days=between(rng, 0, 60))
    ends = None if rng.random() < 0.6 else today + timedelta(days=between(rng, 5, 90))
    budget = pick(rng, (150, 200, 250, 300, 400, 500, 750, 1_000))
    return Campaign(platform, campaign_id, name, kind, budget, begins, ends, "active", metro, model)


CRM_SOURCES: tuple[tuple[str, float], ...] = (
    ("OEM", 24), ("Dealer Website", 20), ("Cars.com", 10), ("Autotrader", 8), ("CarGurus", 8), ("TrueCar", 6),
    ("Edmunds", 4), ("Facebook", 6), ("Google", 5), ("Phone Up", 6), ("Walk-In", 3),
)  # fmt: skip
_SOURCES = Weighted(CRM_SOURCES)
_FINANCE_TYPES = Weighted((("Finance", 65), ("Lease", 20), ("Cash", 15)))
_PAY_TYPES = Weighted((("C", 75), ("W", 18), ("I", 7)))
OEM_SITES = {"Chevrolet": "Chevrolet.com", "Volkswagen": "VW.com"}


def lead_source(rng: random.Random, dealer: DealerSpec, campaign: Campaign | None) -> str:
    """Where the lead came from, as a CRM names it; an ad campaign's lead names its platform."""
    if campaign is not None and rng.random() < 0.8:
        return "Google" if campaign.platform == "google_ads" else "Facebook"
    source = _SOURCES.draw(rng)
    return OEM_SITES[dealer.brand] if source == "OEM" else source


def make_lead(
    rng: random.Random,
    key: str,
    dealer: DealerSpec,
    feed: str,
    person: Person,
    day: date,
    campaigns: Mapping[tuple[str, str], Sequence[Campaign]],
) -> Lead:
    """One lead of ``person`` at ``dealer`` on ``day`` (``campaigns`` by metro and model)."""
    vehicle = (
        new_vehicle(rng, dealer.brand, day.year + (1 if day.month >= 8 and rng.random() < 0.5 else 0))
        if rng.random() < 0.75
        else used_vehicle(rng, day.year)
    )
    trade = used_vehicle(rng, day.year) if rng.random() < 0.2 else None
    matching = campaigns.get((dealer.metro, vehicle.model), ())
    campaign = pick(rng, matching) if matching and rng.random() < 0.6 else None
    flags = {
        "do_not_call": rng.random() < 0.04,
        "do_not_email": rng.random() < 0.05,
        "can_text": rng.random() < 0.7,
        "do_not_mail": rng.random() < 0.03,
        "ccpa_opt_out": rng.random() < 0.03,
        "gpc": rng.random() < 0.02,
    }
    contact_minutes = None if rng.random() < 0.1 else int(rng.lognormvariate(3.0, 1.2))
    return Lead(
        key=key,
        dealer=dealer,
        feed=feed,
        person=person,
        at=local_time(rng, day),
        source=lead_source(rng, dealer, campaign),
        vehicle=vehicle,
        interest=pick(rng, ("buy", "buy", "buy", "lease", "test-drive")),
        trade=trade,
        salesperson=pick(rng, STAFF),
        contact_minutes=contact_minutes,
        status=pick(rng, ("Active", "Active", "Active", "Lost", "Sold", "Bad")),
        campaign=campaign,
        flags=flags,
        defect=pick_defect(rng, LEAD_DEFECTS),
    )


def make_sale(
    rng: random.Random,
    deal_number: int,
    dealer: DealerSpec,
    person: Person,
    contract: date,
    vehicle: Vehicle,
    trade: Vehicle | None,
    cobuyer: Person | None,
) -> Sale:
    """A deal for ``vehicle``; 2 % of deals lose their contract date on the way out of the DMS."""
    finance_type = _FINANCE_TYPES.draw(rng)
    price = vehicle.price + between(rng, -1_500, 1_500)
    term = {"Finance": pick(rng, (48, 60, 66, 72, 75, 84)), "Lease": pick(rng, (24, 36, 39)), "Cash": 0}[
        finance_type
    ]
    apr = round(rng.uniform(0.9, 12.9), 2) if finance_type != "Cash" else 0.0
    brand_lender = "GM FINANCIAL" if vehicle.make == "Chevrolet" else "VW CREDIT INC"
    lender = brand_lender if rng.random() < 0.5 else pick(rng, LENDERS)
    defect = pick_defect(rng, (("missing_required_field", 0.01), ("invalid_required_field", 0.01)))
    return Sale(
        deal_number=deal_number,
        dealer=dealer,
        person=person,
        contract=contract,
        vehicle=vehicle,
        odometer=between(rng, 3, 40) if vehicle.status == "new" else between(rng, 9_000, 95_000),
        salesperson=pick(rng, STAFF),
        finance_type=finance_type,
        trade=trade,
        cobuyer=cobuyer,
        price=price,
        apr=apr,
        term=term,
        down=pick(rng, (0, 500, 1_000, 2_000, 2_500, 3_000, 5_000)) if term else 0,
        lender=lender if term else "",
        front_gross=round(rng.uniform(-500, 4_500), 2),
        back_gross=round(rng.uniform(0, 2_800), 2) if term else 0.0,
        defect=defect,
    )


def make_service_visit(
    rng: random.Random,
    ro_number: int,
    dealer: DealerSpec,
    person: Person | None,
    day: date,
    vehicle: Vehicle | None,
) -> Visit:
    """A repair order; without a person it is a counter sale (and fails the visits contract)."""
    opened = local_time(rng, day, 7, 12)
    closed = opened + timedelta(hours=between(rng, 1, 30), minutes=between(rng, 0, 59))
    pay_type = _PAY_TYPES.draw(rng)
    labor = 0.0 if pay_type == "W" else round(rng.uniform(40, 1_400), 2)
    parts = 0.0 if pay_type == "W" else round(rng.uniform(0, 1_200), 2)
    defect = "missing_one_of" if person is None else pick_defect(rng, (("missing_required_field", 0.01),))
    odometer = between(rng, 5_000, 120_000)
    return Visit(
        f"{ro_number}",
        dealer,
        "service",
        person,
        opened,
        closed,
        pick(rng, ADVISORS),
        vehicle if person is not None else None,
        pay_type=pay_type,
        labor=labor,
        parts=parts,
        odometer=odometer,
        notes=pick(rng, CONCERNS),
        defect=defect,
    )


def make_showroom_visit(
    rng: random.Random,
    visit_id: int,
    dealer: DealerSpec,
    person: Person | None,
    day: date,
    vehicle: Vehicle | None,
) -> Visit:
    """A walk-in; a visitor who gave no name fails the visits contract."""
    opened = local_time(rng, day, 9, 20)
    closed = opened + timedelta(minutes=between(rng, 10, 180))
    appointment = rng.random() < 0.35
    defect = "missing_one_of" if person is None else pick_defect(rng, (("missing_required_field", 0.01),))
    return Visit(
        f"SR-{visit_id}",
        dealer,
        "showroom",
        person,
        opened,
        closed,
        pick(rng, STAFF),
        vehicle,
        appointment=appointment,
        notes="" if rng.random() < 0.7 else "Test drive",
        defect=defect,
    )
