"""Synthetic data: a realistic dealer network on disk, and a large messy leads CSV for benchmarks.

``generate_network`` writes every dealer's exports in its own systems' dialects (VinSolutions CSV,
Elead UTF-16 text, ADF XML, JSON lines, CDK and Dealertrack deal extracts, service and showroom
logs) plus the OEM's ad-platform files, from one shared population: people shop at several dealers
and appear in CRM and DMS with slightly different contact data. A few % of records are built to fail
their dataset's contract and one file is unreadable (a truncated gzip), so the quarantine has work.
``generate_leads_csv`` streams a VinSolutions-dialect file of any size in bounded memory.

Both are pure functions of the seed (``random.Random(seed)``, no clock unless ``today`` is left out,
no network): the same arguments give byte-identical files.
"""

from __future__ import annotations

import gzip
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from forecourt import feeds
from forecourt.local import ad_reports, dialects, dms_dialects, documents
from forecourt.local.activity import (
    Campaign,
    Lead,
    Sale,
    Visit,
    make_campaigns,
    make_lead,
    make_sale,
    make_service_visit,
    make_showroom_visit,
)
from forecourt.local.bulk_leads import generate_leads_csv
from forecourt.local.population import (
    DEALERS,
    METROS,
    DealerSpec,
    Person,
    Vehicle,
    Weighted,
    between,
    make_person,
    pick,
    used_vehicle,
)

__all__ = ["DealerSpec", "FileSpec", "NetworkSpec", "generate_leads_csv", "generate_network"]

WINDOW_DAYS = 28
"""Generated activity covers the four weeks before ``today``; one file per dealer, feed and week."""
DEALER_WEIGHTS = {
    "D1001": 1.3,
    "D1002": 1.2,
    "D1003": 0.9,
    "D1004": 1.0,
    "D1005": 0.9,
    "D1006": 0.8,
    "D1007": 1.0,
    "D1008": 0.9,
}
PEOPLE_PER_LEAD = 0.45
"""Population per metro relative to its leads: about 2.2 leads a person, spread over the metro's dealers."""
LEAD_FEED_SHARE = {"vinsolutions-leads": 6, "elead-leads": 6, "generic-leads": 6, "adf": 3, "jsonl-leads": 2}


@dataclass(frozen=True)
class FileSpec:
    """One generated file and what ingesting it must count."""

    path: str
    """Relative to the output folder, ``<dealer_id>/<feed>/<file name>`` (POSIX separators)."""
    dealer_id: str
    """The dealer, or ``oem`` for the OEM's ad-platform files."""
    feed: str
    records: int
    """Records in the file (report totals lines included); 0 for the unreadable file."""
    contract_failures: int = 0
    """Records built to fail the dataset's minimum contract."""
    summary_rows: int = 0
    """Report totals lines (quarantined as ``report_summary_row``)."""
    unreadable: bool = False
    """The file cannot be read at all (truncated gzip): the upload is rejected whole."""

    @property
    def dataset(self) -> str:
        """The dataset the file's feed fills."""
        return feeds.get(self.feed).dataset

    @property
    def expected_curated(self) -> int:
        """Records that pass the contract."""
        return self.records - self.contract_failures - self.summary_rows


@dataclass(frozen=True)
class NetworkSpec:
    """What ``generate_network`` wrote."""

    seed: int
    today: date
    dealers: tuple[DealerSpec, ...]
    files: tuple[FileSpec, ...]
    people: int
    """People with at least one record anywhere."""
    cross_dealer_people: int
    """People with records at two or more dealers."""

    @property
    def oem_feeds(self) -> tuple[str, ...]:
        """Feeds of the OEM's files (dealer id ``oem``): register that sender before ingesting."""
        return tuple(sorted({f.feed for f in self.files if f.dealer_id == "oem"}))

    def records(self, dataset: str) -> int:
        """Records written for ``dataset`` (readable files, companions not counted)."""
        return sum(f.records for f in self.files if f.dataset == dataset and not f.unreadable)


@dataclass
class _World:
    """The simulation's state while it runs."""

    rng: random.Random
    days: list[date]
    campaigns: list[Campaign]
    pools: dict[str, list[Person]]
    leads: list[Lead]
    sales: list[Sale]
    visits: list[Visit]
    customer_ids: dict[tuple[str, str, int], str]
    touched: dict[int, set[str]]

    def customer_id(self, system: str, dealer: DealerSpec, person: Person, base: int) -> str:
        """The id a dealer's CRM or DMS gives the person (stable for the same person)."""
        key = (system, dealer.dealer_id, id(person))
        if key not in self.customer_ids:
            self.customer_ids[key] = str(base + len(self.customer_ids))
        self.touched.setdefault(id(person), set()).add(dealer.dealer_id)
        return self.customer_ids[key]


def generate_network(
    out_dir: Path, *, seed: int = 7, leads: int = 50_000, today: date | None = None
) -> NetworkSpec:
    """Write a dealer network's files under ``out_dir`` and describe them.

    ``leads`` lead records in total (including the ~3 % built to fail the contract), plus the sales,
    visits and ad-platform files that go with them. ``today`` defaults to the current date; pass it
    for byte-identical output across days.
    """
    today = today or date.today()
    rng = random.Random(seed)
    days = [today - timedelta(days=n) for n in range(WINDOW_DAYS, 0, -1)]
    world = _World(rng, days, make_campaigns(rng, days[0], today), _populate(rng, leads), [], [], [], {}, {})
    _simulate_leads(world, leads)
    visited = _simulate_showroom_visits(world, today)
    _simulate_sales(world, today, visited)
    _simulate_service_visits(world, today)
    files = _write_dealer_files(world, out_dir) + _write_oem_files(world, out_dir)
    cross = sum(1 for dealers in world.touched.values() if len(dealers) > 1)
    return NetworkSpec(seed, today, DEALERS, tuple(files), len(world.touched), cross)


def _populate(rng: random.Random, leads: int) -> dict[str, list[Person]]:
    total = sum(DEALER_WEIGHTS.values())
    pools: dict[str, list[Person]] = {}
    for metro in METROS:
        share = sum(DEALER_WEIGHTS[d.dealer_id] for d in DEALERS if d.metro == metro) / total
        pools[metro] = [make_person(rng, metro) for _ in range(int(leads * share * PEOPLE_PER_LEAD) + 10)]
    return pools


def _shopper(world: _World, dealer: DealerSpec) -> Person:
    """Mostly someone from the dealer's metro; now and then a visitor from elsewhere."""
    metro = dealer.metro if world.rng.random() < 0.98 else pick(world.rng, tuple(METROS))
    return pick(world.rng, world.pools[metro])


def _simulate_leads(world: _World, count: int) -> None:
    rng = world.rng
    weights = [DEALER_WEIGHTS[d.dealer_id] for d in DEALERS]
    lead_feeds = {
        d.dealer_id: Weighted([(f, LEAD_FEED_SHARE[f]) for f in d.feeds if f in LEAD_FEED_SHARE])
        for d in DEALERS
    }
    by_target: dict[tuple[str, str], list[Campaign]] = defaultdict(list)
    for campaign in world.campaigns:
        by_target[campaign.metro, campaign.model].append(campaign)
    serial: Counter[tuple[str, str]] = Counter()
    for dealer in rng.choices(DEALERS, weights, k=count):
        feed = lead_feeds[dealer.dealer_id].draw(rng)
        serial[dealer.dealer_id, feed] += 1
        person = _shopper(world, dealer)
        lead = make_lead(
            rng,
            _lead_key(dealer, feed, serial[dealer.dealer_id, feed]),
            dealer,
            feed,
            person,
            pick(rng, world.days),
            by_target,
        )
        lead.customer_id = world.customer_id("crm", dealer, person, 7_710_000)
        world.leads.append(lead)


def _lead_key(dealer: DealerSpec, feed: str, number: int) -> str:
    """The lead's id in its source system."""
    site = "VW" if dealer.brand == "Volkswagen" else "GM"
    return {
        "vinsolutions-leads": f"{48_100_000 + number}",
        "elead-leads": f"{30_900_000 + number}",
        "adf": f"{site}-{8_800_000 + number}",
        "jsonl-leads": f"WF-{dealer.dealer_id}-{number:06d}",
        "generic-leads": f"{dealer.dealer_id}-WEB-{number}",
    }[feed]


BUY_CHANCE = {
    "base": 0.05,
    "showroom_visit": 0.16,
    "fast_contact": 0.03,
    "per_repeat_lead": 0.02,
    "trade_in": 0.03,
}
"""How a lead's behaviour drives the chance that it buys within three weeks (``_buy_chance``): a
showroom visit after the lead, first contact within 30 minutes, each earlier lead of the same person
(up to three) and a trade-in on the lead. About 12 % of leads buy overall, so that the enrichment
score's calibration (``forecourt enrich calibrate``) has something real to find."""


def _buy_chance(lead: Lead, visited: bool, leads_of_person: int) -> float:
    chance = BUY_CHANCE["base"]
    chance += BUY_CHANCE["showroom_visit"] if visited else 0.0
    fast = lead.contact_minutes is not None and lead.contact_minutes <= 30
    chance += BUY_CHANCE["fast_contact"] if fast else 0.0
    chance += BUY_CHANCE["per_repeat_lead"] * min(leads_of_person - 1, 3)
    chance += BUY_CHANCE["trade_in"] if lead.trade is not None else 0.0
    return chance


def _simulate_sales(world: _World, today: date, visited: set[int]) -> None:
    """Leads buy within three weeks as their behaviour makes likely (``BUY_CHANCE``); walk-in buyers
    without a lead add a quarter more. ``visited``: the ``id`` of each lead a showroom visit followed."""
    rng = world.rng
    deals: Counter[str] = Counter()
    buyers: list[tuple[DealerSpec, Person, date, Vehicle, Vehicle | None]] = []
    leads_of = Counter(id(lead.person) for lead in world.leads)
    for lead in world.leads:
        day = lead.at.date() + timedelta(days=between(rng, 0, 21))
        if rng.random() < _buy_chance(lead, id(lead) in visited, leads_of[id(lead.person)]) and day < today:
            buyers.append(
                (lead.dealer, lead.person, day, lead.vehicle, lead.trade if rng.random() < 0.5 else None)
            )
    for _ in range(len(buyers) // 4):
        dealer = pick(rng, DEALERS)
        vehicle = used_vehicle(rng, today.year)
        buyers.append((dealer, _shopper(world, dealer), pick(rng, world.days), vehicle, None))
    for dealer, person, day, vehicle, trade in buyers:
        deals[dealer.dealer_id] += 1
        cobuyer = pick(rng, world.pools[dealer.metro]) if rng.random() < 0.2 else None
        sale = make_sale(rng, 10_000 + deals[dealer.dealer_id], dealer, person, day, vehicle, trade, cobuyer)
        sale.customer_id = world.customer_id("dms", dealer, person, 1_040_000)
        world.sales.append(sale)


def _simulate_showroom_visits(world: _World, today: date) -> set[int]:
    """Showroom visits follow about 30 % of leads at dealers that export them; returns the ``id`` of
    each lead a visit followed."""
    rng = world.rng
    serial: Counter[str] = Counter()
    visited: set[int] = set()
    for lead in world.leads:
        day = lead.at.date() + timedelta(days=between(rng, 0, 7))
        if "showroom-visits" in lead.dealer.feeds and rng.random() < 0.3 and day < today:
            serial[lead.dealer.dealer_id] += 1
            person = lead.person if rng.random() < 0.97 else None
            world.visits.append(
                make_showroom_visit(
                    rng, 90_000 + serial[lead.dealer.dealer_id], lead.dealer, person, day, lead.vehicle
                )
            )
            if person is not None:
                visited.add(id(lead))
    return visited


def _simulate_service_visits(world: _World, today: date) -> None:
    """Service ROs are a fifth of a dealer's lead volume; a buyer's car comes back to its dealer."""
    rng = world.rng
    bought = {(s.dealer.dealer_id, id(s.person)): s.vehicle for s in world.sales}
    per_dealer = Counter(lead.dealer.dealer_id for lead in world.leads)
    for dealer in (d for d in DEALERS if "service-visits" in d.feeds):
        for number in range(per_dealer[dealer.dealer_id] // 5):
            person = _shopper(world, dealer) if rng.random() < 0.985 else None
            vehicle = bought.get((dealer.dealer_id, id(person))) or used_vehicle(rng, today.year)
            world.visits.append(
                make_service_visit(rng, 600_000 + number, dealer, person, pick(rng, world.days), vehicle)
            )
    for visit in world.visits:
        if visit.person is not None:
            visit.customer_id = world.customer_id("dms", visit.dealer, visit.person, 1_040_000)


Renderer = Callable[[random.Random, object], dialects.Row]
_CSV_FEEDS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "vinsolutions-leads": (dialects.VINSOLUTIONS_HEADER, ",", "LeadExport_{d:%Y%m%d}.csv"),
    "elead-leads": (dialects.ELEAD_HEADER, "\t", "Opportunities_{d:%Y%m%d}.txt"),
    "generic-leads": (dialects.GENERIC_HEADER, ",", "website_leads_{d:%Y%m%d}.csv"),
    "cdk-sales": (dms_dialects.CDK_HEADER, ",", "DealExtract_{d:%Y%m%d}.csv"),
    "dealertrack-sales": (dms_dialects.DEALERTRACK_HEADER, "|", "DealsExport_{d:%m%d}.txt"),
    "service-visits": (dms_dialects.SERVICE_HEADER, ",", "RO_History_{d:%Y%m%d}.csv"),
    "showroom-visits": (dms_dialects.SHOWROOM_HEADER, ",", "ShowroomTraffic_{d:%Y%m%d}.csv"),
}
_RENDERERS: dict[str, Callable[..., dialects.Row]] = {
    "vinsolutions-leads": dialects.vinsolutions_row,
    "elead-leads": dialects.elead_row,
    "generic-leads": dialects.generic_row,
    "cdk-sales": dms_dialects.cdk_row,
    "dealertrack-sales": dms_dialects.dealertrack_row,
    "service-visits": dms_dialects.service_row,
    "showroom-visits": dms_dialects.showroom_row,
}


def _events_by_file(world: _World) -> dict[tuple[str, str, int], list[Lead | Sale | Visit]]:
    """Events grouped by dealer, feed and week of the window, in time order."""
    grouped: dict[tuple[str, str, int], list[Lead | Sale | Visit]] = defaultdict(list)
    start = world.days[0]
    sales_feed = {d.dealer_id: next(f for f in d.feeds if f.endswith("-sales")) for d in DEALERS}
    for lead in sorted(world.leads, key=lambda e: e.at):
        grouped[lead.dealer.dealer_id, lead.feed, (lead.at.date() - start).days // 7].append(lead)
    for sale in sorted(world.sales, key=lambda e: e.contract):
        week = min(3, max(0, (sale.contract - start).days // 7))
        grouped[sale.dealer.dealer_id, sales_feed[sale.dealer.dealer_id], week].append(sale)
    for visit in sorted(world.visits, key=lambda e: e.opened):
        week = min(3, (visit.opened.date() - start).days // 7)
        grouped[visit.dealer.dealer_id, f"{visit.kind}-visits", week].append(visit)
    return grouped


def _write_dealer_files(world: _World, out_dir: Path) -> list[FileSpec]:
    specs: list[FileSpec] = []
    for (dealer_id, feed, week), events in sorted(_events_by_file(world).items()):
        dealer = next(d for d in DEALERS if d.dealer_id == dealer_id)
        last_day = world.days[min(len(world.days) - 1, week * 7 + 6)]
        name, data = _render(world.rng, dealer, feed, last_day, events)
        failures = sum(1 for e in events if e.defect)
        specs.append(
            _save(
                out_dir, FileSpec(f"{dealer_id}/{feed}/{name}", dealer_id, feed, len(events), failures), data
            )
        )
        if dealer_id == "D1005" and feed == "cdk-sales" and week == 0:
            broken = f"{dealer_id}/{feed}/{name.replace('.csv.gz', '_resend.csv.gz')}"
            specs.append(
                _save(out_dir, FileSpec(broken, dealer_id, feed, 0, unreadable=True), data[: len(data) // 2])
            )
    return specs


def _render(
    rng: random.Random, dealer: DealerSpec, feed: str, day: date, events: Sequence[object]
) -> tuple[str, bytes]:
    """A file's name and bytes in the dealer's dialect for ``feed``."""
    if feed == "adf":
        vendor = dealer.name
        prospects = [documents.adf_prospect(rng, event, vendor) for event in events]  # type: ignore[arg-type]
        return f"adf_leads_{day:%Y%m%d}.xml", documents.adf_document(
            prospects, shouting=dealer.dealer_id == "D1006"
        )
    if feed == "jsonl-leads":
        lines = [documents.jsonl_line(rng, event) for event in events]  # type: ignore[arg-type]
        return f"web_leads_{day:%Y%m%d}.jsonl", ("\n".join(lines) + "\n").encode()
    header, delimiter, pattern = _CSV_FEEDS[feed]
    rows = [_RENDERERS[feed](rng, event) for event in events]
    encoding = {"elead-leads": "utf-16"}.get(feed, "cp1252" if dealer.dealer_id == "D1004" else "utf-8")
    data = dialects.csv_bytes(header, rows, delimiter=delimiter, encoding=encoding)
    name = pattern.format(d=day)
    if feed == "cdk-sales" and dealer.dealer_id == "D1005":
        return f"{name}.gz", gzip.compress(data, mtime=0)
    return name, data


def _save(out_dir: Path, spec: FileSpec, data: bytes) -> FileSpec:
    target = out_dir / spec.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return spec


def _write_oem_files(world: _World, out_dir: Path) -> list[FileSpec]:
    first, last = world.days[0], world.days[-1]
    reports = {
        f"google-ads-spend/Campaign report {first:%Y%m%d}-{last:%Y%m%d}.csv": ad_reports.google_spend(
            world.rng, world.campaigns, world.days
        ),
        f"meta-ads-spend/OEM-Campaigns-{first:%b-%d-%Y}-{last:%b-%d-%Y}.csv": ad_reports.meta_spend(
            world.rng, world.campaigns, world.days
        ),
        f"google-ads-campaigns/Campaigns {last:%Y%m%d}.csv": ad_reports.google_campaigns(world.campaigns),
        f"meta-ads-campaigns/Campaigns-{last:%b-%d-%Y}.csv": ad_reports.meta_campaigns(world.campaigns),
    }
    return [
        _save(
            out_dir,
            FileSpec(
                f"oem/{path}",
                "oem",
                path.split("/")[0],
                report.records,
                report.contract_failures,
                report.summary_rows,
            ),
            report.data,
        )
        for path, report in reports.items()
    ]
