"""The report's sections: each runs its SQL of ``queries/report/`` (Athena SQL, on the same engine as
``forecourt query``) and turns the rows into charts, a table of the figures and the definitions.

A section whose query cannot run (a view not yet in the catalog, a table not migrated) is shown
with the reason instead of its charts; the other sections are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup

from forecourt import analytics
from forecourt.report import charts
from forecourt.report.charts import Series
from forecourt.report.queries import Query, Runner, records

TOP_DEALERS = 20
"""Dealers drawn in a per-dealer chart (the largest first); the table and the CSV hold all."""
TOP_MATRIX = 12
TOP_CAMPAIGNS = 15
TOP_REASONS = 7
STAGES = (
    ("leads", "leads"),
    ("contacted", "contacted"),
    ("appointment_set", "appointment set"),
    ("shown", "shown"),
    ("sold", "sold"),
)
SPEED_BUCKETS = (
    ("within_5_min", "≤ 5 min"),
    ("min_5_to_15", "5–15 min"),
    ("min_15_to_30", "15–30 min"),
    ("min_30_to_60", "30–60 min"),
    ("hours_1_to_4", "1–4 h"),
    ("hours_4_to_24", "4–24 h"),
    ("over_24_hours", "> 24 h"),
)


@dataclass
class Table:
    """The figures behind a section's charts, as the reader sees them."""

    columns: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Section:
    """A part of the report: title, what its figures mean, charts, table, and the queries behind it."""

    key: str
    title: str
    definition: Markup
    period: str
    charts: list[Markup] = field(default_factory=list)
    table: Table | None = None
    queries: list[Query] = field(default_factory=list)
    error: str | None = None


def share(part: float | None, whole: float | None) -> float | None:
    """``part`` of ``whole`` in per cent (None when the whole is 0 or unknown)."""
    return None if not whole or part is None else 100.0 * float(part) / float(whole)


def _n(value: Any) -> str:
    return "" if value is None else charts.count(float(value))


def _pct(value: Any) -> str:
    return "" if value is None else charts.percent(float(value))


def _amt(value: Any) -> str:
    return "" if value is None else charts.amount(float(value))


def funnel(runner: Runner, period: str) -> Section:
    """Leads through the stages, overall and per dealer (views lead_funnel)."""
    section = Section(
        "funnel",
        "Lead funnel",
        Markup(
            "From the <code>lead_funnel</code> view: leads are enquiries (test leads left out, a "
            "shopper's repeat leads at the same dealer within the dedupe window counted once), and an "
            "enquiry counts at a stage when it reached it or a later one within the attribution window "
            "(a sale reported by the CRM or found in the DMS). Rates are from the stage before: "
            "contact rate = contacted ÷ leads, appointment rate = appointments set ÷ contacted, show "
            "rate = shown ÷ appointments, close rate = sold ÷ shown."
        ),
        f"enquiries by the week of their request, {period}",
    )
    by_dealer = runner.run("funnel_by_dealer")
    section.queries.append(by_dealer)
    dealers = records(by_dealer)
    counts = [float(sum(d[column] or 0 for d in dealers)) for column, _ in STAGES]  # counts add up
    labels = [
        f"{charts.count(c)}" + ("" if i == 0 else f" ({charts.percent(share(c, counts[0]) or 0)} of leads)")
        for i, c in enumerate(counts)
    ]
    section.charts.append(
        charts.bar_chart(
            "funnel",
            "Leads reaching each stage",
            [label for _, label in STAGES],
            [Series("leads", counts if counts[0] else [])],
            value_title="leads",
            category_title="stage",
            value_labels=[labels],
        )
    )
    shown = dealers[:TOP_DEALERS]
    rates = (
        ("contact_rate", "contact rate"),
        ("appointment_rate", "appointment rate"),
        ("show_rate", "show rate"),
        ("close_rate", "close rate"),
    )
    section.charts.append(
        charts.bar_chart(
            "funnel-rates",
            "Stage conversion per dealer",
            [str(d["dealer_id"]) for d in shown],
            [Series(label, [_float(d[key]) for d in shown]) for key, label in rates],
            value_title="conversion from the previous stage (%)",
            category_title="dealer",
            fmt=charts.percent,
            tick_fmt=charts.whole_percent,
            maximum=100,
        )
    )
    section.table = Table(
        ["dealer", *(label for _, label in STAGES), *(label for _, label in rates)],
        [
            [str(d["dealer_id"]), *(_n(d[k]) for k, _ in STAGES), *(_pct(d[k]) for k, _ in rates)]
            for d in dealers
        ],
        _more(len(dealers), TOP_DEALERS, "dealers"),
    )
    return section


def speed_to_lead(runner: Runner, period: str) -> Section:
    """How fast each dealer first contacts its leads, as shares of time buckets."""
    section = Section(
        "speed-to-lead",
        "Speed-to-lead per dealer",
        Markup(
            "Speed-to-lead = an enquiry's first personal contact minus its request time, in actual "
            "minutes (business hours: <code>forecourt timings</code>), as the <code>lead_outcomes</code> "
            "view times it: the earliest of the CRM's <code>contacted</code> event and the CRM's own "
            "first-contact time; enquiries as in the funnel. The bars show how each dealer's contacted "
            "enquiries spread over time buckets (n: how many); OEM programs target 30 minutes or less. "
            "Median and p90 are those of the <code>dealer_speed_to_lead</code> view; enquiries without "
            "a recorded contact are in the table only."
        ),
        f"enquiries by their request time, {period}",
    )
    query = runner.run("speed_to_lead")
    section.queries.append(query)
    dealers = records(query)
    shown = [d for d in dealers if d["contacted_leads"]][:TOP_DEALERS]
    series = [
        Series(label, [share(d[key], d["contacted_leads"]) for d in shown]) for key, label in SPEED_BUCKETS
    ]
    section.charts.append(
        charts.bar_chart(
            "speed-to-lead",
            "Time to first contact, share of each dealer's contacted enquiries",
            [str(d["dealer_id"]) for d in shown],
            series,
            value_title="share of contacted enquiries (%)",
            category_title="dealer",
            fmt=charts.percent,
            tick_fmt=charts.whole_percent,
            stacked=True,
            maximum=100,
            value_labels=[[_whole_pct(v) for v in s.values] for s in series],
            end_labels=[f"n = {_n(d['contacted_leads'])}" for d in shown],
        )
    )
    section.table = Table(
        [
            "dealer",
            "enquiries",
            "first contact known",
            "none recorded",
            "median (min)",
            "p90 (min)",
            "≤ 30 min",
        ],
        [
            [
                str(d["dealer_id"]),
                _n(d["leads"]),
                _n(d["contacted_leads"]),
                _n(d["no_contact_recorded"]),
                "" if d["median_minutes"] is None else f"{float(d['median_minutes']):,.1f}",
                "" if d["p90_minutes"] is None else f"{float(d['p90_minutes']):,.1f}",
                _pct(
                    share(
                        sum(d[k] for k in ("within_5_min", "min_5_to_15", "min_15_to_30")),
                        d["contacted_leads"],
                    )
                ),
            ]
            for d in dealers
        ],
        _more(len([d for d in dealers if d["contacted_leads"]]), TOP_DEALERS, "dealers"),
    )
    return section


def campaigns(runner: Runner, period: str) -> Section:
    """Cost per sale per campaign, first touch against last touch (view campaign_performance)."""
    section = Section(
        "campaigns",
        "Campaign cost per sale",
        Markup(
            "Cost per sale = the campaign's spend ÷ the sales attributed to it (the "
            "<code>campaign_performance</code> view, summed over dealers), once crediting the first "
            "campaign that touched the buyer (first touch) and once the last (last touch). A campaign "
            "without attributed sales has no cost per sale. Spend is in the ad accounts' currency."
        ),
        "all spend and sales in the lake (the view has no period to bound)",
    )
    query = runner.run("campaign_cost_per_sale")
    section.queries.append(query)
    rows = records(query)
    by_campaign: dict[str, dict[str, dict[str, Any]]] = {}
    names: dict[str, str] = {}
    for row in rows:
        by_campaign.setdefault(str(row["campaign_id"]), {})[str(row["attribution"])] = row
        names[str(row["campaign_id"])] = str(row["campaign_name"] or row["campaign_id"])
    ordered = sorted(by_campaign, key=lambda c: -max(float(r["spend"] or 0) for r in by_campaign[c].values()))
    shown = ordered[:TOP_CAMPAIGNS]
    touches = (("first_touch", "first touch"), ("last_touch", "last touch"))
    series, labels = [], []
    for key, label in touches:
        values = [_float(by_campaign[c].get(key, {}).get("cost_per_sale")) for c in shown]
        series.append(Series(label, [0.0 if v is None else v for v in values]))
        labels.append([("no sales" if v is None else charts.amount(v)) for v in values])
    section.charts.append(
        charts.bar_chart(
            "campaign-cost-per-sale",
            "Cost per sale by campaign and attribution",
            [names[c] for c in shown],
            series,
            value_title="cost per sale",
            category_title="campaign",
            fmt=charts.amount,
            tick_fmt=charts.count,
            value_labels=labels,
        )
    )
    section.table = Table(
        ["campaign", "campaign id", "attribution", "spend", "leads", "sales", "cost per sale"],
        [
            [
                names[str(r["campaign_id"])],
                str(r["campaign_id"]),
                str(r["attribution"]).replace("_", " "),
                _amt(r["spend"]),
                _n(r["leads"]),
                _n(r["sales"]),
                _amt(r["cost_per_sale"]) or "no sales",
            ]
            for r in rows
        ],
        _more(len(ordered), TOP_CAMPAIGNS, "campaigns (by spend)"),
    )
    return section


def quarantine(runner: Runner, period: str, unit: str) -> Section:
    """Quarantined records per day or week and reason code."""
    section = Section(
        "quarantine",
        "Quarantine reasons over time",
        Markup(
            "Records rejected at ingest (the <code>quarantine</code> table), by the {unit} they arrived "
            "and their reason code (a closed set: docs/quarantine-reasons.md). The rate is over the "
            "records that arrived in the same {unit} (<code>uploads.rows_in</code>); the {top} most "
            "frequent reasons are drawn apart, the rest as “other”."
        ).format(unit=unit, top=TOP_REASONS),
        f"records by the time they arrived, {period}",
    )
    query = runner.run("quarantine_over_time", unit=unit)
    section.queries.append(query)
    rows = records(query)
    totals: dict[str, int] = {}
    for r in rows:
        if r["reason_code"] is not None:
            totals[r["reason_code"]] = totals.get(r["reason_code"], 0) + int(r["records"])
    drawn = sorted(totals, key=lambda k: (-totals[k], k))[:TOP_REASONS]
    cells: dict[tuple[str, str], float] = {}
    arrived: dict[str, int] = {}
    for r in rows:
        period_key = _day(r["period"])
        arrived[period_key] = int(r["rows_in"] or 0)
        if r["reason_code"] is not None:
            key = (period_key, r["reason_code"] if r["reason_code"] in drawn else "other")
            cells[key] = cells.get(key, 0) + int(r["records"])
    names = drawn + (["other"] if len(totals) > TOP_REASONS else [])
    periods = _every_period(sorted(arrived), unit)
    section.charts.append(
        charts.column_chart(
            "quarantine",
            f"Quarantined records per {unit} and reason",
            periods,
            [Series(name, [cells.get((p, name)) for p in periods]) for name in names],
            value_title="quarantined records",
            category_title=f"{unit} received (UTC)" + (", starting Monday" if unit == "week" else ""),
        )
    )
    quarantined = {p: sum(v for (q, _), v in cells.items() if q == p) for p in arrived}
    top = {
        p: max((v, reason) for (q, reason), v in cells.items() if q == p) for p in arrived if quarantined[p]
    }
    section.table = Table(
        [unit, "records in", "quarantined", "rate", "top reason"],
        [
            [
                p,
                _n(arrived[p]),
                _n(quarantined[p]),
                _pct(share(quarantined[p], arrived[p])),
                top[p][1] if p in top else "",
            ]
            for p in sorted(arrived)
        ],
    )
    return section


def identity_overlap(runner: Runner, period: str) -> Section:
    """People shared between dealers (persons of the last identity run)."""
    section = Section(
        "identity-overlap",
        "Identity overlap between dealers",
        Markup(
            "People are the persons of the last identity run (<code>person_links</code>): records of "
            "leads, visits and sales resolved to one person across dealers. A cell is the number of people "
            "with records at both the row's and the column's dealer, shaded by its share of the row "
            "dealer's people (darkest: the largest share); the diagonal is the dealer's own people. "
            "OEM-level records are left out."
        ),
        f"persons by when their records arrived, {period}",
    )
    pairs = runner.run("identity_overlap")
    spread = runner.run("dealers_per_person")
    per_dealer = runner.run("identity_by_dealer")
    section.queries += [pairs, spread, per_dealer]
    matrix = {(str(r["dealer_id"]), str(r["other_dealer_id"])): float(r["people"]) for r in records(pairs)}
    dealers = [str(d["dealer_id"]) for d in records(per_dealer)][:TOP_MATRIX]
    dealers.sort()
    cells = [[matrix.get((a, b)) for b in dealers] for a in dealers]
    shares = {
        (a, b): share(matrix.get((a, b)), matrix.get((a, a))) or 0.0
        for a in dealers
        for b in dealers
        if a != b
    }
    darkest = max(shares.values(), default=0.0) or 1.0
    section.charts.append(
        charts.heatmap(
            "identity-overlap",
            "People with records at both dealers",
            dealers,
            dealers,
            cells,
            row_title="dealer",
            column_title="also at dealer",
            shade=[[0.0 if a == b else shares[(a, b)] / darkest for b in dealers] for a in dealers],
        )
    )
    per_person = records(spread)
    people = sum(int(r["people"]) for r in per_person)
    section.charts.append(
        charts.bar_chart(
            "dealers-per-person",
            "People by the number of dealers they have records at",
            [f"{r['dealers']} dealer" + ("" if r["dealers"] == 1 else "s") for r in per_person],
            [Series("people", [float(r["people"]) for r in per_person])],
            value_title="people",
            category_title="dealers",
            value_labels=[[f"{_n(r['people'])} ({_pct(share(r['people'], people))})" for r in per_person]],
        )
    )
    rows = records(per_dealer)
    section.table = Table(
        ["dealer", "people", "also at another dealer", "share"],
        [[str(d["dealer_id"]), _n(d["people"]), _n(d["shared_people"]), _pct(d["shared_pct"])] for d in rows],
        _more(len(rows), TOP_MATRIX, "dealers (by people)"),
    )
    return section


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _whole_pct(value: float | None) -> str | None:
    return None if value is None or value < 0.5 else f"{value:.0f} %"


def _day(value: date | datetime | str) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else str(value)[:10]


def _every_period(periods: Sequence[str], unit: str) -> list[str]:
    """Every day (or week) from the first of ``periods`` to the last, so that gaps show as gaps."""
    if not periods:
        return []
    step = timedelta(days=7 if unit == "week" else 1)
    first, last = date.fromisoformat(periods[0]), date.fromisoformat(periods[-1])
    return [(first + step * i).isoformat() for i in range((last - first) // step + 1)]


def _more(total: int, shown: int, what: str) -> str:
    return f"The charts show the first {shown} of {total} {what}; the table has all." if total > shown else ""


def guarded(key: str, title: str, build: Callable[[], Section], queries: Sequence[str]) -> Section:
    """``build()``, or the section with the reason it could not be made."""
    try:
        return build()
    except analytics.QueryError as exc:
        return Section(
            key,
            title,
            Markup(""),
            "",
            error=f"{exc} (queries: {', '.join(f'queries/report/{q}.sql' for q in queries)})",
        )
