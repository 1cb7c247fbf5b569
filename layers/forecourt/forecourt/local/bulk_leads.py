"""A VinSolutions-dialect leads CSV of any size, fast and in bounded memory (for benchmarks).

Rows are assembled column by column with Arrow compute: every column takes values from a
pre-generated pool (messy variants included) at an index drawn from a per-row hash, and Arrow's CSV
writer quotes every cell as some CRM exports do. About 280 bytes a row; a million rows in a few
seconds. The same seed gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from forecourt.local import dialects
from forecourt.local.population import (
    EMAIL_DOMAINS,
    LAST_NAMES,
    METROS,
    NEW_MODELS,
    NICKNAMES,
    OTHER_FIRST,
    STREET_NAMES,
    STREET_TYPES,
    between,
    email_token,
    phone_number,
    pick,
    vin,
)

HEADER = (
    "LeadID", "CustomerID", "DateCreated", "LeadSource", "LeadType", "LeadStatus", "FirstName", "LastName",
    "Email", "DayTimePhone", "EveningPhone", "CellPhone", "Address1", "City", "State", "Zip", "VehicleYear",
    "VehicleMake", "VehicleModel", "VehicleTrim", "VIN", "NewUsed", "SalesRep", "DoNotCall", "CanText",
)  # fmt: skip
"""25 columns of the VinSolutions lead export (see feeds/profiles/vinsolutions-leads.json)."""
CHUNK_ROWS = 131_072


def _pool(values: list[str], bits: int) -> pa.Array:
    """``values`` cycled to exactly 2**bits entries."""
    size = 1 << bits
    return pa.array([values[i % len(values)] for i in range(size)], pa.string())


@dataclass
class _Pools:
    first: pa.Array
    first_token: pa.Array
    last: pa.Array
    last_token: pa.Array
    email_tail: pa.Array
    broken_email: pa.Array
    created: pa.Array
    phones: list[pa.Array]
    street: pa.Array
    places: list[pa.Array]
    vehicles: list[pa.Array]
    small: list[pa.Array]

    @classmethod
    def build(cls, rng: random.Random) -> _Pools:
        """Every pool, drawn from ``rng`` (names, phones and places of the generated network's metros)."""
        firsts = [pick(rng, (*NICKNAMES, *OTHER_FIRST)) for _ in range(512)]
        first_shown = [dialects.name_text(rng, name) for name in firsts]
        lasts = [pick(rng, LAST_NAMES) for _ in range(1024)]
        domains, weights = zip(*EMAIL_DOMAINS, strict=True)
        numbers = [
            pick(rng, ("", "", f"{pick(rng, ('', '', '.', '_'))}{between(rng, 1, 99)}")) for _ in range(256)
        ]
        tails = [f"{number}@{rng.choices(domains, weights)[0]}" for number in numbers]
        broken = [pick(rng, ("@gmail", "@@yahoo.com", " at gmail.com", "@hotmail")) for _ in range(64)]
        start = datetime(2024, 1, 1, 7)
        moments = [start + timedelta(seconds=between(rng, 0, 3600 * 24 * 365)) for _ in range(8192)]
        created = [dialects.us_time(m) if rng.random() < 0.9 else f"{m:%Y-%m-%d %H:%M:%S}" for m in moments]
        metros = list(METROS.values())
        places = [
            (city, state, zip_code, codes) for _, state, zips, codes in metros for zip_code, city in zips
        ]
        return cls(
            first=_pool(first_shown, 9), first_token=_pool([email_token(n) for n in firsts], 9),
            last=_pool(lasts, 10), last_token=_pool([email_token(n) for n in lasts], 10),
            email_tail=_pool(tails, 8), broken_email=_pool(broken, 6), created=_pool(created, 13),
            phones=[_pool(cls._phones(rng, places, share), 14) for share in (0.7, 0.45, 0.9)],
            street=_pool([f"{between(rng, 1, 2999)} {pick(rng, STREET_NAMES)} {pick(rng, STREET_TYPES)}"
                          f"{pick(rng, ('', '', '', ' Apt 2B', ' Unit 5'))}" for _ in range(4096)], 12),
            places=cls._places(rng, places),
            vehicles=cls._vehicles(rng),
            small=[_pool(values, 6) for values in _SMALL],
        )  # fmt: skip

    @staticmethod
    def _phones(
        rng: random.Random, places: list[tuple[str, str, str, tuple[str, ...]]], share: float
    ) -> list[str]:
        out = []
        for _ in range(16_384):
            if rng.random() >= share:
                out.append("")
                continue
            digits = phone_number(rng, pick(rng, places)[3])
            out.append(dialects.phone_text(rng, digits) if rng.random() > 0.01 else "555-0100")
        return out

    @staticmethod
    def _places(rng: random.Random, places: list[tuple[str, str, str, tuple[str, ...]]]) -> list[pa.Array]:
        chosen = [pick(rng, places) for _ in range(256)]
        zips = []
        for _, _, zip_code, _ in chosen:
            roll = rng.random()
            zips.append(
                f"{zip_code}-{between(rng, 1, 9999):04d}"
                if roll < 0.12
                else zip_code[1:]
                if roll < 0.18 and zip_code.startswith("0")
                else zip_code
            )
        return [_pool([c[0] for c in chosen], 8), _pool([c[1] for c in chosen], 8), _pool(zips, 8)]

    @staticmethod
    def _vehicles(rng: random.Random) -> list[pa.Array]:
        """Year, make, model, trim, VIN, new/used of 4096 vehicles; 1 % fail the contract."""
        columns: list[list[str]] = [[], [], [], [], [], []]
        for _ in range(4096):
            brand = pick(rng, tuple(NEW_MODELS))
            model, prefix, trims, _ = pick(rng, NEW_MODELS[brand])
            model_year = pick(rng, (2024, 2024, 2025, 2023))
            year, roll = str(model_year), rng.random()
            year, model = (
                (year.replace("0", "O"), model) if roll < 0.005 else (year, "" if roll < 0.01 else model)
            )
            serial = between(rng, 100_000, 999_999)
            values = (
                year,
                dialects.make_text(rng, brand),
                model,
                pick(rng, trims),
                vin(prefix, model_year, serial) if rng.random() < 0.55 else "",
                pick(rng, ("New", "New", "Used")),
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        return [_pool(column, 12) for column in columns]


_SMALL = (
    ["Chevrolet.com"] * 10 + ["Dealer Website - ePrice"] * 8 + ["Dealer Website"] * 4
    + ["Cars.com - New"] * 6 + ["Cars.com - Used"] * 2 + ["Autotrader.com - Used"] * 6
    + ["CarGurus - Used"] * 6
    + ["TrueCar"] * 5 + ["Facebook Lead Ads"] * 5 + ["Phone Up"] * 5 + ["Edmunds.com"] * 4
    + ["Walk-In"] * 3,
    ["Internet"] * 54 + ["Phone"] * 6 + ["Showroom"] * 4,
    ["Active"] * 26 + ["Appointment Set"] * 8 + ["Sold/Delivered"] * 8 + ["Lost - Bought Elsewhere"] * 8
    + ["Lost"] * 8 + ["Bad Lead"] * 3 + ["Duplicate"] * 3,
    ["Dana Whitfield", "Luis Ortega", "Mike Alvarez", "Keisha Brown", "Raj Patel", "Tom Sullivan", "Amy Chen",
     "Greg Novak"] * 8,
    ["N"] * 61 + ["Y"] * 3,
    ["Y"] * 45 + ["N"] * 19,
)  # fmt: skip


def _bits(hashes: list[pa.Array], which: int, shift: int, width: int) -> pa.Array:
    """``width`` bits of row hash ``which`` starting at bit ``shift``, as take() indices."""
    sliced = pc.shift_right(hashes[which], pa.scalar(shift, pa.uint64()))
    return pc.bit_wise_and(sliced, pa.scalar((1 << width) - 1, pa.uint64()))


def _mix(index: pa.Array, salt: int) -> pa.Array:
    """A 64-bit hash of every row number (splitmix64's finalizer; multiplication wraps)."""
    value = pc.multiply(
        pc.add(index, pa.scalar(salt, pa.uint64())), pa.scalar(0x9E3779B97F4A7C15, pa.uint64())
    )
    for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        value = pc.bit_wise_xor(value, pc.shift_right(value, pa.scalar(shift, pa.uint64())))
        value = pc.multiply(value, pa.scalar(factor, pa.uint64()))
    return pc.bit_wise_xor(value, pc.shift_right(value, pa.scalar(31, pa.uint64())))


def _chunk(pools: _Pools, salts: list[int], index: pa.Array) -> pa.Table:
    """Rows ``index`` of the file as a table of string columns.

    Bits of the four row hashes: 0 → first 0-9, last 9-19, e-mail tail 19-27, created 27-40, street
    40-52; 1 → place 0-8, phones 18-32, 32-46, 46-60; 2 → e-mail roll 0-6, broken
    e-mail 6-12, source/type/status 12-30, vehicle 30-42, rep/do-not-call/can-text 44-62; 3 → customer.
    """
    hashes = [_mix(index, salt) for salt in salts]
    take = pc.take
    first_i, last_i = _bits(hashes, 0, 0, 9), _bits(hashes, 0, 9, 10)
    email = pc.binary_join_element_wise(
        take(pools.first_token, first_i), ".", take(pools.last_token, last_i), ""
    )
    email = pc.binary_join_element_wise(email, take(pools.email_tail, _bits(hashes, 0, 19, 8)), "")
    broken = pc.binary_join_element_wise(
        take(pools.last_token, last_i), take(pools.broken_email, _bits(hashes, 2, 6, 6)), ""
    )
    email_roll = _bits(hashes, 2, 0, 6)
    email = pc.if_else(pc.equal(email_roll, 0), broken, email)
    no_email = pc.and_(
        pc.greater(email_roll, pa.scalar(0, pa.uint64())), pc.less(email_roll, pa.scalar(4, pa.uint64()))
    )
    email = pc.if_else(no_email, pa.scalar(""), email)
    place_i, vehicle_i = _bits(hashes, 1, 0, 8), _bits(hashes, 2, 30, 12)
    columns = [
        pc.cast(pc.add(index, pa.scalar(48_000_000, pa.uint64())), pa.string()),
        pc.cast(pc.add(_bits(hashes, 3, 0, 22), pa.scalar(7_700_000, pa.uint64())), pa.string()),
        take(pools.created, _bits(hashes, 0, 27, 13)),
        *(take(pool, _bits(hashes, 2, 12 + 6 * n, 6)) for n, pool in enumerate(pools.small[:3])),
        take(pools.first, first_i), take(pools.last, last_i), email,
        *(take(pool, _bits(hashes, 1, 18 + 14 * n, 14)) for n, pool in enumerate(pools.phones)),
        take(pools.street, _bits(hashes, 0, 40, 12)),
        *(take(pool, place_i) for pool in pools.places),
        *(take(pool, vehicle_i) for pool in pools.vehicles),
        *(take(pool, _bits(hashes, 2, 44 + 6 * n, 6)) for n, pool in enumerate(pools.small[3:])),
    ]  # fmt: skip
    return pa.Table.from_arrays(columns, names=list(HEADER))


@lru_cache(maxsize=2)
def _pools(seed: int) -> _Pools:
    """The value pools of ``seed`` (kept: a benchmark writes several files from one seed)."""
    return _Pools.build(random.Random(seed ^ 0x5EED))


def generate_leads_csv(path: Path, rows: int, *, seed: int = 7, first_row: int = 0) -> int:
    """Write ``rows`` messy VinSolutions-dialect leads (25 columns, ~280 bytes a row) to ``path``.

    ``first_row``: the file holds rows ``first_row`` … ``first_row + rows - 1`` of the seed's endless
    export (LeadID 48,000,000 + row), so that files cut from disjoint ranges share no lead — what a
    load test needs from many files of one dealer.

    Streams in chunks of ``CHUNK_ROWS``, so memory stays bounded whatever ``rows`` is; returns the
    bytes written. About 1 % of rows fail the leads contract (no model, or a year typed with a
    letter O) and ~1.5 % carry a broken e-mail, as real exports do.
    """
    rng = random.Random(seed)
    salts = [rng.getrandbits(64) for _ in range(4)]
    pools = _pools(seed)
    base = pa.array(range(CHUNK_ROWS), pa.uint64())
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", eol="\r\n")
    with path.open("wb") as out:
        out.write(",".join(f'"{name}"' for name in HEADER).encode() + b"\r\n")
        for start in range(0, rows, CHUNK_ROWS):
            offset = pa.scalar(first_row + start, pa.uint64())
            index = pc.add(base.slice(0, min(CHUNK_ROWS, rows - start)), offset)
            pacsv.write_csv(_chunk(pools, salts, index), out, options)
        return out.tell()
