"""Load benchmark: the local stack under many webhook leads and concurrent file uploads at once
(issue 8, slow tier). Prints figures and the invariants it checked; tests/e2e/test_load.py runs it
and asserts the invariants (never the timings).

A fresh stack in a temporary home, five dealers whose leads go to a local dealer CRM (ADF over
HTTP), one OEM-site sender for the leads and one dealer-CRM sender for the uploads. Then, at the
same time:

  leads    LEADS signed leads POSTed to /v1/leads by CONCURRENCY client threads (one connection
           per request, as post_signed does), each with its own lead id, e-mail and phone and an
           Idempotency-Key; a sender that times out (60 s) or gets a 5xx tries again with the same
           key, up to 3 times, as a careful sender does (the retries are counted and printed)
  uploads  UPLOADS VinSolutions CSV files of ROWS rows each (disjoint lead-id ranges, ~1 % bad rows)
           sent the way a dealer sends them: a signed POST /v1/dealers/{id}/uploads for a presigned
           URL, then a PUT of the file to it, all UPLOADS at once

and waits until every queue the pump consumes is empty. Invariants:

  - every POST answered 202 and every PUT 200 (errors = 0, retries included); 202 answers carry
    distinct lead ids
  - every lead routed exactly once (one lead_routes row, with a delivery id), delivered exactly
    once (one ``delivered`` deliveries row), received exactly once by the CRM, and curated exactly
    once in ``leads``
  - every upload's report: rows in = curated + quarantined, rows in = rows written to its file;
    the lake agrees with the reports (an uploads row per upload with the same counts, as many
    ``leads`` and ``quarantine`` rows per upload as it says); no record_id twice among the uploads

Figures: webhook throughput and POST latency p50/p95/p99, upload throughput (files/s, rows/s) and
its time until every report, end-to-end time until idle, peak RSS of the stack's server process
and of the server with its worker processes (sampled twice a second).

Sizes come from the environment (defaults: the issue's load):
  FORECOURT_LOAD_LEADS=10000  FORECOURT_LOAD_UPLOADS=200  FORECOURT_LOAD_ROWS=500
  FORECOURT_LOAD_CONCURRENCY=32 (lead client threads)

Usage: python bench/load_bench.py   (e.g. FORECOURT_LOAD_LEADS=200 FORECOURT_LOAD_UPLOADS=10 for a smoke run)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEALERS = [("L100", "60601"), ("L200", "90731"), ("L300", "10001"), ("L400", "75201"), ("L500", "98101")]
MAKES = [("Chevrolet", "Equinox"), ("Chevrolet", "Tahoe"), ("Buick", "Enclave"), ("GMC", "Sierra")]
OEM_SENDER = "load-oem"
CRM_SENDER = "load-crm"
IDLE_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class LoadSize:
    leads: int = 10_000
    uploads: int = 200
    rows: int = 500
    """Rows per uploaded file."""
    concurrency: int = 32
    """Client threads posting leads (the uploads all go at once)."""

    @classmethod
    def from_env(cls) -> LoadSize:
        env = os.environ.get
        return cls(
            leads=int(env("FORECOURT_LOAD_LEADS", cls.leads)),
            uploads=int(env("FORECOURT_LOAD_UPLOADS", cls.uploads)),
            rows=int(env("FORECOURT_LOAD_ROWS", cls.rows)),
            concurrency=int(env("FORECOURT_LOAD_CONCURRENCY", cls.concurrency)),
        )


@dataclass
class LoadRun:
    """What the run did: figures, and every invariant that did not hold (empty: all held)."""

    size: LoadSize
    figures: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def check(self, holds: bool, message: str) -> None:
        if not holds:
            self.violations.append(message)


# --- the clients ---------------------------------------------------------------------------------


def lead(i: int) -> dict[str, Any]:
    """Lead ``i``: its own lead id, e-mail and phone (so no two are the same shopper); three in four
    name a dealer, the others are routed by zip."""
    rng = random.Random(i)
    make, model = rng.choice(MAKES)
    dealer, zip_code = DEALERS[i % len(DEALERS)]
    body: dict[str, Any] = {
        "lead_id": f"LOAD-{i:06d}",
        "created_at": datetime.now(UTC).isoformat(),
        "source": "OEM Website",
        "customer": {
            "first_name": rng.choice(["Ann", "Raj", "Maya", "Luis", "Kim"]),
            "last_name": rng.choice(["Lee", "Patel", "Garcia", "Nguyen", "Brown"]),
            "email": f"load.shopper{i}@example.com",
            "phone": f"{312 + i // 1_000_000}{5550000 + i % 1_000_000:07d}"[:10],
            "zip": zip_code,
        },
        "vehicle": {"year": "2026", "make": make, "model": model},
    }
    if i % 4:
        body["dealer_id"] = dealer
    return body


@dataclass(frozen=True)
class Posted:
    status: int
    lead_id: str
    seconds: float
    """From the first attempt to the answer (the sender's view, retries included)."""
    error: str = ""
    retries: int = 0


ATTEMPTS = 3
CLIENT_TIMEOUT_S = 60.0


def post_with_retries(url: str, sender: str, secret: str, body: bytes, key: str) -> tuple[int, Any, int]:
    """POST as a careful sender does: with an Idempotency-Key, and again with the same key after a
    timeout, a dropped connection or a 5xx (at most ``ATTEMPTS`` times); (status, answer, retries).
    Raises the last attempt's exception."""
    from forecourt.local.http import post_signed

    for attempt in range(ATTEMPTS):
        try:
            status, answer = post_signed(
                url, sender, secret, body, idempotency_key=key, timeout=CLIENT_TIMEOUT_S
            )
        except OSError:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        if status < 500 or attempt == ATTEMPTS - 1:
            return status, answer, attempt
    raise AssertionError("unreachable")


def post_lead(api: str, secret: str, payload: dict[str, Any]) -> Posted:
    began = time.perf_counter()
    body, key = json.dumps(payload).encode(), f"load-{payload['lead_id']}"
    try:
        status, answer, retries = post_with_retries(api + "/v1/leads", OEM_SENDER, secret, body, key)
    except Exception as exc:  # a refused or dropped connection is an error of the run, not a crash
        return Posted(0, "", time.perf_counter() - began, f"{type(exc).__name__}: {exc}", ATTEMPTS - 1)
    seconds = time.perf_counter() - began
    if status != 202:
        return Posted(status, "", seconds, json.dumps(answer)[:300], retries)
    return Posted(status, str(answer["lead_id"]), seconds, retries=retries)


@dataclass(frozen=True)
class Uploaded:
    dealer_id: str
    key: str
    upload_id: str
    rows: int
    error: str = ""
    retries: int = 0


def upload_file(api: str, secret: str, dealer_id: str, path: Path, rows: int) -> Uploaded:
    """Send one file as a dealer does: a signed request for a presigned URL, then a PUT to it."""
    from forecourt import lake
    from forecourt.config import settings

    request = json.dumps({"file_name": path.name, "feed": "vinsolutions-leads"}).encode()
    try:
        status, answer, retries = post_with_retries(
            f"{api}/v1/dealers/{dealer_id}/uploads", CRM_SENDER, secret, request, f"load-upload-{path.name}"
        )
        if status != 201:
            return Uploaded(dealer_id, "", "", rows, f"upload URL: {status} {json.dumps(answer)[:300]}")
        put = urllib.request.Request(
            answer["url"], data=path.read_bytes(), method="PUT", headers=answer["headers"]
        )
        with urllib.request.urlopen(put, timeout=120) as stored:
            version = stored.headers.get("x-amz-version-id") or stored.headers["ETag"].strip('"')
            if stored.status != 200:
                return Uploaded(dealer_id, answer["key"], "", rows, f"PUT: {stored.status}")
    except Exception as exc:
        return Uploaded(dealer_id, "", "", rows, f"{type(exc).__name__}: {exc}")
    key = answer["key"]
    return Uploaded(
        dealer_id, key, lake.upload_id(settings().lake_bucket, key, version), rows, retries=retries
    )


# --- the stack's memory --------------------------------------------------------------------------


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(c) for c in task.read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class RssSampler(threading.Thread):
    """Peak RSS of the stack's server process alone and with its worker processes (Linux /proc;
    zeros elsewhere), sampled every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(name="rss", daemon=True)
        self.pid, self.interval = pid, interval
        self.server_kb = self.tree_kb = self.processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            server = _rss_kb(self.pid)
            children = _descendants(self.pid)
            self.server_kb = max(self.server_kb, server)
            self.tree_kb = max(self.tree_kb, server + sum(_rss_kb(c) for c in children))
            self.processes = max(self.processes, 1 + len(children))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# --- the run -------------------------------------------------------------------------------------


def _configure(crm: Any) -> tuple[str, str]:
    from forecourt import registry, senders

    for dealer_id, zip_code in DEALERS:
        registry.put_dealer(
            registry.Dealer(
                dealer_id=dealer_id,
                name=f"Load {dealer_id}",
                zip=zip_code,
                territory_zips=[zip_code],
                feeds=["vinsolutions-leads"],
                timezone="America/Chicago",
                delivery=registry.Delivery(method="adf_http", endpoint=crm.adf_url(dealer_id)),
            )
        )
    _, oem_secret = senders.add_sender(OEM_SENDER, "oem_site", all_dealers=True)
    _, crm_secret = senders.add_sender(CRM_SENDER, "dealer_crm", dealers=[d for d, _ in DEALERS])
    return oem_secret, crm_secret


def _files(size: LoadSize, folder: Path) -> list[tuple[str, Path, int]]:
    """(dealer, file, rows) of every upload: disjoint row ranges of one seed's export."""
    from forecourt.local.generate import generate_leads_csv

    out = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(size.uploads):
        path = folder / f"load-{i:04d}.csv"
        generate_leads_csv(path, size.rows, seed=11, first_row=i * size.rows)
        out.append((DEALERS[i % len(DEALERS)][0], path, size.rows))
    return out


def run(size: LoadSize | None = None, progress: Any = print) -> LoadRun:
    """Start a fresh stack, load it, wait until idle, check the invariants, stop it."""
    from forecourt.local import stack
    from forecourt.local.crm import DealerCrm

    size = size or LoadSize.from_env()
    result = LoadRun(size)
    home = Path(tempfile.mkdtemp(prefix="forecourt-load-"))
    saved = os.environ.get("FORECOURT_HOME")
    os.environ["FORECOURT_HOME"] = str(home)
    try:
        files = _files(size, home / "files")
        running = stack.up(home)
        stack.connect(home)
        sampler = RssSampler(running.pid)
        sampler.start()
        try:
            with DealerCrm() as crm:
                oem_secret, crm_secret = _configure(crm)
                progress(f"stack up (pid {running.pid}); loading: {size}")
                posted, uploaded = _load(running, size, files, oem_secret, crm_secret, result)
                _check_leads(result, posted, crm)
                _check_uploads(result, uploaded)
        finally:
            sampler.stop()
            result.figures |= {
                "stack_processes": sampler.processes,
                "peak_rss_server_mb": round(sampler.server_kb / 1024, 1),
                "peak_rss_stack_mb": round(sampler.tree_kb / 1024, 1),
            }
    finally:
        stack.down(home)
        if saved is None:
            os.environ.pop("FORECOURT_HOME", None)
        else:
            os.environ["FORECOURT_HOME"] = saved
        shutil.rmtree(home, ignore_errors=True)
    return result


def _load(
    running: Any,
    size: LoadSize,
    files: list[tuple[str, Path, int]],
    oem_secret: str,
    crm_secret: str,
    result: LoadRun,
) -> tuple[list[Posted], list[Uploaded]]:
    """Post the leads and send the files at the same time; wait for every report and for idle."""
    from forecourt import uploader
    from forecourt.local import stack
    from forecourt.timings import percentile

    api = running.api_url
    payloads = [lead(i) for i in range(size.leads)]
    began = time.perf_counter()
    uploads_done: dict[str, float] = {}

    def send_files() -> list[Uploaded]:
        with ThreadPoolExecutor(max(1, len(files))) as pool:
            sent = list(pool.map(lambda f: upload_file(api, crm_secret, *f), files))
        uploads_done["sent"] = time.perf_counter() - began
        good = [(u.dealer_id, u.upload_id) for u in sent if not u.error]
        uploads_done["reports"] = time.perf_counter() - began
        if good:
            uploader.wait_reports(good, timeout=IDLE_TIMEOUT_S)
            uploads_done["reports"] = time.perf_counter() - began
        return sent

    with ThreadPoolExecutor(1) as side:
        file_half = side.submit(send_files)
        with ThreadPoolExecutor(size.concurrency) as pool:
            posted = list(pool.map(lambda p: post_lead(api, oem_secret, p), payloads))
        posting = time.perf_counter() - began
        uploaded = file_half.result()
    idle = stack.wait_idle(running, timeout=IDLE_TIMEOUT_S)
    until_idle = time.perf_counter() - began
    result.check(idle, f"the pump was not idle after {IDLE_TIMEOUT_S:.0f} s")
    seconds = [p.seconds for p in posted] or [0.0]
    rows = sum(u.rows for u in uploaded)
    result.figures |= {
        "leads_posted": len(posted),
        "lead_errors": sum(1 for p in posted if p.status != 202),
        "lead_retries": sum(p.retries for p in posted),
        "lead_error_examples": sorted({f"{p.status} {p.error}" for p in posted if p.error})[:5],
        "posting_s": round(posting, 1),
        "leads_per_s": round(len(posted) / posting, 1) if posting else 0.0,
        "post_p50_ms": round(percentile(seconds, 0.50) * 1000),
        "post_p95_ms": round(percentile(seconds, 0.95) * 1000),
        "post_p99_ms": round(percentile(seconds, 0.99) * 1000),
        "post_max_ms": round(max(seconds) * 1000),
        "uploads": len(uploaded),
        "upload_errors": sum(1 for u in uploaded if u.error),
        "upload_retries": sum(u.retries for u in uploaded),
        "upload_error_examples": sorted({u.error for u in uploaded if u.error})[:5],
        "rows_uploaded": rows,
        "uploads_sent_s": round(uploads_done["sent"], 1),
        "uploads_reported_s": round(uploads_done["reports"], 1),
        "files_per_s": round(sum(1 for u in uploaded if not u.error) / uploads_done["reports"], 2),
        "rows_per_s": round(sum(u.rows for u in uploaded if not u.error) / uploads_done["reports"]),
        "until_idle_s": round(until_idle, 1),
    }
    return posted, uploaded


def _lake_rows(sql: str, *tables: str) -> list[dict[str, Any]]:
    from forecourt import analytics

    sources = {table: analytics.iceberg_source(table) for table in tables}
    return list(analytics.run_query(sql, sources).to_arrow().to_pylist())


def _check_leads(result: LoadRun, posted: list[Posted], crm: Any) -> None:
    """Every accepted lead routed, delivered, received and curated exactly once."""
    size = result.size
    lead_ids = {p.lead_id for p in posted if p.status == 202}
    result.check(all(p.status == 202 for p in posted), f"{result.figures['lead_errors']} POSTs not 202")
    result.check(len(lead_ids) == size.leads, f"{len(lead_ids)} distinct lead ids for {size.leads} leads")
    received = Counter(r.lead_id for r in crm.received() if r.valid and r.lead_id in lead_ids)
    invalid = sum(1 for r in crm.received() if not r.valid)
    routes = Counter(
        r["lead_id"]
        for r in _lake_rows("SELECT lead_id, delivery_id FROM lead_routes", "lead_routes")
        if r["lead_id"] in lead_ids and r["delivery_id"]
    )
    delivered = Counter(
        r["lead_id"]
        for r in _lake_rows("SELECT lead_id FROM deliveries WHERE status = 'delivered'", "deliveries")
        if r["lead_id"] in lead_ids
    )
    curated = Counter(
        r["record_id"]
        for r in _lake_rows("SELECT record_id FROM leads", "leads")
        if r["record_id"] in lead_ids
    )
    for what, counts in (
        ("routed", routes),
        ("delivered", delivered),
        ("received by the CRM", received),
        ("curated", curated),
    ):
        once = sum(1 for n in counts.values() if n == 1)
        result.figures[f"leads_{what.split()[0]}_once"] = once
        result.check(
            once == len(lead_ids) == len(counts),
            f"leads {what}: {once} exactly once, {len(counts)} at all, of {len(lead_ids)}",
        )
    result.check(invalid == 0, f"the CRM rejected {invalid} deliveries")


def _check_uploads(result: LoadRun, uploaded: list[Uploaded]) -> None:
    """Every upload conserved its rows, in its report and in the lake; no record_id twice."""
    from forecourt import uploader

    result.check(not any(u.error for u in uploaded), f"{result.figures['upload_errors']} uploads failed")
    good = [u for u in uploaded if not u.error]
    if not good:
        return
    reports = {r.upload_id: r for r in uploader.wait_reports([(u.dealer_id, u.upload_id) for u in good])}
    for u in good:
        report = reports[u.upload_id]
        result.check(
            report.rows_in == report.rows_curated + report.rows_quarantined == u.rows,
            f"upload {u.key}: in {report.rows_in} = curated {report.rows_curated} + quarantined "
            f"{report.rows_quarantined}, written {u.rows}",
        )
    ids = "', '".join(reports)
    lake = {
        r["upload_id"]: r
        for r in _lake_rows(
            f"SELECT upload_id, rows_in, rows_curated, rows_quarantined FROM uploads WHERE upload_id IN ('{ids}')",
            "uploads",
        )
    }
    curated = {
        r["upload_id"]: r
        for r in _lake_rows(
            "SELECT upload_id, count(*) AS n, count(DISTINCT record_id) AS distinct_ids FROM leads "
            f"WHERE upload_id IN ('{ids}') GROUP BY upload_id",
            "leads",
        )
    }
    quarantined = {
        r["upload_id"]: r["n"]
        for r in _lake_rows(
            f"SELECT upload_id, count(*) AS n FROM quarantine WHERE upload_id IN ('{ids}') GROUP BY upload_id",
            "quarantine",
        )
    }
    distinct = _lake_rows(
        f"SELECT count(*) AS n, count(DISTINCT record_id) AS d FROM leads WHERE upload_id IN ('{ids}')",
        "leads",
    )[0]
    for upload, report in reports.items():
        row = lake.get(upload) or {}
        counts = (report.rows_in, report.rows_curated, report.rows_quarantined)
        in_lake = (row.get("rows_in"), row.get("rows_curated"), row.get("rows_quarantined"))
        result.check(in_lake == counts, f"upload {upload}: uploads row {in_lake}, report {counts}")
        leads_rows = (curated.get(upload) or {}).get("n", 0)
        result.check(leads_rows == report.rows_curated, f"upload {upload}: {leads_rows} leads rows, "
                     f"report {report.rows_curated}")  # fmt: skip
        q_rows = quarantined.get(upload, 0)
        result.check(q_rows == report.rows_quarantined, f"upload {upload}: {q_rows} quarantine rows, "
                     f"report {report.rows_quarantined}")  # fmt: skip
    written = sum(u.rows for u in good)
    totals = [
        sum(getattr(r, c) for r in reports.values()) for c in ("rows_in", "rows_curated", "rows_quarantined")
    ]
    result.figures |= {"rows_in": totals[0], "rows_curated": totals[1], "rows_quarantined": totals[2]}
    result.check(totals[0] == written, f"rows in {totals[0]} over all uploads, {written} written")
    result.check(
        distinct["n"] == distinct["d"] == totals[1],
        f"leads of the uploads: {distinct['n']} rows, {distinct['d']} distinct record_ids, {totals[1]} curated",
    )


def print_figures(result: LoadRun) -> None:
    f, size = result.figures, result.size
    print(f"\nload on the local stack ({os.cpu_count()} cores; figures are wall-clock on this machine)")
    print(
        f"webhook leads:  {f.get('leads_posted', 0):,} POSTed by {size.concurrency} threads in "
        f"{f.get('posting_s', 0)} s = {f.get('leads_per_s', 0)} leads/s; errors {f.get('lead_errors', '?')}, "
        f"retried after a timeout or 5xx {f.get('lead_retries', '?')}"
    )
    print(
        f"POST latency:   p50 {f.get('post_p50_ms')} ms, p95 {f.get('post_p95_ms')} ms, "
        f"p99 {f.get('post_p99_ms')} ms, max {f.get('post_max_ms')} ms"
    )
    print(
        f"file uploads:   {f.get('uploads', 0)} files × {size.rows} rows, all at once: sent in "
        f"{f.get('uploads_sent_s')} s, every report in {f.get('uploads_reported_s')} s = "
        f"{f.get('files_per_s')} files/s, {f.get('rows_per_s', 0):,} rows/s; errors {f.get('upload_errors', '?')}, "
        f"upload-URL requests retried {f.get('upload_retries', '?')}"
    )
    print(
        f"rows:           in {f.get('rows_in', 0):,} = curated {f.get('rows_curated', 0):,} + "
        f"quarantined {f.get('rows_quarantined', 0):,}"
    )
    print(f"end to end:     {f.get('until_idle_s')} s from the first request until every queue was empty")
    print(
        f"peak RSS:       server process {f.get('peak_rss_server_mb')} MB; with its "
        f"{f.get('stack_processes', 1) - 1} worker processes {f.get('peak_rss_stack_mb')} MB"
    )
    once = ", ".join(
        f"{k.removeprefix('leads_').removesuffix('_once')} {f[k]:,}" for k in f if k.endswith("_once")
    )
    print(f"exactly once:   {once}")
    for example in (*f.get("lead_error_examples", []), *f.get("upload_error_examples", [])):
        print(f"  error: {example}")
    print(
        "invariants:     " + ("all held" if not result.violations else f"{len(result.violations)} violated")
    )
    for violation in result.violations[:20]:
        print(f"  ✗ {violation}")


def main() -> None:
    result = run()
    print_figures(result)
    print(json.dumps(result.figures | {"violations": len(result.violations)}))
    raise SystemExit(1 if result.violations else 0)


if __name__ == "__main__":
    main()
