"""Throughput of the column normalizers on one million generated values (prints figures, asserts nothing).

Run: ``.venv/bin/python bench/normalize_bench.py [rows]``
"""

from __future__ import annotations

import random
import sys
import time

import pyarrow as pa
from forecourt.normalize import Locale, normalize_column
from forecourt.normalize.vehicles import vin_check_digit

VIN_CHARACTERS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
PHONE_SHAPES = ("({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "{a}{b}{c}", "1{a}{b}{c}", "+1 {a} {b} {c}")
AREA_CODES = (
    201,
    212,
    213,
    305,
    310,
    312,
    404,
    415,
    469,
    512,
    602,
    617,
    646,
    702,
    713,
    718,
    786,
    818,
    917,
    972,
)
DISTINCT = 250_000
"""Values are drawn from a pool of this many distinct ones (generating a million in Python is slow)."""


def phones(rng: random.Random, n: int) -> list[str]:
    """US phone numbers in the shapes CRMs export, 1 % placeholders like 0000000000."""
    return [
        rng.choice(PHONE_SHAPES).format(
            a=rng.choice(AREA_CODES), b=rng.randint(200, 999), c=f"{rng.randint(0, 9999):04d}"
        )
        if rng.random() > 0.01
        else "0000000000"
        for _ in range(n)
    ]


def emails(rng: random.Random, n: int) -> list[str]:
    """Mixed-case e-mail addresses, a few of them broken."""
    domains = ("Gmail.com", "example.org", "dealer.example.com", "yahoo.com", "icloud.com")
    return [
        f"  {rng.choice(['John', 'mary', 'A.Lee', 'kim_o'])}{rng.randint(1, 99999)}@{rng.choice(domains)} "
        if rng.random() > 0.01
        else "not an email"
        for _ in range(n)
    ]


def timestamps(rng: random.Random, n: int) -> list[str]:
    """ISO local timestamps over three years (the common shape of CRM exports)."""
    start = 1_700_000_000
    return [
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + rng.randint(0, 3 * 365 * 86_400)))
        for _ in range(n)
    ]


def vins(rng: random.Random, n: int) -> list[str]:
    """VINs with a correct check digit (North American ones), 1 % with a wrong one."""
    result = []
    for _ in range(n):
        body = rng.choice("12345JKSW") + "".join(rng.choices(VIN_CHARACTERS, k=16))
        vin = body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]
        if rng.random() < 0.01:
            vin = vin[:8] + ("0" if vin[8] != "0" else "1") + vin[9:]
        result.append(vin)
    return result


def measure(kind: str, values: list[str], target: pa.DataType) -> None:
    """Print rows/s of one normalize_column call (best of three)."""
    array = pa.array(values, pa.string())
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        result = normalize_column(kind, array, target, Locale())
        best = min(best, time.perf_counter() - started)
    invalid = result.invalid.true_count
    rate = len(values) / best
    print(
        f"{kind:<10} {len(values):>9,} rows {best * 1000:7.0f} ms {rate:>12,.0f} rows/s ({invalid:,} invalid)"
    )


def main() -> None:
    """Generate the columns and time each normalizer."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(20261102)
    started = time.perf_counter()
    pool = min(n, DISTINCT)
    columns = {
        "phone": (rng.choices(phones(rng, pool), k=n), pa.string()),
        "email": (rng.choices(emails(rng, pool), k=n), pa.string()),
        "timestamp": (rng.choices(timestamps(rng, pool), k=n), pa.timestamp("us", tz="UTC")),
        "vin": (rng.choices(vins(rng, pool), k=n), pa.string()),
    }
    print(f"generated {n:,} values per kind in {time.perf_counter() - started:.1f} s")
    for kind, (values, target) in columns.items():
        measure(kind, values, target)


if __name__ == "__main__":
    main()
