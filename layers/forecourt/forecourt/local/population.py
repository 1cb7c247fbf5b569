"""The made-up world behind generated data: dealers, metro areas, people and vehicles.

Everything here is a pure function of a ``random.Random``: the same seed gives the same world.
Names, streets and companies are invented; zip codes and area codes are real ones of each metro so
that territory logic and phone parsing behave as on real data; VINs carry a valid check digit
(49 CFR 565.15, the North-American scheme).
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


def pick(rng: random.Random, options: Sequence[T]) -> T:
    """A uniformly chosen element: ``Random.choice`` at a fraction of the cost (drawn millions of times)."""
    return options[int(rng.random() * len(options))]


def between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in ``[low, high]`` (both included), like ``Random.randint`` but cheaper."""
    return low + int(rng.random() * (high - low + 1))


class Weighted(Generic[T]):
    """Options drawn with fixed weights (``Random.choices`` without rebuilding the cumulative sums)."""

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.options = tuple(option for option, _ in pairs)
        self.cumulative = tuple(accumulate(weight for _, weight in pairs))

    def draw(self, rng: random.Random) -> T:
        """One option."""
        return self.options[bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


def _table(text: str) -> tuple[str, ...]:
    """``"a|b c|d"`` → ``("a", "b c", "d")``: long name lists stay readable and short."""
    return tuple(item.strip() for item in text.split("|"))


def _places(text: str) -> tuple[tuple[str, str], ...]:
    """``"07030 Hoboken|07302 Jersey City"`` → ``(("07030", "Hoboken"), ("07302", "Jersey City"))``."""
    return tuple((item[:5], item[6:]) for item in _table(text))


Metro = tuple[str, str, tuple[tuple[str, str], ...], tuple[str, ...]]
"""(metro name, state, ((zip, city), …), area codes)."""

METROS: dict[str, Metro] = {
    "nynj": ("NY-NJ", "NJ", _places(
        "07030 Hoboken|07302 Jersey City|07087 Union City|07094 Secaucus|07047 North Bergen|07501 Paterson|"
        "07503 Paterson|07470 Wayne|07010 Cliffside Park|07020 Edgewater|07601 Hackensack|07002 Bayonne"
    ), ("201", "551", "973", "862")),
    "chi": ("Chicago", "IL", _places(
        "60614 Chicago|60657 Chicago|60647 Chicago|60613 Chicago|60618 Chicago|60622 Chicago|60640 Chicago|"
        "60201 Evanston|60202 Evanston|60540 Naperville|60563 Naperville|60565 Naperville"
    ), ("312", "773", "872", "630", "847")),
    "den": ("Denver", "CO", _places(
        "80202 Denver|80203 Denver|80205 Denver|80206 Denver|80209 Denver|80210 Denver|80211 Denver|"
        "80218 Denver"
    ), ("303", "720")),
    "phx": ("Phoenix", "AZ", _places(
        "85016 Phoenix|85018 Phoenix|85004 Phoenix|85008 Phoenix|85012 Phoenix|85014 Phoenix|"
        "85251 Scottsdale|85254 Scottsdale"
    ), ("602", "480", "623")),
}  # fmt: skip


@dataclass(frozen=True)
class DealerSpec:
    """One dealer of the generated network and the feeds its systems write."""

    dealer_id: str
    name: str
    zip: str
    timezone: str
    country: str
    feeds: tuple[str, ...]
    metro: str
    brand: str
    """The new-vehicle franchise (Chevrolet or Volkswagen); used vehicles are of any make."""


DEALERS: tuple[DealerSpec, ...] = (
    DealerSpec("D1001", "Hudson Chevrolet", "07030", "America/New_York", "US",
               ("vinsolutions-leads", "adf", "cdk-sales", "service-visits", "showroom-visits"), "nynj",
               "Chevrolet"),
    DealerSpec("D1002", "Lakeshore Chevrolet", "60614", "America/Chicago", "US",
               ("elead-leads", "jsonl-leads", "dealertrack-sales", "service-visits"), "chi", "Chevrolet"),
    DealerSpec("D1003", "Meadowlands Volkswagen", "07094", "America/New_York", "US",
               ("elead-leads", "adf", "dealertrack-sales", "showroom-visits"), "nynj", "Volkswagen"),
    DealerSpec("D1004", "Naperville Chevrolet", "60540", "America/Chicago", "US",
               ("vinsolutions-leads", "adf", "cdk-sales", "service-visits"), "chi", "Chevrolet"),
    DealerSpec("D1005", "Front Range Chevrolet", "80202", "America/Denver", "US",
               ("vinsolutions-leads", "jsonl-leads", "cdk-sales", "showroom-visits"), "den", "Chevrolet"),
    DealerSpec("D1006", "Camelback Volkswagen", "85016", "America/Phoenix", "US",
               ("elead-leads", "adf", "dealertrack-sales", "service-visits"), "phx", "Volkswagen"),
    DealerSpec("D1007", "Passaic Valley Chevrolet", "07501", "America/New_York", "US",
               ("generic-leads", "adf", "cdk-sales", "service-visits", "showroom-visits"), "nynj",
               "Chevrolet"),
    DealerSpec("D1008", "North Shore Chevrolet", "60201", "America/Chicago", "US",
               ("vinsolutions-leads", "jsonl-leads", "cdk-sales", "showroom-visits"), "chi", "Chevrolet"),
)  # fmt: skip

NICKNAMES: dict[str, tuple[str, ...]] = {
    name: _table(nicks.replace("/", "|"))
    for name, nicks in (item.split("=") for item in _table(
        "William=Bill/Will|Robert=Bob/Rob|James=Jim/Jimmy|Michael=Mike|Elizabeth=Liz/Beth|Jennifer=Jen|"
        "Katherine=Kate/Katie|Christopher=Chris|Daniel=Dan/Danny|Matthew=Matt|Joseph=Joe|Thomas=Tom|"
        "Richard=Rick|Anthony=Tony|Steven=Steve|Nicholas=Nick|Alexander=Alex|Jonathan=Jon|Benjamin=Ben|"
        "Samuel=Sam|Patricia=Pat/Trish|Margaret=Maggie/Peggy|Rebecca=Becky|Victoria=Vicky|Jessica=Jess|"
        "Deborah=Debbie|Susan=Sue|Andrew=Andy/Drew|Edward=Ed/Eddie|Gregory=Greg|Timothy=Tim|Kimberly=Kim|"
        "Alejandro=Alex|Francisco=Paco/Frank|Guillermo=Memo|Jose=Pepe|Zachary=Zach"
    ))
}  # fmt: skip
OTHER_FIRST = _table(
    "Maria|José|Wei|Priya|Aisha|Carlos|Mohammed|Fatima|Hiroshi|Olga|Sofia|Liam|Noah|Emma|Olivia|Ava|Mia|"
    "DeShawn|Jamal|Keisha|Ana|Luis|Mei|Raj|Anjali|Kwame|Zoë|Renée|Chloé|Inés|Jorge|Yusuf|Hannah|Grace|Ethan|"
    "Lucas|Amara|Tyrone|Brianna|Diego|Camila|Nadia|Omar|Leila|Min-jun|Seo-yeon|Tanisha|Marcus"
)
LAST_NAMES = _table(
    "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez|Hernandez|Lopez|Gonzalez|"
    "Wilson|Anderson|Thomas|Taylor|Moore|Jackson|Martin|Lee|Perez|Thompson|White|Harris|Sanchez|Clark|"
    "Ramirez|Lewis|Robinson|Walker|Young|Allen|King|Wright|Scott|Torres|Nguyen|Hill|Flores|Green|Adams|"
    "Nelson|Baker|Hall|Rivera|Campbell|Mitchell|Carter|Roberts|Kowalski|O'Brien|Patel|Shah|Kim|Park|Chen|"
    "Wang|Li|Singh|Khan|Müller|Núñez|Peña|Muñoz|Gómez|Ibáñez|Novak|Kowalczyk|Schmidt|Fischer|Rossi|Russo|"
    "Murphy|Sullivan|Okafor|Mensah|Haddad|Nakamura|Tanaka|Ivanova|Petrov|Andersson|Lindqvist|Washington|"
    "Brooks|Bennett|Foster|Reyes|Morales|Ortiz|Gutierrez|Chavez|Ramos|Diaz|Cruz|Castillo|Vargas|Mendoza|"
    "Delgado|MacDonald|St. John|Van Dyke|De La Cruz"
)
STREET_NAMES = _table(
    "Main|Oak|Maple|Washington|Park|Lake|Hill|Garden|Hudson|River|Elm|Cedar|Lincoln|Jackson|Madison|Franklin|"
    "Willow|Highland|Sunset|Meadow|Church|Spring|Bloomfield|Grand|Clinton|Monroe|Adams|Jefferson|Ridge|"
    "Valley|Forest|Prospect"
)
STREET_TYPES = _table("St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Way")
EMAIL_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 40), ("yahoo.com", 14), ("outlook.com", 8), ("hotmail.com", 8), ("icloud.com", 8),
    ("aol.com", 4), ("comcast.net", 4), ("verizon.net", 2), ("att.net", 2), ("me.com", 2),
)  # fmt: skip
_DOMAINS = Weighted(EMAIL_DOMAINS)
COMPANIES = _table(
    "northsidedental|harborlogistics|acmebuilders|metrohealth|lakeviewlaw|summitpartners|brightpathtutoring|"
    "ironbridgecpa|riversidemed|bluepeakrealty|keystoneins|cedarmechanical"
)

MODEL_YEAR_CODES = dict(zip(range(2015, 2031), "FGHJKLMNPRSTVWXY", strict=True))
"""Position 10 of a VIN: the model year (49 CFR 565.15, table)."""

Model = tuple[str, str, tuple[str, ...], int]
"""(model, WMI+VDS prefix of its VINs, trims, base price in dollars)."""

NEW_MODELS: dict[str, tuple[Model, ...]] = {
    "Chevrolet": (
        ("Equinox", "3GNAXKEV", _table("LS|LT|RS|Premier"), 29_000),
        ("Silverado 1500", "1GCUDDED", _table("WT|Custom|LT|RST|LTZ|High Country"), 44_000),
        ("Tahoe", "1GNSKNKD", _table("LS|LT|Z71|Premier"), 59_000),
        ("Traverse", "1GNERGKW", _table("LS|LT|RS|Z71"), 39_000),
        ("Trax", "KL77LHEP", _table("LS|1RS|LT|2RS|ACTIV"), 21_500),
        ("Colorado", "1GCPTDEK", _table("WT|LT|Trail Boss|Z71|ZR2"), 33_000),
        ("Malibu", "1G1ZD5ST", _table("LS|RS|LT"), 26_000),
        ("Blazer", "3GNKBCRS", _table("2LT|3LT|RS|Premier"), 37_000),
        ("Equinox EV", "3GN7DNRP", _table("1LT|2LT|2RS|3RS"), 35_000),
        ("Blazer EV", "3GNKDBRJ", _table("LT|RS|SS"), 49_000),
        ("Corvette", "1G1YB2D4", _table("Stingray 1LT|Stingray 2LT|Z06"), 68_000),
    ),
    "Volkswagen": (
        ("Jetta", "3VWEM7BU", _table("S|Sport|SE|SEL"), 22_500),
        ("Tiguan", "3VVNB7AX", _table("S|SE|SE R-Line Black|SEL R-Line"), 30_000),
        ("Atlas", "1V2BR2CA", _table("SE|SE w/Technology|Peak Edition|SEL"), 39_000),
        ("Taos", "3VVCX7B2", _table("S|SE|SEL"), 25_000),
        ("ID.4", "1V2GNPE8", _table("Standard|Pro|Pro S"), 41_000),
        ("Atlas Cross Sport", "1V2WE2CA", _table("SE|SEL|SEL R-Line"), 38_000),
    ),
}  # fmt: skip
USED_MODELS: tuple[tuple[str, Model], ...] = (
    ("Toyota", ("RAV4", "2T3P1RFV", _table("LE|XLE|Limited"), 24_000)),
    ("Toyota", ("Camry", "4T1G11AK", _table("LE|SE|XSE"), 21_000)),
    ("Honda", ("CR-V", "2HKRW2H5", _table("LX|EX|EX-L"), 23_000)),
    ("Honda", ("Civic", "2HGFE2F5", _table("LX|Sport|EX"), 19_000)),
    ("Honda", ("Accord", "1HGCV1F3", _table("LX|Sport|EX-L"), 22_000)),
    ("Ford", ("F-150", "1FTEW1EP", _table("XL|XLT|Lariat"), 31_000)),
    ("Ford", ("Explorer", "1FMSK8DH", _table("Base|XLT|Limited"), 26_000)),
    ("Ford", ("Escape", "1FMCU9G6", _table("S|SE|Titanium"), 18_000)),
    ("Nissan", ("Rogue", "5N1BT3BB", _table("S|SV|SL"), 19_500)),
    ("Hyundai", ("Tucson", "5NMJB3AE", _table("SE|SEL|Limited"), 20_000)),
    ("Jeep", ("Grand Cherokee", "1C4RJKBG", _table("Laredo|Limited|Overland"), 30_000)),
    ("Chevrolet", ("Equinox", "3GNAXKEV", _table("LS|LT|Premier"), 18_000)),
    ("Volkswagen", ("Tiguan", "3VVNB7AX", _table("S|SE|SEL"), 19_000)),
)  # fmt: skip

_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def _weighted_sum(text: str, weights: Sequence[int]) -> int:
    return sum(_VIN_VALUES[char] * weight for char, weight in zip(text, weights, strict=True))


@cache
def _prefix_sum(prefix: str, year_code: str, plant: str) -> int:
    return _weighted_sum(prefix, _VIN_WEIGHTS[:8]) + _weighted_sum(year_code + plant, _VIN_WEIGHTS[9:11])


_SERIAL_HIGH = [_weighted_sum(f"{n:03d}", _VIN_WEIGHTS[11:14]) for n in range(1000)]
_SERIAL_LOW = [_weighted_sum(f"{n:03d}", _VIN_WEIGHTS[14:]) for n in range(1000)]


def vin(prefix: str, model_year: int, serial: int, plant: str = "A") -> str:
    """A 17-character VIN: WMI+VDS ``prefix`` (8), check digit, year code, plant, 6-digit serial.

    The check digit (position 9) is the weighted sum of the transliterated characters modulo 11,
    "X" for 10 (49 CFR 565.15); partial sums are cached because the generator makes many VINs.
    """
    serial %= 1_000_000
    year_code = MODEL_YEAR_CODES[model_year]
    total = _prefix_sum(prefix, year_code, plant) + _SERIAL_HIGH[serial // 1000] + _SERIAL_LOW[serial % 1000]
    check = "X" if total % 11 == 10 else str(total % 11)
    return f"{prefix}{check}{year_code}{plant}{serial:06d}"


@dataclass(frozen=True, slots=True)
class Person:
    """A shopper; every dealer system that meets them records a slightly different version."""

    first: str
    nickname: str
    middle: str
    last: str
    email: str
    work_email: str
    mobile: str
    home: str
    street: str
    city: str
    state: str
    zip: str
    zip4: str
    metro: str


def ascii_fold(text: str) -> str:
    """``Núñez`` → ``Nunez``: what people type into e-mail addresses."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def phone_number(rng: random.Random, area_codes: tuple[str, ...]) -> str:
    """Ten digits with a plausible exchange (no N11, no 555)."""
    exchange = between(rng, 201, 998)
    while exchange % 100 == 11 or exchange == 555:
        exchange = between(rng, 201, 998)
    return f"{pick(rng, area_codes)}{exchange}{between(rng, 0, 9999):04d}"


@cache
def email_token(name: str) -> str:
    """A name as it appears in an e-mail address: ASCII letters and digits only, lowercase."""
    return "".join(char for char in ascii_fold(name).lower() if char.isalnum())


def _email(rng: random.Random, first: str, last: str, domain: str) -> str:
    first_part, last_part = email_token(first), email_token(last)
    style = rng.random()
    if style < 0.45:
        local = f"{first_part}.{last_part}"
    elif style < 0.7:
        local = f"{first_part}{last_part}{between(rng, 1, 99)}"
    elif style < 0.9:
        local = f"{first_part[0]}{last_part}"
    else:
        local = f"{last_part}.{first_part}{between(rng, 60, 99)}"
    return f"{local}@{domain}"


def make_person(rng: random.Random, metro_key: str) -> Person:
    """One person living in ``metro_key`` with a personal and a work e-mail, mobile and home phones."""
    _, state, zips, area_codes = METROS[metro_key]
    if rng.random() < 0.45:
        first = pick(rng, tuple(NICKNAMES))
        nickname = pick(rng, NICKNAMES[first])
    else:
        first, nickname = pick(rng, OTHER_FIRST), ""
    last = pick(rng, LAST_NAMES)
    zip_code, city = pick(rng, zips)
    unit = f" Apt {between(rng, 1, 30)}{pick(rng, 'ABCD')}" if rng.random() < 0.25 else ""
    return Person(
        first=first,
        nickname=nickname,
        middle=pick(rng, "ABCDEJKLMRST") if rng.random() < 0.4 else "",
        last=last,
        email=_email(rng, first, last, _DOMAINS.draw(rng)),
        work_email=f"{email_token(first)[0]}{email_token(last)}@{pick(rng, COMPANIES)}.com",
        mobile=phone_number(rng, area_codes),
        home=phone_number(rng, area_codes) if rng.random() < 0.5 else "",
        street=f"{between(rng, 1, 2999)} {pick(rng, STREET_NAMES)} {pick(rng, STREET_TYPES)}{unit}",
        city=city,
        state=state,
        zip=zip_code,
        zip4=f"{between(rng, 1, 9999):04d}",
        metro=metro_key,
    )


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle of interest, sold or serviced."""

    year: int
    make: str
    model: str
    trim: str
    vin: str
    status: str
    """new or used."""
    price: int


def new_vehicle(rng: random.Random, brand: str, model_year: int) -> Vehicle:
    """A new vehicle of the dealer's franchise."""
    model, prefix, trims, base = pick(rng, NEW_MODELS[brand])
    index = int(rng.random() * len(trims))
    price = base + index * between(rng, 2_500, 5_000) + between(rng, 0, 40) * 50
    serial = between(rng, 100_000, 999_999)
    return Vehicle(model_year, brand, model, trims[index], vin(prefix, model_year, serial), "new", price)


def used_vehicle(rng: random.Random, current_year: int) -> Vehicle:
    """A used vehicle of any make, 1–9 model years old."""
    make, (model, prefix, trims, base) = pick(rng, USED_MODELS)
    year = between(rng, max(2015, current_year - 9), current_year - 1)
    price = max(8_000, base - (current_year - year) * 1_400 + between(rng, -2_000, 2_000))
    serial = between(rng, 100_000, 999_999)
    return Vehicle(year, make, model, pick(rng, trims), vin(prefix, year, serial), "used", price)
