"""The hostile-input corpus (issue 8): each file an attacker or a broken dealer system can send,
through the same ``ingest_object`` the Lambda runs, with its exact outcome. Small files are in
``tests/data/hostile/`` (its README lists each and its outcome); bombs and 50 MB lines are built
by ``hostile_files`` at test time, and the memory-bound ones run in a fresh interpreter whose peak
RSS growth is measured."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from forecourt import feeds, intake
from forecourt.formats import adf
from forecourt.ingest import RawObject, UploadReport, ingest_object
from forecourt.registry import Dealer
from hostile_files import (
    DEEP_PROSPECT,
    HEADER,
    MiB,
    deep_adf,
    invalid_utf8_in_the_middle,
    lead_row,
    zip_bomb,
)

HOSTILE = Path(__file__).parents[1] / "data" / "hostile"
FORMATS = Path(__file__).parents[1] / "data" / "formats"
RECEIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DEALER = Dealer(dealer_id="D-HOSTILE", feeds=sorted(feeds.load_all()))
MEMORY_BOUND_MIB = 200
KEY = "raw/files/dealer=D-HOSTILE/dt=2026-11-02/"


@pytest.fixture(autouse=True)
def _nobody_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("forecourt.privacy.suppression.erased_list", lambda: None)


def ingest(data: bytes, name: str, spool: Path, *, max_bytes: int = 1 << 26) -> UploadReport:
    """``data`` through the ingest core (minus S3 and the commit); rows in = curated + quarantined."""
    obj = RawObject("lake", KEY + name, "v1", len(data), RECEIVED)
    report = ingest_object(
        io.BytesIO(data),
        obj,
        DEALER,
        "D-HOSTILE",
        RECEIVED,
        "up-hostile",
        intake.spool_writer_factory(str(spool), "up-hostile", RECEIVED),
        max_bytes=max_bytes,
        batch_rows=1000,
    )
    assert report.rows_in == report.rows_curated + report.rows_quarantined
    assert report.size_bytes == len(data)
    return report


def quarantined(report: UploadReport) -> list[dict[str, Any]]:
    columns = ["source_line", "reason_code", "message"]
    return [row for f in report.files["quarantine"] for row in pq.read_table(f, columns=columns).to_pylist()]


def curated(report: UploadReport, *columns: str) -> list[dict[str, Any]]:
    files = report.files.get("leads", [])
    return [row for f in files for row in pq.read_table(f, columns=list(columns)).to_pylist()]


def outcome(report: UploadReport) -> tuple[str, int, int, int, dict[str, int]]:
    return (
        report.status,
        report.rows_in,
        report.rows_curated,
        report.rows_quarantined,
        report.quarantine_reasons,
    )


def test_entity_expansion_is_rejected_before_any_entity_is_expanded(tmp_path: Path) -> None:
    report = ingest((HOSTILE / "adf_entity_expansion.xml").read_bytes(), "laughs.xml", tmp_path)
    assert outcome(report) == ("rejected", 1, 0, 1, {"not_well_formed": 1})
    assert report.message == (
        "XML entity declarations and external references are forbidden "
        "(line 3: EntitiesForbidden(name='lol', system_id=None, public_id=None))"
    )
    assert quarantined(report)[0]["source_line"] == 3


@pytest.mark.parametrize(
    ("name", "line", "entity"),
    [
        ("adf_external_entity.xml", 3, "EntitiesForbidden(name='secret', system_id='file:///etc/passwd'"),
        (
            "adf_parameter_entity.xml",
            3,
            "EntitiesForbidden(name='remote', system_id='http://attacker.example",
        ),
    ],
)
def test_an_external_entity_is_never_fetched(name: str, line: int, entity: str, tmp_path: Path) -> None:
    report = ingest((HOSTILE / name).read_bytes(), name, tmp_path)
    assert outcome(report) == ("rejected", 1, 0, 1, {"not_well_formed": 1})
    assert report.message is not None
    assert report.message.startswith(
        f"XML entity declarations and external references are forbidden (line {line}: {entity}"
    )
    assert "root:" not in report.message


def test_xml_nested_100000_deep_is_not_well_formed_at_the_33rd_level(tmp_path: Path) -> None:
    report = ingest(deep_adf(100_000), "deep.xml", tmp_path)  # was a RecursionError out of ingest
    assert outcome(report) == ("rejected", 1, 0, 1, {"not_well_formed": 1})
    column = len("<adf>" + DEEP_PROSPECT) + 3 * 32 + 1  # where the 33rd <a> starts
    assert (
        report.message == f"XML nested deeper than 32 elements inside a prospect at line 1, column {column}"
    )


def test_a_deep_prospect_after_good_ones_costs_only_the_rest_of_the_file(tmp_path: Path) -> None:
    good = (FORMATS / "adf_two_prospects.xml").read_text(encoding="utf-8")
    body = good[good.index("<prospect") : good.rindex("</adf>")]
    report = ingest(deep_adf(5000, before=body), "deep.xml", tmp_path)
    assert (report.status, report.rows_in) == ("partial", 3)
    [deep] = [q for q in quarantined(report) if q["reason_code"] == "not_well_formed"]
    assert body.endswith("\n")  # the deep prospect starts a line
    line = 1 + body.count("\n")
    assert deep == {
        "source_line": line,
        "reason_code": "not_well_formed",
        "message": f"XML nested deeper than {adf.MAX_DEPTH} elements inside a prospect at line {line}, "
        f"column {len(DEEP_PROSPECT) + 3 * adf.MAX_DEPTH + 1}; the rest of the file (from line {line}) was not read",
    }


def test_a_prospect_as_deep_as_the_limit_is_read(tmp_path: Path) -> None:
    report = ingest(deep_adf(adf.MAX_DEPTH - 1), "deep.xml", tmp_path)
    # read: quarantined for what it lacks, not for its depth
    assert outcome(report) == ("partial", 1, 0, 1, {"missing_required_field": 1})


def test_nul_and_other_control_bytes_are_dropped_from_cells(tmp_path: Path) -> None:
    report = ingest((HOSTILE / "nul_bytes.csv").read_bytes(), "nul.csv", tmp_path)
    assert outcome(report) == ("ok", 2, 2, 0, {})
    rows = curated(report, "source_key", "first_name", "extras", "source_line")
    assert rows == [
        {
            "source_key": "HC-H-1",
            "first_name": "Nina",
            "extras": '{"form_name": "Get ePrice"}',
            "source_line": 2,
        },
        {
            "source_key": "HC-H-2",
            "first_name": "Nina",
            "extras": '{"form_name": "Get ePrice"}',
            "source_line": 3,
        },
    ]


def test_a_file_of_nul_bytes_is_not_text(tmp_path: Path) -> None:
    data = f"{HEADER}\n{lead_row(1)}\n".encode() + b"\x00" * 4096
    report = ingest(data, "nul.csv", tmp_path)
    assert outcome(report) == ("rejected", 1, 0, 1, {"unreadable_file": 1})
    assert report.message == (
        f"{KEY}nul.csv: 4096 of its first {len(data)} characters are control characters (NUL…): not a text file"
    )


def test_invalid_utf8_after_the_first_mib_is_read_as_cp1252(tmp_path: Path) -> None:
    data, bad_line = invalid_utf8_in_the_middle()
    report = ingest(data, "mixed.csv", tmp_path)
    rows = data.count(b"\n") - 1
    assert outcome(report) == ("ok", rows, rows, 0, {})
    assert report.encoding == "utf-8"
    [renee] = [r for r in curated(report, "first_name", "source_line") if r["first_name"] != "Nina"]
    assert renee == {"first_name": "Renée", "source_line": bad_line}


def test_mixed_line_endings_keep_every_record_on_its_line(tmp_path: Path) -> None:
    report = ingest((HOSTILE / "mixed_line_endings.csv").read_bytes(), "mixed.csv", tmp_path)
    assert outcome(report) == ("ok", 4, 4, 0, {})
    rows = curated(report, "source_key", "source_line", "comments")
    assert [(r["source_key"], r["source_line"]) for r in rows] == [
        ("HC-H-1", 2),
        ("HC-H-2", 3),
        ("HC-H-3", 4),
        ("HC-H-4", 6),
    ]
    assert rows[2]["comments"] == "a comment on two lines"  # the quoted CRLF, folded by the normalizer


@pytest.mark.parametrize("ending", ["\r\n", ""])
def test_a_header_only_file_is_an_ok_upload_of_no_rows(ending: str, tmp_path: Path) -> None:
    data = (HOSTILE / "header_only.csv").read_bytes().rstrip(b"\r\n") + ending.encode()
    report = ingest(data, "header.csv", tmp_path)
    assert outcome(report) == ("ok", 0, 0, 0, {})
    assert (report.feed, report.feed_detected) == ("generic-leads", True)
    assert curated(report, "source_key") == []


def test_a_repeated_header_reads_the_first_and_reports_the_second_as_ignored(tmp_path: Path) -> None:
    report = ingest((HOSTILE / "duplicate_headers.csv").read_bytes(), "dup.csv", tmp_path)
    assert outcome(report) == ("ok", 1, 1, 0, {})
    assert "Email Address (2)" in report.ignored_columns
    assert curated(report, "email", "phone") == [{"email": "nina1@gmail.com", "phone": None}]


def test_formula_cells_are_ingested_as_data(tmp_path: Path) -> None:
    """Ingest keeps what the dealer sent (an analyst may need it): defusing is for the CSV we write."""
    report = ingest((HOSTILE / "formula_cells.csv").read_bytes(), "formulas.csv", tmp_path)
    assert outcome(report) == ("ok", 5, 5, 0, {})
    rows = curated(report, "first_name", "last_name", "comments", "phone")
    assert [r["first_name"] for r in rows] == [
        None,
        "Ann",
        "Bo",
        "@Cy",
        "Di",
    ]  # "=cmd|'/C calc'!A0" is no name
    assert [r["last_name"] for r in rows] == [
        "Lee",
        "+Lee",
        "-Lee",
        "Lee",
        '=HYPERLINK("http://evil.example","x")',
    ]
    assert [r["comments"] for r in rows] == ["=1+2", "+A1*2", "-A1", "@SUM(A1:A2)", "plain"]
    assert [r["phone"] for r in rows] == [
        "+13125550181",
        "+13125550182",
        "+13125550183",
        "+13125550184",
        "+13125550185",
    ]


def test_a_zip_bomb_is_refused_by_its_declared_size_without_inflating(tmp_path: Path) -> None:
    data = zip_bomb(1 << 30)
    assert len(data) < 8 * MiB
    report = ingest(data, "bomb.zip", tmp_path, max_bytes=16 * MiB)
    assert outcome(report) == ("rejected", 1, 0, 1, {"file_too_large": 1})
    assert report.message == f"{KEY}bomb.zip: 'leads.csv' declares 1 GiB, over the limit of 16 MiB"


EXPECTED_MEMORY_CASES = {
    "csv_50mb_line": (
        ("rejected", 1, 0, 1, {"unreadable_file": 1}),
        "CSV parse error: a record starting at or after line 3 is longer than 1 MiB (an unclosed quote?)",
    ),
    "jsonl_50mb_line": (("partial", 3, 2, 1, {"malformed_row": 1}), None),
    "gzip_bomb": (
        ("rejected", 1, 0, 1, {"file_too_large": 1}),
        f"{KEY}bomb.csv.gz (gzip) is larger than the limit of 16 MiB",
    ),
    "zip_bomb": (
        ("rejected", 1, 0, 1, {"file_too_large": 1}),
        f"{KEY}bomb.zip: 'leads.csv' declares 1 GiB, over the limit of 16 MiB",
    ),
    "zip_bomb_declaring_1mib": (
        ("rejected", 1, 0, 1, {"unreadable_file": 1}),
        f"{KEY}bomb.zip:leads.csv cannot be decompressed: Bad CRC-32 for file 'leads.csv'",
    ),
}


def test_huge_inputs_end_as_expected_in_bounded_memory() -> None:
    """One fresh interpreter for every case (one test, so that xdist runs it once: about 3 s)."""
    script = Path(__file__).with_name("hostile_files.py")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    found = json.loads(done.stdout)
    assert sorted(found) == sorted(EXPECTED_MEMORY_CASES)
    for case, (expected, message) in EXPECTED_MEMORY_CASES.items():
        got = found[case]
        counts = (got["status"], got["rows_in"], got["rows_curated"], got["rows_quarantined"])
        assert ((*counts, got["quarantine_reasons"]), got["message"]) == (expected, message), case
        assert got["peak_growth_mib"] < MEMORY_BOUND_MIB, (case, got)
        assert got["seconds"] < 5, (case, got)
