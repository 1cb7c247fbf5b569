"""Delimited dealer files: dialects, header position, physical line numbers, ragged rows."""

from __future__ import annotations

import pyarrow as pa
import pytest
from forecourt.formats import FileUnreadable, SourceBatch, SourceFile, delimited
from forecourt.reasons import QuarantineReason
from format_files import open_fixture, open_named


def open_bytes(data: bytes, name: str = "upload.csv") -> SourceFile:
    return open_named(data, name)


def read_all(source: SourceFile, **options: int) -> tuple[list[dict[str, str | None]], list[int], list]:
    batches = list(source.records(**options))
    rows = [row for batch in batches for row in batch.columns.to_pylist()]
    lines = [line for batch in batches for line in batch.source_lines.to_pylist()]
    rejected = [rec for batch in batches for rec in batch.rejected]
    return rows, lines, rejected


# --- the CRM export fixture: CRLF, quoted comma, quoted newlines, blank line, ragged row ----------


def test_crlf_export_with_quoted_newlines_keeps_physical_line_numbers() -> None:
    source = open_fixture("crm_leads_crlf.csv")
    assert (source.format, source.encoding, source.delimiter) == ("csv", "utf-8", ",")
    rows, lines, rejected = read_all(source)
    assert [row["LeadID"] for row in rows] == ["1001", "1002", "1004"]
    # 1002 starts on line 3 and its comment runs to line 5; line 6 is blank; 1003 (line 7) is ragged
    assert lines == [2, 3, 8]
    assert rows[1]["FirstName"] == "Smith, Jr."
    assert rows[1]["Comments"] == "Trade-in: 2015 Civic\r\nabout 90k miles\r\nasks for payoff quote"
    assert rows[2]["Comments"] == 'Said "call after 5"'
    assert rows[2]["CellPhone"] == ""  # blanks stay empty strings; the caller treats them as null
    assert len(rejected) == 1
    assert rejected[0].source_line == 7
    assert rejected[0].reason == QuarantineReason.MALFORMED_ROW
    assert rejected[0].message == "expected 8 cells, found 7"
    assert rejected[0].raw == "1003,Walk-in,Li,Wei,,5125550123,2024 Ford Maverick"


def test_preview_lines_are_parsed_records_with_blank_lines_kept() -> None:
    preview = open_fixture("crm_leads_crlf.csv").preview_lines
    assert len(preview) == 6
    assert preview[0][:3] == ["LeadID", "LeadSource", "FirstName"]
    assert preview[2][-1] == "Trade-in: 2015 Civic\r\nabout 90k miles\r\nasks for payoff quote"
    assert preview[3] == []


def test_every_column_is_a_string_without_type_inference() -> None:
    source = open_bytes(b"Zip,Flag,Amount,When\n00501,TRUE,1e5,2024-05-01\n")
    batch = next(iter(source.records()))
    assert batch.columns.schema == pa.schema(
        [(name, pa.string()) for name in ["Zip", "Flag", "Amount", "When"]]
    )
    assert batch.columns.to_pylist() == [
        {"Zip": "00501", "Flag": "TRUE", "Amount": "1e5", "When": "2024-05-01"}
    ]
    assert batch.source_lines.type == pa.int64()


# --- dialects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "delimiter", "encoding", "first_row"),
    [
        (
            "crm_leads_semicolon_bom.csv",
            ";",
            "utf-8-sig",
            {
                "Lead ID": "E-77",
                "Vorname": "Jürgen",
                "Nachname": "Weiß",
                "E-Mail": "jw@example.de",
                "Preis": "34.999,00",
            },
        ),
        (
            "dms_deals_cp1252.txt",
            "\t",
            "cp1252",
            {
                "DealNo": "D-5501",
                "Buyer": "José Peña",
                "CoBuyer": "Renée Müller",
                "Notes": "Customer’s trade appraised at €12.500",
            },
        ),
        (
            "crm_contacts_utf16.txt",
            "\t",
            "utf-16",
            {"CustomerID": "C-1", "Name": "Søren Ødegård", "City": "Minneapolis"},
        ),
        (
            "service_ros_pipe.csv.gz",
            "|",
            "utf-8",
            {"RONumber": "RO-88120", "VIN": "1FTFW1E50PFA00001", "Odometer": "45210", "Advisor": "Kim"},
        ),
    ],
)
def test_delimiter_is_sniffed(fixture: str, delimiter: str, encoding: str, first_row: dict[str, str]) -> None:
    source = open_fixture(fixture)
    assert (source.delimiter, source.encoding) == (delimiter, encoding)
    rows, lines, rejected = read_all(source)
    assert rows[0] == first_row
    assert lines[:2] == [2, 3]
    assert rejected == []


def test_quoted_delimiters_do_not_mislead_the_sniffer() -> None:
    # Commas inside quotes on every line; a semicolon in one value only.
    data = b'Name,Address,Note\n"Doe, Jane","1 Main St, Austin",a;b\n"Roe, Rick","2 Elm St, Waco",ok\n'
    source = open_bytes(data)
    assert source.delimiter == ","
    assert read_all(source)[0][1] == {"Name": "Roe, Rick", "Address": "2 Elm St, Waco", "Note": "ok"}


def test_a_single_column_file_reads_as_one_column() -> None:
    source = open_bytes(b"Email\na@example.com\nb@example.com\n")
    assert source.delimiter == ","
    assert read_all(source)[0] == [{"Email": "a@example.com"}, {"Email": "b@example.com"}]


def test_cr_only_line_endings_with_a_quoted_cr() -> None:
    rows, lines, _ = read_all(open_fixture("legacy_cr_only.csv"))
    assert rows == [{"ID": "1", "Note": "first\rsecond"}, {"ID": "2", "Note": "plain"}]
    assert lines == [2, 4]


def test_duplicate_header_names_get_numbered() -> None:
    rows, _, _ = read_all(open_fixture("duplicate_headers.csv"))
    assert rows == [
        {"Phone": "555-0100", "Email": "a@example.com", "Phone (2)": "555-0101", "Phone (3)": "555-0102"}
    ]


def test_header_names_are_trimmed() -> None:
    assert delimited.header_names(["  Lead ID ", "Email", "Email ", ""]) == [
        "Lead ID",
        "Email",
        "Email (2)",
        "",
    ]


# --- header position ---------------------------------------------------------------------------


def test_report_title_lines_above_the_header_are_skipped_but_counted() -> None:
    source = open_fixture("google_ads_campaign_report.csv")
    assert source.preview_lines[:3] == [
        ["Campaign performance report"],
        ["May 1, 2024 - May 31, 2024"],
        ["Campaign", "Campaign ID", "Impr.", "Clicks", "Cost"],
    ]
    rows, lines, rejected = read_all(source, header_line=2)
    assert [row["Campaign"] for row in rows] == ["Bronco Spring Event", "F-150 Conquest", "Total: Account"]
    assert rows[0]["Impr."] == "120,394"
    assert lines == [4, 5, 6]
    assert rejected == []


def test_a_header_only_file_has_no_records() -> None:
    assert list(open_bytes(b"LeadID,Email\r\n").records()) == []
    assert list(open_bytes(b"LeadID,Email").records()) == []


def test_a_blank_header_line_makes_the_file_empty() -> None:
    source = open_bytes(b"Report\n\nLeadID\n1\n")
    with pytest.raises(FileUnreadable) as caught:
        source.records(header_line=1)
    assert (caught.value.reason, caught.value.line) == (QuarantineReason.EMPTY_FILE, 2)


def test_a_header_line_past_the_end_of_the_file_makes_it_empty() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_bytes(b"Report title\n").records(header_line=2)
    assert caught.value.reason == QuarantineReason.EMPTY_FILE


def test_a_header_line_beyond_the_preview_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="header_line"):
        open_bytes(b"A\n1\n").records(header_line=10)


# --- blank and ragged rows ---------------------------------------------------------------------


def test_blank_rows_are_skipped_but_keep_their_lines() -> None:
    data = b"A,B\n\n1,2\n   \n,\n , \n3,4\n\n"
    rows, lines, rejected = read_all(open_bytes(data))
    assert rows == [{"A": "1", "B": "2"}, {"A": "3", "B": "4"}]
    assert lines == [3, 7]
    assert rejected == []


def test_a_ragged_row_spanning_lines_is_rejected_with_its_raw_text_and_start_line() -> None:
    data = b'A,B,C\n1,"x\ny"\n2,b,c\n'
    rows, lines, rejected = read_all(open_bytes(data))
    assert (rows, lines) == ([{"A": "2", "B": "b", "C": "c"}], [4])
    assert [(r.source_line, r.message, r.raw) for r in rejected] == [
        (2, "expected 3 cells, found 2", '1,"x\ny"')
    ]


def test_rejected_raw_text_is_truncated_to_64_kib() -> None:
    data = b"A,B\n" + b"x" * 100_000 + b"\n1,2\n"
    _, lines, rejected = read_all(open_bytes(data))
    assert lines == [3]
    assert len(rejected[0].raw) == 65536
    assert rejected[0].message == "expected 2 cells, found 1"


# --- line numbers across pyarrow blocks and output batches -----------------------------------


def _messy_csv(records: int) -> tuple[bytes, list[int], list[int]]:
    """A CSV mixing quoted newlines, blank lines and ragged rows; with the expected start lines of
    the good records and of the ragged ones, counted independently."""
    parts = ["ID,Comment,Email\r\n"]
    line = 2
    good: list[int] = []
    ragged: list[int] = []
    for i in range(records):
        if i % 97 == 5:
            parts.append(f"{i},only two\r\n")
            ragged.append(line)
            line += 1
        elif i % 11 == 0:
            parts.append(f'{i},"line one\r\nline two\r\nline three",r{i}@example.com\r\n')
            good.append(line)
            line += 3
        else:
            parts.append(f"{i},plain,r{i}@example.com\r\n")
            good.append(line)
            line += 1
        if i % 13 == 0:
            parts.append("\r\n")
            line += 1
    return "".join(parts).encode(), good, ragged


def test_line_numbers_stay_exact_across_many_small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delimited, "BLOCK_BYTES", 2048)  # force many pyarrow blocks
    data, good, ragged = _messy_csv(3000)
    batches = list(open_bytes(data).records(batch_rows=500))
    lines = [line for batch in batches for line in batch.source_lines.to_pylist()]
    assert lines == good
    assert [r.source_line for batch in batches for r in batch.rejected] == ragged
    assert max(batch.columns.num_rows for batch in batches) <= 500


def test_each_rejected_row_travels_with_the_batch_of_its_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delimited, "BLOCK_BYTES", 4096)
    data, _, ragged = _messy_csv(2000)
    batches: list[SourceBatch] = list(open_bytes(data).records(batch_rows=100))
    assert sum(len(batch.rejected) for batch in batches) == len(ragged) == 21
    for before, batch, after in zip([None, *batches[:-1]], batches, [*batches[1:], None], strict=True):
        for rejected in batch.rejected:
            assert rejected.source_line is not None
            if before is not None and len(before.source_lines):
                assert rejected.source_line > before.source_lines[-1].as_py()
            if after is not None and len(after.source_lines):
                assert rejected.source_line < after.source_lines[0].as_py()


def test_a_run_of_ragged_rows_longer_than_a_block_is_reported_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delimited, "BLOCK_BYTES", 1024)
    data = b"A,B\n1,2\n" + b"bad\n" * 2000 + b"3,4\n"
    rows, lines, rejected = read_all(open_bytes(data))
    assert lines == [2, 2003]
    assert [r.source_line for r in rejected] == list(range(3, 2003))
    assert rows[-1] == {"A": "3", "B": "4"}


def test_a_record_longer_than_a_block_makes_the_file_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delimited, "BLOCK_BYTES", 1024)
    data = b'A,B\n1,2\n3,"unclosed quote\n' + b"5,6\n" * 1000
    batches = open_bytes(data).records()
    with pytest.raises(FileUnreadable) as caught:
        list(batches)
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert "(an unclosed quote?)" in caught.value.message


def _streamed_csv(target_bytes: int) -> tuple[bytes, int]:
    """A realistic lead export of about ``target_bytes``: 1,000 distinct rows repeated."""
    header = b"LeadID,Date,Name,Email,Phone,Comments,Make,Model,VIN,Price\n"
    block = "".join(
        f'L{i},2024-05-0{i % 9 + 1},"Doe, Jane",jane{i}@example.com,555-01{i % 100:02d},'
        f'"Wants a quote\nCall after 5",Ford,F-150,1FTFW1E50PFA{i:05d},34999.00\n'
        for i in range(1000)
    ).encode()
    repeats = target_bytes // len(block) + 1
    return header + block * repeats, 1000 * repeats


def test_a_50_mb_csv_streams_in_bounded_batches() -> None:
    data, count = _streamed_csv(50_000_000)
    records = 0
    last_line = 0
    largest = 0
    for batch in open_bytes(data, "big.csv").records():
        records += batch.columns.num_rows
        largest = max(largest, batch.columns.num_rows)
        last_line = batch.source_lines[-1].as_py()
    assert records == count
    assert last_line == 2 + 2 * (count - 1)  # every record spans two lines
    assert largest <= 65536


def test_a_first_line_longer_than_the_sniffed_mib_is_unreadable() -> None:
    source = open_bytes(b'"' + b"x" * (1 << 21) + b'"\n1\n')
    assert source.preview_lines == []
    with pytest.raises(FileUnreadable) as caught:
        source.records()
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert "line 1 does not end within the first MiB" in caught.value.message
