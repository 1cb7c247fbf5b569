"""Compaction benchmark: what each view and named query would scan on Athena, and cost, before and
after compacting the demo lake; data files per partition before and after. Prints figures (ratios),
asserts nothing about time.

The queries are whatever ``.sql`` files ``queries/views/`` and ``queries/named/`` hold when it runs;
bytes come from the Parquet footers of each table's current data files (``forecourt.scan_cost``, the
estimate of ``forecourt query --explain``).

With ``--demo-home DIR`` it uses a running local stack whose lake holds the demo's data (and compacts
it in place); without, it starts a stack in a temporary home, runs ``forecourt demo`` there and stops
the stack at the end.

Usage: python bench/compact_bench.py [--demo-home DIR] [--leads 50000] [--target-mb 256]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FORECOURT = str(Path(sys.executable).parent / "forecourt")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-home", type=Path, help="a running local stack holding the demo's lake")
    parser.add_argument(
        "--leads", type=int, default=50_000, help="leads of the demo built without --demo-home"
    )
    parser.add_argument("--target-mb", type=float, default=256, help="size of the compacted files")
    args = parser.parse_args()
    if args.demo_home:
        bench(args.demo_home, args.target_mb)
        return
    with tempfile.TemporaryDirectory(prefix="forecourt-compact-bench-") as home:
        env = os.environ | {"FORECOURT_HOME": home}
        subprocess.run([FORECOURT, "local", "up"], check=True, env=env, stdout=subprocess.DEVNULL)
        try:
            started = time.perf_counter()
            subprocess.run(
                [FORECOURT, "demo", "--leads", str(args.leads)],
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            print(f"demo lake built in {time.perf_counter() - started:.0f} s")
            bench(Path(home), args.target_mb)
        finally:
            subprocess.run([FORECOURT, "local", "down"], check=False, env=env)


def queries() -> dict[str, str]:
    """Every view and named query, by ``folder/name``."""
    found = {}
    for folder in ("views", "named"):
        for path in sorted((REPO / "queries" / folder).glob("*.sql")):
            found[f"{folder}/{path.stem}"] = path.read_text()
    return found


def as_query(sql: str) -> str:
    """A view file's SELECT (``CREATE VIEW … AS SELECT``), or the query itself."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="trino")
    if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query):
        return tree.expression.sql(dialect="trino")
    return sql


def estimates(named: dict[str, str]) -> dict[str, tuple[int, float] | str]:
    from forecourt import scan_cost

    views = scan_cost.view_definitions(REPO / "queries" / "views")
    out: dict[str, tuple[int, float] | str] = {}
    for name, sql in named.items():
        try:
            found = scan_cost.estimate(as_query(sql), views=views)
        except Exception as exc:  # a query this estimate cannot read: say so, go on
            out[name] = f"skipped: {type(exc).__name__}: {exc}"[:120]
            continue
        out[name] = (found.bytes_scanned, found.cost_usd)
    return out


def files_per_partition() -> dict[str, Counter[str]]:
    """Table → partition (received day) → data files."""
    from forecourt import catalog, schemas

    found: dict[str, Counter[str]] = {}
    for table in sorted(schemas.load_all()):
        counts: Counter[str] = Counter()
        for task in catalog.load(table).scan().plan_files():
            counts[str(task.file.partition[0]) if len(task.file.partition) else "-"] += 1
        if counts:
            found[table] = counts
    return found


def bench(home: Path, target_mb: float) -> None:
    from forecourt import commits, compact
    from forecourt.local import stack

    stack.connect(home)
    named = queries()
    print(f"{len(named)} queries ({sum(n.startswith('views/') for n in named)} views)")
    files_before, scans_before = files_per_partition(), estimates(named)

    started = time.perf_counter()
    options = compact.CompactionOptions(target_mb=target_mb, min_age_minutes=0)

    def wait(pending: list[commits.CommitRequest]) -> None:
        deadline = time.monotonic() + 1800
        commits.wait_landed(pending, lambda: deadline - time.monotonic(), poll_seconds=0.5)

    summary = compact.summarize(compact.run(datetime.now(UTC), options, wait))
    print(f"compaction: {time.perf_counter() - started:.1f} s, {summary['partitions_compacted']} partitions, "
          f"{summary['files_in']:,} files → {summary['files_out']:,}, {summary['rows']:,} rows, "
          f"{summary['bytes_in'] / 2**20:.1f} MiB → {summary['bytes_out'] / 2**20:.1f} MiB, "
          f"{summary['partitions_stale']} stale")  # fmt: skip
    files_after, scans_after = files_per_partition(), estimates(named)

    print("\nfiles per partition (received day): tables, partitions, files, mean and max per partition")
    print(f"  {'table':<18} {'partitions':>10} {'files before':>13} {'after':>7} {'mean before':>12} {'after':>6} {'max before':>11} {'after':>6}")  # fmt: skip
    for table, before in files_before.items():
        after = files_after.get(table, Counter())
        print(f"  {table:<18} {len(before):>10} {sum(before.values()):>13,} {sum(after.values()):>7,} "
              f"{statistics.mean(before.values()):>12.1f} {statistics.mean(after.values() or [0]):>6.1f} "
              f"{max(before.values()):>11} {max(after.values() or [0]):>6}")  # fmt: skip

    print("\nbytes scanned (estimate from Parquet footers) and Athena cost ($5/TB, 10 MB minimum)")
    print(
        f"  {'query':<40} {'before':>12} {'after':>12} {'after/before':>12} {'cost before':>12} {'after':>10}"
    )
    for name in named:
        before, after = scans_before[name], scans_after[name]
        if isinstance(before, str) or isinstance(after, str):
            print(f"  {name:<40} {before if isinstance(before, str) else after}")
            continue
        ratio = after[0] / before[0] if before[0] else 1.0
        print(f"  {name:<40} {before[0]:>12,} {after[0]:>12,} {ratio:>12.2f} {before[1]:>12.8f} {after[1]:>10.8f}")  # fmt: skip


if __name__ == "__main__":
    main()
