"""Real-time benchmark: prints figures, asserts nothing (issue 4).

  latency     webhook → delivered: N signed leads posted to the local stack's HTTP API, each timed
              from the moment its POST starts to the moment the local dealer CRM receives it
              (through webhook, realtime queue, route_lead, delivery queue, deliver), p50 / p95 / max
              and p95 per tenth of the run (a latency that grows through the run means the stack
              does not keep up with the rate); and the POST answer time alone (the sender's view)
  routing     route_lead's decision rate: the pure routing function over generated leads against
              a network of dealers with territories (leads/s; the identity index and the queues
              are AWS calls, inside the latency above)

Usage: python bench/realtime_bench.py [--leads 1000] [--concurrency 8] [--rate LEADS_PER_S]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEALERS = [("B100", "60601"), ("B200", "90731"), ("B300", "10001"), ("B400", "75201"), ("B500", "98101")]
MAKES = [("Chevrolet", "Equinox"), ("Chevrolet", "Tahoe"), ("Buick", "Enclave"), ("GMC", "Sierra")]


def lead(i: int, dealer: str | None) -> dict[str, Any]:
    rng = random.Random(i)
    make, model = rng.choice(MAKES)
    body: dict[str, Any] = {
        "lead_id": f"BENCH-{i:06d}",
        "created_at": datetime.now(UTC).isoformat(),
        "source": "OEM Website",
        "customer": {
            "first_name": rng.choice(["Ann", "Raj", "Maya", "Luis", "Kim"]),
            "last_name": rng.choice(["Lee", "Patel", "Garcia", "Nguyen", "Brown"]),
            "email": f"shopper{i}@example.com",
            "phone": f"312555{i % 10000:04d}"[:10],
            "zip": rng.choice([z for _, z in DEALERS]),
        },
        "vehicle": {"year": "2026", "make": make, "model": model},
    }
    if dealer:
        body["dealer_id"] = dealer
    return body


def post(api: str, sender: str, secret: str, payload: dict[str, Any]) -> tuple[float, str]:
    from forecourt.local.http import post_signed

    started = time.time()
    status, answer = post_signed(api + "/v1/leads", sender, secret, json.dumps(payload).encode())
    if status != 202:
        raise RuntimeError(f"lead refused: {status} {answer}")
    return started, str(answer["lead_id"])


def bench_latency(leads: int, concurrency: int, rate: float | None) -> None:
    from forecourt import registry, senders
    from forecourt.local import stack
    from forecourt.local.crm import DealerCrm
    from forecourt.timings import percentile

    home = Path(tempfile.mkdtemp(prefix="forecourt-bench-"))
    os.environ["FORECOURT_HOME"] = str(home)
    running = stack.up(home)
    stack.connect(home)
    try:
        with DealerCrm() as crm:
            for dealer_id, zip_code in DEALERS:
                registry.put_dealer(
                    registry.Dealer(
                        dealer_id=dealer_id,
                        name=f"Bench {dealer_id}",
                        zip=zip_code,
                        territory_zips=[zip_code],
                        delivery=registry.Delivery(method="adf_http", endpoint=crm.adf_url(dealer_id)),
                    )
                )
            _, secret = senders.add_sender("bench-oem", "oem_site", all_dealers=True)
            warm = [lead(10_000_000 + i, DEALERS[i % len(DEALERS)][0]) for i in range(4)]
            for payload in warm:  # warm the worker processes (cold starts are not what we measure)
                post(running.api_url, "bench-oem", secret, payload)
            _wait_for(crm, len(warm), 120)
            base = len(crm.received())
            payloads = [lead(i, DEALERS[i % len(DEALERS)][0] if i % 4 else None) for i in range(leads)]
            begin = time.time()

            def send(item: tuple[int, dict[str, Any]]) -> tuple[str, float, str, float]:
                index, payload = item
                if rate:  # paced: lead i leaves at begin + i / rate, as senders spread over time do
                    time.sleep(max(0.0, begin + index / rate - time.time()))
                return (payload["lead_id"], *post(running.api_url, "bench-oem", secret, payload), time.time())

            with ThreadPoolExecutor(concurrency) as pool:
                posted = list(pool.map(send, enumerate(payloads)))
            arrived = _wait_for(crm, base + leads, 600)
            started = {lead_id: t for _, t, lead_id, _ in posted}
            answered = [done - t for _, t, _, done in posted]
            receipts = crm.received()[base:]
            # (when the lead was posted, its latency), in posting order
            timed = sorted(
                (started[r.lead_id], r.received_at.timestamp() - started[r.lead_id])
                for r in receipts
                if r.lead_id in started
            )
            latencies = [latency for _, latency in timed]
            unique = len({r.delivery_id for r in receipts})
            pace = f"at {rate:g} leads/s" if rate else f"back to back, {concurrency} at a time"
            pace += "" if arrived else " (incomplete: see above)"
            print(f"posted {leads:,} leads {pace}; {len(receipts):,} receipts, {unique:,} unique deliveries")
            print(
                f"POST answer (202):  p50 {percentile(answered, 0.5) * 1000:,.0f} ms, "
                f"p95 {percentile(answered, 0.95) * 1000:,.0f} ms"
            )
            print(
                f"webhook → delivered: p50 {percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, "
                f"max {max(latencies):.2f} s  (target p95 < 2 s)"
            )
            tenth = max(1, len(latencies) // 10)
            print(
                "p95 by tenth of the run (growing: the stack falls behind the rate): "
                + " ".join(
                    f"{percentile(latencies[i : i + tenth], 0.95):.2f}"
                    for i in range(0, len(latencies), tenth)
                )
            )
    finally:
        stack.down(home)


def _wait_for(crm: Any, receipts: int, timeout: float) -> bool:
    """Wait until the CRM holds ``receipts`` receipts; False (the figures then cover what arrived)
    when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while len(crm.received()) < receipts:
        if time.monotonic() > deadline:
            print(f"only {len(crm.received())} of {receipts} leads reached the CRM within {timeout:.0f} s")
            return False
        time.sleep(0.05)
    return True


def bench_routing(leads: int) -> None:
    from forecourt import registry, routing

    dealers = [
        registry.Dealer(dealer_id=d, zip=z, territory_zips=[z], delivery=registry.Delivery(method="file"))
        for d, z in DEALERS
    ]
    rows = [
        {
            "record_id": f"r{i}",
            "email": f"shopper{i}@example.com",
            "phone": None,
            "zip": ("60614", "90210", "10003", "75204", "98109", "59001")[i % 6],
            "vehicle_make": "Chevrolet",
            "vehicle_model": "Equinox",
            "first_name": "Ann",
            "last_name": "Lee",
        }
        for i in range(leads)
    ]
    rules = routing.RoutingRules.from_settings()
    now = datetime.now(UTC)
    started = time.perf_counter()
    for row in rows:
        routing.route(row, None, dealers, [], now, rules)
    seconds = time.perf_counter() - started
    print(
        f"route (pure): {leads / seconds:,.0f} leads/s over {len(dealers)} dealers ({seconds:.2f} s for {leads:,})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="post at this many leads per second (default: as fast as possible)",
    )
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    bench_routing(max(args.leads, 10_000))
    if not args.skip_latency:
        bench_latency(args.leads, args.concurrency, args.rate)


if __name__ == "__main__":
    main()
