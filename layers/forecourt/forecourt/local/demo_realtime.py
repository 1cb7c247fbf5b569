"""The real-time half of ``forecourt demo`` (issue 4): signed webhook leads posted to the local HTTP
API, routed and delivered to local dealer CRMs (ADF over HTTP, signed JSON), a local mailbox (ADF by
e-mail) and outbound files — with failures injected at the dealers (500s, a timeout, 429 with
Retry-After) — then the CRMs report back what happened to each lead they received.

What it shows: per dealer, the leads routed to it, the deliveries acknowledged, what its receiver
got (and that nothing arrived twice), the faults it answered; and both timings (delivery latency,
ours; speed-to-lead, theirs). Leads are generated from the seed and posted with fixed idempotency
keys, so a second run is answered from the first one's records and delivers nothing again.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from forecourt.local.documents import element
from forecourt.local.population import METROS, DealerSpec, make_person, new_vehicle
from forecourt.senders import SenderKind

LEADS = 100
"""Webhook leads the demo posts (each CRM then reports one to four events on most of them)."""
CONCURRENCY = 4
"""Requests in flight at a time (senders post side by side)."""
METHODS = ("adf_http", "json_webhook", "adf_http", "adf_email", "json_webhook", "file")
"""Delivery methods given to the demo dealers in turn."""
OEM_SENDER = "demo-oem-site"
CRM_SENDER = "demo-dealer-crm"
REALTIME_QUEUES = ("RealtimeQueue", "DeliveryQueue")
"""The queues a lead passes through from the webhook to its receiver (its records then wait for
the committer, with the file half's uploads)."""
CONTACT_MINUTES = (4, 12, 35, 90)
"""Median minutes to first contact, per dealer in turn: fast BDCs and slow ones."""


@dataclass(frozen=True)
class WebhookLead:
    """One generated lead as its sender posts it."""

    source_id: str
    """The sender's own lead id (``DEMO-<seed>-<n>``)."""
    requested_at: datetime
    body: bytes
    media_type: str


@dataclass(frozen=True)
class Request:
    """One signed POST to the local HTTP API."""

    path: str
    sender: str
    secret: str
    body: bytes
    idempotency_key: str
    media_type: str = "application/json"


def inbox(dealer_id: str) -> str:
    """The lead-intake address the demo gives a dealer delivered by ADF e-mail."""
    return f"leads-{dealer_id.lower()}@crm.example.com"


def _sender_secret(name: str, kind: SenderKind) -> str:
    """The secret of the demo's sender ``name``: made now, or the one kept from an earlier run."""
    from forecourt import senders

    if senders.get_sender(name) is None:
        return senders.add_sender(name, kind, all_dealers=True)[1]
    return senders.secrets_for(name)[0]


def configure(dealers: Sequence[DealerSpec], crm: Any) -> dict[str, str]:
    """Give each demo dealer a delivery method and a territory (one dealer suppresses repeat leads);
    inject the faults. Returns dealer id → delivery method."""
    from forecourt import dealer_secrets, registry
    from forecourt.config import settings

    methods: dict[str, str] = {}
    by_metro: dict[str, list[DealerSpec]] = defaultdict(list)
    for dealer in dealers:
        by_metro[dealer.metro].append(dealer)
    for index, dealer in enumerate(dealers):
        method = METHODS[index % len(METHODS)]
        endpoint = {
            "adf_http": crm.adf_url(dealer.dealer_id),
            "json_webhook": crm.json_url(dealer.dealer_id),
            "adf_email": inbox(dealer.dealer_id),
        }.get(method)
        peers = by_metro[dealer.metro]
        zips = [z for z, _ in METROS[dealer.metro][2]]
        territory = sorted({dealer.zip, *zips[peers.index(dealer) :: len(peers)]})
        current = registry.get_dealer(dealer.dealer_id)
        if current is None:
            raise RuntimeError(f"demo dealer {dealer.dealer_id} is not registered")
        registry.put_dealer(
            current.model_copy(
                update={
                    "territory_zips": territory,
                    "delivery": registry.Delivery(method=method, endpoint=endpoint),  # type: ignore[arg-type]
                    "duplicate_policy": "suppress" if index == 2 else "update",
                }
            )
        )
        if method == "json_webhook":
            did = dealer.dealer_id  # the secret made now, or the one kept from an earlier run
            crm.set_secret(did, dealer_secrets.ensure_secret(did) or dealer_secrets.secrets_for(did)[0])
        methods[dealer.dealer_id] = method
    crm_dealers = [d for d, m in methods.items() if m in ("adf_http", "json_webhook")]
    if len(crm_dealers) >= 3:
        crm.fail(crm_dealers[0], 500, times=3)  # a CRM having a bad minute
        crm.fail(crm_dealers[1], 429, times=2, retry_after=1)  # rate limited: honour Retry-After
        crm.delay(crm_dealers[2], settings().delivery_read_timeout + 1)  # one request times out
    return methods


def demo_leads(dealers: Sequence[DealerSpec], seed: int, count: int, day: date) -> list[WebhookLead]:
    """``count`` webhook leads (JSON bodies, some ADF): leads naming their dealer and
    leads to route by zip, repeats of earlier shoppers, two test leads and two that fail the lead
    contract. Requested during ``day`` (from 13:00 UTC, the US morning, for ten hours): the same
    seed and day give the same bodies, so a second run's requests are retries."""
    day_start = datetime.combine(day, dt_time(13, 0), tzinfo=UTC)
    rng = random.Random(seed * 7_919 + 4)
    tests, unreachable = {7, count * 5 // 7}, {11, count * 6 // 7}
    bodies: list[WebhookLead] = []
    people: list[tuple[Any, Any, DealerSpec]] = []
    for i in range(count):
        dealer = dealers[rng.randrange(len(dealers))]
        if i % 25 == 24 and people:  # the same shopper and car again: a duplicate
            person, vehicle, dealer = people[rng.randrange(len(people))]
        else:
            person, vehicle = make_person(rng, dealer.metro), new_vehicle(rng, dealer.brand, 2026)
            people.append((person, vehicle, dealer))
        requested = day_start + timedelta(minutes=rng.uniform(0, 600))
        customer: dict[str, Any] = {
            "first_name": person.first,
            "last_name": "Test" if i in tests else person.last,
            "email": person.email,
            "phone": person.mobile,
            "zip": person.zip,
        }
        if i in unreachable:  # no way to reach them: fails the lead contract (422, quarantined)
            del customer["email"], customer["phone"]
        lead: dict[str, Any] = {
            "lead_id": f"DEMO-{seed}-{i:04d}",
            "created_at": requested.isoformat(timespec="seconds"),
            "source": rng.choice(["OEM Website", "Build & Price", "Edmunds", "Cars.com"]),
            "customer": customer,
            "vehicle": {"year": str(vehicle.year), "make": vehicle.make, "model": vehicle.model},
        }
        if i % 2 == 0:  # the shopper picked a dealer on the OEM site; the others are routed by zip
            lead["dealer_id"] = dealer.dealer_id
        if i % 10 == 4:  # a lead provider that speaks ADF
            bodies.append(
                WebhookLead(lead["lead_id"], requested, _adf(lead, dealer.dealer_id), "application/xml")
            )
        else:
            bodies.append(
                WebhookLead(lead["lead_id"], requested, json.dumps(lead).encode(), "application/json")
            )
    return bodies


def _adf(lead: dict[str, Any], dealer_id: str) -> bytes:
    """The same lead as one ADF 1.0 prospect naming its dealer in ``vendor/id``."""
    c, v = lead["customer"], lead["vehicle"]
    contact = "".join(
        element(tag, str(c.get(key) or ""), attrs)
        for tag, attrs, key in (
            ("name", ' part="first"', "first_name"),
            ("name", ' part="last"', "last_name"),
            ("email", "", "email"),
            ("phone", "", "phone"),
        )
    )
    vendor = element("id", dealer_id, ' source="Forecourt-Dealer"')
    return (
        '<?xml version="1.0" encoding="UTF-8"?><?adf version="1.0"?><adf><prospect status="new">'
        f'<id sequence="1" source={quoteattr(lead["source"])}>{escape(lead["lead_id"])}</id>'
        f"<requestdate>{lead['created_at']}</requestdate>"
        f'<vehicle interest="buy" status="new">{element("year", v["year"])}{element("make", v["make"])}'
        f"{element('model', v['model'])}</vehicle><customer><contact>{contact}<address>"
        f"{element('postalcode', c['zip'])}</address></contact></customer><vendor>{vendor}</vendor>"
        "</prospect></adf>"
    ).encode()


def crm_events(
    received: Sequence[tuple[str, str]], requested: dict[str, datetime], seed: int, now: datetime
) -> list[tuple[str, bytes]]:
    """What each dealer's CRM reports about the leads it received (dealer id, lead id):
    first contact after a dealer-typical delay, then appointments, shows, sales with their value, and
    lost leads — each no later than now. The same lead and dealer always get the same events (a
    second run's posts are retries). Returns (dealer id, JSON body) pairs."""
    events: list[tuple[str, bytes]] = []
    for dealer_id, lead_id in sorted(received):
        # drawn per lead and dealer: a lead's events are the same whatever else was received
        rng = random.Random(f"{seed}:{dealer_id}:{lead_id}")
        median = CONTACT_MINUTES[sum(map(ord, dealer_id)) % len(CONTACT_MINUTES)]
        start = requested.get(lead_id)
        if start is None or rng.random() < 0.1:  # one lead in ten is never worked
            continue
        at = start + timedelta(minutes=rng.lognormvariate(0, 0.8) * median)
        stages = ["contacted"]
        roll = rng.random()
        if roll < 0.35:
            stages += ["appointment_set"] + (["shown"] if roll < 0.2 else [])
            stages += ["sold"] if roll < 0.08 else []
        elif roll > 0.85:
            stages.append("lost")
        for step, stage in enumerate(stages):
            at += timedelta(minutes=step * rng.uniform(20, 240))
            if at > now:
                break
            event: dict[str, Any] = {
                "event_id": f"{lead_id}-{stage}",
                "lead_id": lead_id,
                "type": stage,
                "occurred_at": at.isoformat(timespec="seconds"),
                "channel": "phone" if stage == "contacted" else "showroom",
            }
            if stage == "sold":
                event["value"] = f"{rng.randrange(28_000, 61_000, 50)}.00"
            if stage == "lost":
                event["lost_reason"] = rng.choice(["bought elsewhere", "no response", "price"])
            events.append((dealer_id, json.dumps(event).encode()))
    return events


def post_all(api_url: str, requests: Sequence[Request], advance: Callable[[], None]) -> list[tuple[int, Any]]:
    """POST the requests, ``CONCURRENCY`` at a time; their (status, JSON answer) in order."""
    from forecourt.local.http import post_signed

    def send(request: Request) -> tuple[int, Any]:
        answer = post_signed(
            api_url + request.path,
            request.sender,
            request.secret,
            request.body,
            content_type=request.media_type,
            idempotency_key=request.idempotency_key,
        )
        advance()
        return answer

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(send, requests))


@dataclass
class RealtimeDemo:
    """What the real-time half of the demo did and saw."""

    dealers: list[dict[str, Any]]
    """Per dealer: method, routed, acknowledged, received, received twice, faults answered."""
    answers: dict[str, int]
    """Lead answers by status (202 accepted, 422 failed the lead contract, …)."""
    events: dict[str, int]
    """CRM event answers by status."""
    timings: list[dict[str, Any]]
    """Delivery latency and speed-to-lead per dealer (``forecourt timings``)."""
    routes: dict[str, int]
    """Routing decisions by rule/action."""

    @property
    def delivered_once(self) -> bool:
        """Every routed lead acknowledged, and no receiver got one twice."""
        return all(d["acknowledged"] == d["routed"] and d["received_twice"] == 0 for d in self.dealers)


def run(
    running: Any, dealers: Sequence[DealerSpec], *, seed: int, leads: int, day: date, progress: Any
) -> RealtimeDemo:
    """Post ``leads`` webhook leads requested on ``day``, wait for their delivery, post the CRMs'
    events, summarize."""
    from forecourt.local import stack
    from forecourt.local.crm import DealerCrm

    with DealerCrm() as crm:
        methods = configure(dealers, crm)
        oem_secret = _sender_secret(OEM_SENDER, "oem_site")
        crm_secret = _sender_secret(CRM_SENDER, "dealer_crm")
        generated = demo_leads(dealers, seed, leads, day)
        task = progress.add_task(
            "posting webhook leads (signed, to the local HTTP API)", total=len(generated)
        )
        posted = post_all(
            running.api_url,
            [
                Request(
                    "/v1/leads", OEM_SENDER, oem_secret, lead.body, f"demo-{seed}-lead-{i}", lead.media_type
                )
                for i, lead in enumerate(generated)
            ],
            lambda: progress.advance(task),
        )
        # our lead id (the answer's) → when the shopper asked
        requested = {
            answer["lead_id"]: lead.requested_at
            for lead, (status, answer) in zip(generated, posted, strict=True)
            if status == 202
        }
        waiting = progress.add_task("routing and delivering (faults injected at three dealers)", total=None)
        stack.wait_idle(running, timeout=600, queues=REALTIME_QUEUES)
        progress.update(waiting, total=1, completed=1)
        received = _received(crm, running, methods)
        events = crm_events(
            [(dealer, lead) for dealer, lead, _ in received if methods.get(dealer, "file") != "file"],
            requested,
            seed,
            datetime.now(UTC),
        )
        task = progress.add_task("dealer CRMs reporting back (events)", total=len(events))
        answered = post_all(
            running.api_url,
            [
                # the CRM's own event id keys the retry
                Request(
                    f"/v1/dealers/{dealer}/events",
                    CRM_SENDER,
                    crm_secret,
                    body,
                    f"demo-{seed}-event-{json.loads(body)['event_id']}",
                )
                for dealer, body in events
            ],
            lambda: progress.advance(task),
        )
        stack.wait_idle(running, timeout=600, queues=REALTIME_QUEUES)
        faults = Counter(a.dealer_id for a in crm.attempts() if a.fault)
    # the summary reads the lake: wait for every commit (the file half's too, when it runs alongside)
    stack.wait_idle(running, timeout=600)
    routes = _routes(set(requested))
    return RealtimeDemo(
        dealers=_per_dealer(methods, routes, received, faults),
        answers=dict(sorted(Counter(str(status) for status, _ in posted).items())),
        events=dict(sorted(Counter(str(status) for status, _ in answered).items())),
        timings=_timings(set(methods)),
        routes=dict(sorted(Counter(f"{r['rule']} → {r['action']}" for r in routes).items())),
    )


def _lake_rows(sql: str, table: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` over the lake's table ``table`` (DuckDB locally)."""
    from forecourt import analytics

    return analytics.run_query(sql, {table: analytics.iceberg_source(table)}).to_arrow().to_pylist()


def _routes(lead_ids: set[str]) -> list[dict[str, Any]]:
    """The routing decisions of these leads (one per lead: the latest)."""
    rows = _lake_rows(
        "SELECT lead_id, dealer_id, rule, action, delivery_id, routed_at FROM lead_routes", "lead_routes"
    )
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["routed_at"]):
        if row["lead_id"] in lead_ids:
            latest[row["lead_id"]] = row
    return list(latest.values())


def _received(crm: Any, running: Any, methods: dict[str, str]) -> list[tuple[str, str, str]]:
    """(dealer id, lead id, delivery id) of every lead a receiver accepted this run: the
    CRM's endpoints, the stack's mailbox (its kept messages) and the outbound files."""
    from pathlib import Path

    from forecourt import aws, lake
    from forecourt.config import settings
    from forecourt.local.mailbox import stored_receipts

    out = [(r.dealer_id, r.lead_id or "", r.delivery_id or "") for r in crm.received() if r.valid]
    inbox_of = {inbox(d): d for d, m in methods.items() if m == "adf_email"}
    mail = Path(running.state_dir) / "mail"
    if mail.is_dir():
        out += [
            (inbox_of[r.to], r.lead_id or "", r.delivery_id or "")
            for r in stored_receipts(mail)
            if r.valid and r.to in inbox_of
        ]
    s3 = aws.client("s3")
    for dealer_id in (d for d, m in methods.items() if m == "file"):
        prefix = f"{lake.OUTBOUND_PREFIX}dealer={dealer_id}/"
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=settings().lake_bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                delivery = item["Key"].rsplit("/", 1)[-1].removesuffix(".xml")
                out.append((dealer_id, "", delivery))
    return out


def _per_dealer(
    methods: dict[str, str],
    routes: list[dict[str, Any]],
    received: list[tuple[str, str, str]],
    faults: Counter[str],
) -> list[dict[str, Any]]:
    delivered = _lake_rows(
        "SELECT DISTINCT dealer_id, delivery_id FROM deliveries WHERE status = 'delivered'", "deliveries"
    )
    acknowledged: dict[str, set[str]] = defaultdict(set)
    for row in delivered:
        acknowledged[row["dealer_id"]].add(row["delivery_id"])
    sent: dict[str, set[str]] = defaultdict(set)
    for route in routes:
        if route["action"] in ("new", "update") and route["delivery_id"]:
            sent[route["dealer_id"]].add(route["delivery_id"])
    got: dict[str, Counter[str]] = defaultdict(Counter)
    for dealer_id, _, delivery_id in received:
        got[dealer_id][delivery_id] += 1
    return [
        {
            "dealer": dealer_id,
            "method": method,
            "routed": len(sent[dealer_id]),
            "acknowledged": len(sent[dealer_id] & acknowledged[dealer_id]),
            "received": len(set(got[dealer_id]) & sent[dealer_id]),
            "received_twice": sum(1 for d, n in got[dealer_id].items() if n > 1 and d in sent[dealer_id]),
            "faults_answered": faults[dealer_id],
        }
        for dealer_id, method in sorted(methods.items())
    ]


def _timings(dealers: set[str]) -> list[dict[str, Any]]:
    from forecourt import timings

    return [t.as_row() for t in timings.lake_timings() if t.dealer_id in dealers]
