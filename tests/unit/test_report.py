"""``forecourt report``: a self-contained HTML page whose charts render with their data in a browser.

The report is made from a small lake of fixture tables (``report_tables``) through the real queries
of ``queries/report/`` and opened in headless Chromium; the assertions read the rendered DOM: each
chart's axis titles, ticks, categories, values and legend are laid-out text inside the chart.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from chromium import Browser
from forecourt import report
from forecourt.report import charts, queries
from forecourt.report.charts import Series
from report_tables import HOSTILE_CAMPAIGN, HOSTILE_DEALER, report_tables
from sqlglot.errors import ErrorLevel
from test_trino_sql import unknown_functions

MADE = datetime(2026, 12, 7, 11, 1, 2, tzinfo=UTC)
CHARTS = (
    "funnel",
    "funnel-rates",
    "speed-to-lead",
    "campaign-cost-per-sale",
    "quarantine",
    "identity-overlap",
    "dealers-per-person",
)
RENDERED = """(() => {
  const charts = {};
  for (const svg of document.querySelectorAll('svg[data-chart]')) {
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')].map(t => {
      const r = t.getBoundingClientRect();
      const style = getComputedStyle(t);
      return {text: t.textContent, cls: t.getAttribute('class'), width: r.width, height: r.height,
              shown: style.display !== 'none' && style.visibility !== 'hidden' && style.opacity !== '0',
              inside: r.left >= box.left - 1 && r.right <= box.right + 1
                      && r.top >= box.top - 1 && r.bottom <= box.bottom + 1};
    });
    const marks = [...svg.querySelectorAll('rect.bar, rect.cell')].map(m => {
      const r = m.getBoundingClientRect();
      return {category: m.dataset.category || m.dataset.row, value: Number(m.dataset.value),
              width: r.width, height: r.height};
    });
    charts[svg.dataset.chart] = {width: box.width, height: box.height, texts, marks};
  }
  return {charts, scripts: document.scripts.length, images: document.images.length,
          bold: document.querySelectorAll('main b').length,
          captions: [...document.querySelectorAll('figure > figcaption')].map(c => c.innerText),
          made: document.querySelector('#made').innerText, lake: document.querySelector('#lake').innerText,
          period: document.querySelector('#period').innerText, text: document.body.innerText};
})()"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> report.Report:
    return report.build(
        tmp_path_factory.mktemp("report"), tables=report_tables(), lake="fixture lake", now=MADE
    )


@pytest.fixture(scope="module")
def rendered(made: report.Report) -> Iterator[dict[str, Any]]:
    with Browser() as browser:
        page = browser.open(made.path)
        dom = page.evaluate(RENDERED)
        dom["requests"] = page.requests()
        yield dom


def _texts(dom: dict[str, Any], chart: str, cls: str) -> list[str]:
    return [t["text"] for t in dom["charts"][chart]["texts"] if cls in t["cls"].split()]


def test_every_chart_renders_its_labels_as_laid_out_text_inside_the_chart(rendered):
    assert sorted(rendered["charts"]) == sorted(CHARTS)
    for name, chart in rendered["charts"].items():
        assert chart["width"] > 300 and chart["height"] > 50, name
        assert chart["marks"] and all(m["height"] > 0 for m in chart["marks"]), name
        for text in chart["texts"]:
            assert text["shown"] and text["width"] > 0 and text["height"] > 0, (name, text)
            assert text["inside"], (name, text)
        assert _texts(rendered, name, "axis-title"), name


def test_funnel_chart_shows_each_stage_with_its_count_and_share_of_leads(rendered):
    assert _texts(rendered, "funnel", "category") == [
        "leads",
        "contacted",
        "appointment set",
        "shown",
        "sold",
    ]
    assert _texts(rendered, "funnel", "value") == [
        "100",
        "60 (60.0 % of leads)",
        "28 (28.0 % of leads)",
        "17 (17.0 % of leads)",
        "8 (8.0 % of leads)",
    ]
    assert _texts(rendered, "funnel", "axis-title") == ["leads", "stage"]
    assert _texts(rendered, "funnel", "tick") == ["0", "20", "40", "60", "80", "100"]
    widths = {m["category"]: m["width"] for m in rendered["charts"]["funnel"]["marks"]}
    assert widths["leads"] > widths["contacted"] > widths["sold"] > 0
    rates = rendered["charts"]["funnel-rates"]
    assert _texts(rendered, "funnel-rates", "legend-label") == [
        "contact rate",
        "appointment rate",
        "show rate",
        "close rate",
    ]
    assert _texts(rendered, "funnel-rates", "category") == ["D100", "D200"]  # by leads
    # D100: 40 of 60 contacted, 18 of 40 appointments, 12 of 18 shown, 6 of 12 sold
    assert _texts(rendered, "funnel-rates", "value")[:4] == ["66.7 %", "45.0 %", "66.7 %", "50.0 %"]
    assert _texts(rendered, "funnel-rates", "tick") == ["0 %", "20 %", "40 %", "60 %", "80 %", "100 %"]
    assert len(rates["marks"]) == 8


def test_speed_to_lead_chart_spreads_each_dealers_contacted_leads_over_time_buckets(rendered):
    assert _texts(rendered, "speed-to-lead", "legend-label") == [
        "≤ 5 min",
        "5–15 min",
        "15–30 min",
        "30–60 min",
        "1–4 h",
        "4–24 h",
        "> 24 h",
    ]
    assert _texts(rendered, "speed-to-lead", "category") == ["D100", HOSTILE_DEALER, "oem"]
    marks = {(m["category"], m["value"]) for m in rendered["charts"]["speed-to-lead"]["marks"]}
    third = 100 / 3
    # D100: 3, 10 and 45 minutes (its uncontacted lead is not drawn; an older version's contact ignored)
    assert {(c, round(v, 3)) for c, v in marks if c == "D100"} == {("D100", round(third, 3))}
    assert ("oem", 100.0) in marks  # a lead that named no dealer (D200's CRM reported it contacted at 4 min)
    assert {v for c, v in marks if c == HOSTILE_DEALER} == {50.0}  # 20 min, and 2 h by the CRM's own key
    assert _texts(rendered, "speed-to-lead", "value") == [
        *("33 %", "33 %", "33 %", "n = 3"),
        *("50 %", "50 %", "n = 2"),
        *("100 %", "n = 1"),
    ]
    assert _texts(rendered, "speed-to-lead", "axis-title") == ["share of contacted enquiries (%)", "dealer"]


def test_campaign_chart_compares_first_and_last_touch_cost_per_sale(rendered):
    assert _texts(rendered, "campaign-cost-per-sale", "legend-label") == ["first touch", "last touch"]
    names = _texts(rendered, "campaign-cost-per-sale", "category")
    assert names[0] == "Equinox Fall" and names[1].startswith('<img src=x onerror="alert(1)">')
    # C1: 1,000 spent, 4 first-touch and 5 last-touch sales; C2: 600, none and 2
    assert _texts(rendered, "campaign-cost-per-sale", "value") == ["250", "200", "no sales", "300"]
    assert _texts(rendered, "campaign-cost-per-sale", "axis-title") == ["cost per sale", "campaign"]


def test_quarantine_chart_stacks_reasons_per_day_with_the_days_total(rendered):
    assert _texts(rendered, "quarantine", "category") == ["2026-11-01", "2026-11-02"]
    assert _texts(rendered, "quarantine", "legend-label") == [
        "missing_one_of",
        "invalid_required_field",
        "malformed_row",
    ]
    assert _texts(rendered, "quarantine", "value") == ["4", "3"]
    assert _texts(rendered, "quarantine", "axis-title") == ["quarantined records", "day received (UTC)"]
    assert "4.0 %" in rendered["text"]  # 4 of the day's 100 records


def test_identity_overlap_matrix_counts_people_shared_by_each_pair_of_dealers(rendered):
    cells = {
        (m["category"], i % 3): m["value"]
        for i, m in enumerate(rendered["charts"]["identity-overlap"]["marks"])
    }
    assert [cells[("D100", j)] for j in range(3)] == [3, 2, 1]
    assert [cells[("D200", j)] for j in range(3)] == [2, 3, 2]
    assert [cells[("D300", j)] for j in range(3)] == [1, 2, 2]
    assert _texts(rendered, "identity-overlap", "value") == ["3", "2", "1", "2", "3", "2", "1", "2", "2"]
    assert _texts(rendered, "identity-overlap", "category") == ["D100", "D200", "D300"] * 2
    assert _texts(rendered, "identity-overlap", "axis-title") == ["also at dealer", "dealer"]
    assert _texts(rendered, "dealers-per-person", "value") == ["1 (25.0 %)", "2 (50.0 %)", "1 (25.0 %)"]


def test_page_needs_nothing_from_the_network_and_runs_no_script(rendered, made):
    assert rendered["requests"] == [made.path.resolve().as_uri()]
    assert rendered["scripts"] == 0 and rendered["images"] == 0 and rendered["bold"] == 0
    assert rendered["made"] == "2026-12-07 11:01:02 UTC"
    assert rendered["captions"][:2] == ["Leads reaching each stage", "Stage conversion per dealer"]
    assert rendered["lake"] == "fixture lake" and rendered["period"] == "all data in the lake"
    assert HOSTILE_CAMPAIGN in rendered["text"] and HOSTILE_DEALER in rendered["text"]


def test_dealer_data_is_escaped_in_the_html(made):
    html = made.path.read_text()
    assert "<img" not in html and "<b>9" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;Spring &#34;Sale&#34; &amp; more" in html
    assert "default-src 'none'" in html


def test_each_query_result_is_written_as_csv_next_to_the_page(made):
    with (made.path.parent / "data" / "speed_to_lead.csv").open() as f:
        rows = {r["dealer_id"]: r for r in csv.DictReader(f)}
    assert rows["D100"]["leads"] == "4" and rows["D100"]["no_contact_recorded"] == "1"
    assert rows["D100"]["median_minutes"] == "10"
    assert rows["D300"]["contacted_leads"] == "0" and rows["D300"]["within_5_min"] == "0"  # 0, not null
    assert {p.name for p in made.csv_files} >= {
        "funnel_by_dealer.csv",
        "identity_overlap.csv",
        "coverage.csv",
    }


def test_a_section_whose_table_is_missing_says_why_and_the_others_are_made(tmp_path):
    tables = report_tables()
    del tables["uploads"]
    made = report.build(tmp_path, tables=tables, lake="fixture lake", now=MADE)
    assert [s.key for s in made.failed] == ["quarantine"]
    assert "uploads" in (made.failed[0].error or "")
    assert "could not be made: table &#39;uploads&#39; does not exist" in made.path.read_text()
    assert 'data-chart="funnel"' in made.path.read_text()


def test_a_period_bounds_what_each_section_counts(tmp_path):
    made = report.build(
        tmp_path,
        tables=report_tables(),
        since=datetime(2026, 11, 2, tzinfo=UTC),
        until=datetime(2026, 11, 3, tzinfo=UTC),
        lake="fixture lake",
        now=MADE,
    )
    by_key = {s.key: s for s in made.sections}
    funnel_rows = {r[0]: r[1:6] for r in by_key["funnel"].queries[0].rows}
    assert funnel_rows == {"D100": (20, 10, 6, 4, 2), "D200": (40, 20, 10, 5, 2)}  # the week of 2026-11-02
    quarantine = by_key["quarantine"].table
    assert quarantine is not None and [r[0] for r in quarantine.rows] == ["2026-11-02"]
    assert "from 2026-11-02 00:00 UTC to 2026-11-03 00:00 UTC (excluded)" in made.path.read_text()


@pytest.mark.parametrize("path", queries.query_files(), ids=lambda p: p.stem)
def test_report_queries_are_trino_sql_with_only_trino_functions(path: Path):
    sql = queries.render(path, {"since": MADE, "until": MADE, "unit": "day"})
    tree = sqlglot.parse_one(sql, read="trino")
    assert unknown_functions(sql) == []
    tree.sql(dialect="trino", unsupported_level=ErrorLevel.RAISE)


def test_axis_ticks_are_round_numbers_covering_the_maximum():
    assert charts.nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(0) == [0, 1]


def test_a_chart_without_data_says_so():
    svg = charts.bar_chart("x", "Nothing", [], [Series("s", [])], value_title="v", category_title="c")
    assert "No data for this period." in svg and 'data-chart="x"' in svg


def test_the_funnel_query_reads_the_lead_funnel_view_over_the_lakes_tables():
    tables = report_tables()
    del tables["lead_funnel"]  # the view itself, computed from the fixture leads and events
    runner = queries.Runner({"since": report.EARLIEST, "until": report.LATEST}, tables)
    rows = {r[0]: r[1:6] for r in runner.run("funnel_by_dealer").rows}
    assert rows["D100"] == (4, 3, 0, 0, 0)  # l1-l4; l4's latest version has no contact
    assert rows["D300"] == (1, 0, 0, 0, 0)
