"""Audience hashing benchmark: prints figures, asserts nothing (issue 6, first slice).

For N generated people (``forecourt.local.identity_truth``: realistic names, e-mails, phones, zips,
missing values), each platform's normalize + hash (``audiences.people.prepare`` then the platform's
``identifiers``), timed against a baseline measured in the same run: SHA-256 of the raw e-mail
column alone (one hashlib call per distinct value, no normalization). Peak RSS per run.

Usage: python bench/audiences_bench.py [--people 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import time


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
