"""Ingest benchmark: prints figures, asserts nothing (issue 3 §6).

Each measurement runs in its own process (fresh peak RSS):
  baseline  plain pyarrow.csv.read_csv + pyarrow.parquet.write_table on the file (no normalization)
  core      our ingest core: file bytes in → curated/quarantine/uploads Parquet data files out
  handler   the real ingest handler against a moto server on loopback (S3 in, data files + manifest
            + commit messages out), then the committer
  scaling   the core's peak RSS at 0.5 M, 1 M and 2 M rows
  imports   import time of each handler module

Usage: python bench/ingest_bench.py [--rows 1000000] [--skip-handler] [--skip-scaling]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
ROOT = Path(__file__).resolve().parents[1]


def ensure_file(rows: int) -> Path:
    from forecourt.local.generate import generate_leads_csv

    path = OUT / f"leads_{rows}.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        generate_leads_csv(tmp, rows, seed=7)
        tmp.rename(path)
    return path


def lambda_environment() -> dict[str, str]:
    """The ingest function's plain environment variables from template.yaml (memory pool, batch size):
    the core and handler runs measure the configuration that is deployed."""
    from forecourt.local.resources import load_template

    variables = load_template()["Resources"]["IngestFunction"]["Properties"]["Environment"]["Variables"]
    return {k: str(v) for k, v in variables.items() if isinstance(v, str | int)}


def run_child(kind: str, path: Path) -> dict:
    env = os.environ | (lambda_environment() if kind in ("core", "handler") else {})
    answer = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if answer.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{answer.stderr[-4000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def configured_memory_mb() -> int:
    """The ingest function's MemorySize as template.yaml states it."""
    from forecourt.local.resources import load_template

    return int(load_template()["Resources"]["IngestFunction"]["Properties"]["MemorySize"])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_baseline(path: Path) -> dict:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    start = time.perf_counter()
    table = pacsv.read_csv(path)
    pq.write_table(table, OUT / "baseline.parquet", compression="zstd")
    seconds = time.perf_counter() - start
    return {"rows": table.num_rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def child_core(path: Path) -> dict:
    import shutil
    from datetime import UTC, date, datetime

    from forecourt import lake
    from forecourt.config import settings
    from forecourt.ingest import RawObject, ingest_object
    from forecourt.registry import Dealer
    from pyarrow.fs import LocalFileSystem

    target = OUT / "core"
    shutil.rmtree(target, ignore_errors=True)
    conf = settings()
    received = datetime(2026, 11, 2, 12, tzinfo=UTC)

    def writer_for(table: str, schema):  # type: ignore[no-untyped-def]
        return lake.DataFileWriter(
            LocalFileSystem(),
            str(target),
            table,
            schema,
            "bench",
            date(2026, 11, 2),
            row_group_rows=conf.row_group_rows,
            file_rows=conf.file_rows,
        )

    dealer = Dealer(dealer_id="D1001", feeds=["vinsolutions-leads"], timezone="America/Chicago")
    start = time.perf_counter()
    with path.open("rb") as stream:
        report = ingest_object(
            stream,
            RawObject("bench", path.name, "v1", None, None),
            dealer,
            "D1001",
            received,
            "bench",
            writer_for,
            max_bytes=conf.max_file_bytes,
            batch_rows=conf.batch_rows,
        )
    seconds = time.perf_counter() - start
    assert report.rows_in == report.rows_curated + report.rows_quarantined
    return {
        "rows": report.rows_in,
        "curated": report.rows_curated,
        "quarantined": report.rows_quarantined,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "feed": report.feed,
    }


def child_handler(path: Path) -> dict:
    import json as _json

    from forecourt import aws, catalog, intake, lake, registry
    from forecourt.local.pump import LambdaContext, load_handler, sqs_event
    from forecourt.local.server import start_moto

    server, _, made = start_moto()
    catalog.migrate(["leads", "quarantine", "uploads"])
    registry.put_dealer(
        registry.Dealer(dealer_id="D1001", feeds=["vinsolutions-leads"], timezone="America/Chicago")
    )
    bucket = made.buckets["LakeBucket"]
    key = lake.raw_key("D1001", __import__("datetime").date(2026, 11, 2), path.name)
    with path.open("rb") as body:
        version = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    ingest, commit = load_handler("ingest"), load_handler("commit")
    message = {
        "MessageId": "1",
        "ReceiptHandle": "r",
        "Body": _json.dumps(intake.event_for(bucket, key, version)),
    }
    start = time.perf_counter()
    result = ingest(sqs_event([message], "arn"), LambdaContext("ingest"))
    ingest_seconds = time.perf_counter() - start
    assert result["batchItemFailures"] == [], result
    start = time.perf_counter()
    sqs = aws.client("sqs")
    while messages := sqs.receive_message(QueueUrl=made.queues["CommitQueue"], MaxNumberOfMessages=10).get(
        "Messages"
    ):
        commit(sqs_event(messages, "arn"), LambdaContext("commit"))
        for m in messages:
            sqs.delete_message(QueueUrl=made.queues["CommitQueue"], ReceiptHandle=m["ReceiptHandle"])
    commit_seconds = time.perf_counter() - start
    rows = sum(f.file.record_count for f in catalog.load("leads").scan().plan_files())
    server.stop()
    return {
        "rows_committed": rows,
        "seconds": ingest_seconds,
        "commit_seconds": commit_seconds,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_imports(_: Path) -> dict:
    """Cold-start import time of each handler module, each in a fresh interpreter, as Lambda loads it."""
    code = (
        "import importlib.util, sys, time; t = time.perf_counter(); "
        "spec = importlib.util.spec_from_file_location('app', sys.argv[1]); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "print((time.perf_counter() - t) * 1000)"
    )
    figures = {}
    for function in ("ingest", "commit"):
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code, str(ROOT / "functions" / function / "app.py")],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(3)
        ]
        figures[function] = sorted(runs)[1]  # the median of three cold starts
    return figures


CHILDREN = {
    "baseline": child_baseline,
    "core": child_core,
    "handler": child_handler,
    "imports": child_imports,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-handler", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        print(json.dumps(CHILDREN[kind](Path(path))))
        return
    path = ensure_file(args.rows)
    size_mb = path.stat().st_size / 2**20
    print(f"file: {path.name}, {args.rows:,} rows, {size_mb:.0f} MB")
    base = run_child("baseline", path)
    core = run_child("core", path)
    base_rps, core_rps = base["rows"] / base["seconds"], core["rows"] / core["seconds"]
    print(
        f"baseline (pyarrow read_csv + write_table): {base_rps:,.0f} rows/s, {base['seconds']:.2f} s, peak RSS {base['peak_rss_mb']:.0f} MB"
    )
    print(
        f"core (ingest_object, {core['feed']}):      {core_rps:,.0f} rows/s, {core['seconds']:.2f} s, peak RSS {core['peak_rss_mb']:.0f} MB"
        f"  [curated {core['curated']:,}, quarantined {core['quarantined']:,}]"
    )
    print(f"core / baseline throughput: {core_rps / base_rps:.2f}  (target ≥ 0.50)")
    if not args.skip_handler:
        handler = run_child("handler", path)
        print(
            f"handler vs moto server: {handler['rows_committed'] / handler['seconds']:,.0f} rows/s ingest "
            f"({handler['seconds']:.2f} s), commit {handler['commit_seconds']:.2f} s, peak RSS {handler['peak_rss_mb']:.0f} MB"
        )
    if not args.skip_scaling:
        memory = configured_memory_mb()
        for rows in (500_000, 1_000_000, 2_000_000):
            figures = run_child("core", ensure_file(rows))
            print(
                f"core peak RSS at {rows:>9,} rows: {figures['peak_rss_mb']:.0f} MB ({figures['rows'] / figures['seconds']:,.0f} rows/s)"
                f"  [IngestFunction MemorySize {memory} MB; target ≤ 400 MB at 2 M rows]"
            )
    imports = run_child("imports", path)
    print(
        "handler import time: "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in imports.items())
        + "  (target ≤ 500 ms)"
    )


if __name__ == "__main__":
    main()
