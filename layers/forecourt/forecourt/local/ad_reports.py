"""OEM ad-platform files: Google Ads report downloads and Meta Ads Manager exports.

Google Ads UI downloads put the report name and the date range above the header and end with
``Total: …`` lines; Meta's export can carry a summary row right under the header (no campaign on
it, so it fails the campaign_spend contract). Numbers are shaped like the platforms' own: Google
formats with thousands separators, Meta does not.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from forecourt.local.activity import Campaign
from forecourt.local.dialects import Row, csv_bytes

GOOGLE_SPEND_HEADER = (
    "Day",
    "Customer ID",
    "Campaign",
    "Campaign ID",
    "Campaign type",
    "Currency code",
    "Cost",
    "Impr.",
    "Clicks",
    "Conversions",
)
META_SPEND_HEADER = (
    "Reporting starts",
    "Reporting ends",
    "Account ID",
    "Campaign name",
    "Campaign ID",
    "Campaign delivery",
    "Amount spent (USD)",
    "Impressions",
    "Reach",
    "Link clicks",
    "Results",
    "Leads",
    "Cost per result",
)
GOOGLE_CAMPAIGNS_HEADER = (
    "Campaign status",
    "Campaign",
    "Campaign ID",
    "Campaign type",
    "Budget",
    "Budget type",
    "Currency code",
    "Customer ID",
    "Start date",
    "End date",
)
META_CAMPAIGNS_HEADER = (
    "Campaign ID",
    "Campaign name",
    "Campaign delivery",
    "Objective",
    "Budget",
    "Budget type",
    "Starts",
    "Ends",
    "Account ID",
)
GOOGLE_CUSTOMER_ID = "482-193-7765"
META_ACCOUNT_ID = "1029384756"


@dataclass(frozen=True)
class Report:
    """A report file's bytes and what ingesting it must count."""

    data: bytes
    records: int
    summary_rows: int = 0
    contract_failures: int = 0


def _totals(label: str, rows: list[Row]) -> Row:
    cost = sum(float(r["Cost"].replace(",", "")) for r in rows)
    impressions = sum(int(r["Impr."].replace(",", "")) for r in rows)
    clicks = sum(int(r["Clicks"]) for r in rows)
    conversions = sum(float(r["Conversions"]) for r in rows)
    return {
        "Day": f"Total: {label}",
        "Customer ID": "--",
        "Campaign": "--",
        "Campaign ID": "--",
        "Campaign type": "--",
        "Currency code": "USD",
        "Cost": f"{cost:,.2f}",
        "Impr.": f"{impressions:,}",
        "Clicks": f"{clicks:,}",
        "Conversions": f"{conversions:.2f}",
    }


def google_spend(rng: random.Random, campaigns: Sequence[Campaign], days: Sequence[date]) -> Report:
    """The 'Campaign report' segmented by day, with title lines and totals."""
    rows: list[Row] = []
    for day in days:
        for campaign in (c for c in campaigns if c.platform == "google_ads"):
            cost = campaign.daily_budget * rng.uniform(0.55, 1.05)
            impressions = int(cost * rng.uniform(15, 60))
            clicks = int(impressions * rng.uniform(0.01, 0.06))
            rows.append(
                {
                    "Day": f"{day:%Y-%m-%d}",
                    "Customer ID": GOOGLE_CUSTOMER_ID,
                    "Campaign": campaign.name,
                    "Campaign ID": campaign.campaign_id,
                    "Campaign type": campaign.kind,
                    "Currency code": "USD",
                    "Cost": f"{cost:,.2f}",
                    "Impr.": f"{impressions:,}",
                    "Clicks": str(clicks),
                    "Conversions": f"{clicks * rng.uniform(0.02, 0.08):.2f}",
                }
            )
    kinds = sorted({r["Campaign type"] for r in rows})
    totals = [_totals("Account", rows)] + [
        _totals(k, [r for r in rows if r["Campaign type"] == k]) for k in kinds
    ]
    first, last = days[0], days[-1]
    title = f"Campaign report\r\n{first:%B} {first.day}, {first.year} - {last:%B} {last.day}, {last.year}\r\n"
    data = csv_bytes(GOOGLE_SPEND_HEADER, rows + totals, preamble=title)
    return Report(data, len(rows) + len(totals), summary_rows=len(totals))


def meta_spend(rng: random.Random, campaigns: Sequence[Campaign], days: Sequence[date]) -> Report:
    """The Ads Manager campaign table broken down by day, with its summary row."""
    rows: list[Row] = []
    for day in days:
        for campaign in (c for c in campaigns if c.platform == "meta"):
            spend = campaign.daily_budget * rng.uniform(0.6, 1.0)
            impressions = int(spend * rng.uniform(40, 120))
            clicks = int(impressions * rng.uniform(0.004, 0.02))
            leads = int(clicks * rng.uniform(0.02, 0.1)) if campaign.kind == "Leads" else 0
            results = leads if campaign.kind == "Leads" else clicks
            rows.append(
                {
                    "Reporting starts": f"{day}",
                    "Reporting ends": f"{day}",
                    "Account ID": META_ACCOUNT_ID,
                    "Campaign name": campaign.name,
                    "Campaign ID": campaign.campaign_id,
                    "Campaign delivery": "active",
                    "Amount spent (USD)": f"{spend:.2f}",
                    "Impressions": str(impressions),
                    "Reach": str(int(impressions * 0.7)),
                    "Link clicks": str(clicks),
                    "Results": str(results),
                    "Leads": str(leads) if leads else "",
                    "Cost per result": f"{spend / results:.2f}" if results else "",
                }
            )
    total = sum(float(r["Amount spent (USD)"]) for r in rows)
    summary = {
        "Reporting starts": f"{days[0]}",
        "Reporting ends": f"{days[-1]}",
        "Amount spent (USD)": f"{total:.2f}",
    }
    return Report(csv_bytes(META_SPEND_HEADER, [summary, *rows]), len(rows) + 1, contract_failures=1)


def google_campaigns(campaigns: Sequence[Campaign]) -> Report:
    """The Campaigns view download ('All time'), with totals."""
    rows = [
        {
            "Campaign status": "Enabled",
            "Campaign": c.name,
            "Campaign ID": c.campaign_id,
            "Campaign type": c.kind,
            "Budget": f"{c.daily_budget:,.2f}",
            "Budget type": "Daily",
            "Currency code": "USD",
            "Customer ID": GOOGLE_CUSTOMER_ID,
            "Start date": f"{c.start}",
            "End date": f"{c.end}" if c.end else "",
        }
        for c in campaigns
        if c.platform == "google_ads"
    ]
    totals = [
        {"Campaign status": f"Total: {label}", "Currency code": "USD"} for label in ("Account", "Campaigns")
    ]
    data = csv_bytes(GOOGLE_CAMPAIGNS_HEADER, rows + totals, preamble="Campaigns\r\nAll time\r\n")
    return Report(data, len(rows) + len(totals), summary_rows=len(totals))


def meta_campaigns(campaigns: Sequence[Campaign]) -> Report:
    """The Ads Manager campaign table with setup columns ('Ongoing' when there is no end)."""
    rows = [
        {
            "Campaign ID": c.campaign_id,
            "Campaign name": c.name,
            "Campaign delivery": "active",
            "Objective": c.kind,
            "Budget": str(c.daily_budget),
            "Budget type": "Daily",
            "Starts": f"{c.start}",
            "Ends": f"{c.end}" if c.end else "Ongoing",
            "Account ID": META_ACCOUNT_ID,
        }
        for c in campaigns
        if c.platform == "meta"
    ]
    return Report(csv_bytes(META_CAMPAIGNS_HEADER, rows), len(rows))
