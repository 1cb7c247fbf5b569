"""``forecourt demo``: a generated dealer network pushed through the real handlers on the local stack.

A second run changes nothing: the files are generated from a fixed seed with fixed dates, and an
identical file sent again under the same key reuses its upload.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from forecourt import bundled
from forecourt.cli.output import console, emit, errors
from forecourt.local import demo_realtime, stack

DEMO_DAY = date(2026, 11, 2)
"""The generated network's "today" and the files' arrival date: fixed, so reruns are identical."""
DEMO_QUERIES = ("leads_per_dealer", "speed_to_lead", "cross_dealer_shoppers")


def run_demo(
    *, leads: int, seed: int, out: Path | None, as_json: bool, webhook_leads: int = demo_realtime.LEADS
) -> dict[str, Any]:
    """Start the stack if needed, generate, ingest, post ``webhook_leads`` real-time leads and their
    CRM events, summarize, query; returns what it printed."""
    from rich.progress import Progress

    from forecourt import registry, uploader
    from forecourt.local.generate import generate_network

    started = time.monotonic()
    out = out or stack.home() / f"demo-seed{seed}-{leads}"
    with (
        ThreadPoolExecutor(1) as starter,
        console.status("starting the local stack and generating a network…"),
    ):
        starting = starter.submit(stack.up)  # the stack boots while the files are generated
        network = generate_network(out, seed=seed, leads=leads, today=DEMO_DAY)
        running = starting.result()
    stack.connect(running.state_dir)
    for dealer in network.dealers:
        registry.put_dealer(
            registry.Dealer(
                dealer_id=dealer.dealer_id,
                name=dealer.name,
                feeds=list(dealer.feeds),
                timezone=dealer.timezone,
                country=dealer.country,
                zip=dealer.zip,
            )
        )
    with (
        Progress(console=errors if as_json else console, transient=as_json) as progress,
        ThreadPoolExecutor(4) as pool,
        ThreadPoolExecutor(1) as live_half,
    ):
        # webhook leads arrive while dealers' files are ingested, as they do on a working day
        live_run = live_half.submit(
            demo_realtime.run,
            running,
            network.dealers,
            seed=seed,
            leads=webhook_leads,
            day=DEMO_DAY,
            progress=progress,
        )
        # dealers send side by side, as they do: four uploads in flight at a time
        sending = progress.add_task("uploading files", total=len(network.files))

        def send(spec: Any) -> tuple[str, str]:
            _, upload = uploader.put_file(out / spec.path, spec.dealer_id, arrival=DEMO_DAY)
            progress.advance(sending)
            return spec.dealer_id, upload

        pending = list(pool.map(send, network.files))
        ingesting = progress.add_task("ingesting (real handlers via the pump)", total=len(pending))
        reports = uploader.wait_reports(pending, timeout=600, on_report=lambda: progress.advance(ingesting))
        committing = progress.add_task("committing to the Iceberg tables", total=None)
        stack.wait_idle(running, timeout=600)
        progress.update(committing, total=1, completed=1)
        live = live_run.result()
    summary = _per_dealer(reports)
    with console.status(
        "resolving persons and enriching leads (the scheduled resolve and enrich functions)…"
    ):
        one_view = _resolve_and_enrich(running, out)
    stack.wait_idle(running, timeout=600)
    results = {name: _run_named(name) for name in DEMO_QUERIES}
    elapsed = time.monotonic() - started
    realtime = {
        "lead_answers": live.answers,
        "event_answers": live.events,
        "routes": live.routes,
        "deliveries": live.dealers,
        "delivered_once": live.delivered_once,
        "timings": live.timings,
    }
    if as_json:
        document = {
            "dealers": summary,
            "realtime": realtime,
            "one_view": one_view,
            "queries": results,
            "seconds": round(elapsed, 1),
        }
        console.print_json(json.dumps(document, default=str))
    else:
        emit(summary, as_json=False, title="Per dealer: rows in = curated + quarantined")
        _show_realtime(live)
        _show_one_view(one_view)
        for name, rows in results.items():
            emit(rows, as_json=False, title=f"queries/named/{name}.sql")
        console.print(f"demo finished in {elapsed:.1f} s · files in {out} · try: forecourt query --tables")
    return {"dealers": summary, "realtime": realtime, "one_view": one_view, "queries": results}


DEMO_RUN = datetime.combine(DEMO_DAY, dt_time(23, 0), UTC)
"""When the demo's resolve and enrich runs happen: fixed, so that a second demo exports nothing new."""


def _resolve_and_enrich(running: stack.StackInfo, out: Path) -> dict[str, Any]:
    """Fire resolve's schedule through the real handlers (resolve, then enrich as its on-success
    destination, as of the demo's day), copying the outbound files under ``out``; what the demo shows."""
    from forecourt import analytics, aws
    from forecourt.config import settings
    from forecourt.local import platforms, scheduler

    event = scheduler.schedule_input() | {"as_of": DEMO_RUN.isoformat()}
    runs = scheduler.invoke_async("resolve", event, log=running.state_dir / "jobs.log")
    failed = [run for run in runs if not run.succeeded]
    if failed or [run.function for run in runs] != ["resolve", "enrich", "audiences"]:
        reasons = "; ".join(f"{run.function}: {run.error}" for run in failed) or "a job did not run"
        raise RuntimeError(f"the scheduled jobs failed ({reasons}); see {running.state_dir / 'jobs.log'}")
    resolved, enriched, audiences = runs[0].result, runs[1].result, runs[2].result
    copies = out / "outbound"
    for key in enriched["files"]:  # the dealer's view: what their pickup would fetch from the bucket
        target = copies / key.removeprefix("outbound/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(aws.client("s3").get_object(Bucket=settings().lake_bucket, Key=key)["Body"].read())

    def rows(sql: str) -> list[dict[str, Any]]:
        return analytics.run_query(sql, max_rows=50).to_arrow().to_pylist()

    shoppers = rows(
        "SELECT person_id, dealers, records, datasets FROM persons WHERE merged_into IS NULL AND dealers > 1 "
        "ORDER BY dealers DESC, records DESC, person_id LIMIT 5"
    )
    return {
        "records": resolved["records"],
        "persons": resolved["persons"],
        "persons_at_several_dealers": resolved["persons_at_several_dealers"],
        "top_cross_dealer_persons": shoppers,
        "tags": enriched["tags"],
        "leads_enriched": enriched["leads_enriched"],
        "exported": enriched["leads_exported_per_dealer"],
        "files": enriched["files"],
        "copies": str(copies),
        "audiences": audiences,
        "on_platforms": platforms.lists(running.platforms) if running.platforms else {},
    }


def _show_one_view(view: dict[str, Any]) -> None:
    from forecourt import analytics

    console.print(
        f"one view: {view['records']} records → {view['persons']} persons, "
        f"{view['persons_at_several_dealers']} of them seen at several dealers"
    )
    emit(view["top_cross_dealer_persons"], as_json=False, title="Persons shopping at the most dealers")
    emit(
        [{"tag": tag, "persons": n} for tag, n in view["tags"].items()],
        as_json=False,
        title="Tags (queries/enrich/rules.json)",
    )
    top = analytics.run_query(
        "SELECT dealer_id, lead_id, score, score_reasons, array_join(tags, ', ') AS tags FROM enriched_leads "
        "ORDER BY score DESC, record_id LIMIT 5"
    ).to_arrow()
    emit(top.to_pylist(), as_json=False, title=f"Top-scored of {view['leads_enriched']} enriched leads")
    exported = view["exported"]
    emit(
        [{"dealer": d, "leads exported": n} for d, n in exported.items()]
        or [{"dealer": "(none)", "leads exported": 0}],
        as_json=False,
        title="Outbound: leads new or changed since the last run (CSV + ADF per dealer)",
    )
    if view["files"]:
        console.print(f"copies of the {len(view['files'])} outbound files: {view['copies']}")
    built = view["audiences"]
    held = {
        platform: {entry["name"].removeprefix("Forecourt "): entry["members"] for entry in found}
        for platform, found in view["on_platforms"].items()
    }
    emit(
        [
            {
                "audience": a["audience"],
                "kind": a["kind"],
                "members": a["members"],
                "eligible": a["eligible"],
                "kept back": sum(a["excluded"].values()),
            }
            | {f"on {platform}": lists.get(a["audience"], 0) for platform, lists in held.items()}
            for a in built["lists"]
        ],
        as_json=False,
        title=f"Audiences (queries/audiences/segments.json), snapshot {built['snapshot']}"
        + _on_platforms(built, held),
    )
    if built.get("conversions"):
        _show_conversions(built["conversions"])


def _show_conversions(done: dict[str, Any]) -> None:
    """What the audiences function sent as conversions (lead stages) to each platform."""
    rows = [
        {"platform": platform, "stages": s["considered"], "already sent": s["already_sent"],
         "outcomes": ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items())) or "-",
         "kept back": ", ".join(f"{k} {v}" for k, v in sorted(s["excluded"].items()) if v) or "-"}
        if isinstance(s, dict) else {"platform": platform, "stages": s}
        for platform, s in done.items()
    ]  # fmt: skip
    emit(rows, as_json=False, title="Conversions: lead stages sent to the local fake platforms")


def _on_platforms(built: dict[str, Any], held: dict[str, dict[str, int]]) -> str:
    """What the title says of the fake platforms' lists."""
    if not held:
        return ""
    same = all(
        lists.get(a["audience"], 0) == a["eligible"] for lists in held.values() for a in built["lists"]
    )
    return (
        ": synced to the local fake "
        + " and ".join(held)
        + ", "
        + (
            "each list holding exactly its eligible members"
            if same
            else "SOME LISTS DIFFER from the snapshot"
        )
    )


def _show_realtime(live: demo_realtime.RealtimeDemo) -> None:
    def counts(values: dict[str, int]) -> str:
        return ", ".join(f"{key} × {n}" for key, n in values.items())

    console.print(
        f"webhook leads answered: {counts(live.answers)} · routing: {counts(live.routes)} · "
        f"CRM events answered: {counts(live.events)}"
    )
    emit(
        live.dealers,
        as_json=False,
        title="Real-time leads per dealer: routed = acknowledged, none received twice"
        if live.delivered_once
        else "Real-time leads per dealer: NOT every routed lead was acknowledged once",
    )
    emit(
        live.timings,
        as_json=False,
        title="Timings in minutes: delivery latency (receipt → CRM ack, ours), speed-to-lead (request → "
        "first contact, theirs); business = inside opening hours",
    )


def _per_dealer(reports: list[Any]) -> list[dict[str, Any]]:
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for report in reports:
        totals[report.dealer_id].update(
            files=1, rows_in=report.rows_in, curated=report.rows_curated, quarantined=report.rows_quarantined
        )
        reasons[report.dealer_id].update(report.quarantine_reasons)
    return [
        {
            "dealer": dealer,
            "files": counts["files"],
            "rows_in": counts["rows_in"],
            "curated": counts["curated"],
            "quarantined": counts["quarantined"],
            "top_reasons": ", ".join(f"{r} {n}" for r, n in reasons[dealer].most_common(3)),
        }
        for dealer, counts in sorted(totals.items())
    ]


def _run_named(name: str) -> list[dict[str, Any]]:
    """The rows of ``queries/named/<name>.sql`` on the lake (the tables and views it reads)."""
    from forecourt import analytics

    sql = (bundled.queries_dir() / "named" / f"{name}.sql").read_text()
    result = analytics.run_query(sql, max_rows=50)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]
