"""Audience hashing benchmark: prints figures, asserts nothing (issue 6, first slice).

For N generated people (``forecourt.local.identity_truth``: realistic names, e-mails, phones, zips,
missing values), each platform's normalize + hash (``audiences.people.prepare`` then the platform's
``identifiers``), timed against a baseline measured in the same run: SHA-256 of the raw e-mail
column alone (one hashlib call per distinct value, no normalization). Peak RSS per run.

With ``--demo-home DIR`` (a home where ``forecourt demo`` ran and ``forecourt local up`` is
running), also the size of a delta sync against a full refresh on the demo data: every list's
eligible members evaluated as of the demo's day and as of one and seven days before (nothing is
written), and the members a sync would send each way (adds + removals against the whole list), with
the requests at 10,000 members a request.

Usage: python bench/audiences_bench.py [--people 1000000] [--demo-home DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import resource
import time
from datetime import datetime, timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--demo-home", type=Path, help="a running local stack holding the demo's lake")
    args = parser.parse_args()
    if args.demo_home:
        delta_against_full(args.demo_home)

    import pyarrow as pa
    import pyarrow.compute as pc
    from forecourt.audiences import google, meta, people
    from forecourt.local.identity_truth import generate

    raw = generate(args.people, seed=7).select(["first_name", "last_name", "email", "phone", "zip"])
    print(f"people: {raw.num_rows:,} (seed 7; {raw['email'].null_count:,} without e-mail)")

    started = time.perf_counter()
    emails = pc.dictionary_encode(raw["email"].combine_chunks())
    digests = [hashlib.sha256(v.encode()).hexdigest() for v in emails.dictionary.to_pylist()]
    pa.array(digests).take(emails.indices)
    baseline = time.perf_counter() - started
    print(
        f"baseline (SHA-256 of the raw e-mails, no normalization): {raw.num_rows / baseline:,.0f} rows/s ({baseline:.2f} s)"
    )

    for name, platform in (("google", google), ("meta", meta)):
        started = time.perf_counter()
        table = platform.identifiers(people.prepare(raw))
        seconds = time.perf_counter() - started
        print(
            f"{name:<6} normalize + hash, {len(table.column_names)} identifiers a person: "
            f"{raw.num_rows / seconds:,.0f} rows/s ({seconds:.2f} s, {seconds / baseline:.1f}x the baseline)"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def eligible_lists(as_of: datetime) -> dict[str, set[str]]:
    """Each list's members that may leave, as of ``as_of`` (``build.run`` without the write)."""
    from forecourt.audiences import consent, segments
    from forecourt.audiences.build import member_rows, people_records
    from forecourt.enrich.job import activity
    from forecourt.privacy import suppression

    members = member_rows(activity(as_of), segments.load(), as_of)
    records = people_records(members["person_id"])
    kept = set(consent.gate(records, suppressed=suppression.suppressed_persons(records)).kept.to_pylist())
    lists: dict[str, set[str]] = {}
    for audience, person in zip(
        members["audience"].to_pylist(), members["person_id"].to_pylist(), strict=True
    ):
        if person in kept:
            lists.setdefault(audience, set()).add(person)
    return lists


def delta_against_full(home: Path) -> None:
    from forecourt.local import stack
    from forecourt.local.demo import DEMO_RUN

    stack.connect(home)
    started = time.perf_counter()
    newest = eligible_lists(DEMO_RUN)
    print(f"demo lake, as of {DEMO_RUN:%Y-%m-%d}: {len(newest)} lists, "
          f"{sum(map(len, newest.values())):,} eligible members ({time.perf_counter() - started:.1f} s)")  # fmt: skip
    for days in (1, 7):
        before = eligible_lists(DEMO_RUN - timedelta(days=days))
        names = set(newest) | set(before)
        full = sum(len(newest.get(n, set())) for n in names)
        delta = sum(len(newest.get(n, set()) ^ before.get(n, set())) for n in names)
        full_requests = sum(math.ceil(len(newest.get(n, set())) / 10_000) for n in names)
        delta_requests = sum(
            math.ceil(len(newest.get(n, set()) - before.get(n, set())) / 10_000)
            + math.ceil(len(before.get(n, set()) - newest.get(n, set())) / 10_000)
            for n in names
        )
        print(f"  sync after {days} day(s): delta {delta:,} members ({delta_requests} requests) "
              f"vs full refresh {full:,} ({full_requests} requests): {delta / max(full, 1):.1%} of the full")  # fmt: skip


if __name__ == "__main__":
    main()
