"""Opening dealer files: compression, size limits, encodings, format sniffing (forecourt.formats)."""

from __future__ import annotations

import codecs
import gzip
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from forecourt.formats import FileUnreadable, SourceFile, open_source
from forecourt.reasons import QuarantineReason

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"
MIB = 1 << 20


class NonSeekable:
    """What an S3 StreamingBody offers: read(n), nothing else (no seek, no tell)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


class FailingAfter:
    """A stream that breaks like a dropped connection after ``limit`` bytes."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data = io.BytesIO(data)
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        if self._data.tell() >= self._limit:
            raise ConnectionResetError("connection reset by peer")
        return self._data.read(min(size, self._limit - self._data.tell()) if size >= 0 else self._limit)


def open_bytes(data: bytes, name: str = "upload.csv", **options: object) -> SourceFile:
    return open_source(NonSeekable(data), name, **options)  # type: ignore[arg-type]


def open_fixture(name: str, **options: object) -> SourceFile:
    return open_bytes((DATA / name).read_bytes(), name, **options)


def all_rows(source: SourceFile, **options: int) -> list[dict[str, str | None]]:
    return [row for batch in source.records(**options) for row in batch.columns.to_pylist()]


def unreadable(data: bytes, name: str = "upload.csv", **options: object) -> FileUnreadable:
    with pytest.raises(FileUnreadable) as caught:
        open_bytes(data, name, **options)
    return caught.value


def big_csv(rows: int) -> bytes:
    return ("LeadID,Email\n" + "".join(f"L{i},lead{i}@example.com\n" for i in range(rows))).encode()


# --- compression -------------------------------------------------------------------------------


def test_gzip_is_recognised_by_its_magic_bytes_whatever_the_name() -> None:
    source = open_bytes(gzip.compress(b"RONumber|VIN\nRO-1|1FTFW1E50PFA00001\n"), "ros.txt")
    assert (source.compression, source.format, source.delimiter) == ("gzip", "csv", "|")
    assert all_rows(source) == [{"RONumber": "RO-1", "VIN": "1FTFW1E50PFA00001"}]


def test_multi_member_gzip_is_read_to_the_end() -> None:
    data = gzip.compress(b"LeadID\nL1\n") + gzip.compress(b"L2\n")
    assert all_rows(open_bytes(data)) == [{"LeadID": "L1"}, {"LeadID": "L2"}]


def test_zip_with_several_files_reads_the_largest_and_says_so() -> None:
    source = open_fixture("leads_bundle.zip")
    assert source.compression == "zip"
    assert source.notes == [
        "zip holds 2 files: read the largest, 'leads/leads_2024-05.csv'; ignored 'README.txt'"
    ]
    rows = all_rows(source)
    assert len(rows) == 50
    assert rows[0] == {"LeadID": "L1", "Email": "lead1@example.com"}


def test_zip_with_a_single_file_reads_it_without_a_note(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/", "")  # a directory entry does not count
        archive.writestr("export/visits.csv", "VisitID\nV-1\n")
    source = open_bytes(buffer.getvalue(), "visits.zip", spool_dir=str(tmp_path))
    assert source.notes == []
    assert all_rows(source) == [{"VisitID": "V-1"}]


def test_zip_holding_another_archive_is_unreadable() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture("nested.zip")
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert "'leads.csv.gz'" in caught.value.message and "nested" in caught.value.message


def test_gzip_holding_a_zip_is_unreadable() -> None:
    error = unreadable(gzip.compress((DATA / "leads_bundle.zip").read_bytes()), "leads.zip.gz")
    assert error.reason == QuarantineReason.UNREADABLE_FILE
    assert "nested archives" in error.message


def test_an_excel_workbook_is_unreadable_with_advice() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture("leads.xlsx")
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert "export it as CSV" in caught.value.message


def test_an_empty_zip_archive_is_an_empty_file() -> None:
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    assert unreadable(buffer.getvalue(), "empty.zip").reason == QuarantineReason.EMPTY_FILE


def test_a_zip_that_is_cut_short_is_unreadable() -> None:
    data = (DATA / "leads_bundle.zip").read_bytes()
    error = unreadable(data[: len(data) - 30], "leads.zip")
    assert error.reason == QuarantineReason.UNREADABLE_FILE
    assert "not a readable zip" in error.message


def _one_member_zip(name: str = "visits.csv") -> bytearray:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, "VisitID,VIN\nV1,1FTFW1E50PFA00001\n")
    return bytearray(buffer.getvalue())


def _central_entry(data: bytearray) -> int:
    return data.index(b"PK\x01\x02")


def _shifted(data: bytearray) -> bytearray:
    del data[4:5]  # the damage CI's fuzzing found: every offset now points one byte late
    return data


def _unknown_version(data: bytearray) -> bytearray:
    data[_central_entry(data) + 6] = 0xFF  # "version needed to extract" 25.5
    return data


def _flagged_utf8_name_that_is_not(data: bytearray) -> bytearray:
    entry = _central_entry(data)
    data[entry + 9] |= 0x08  # general-purpose flag bit 11: the name is UTF-8
    at = entry + 46
    data[at : at + 1] = b"\x91"  # a cp1252 quote, invalid UTF-8
    return data


def _empty_member_name(data: bytearray) -> bytearray:
    entry = _central_entry(data)
    data[entry + 28 : entry + 30] = (0).to_bytes(2, "little")  # name length 0…
    data[entry + 32 : entry + 34] = (len("visits.csv")).to_bytes(2, "little")  # …the name is a comment
    return data


@pytest.mark.parametrize(
    "damage", [_shifted, _unknown_version, _flagged_utf8_name_that_is_not, _empty_member_name]
)
def test_a_zip_with_damaged_headers_is_unreadable_or_empty_never_an_exception(
    damage: Callable[[bytearray], bytearray],
) -> None:
    error = unreadable(bytes(damage(_one_member_zip())), "visits.zip")
    assert error.reason in (QuarantineReason.UNREADABLE_FILE, QuarantineReason.EMPTY_FILE)
    assert error.message.startswith("visits.zip")


def test_a_truncated_gzip_is_unreadable() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture("truncated.csv.gz")
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert "ended before the end-of-stream marker" in caught.value.message


def test_gzip_that_breaks_after_the_first_mib_fails_while_reading_records() -> None:
    packed = gzip.compress(big_csv(200_000))  # ~5 MB of CSV, well past the 1 MiB sniffed at open
    source = open_bytes(packed[: len(packed) * 3 // 4], "leads.csv.gz")
    with pytest.raises(FileUnreadable) as caught:
        all_rows(source)
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert "cannot be decompressed after" in caught.value.message


def test_network_errors_are_not_mistaken_for_corrupt_files() -> None:
    # A dropped connection must reach the caller as itself, so the message is retried, not quarantined.
    packed = gzip.compress(big_csv(200_000))
    source = open_source(FailingAfter(packed, len(packed) // 2), "leads.csv.gz")
    with pytest.raises(ConnectionResetError):
        all_rows(source)


# --- size limits -------------------------------------------------------------------------------


def test_empty_object_is_an_empty_file() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture("empty.csv")
    assert caught.value.reason == QuarantineReason.EMPTY_FILE
    assert caught.value.line is None


def test_gzip_of_nothing_is_an_empty_file() -> None:
    assert unreadable(gzip.compress(b""), "x.csv.gz").reason == QuarantineReason.EMPTY_FILE


def test_whitespace_only_file_is_an_empty_file() -> None:
    assert unreadable(b" \r\n\r\n\t\n").reason == QuarantineReason.EMPTY_FILE


def test_plain_file_over_the_limit_is_too_large_while_streaming() -> None:
    source = open_bytes(big_csv(100_000), max_bytes=2 * MIB)  # 2.5 MB: the first MiB opens fine
    with pytest.raises(FileUnreadable) as caught:
        all_rows(source)
    assert caught.value.reason == QuarantineReason.FILE_TOO_LARGE
    assert caught.value.message == "upload.csv is larger than the limit of 2 MiB"


def test_small_file_over_a_small_limit_is_too_large_at_open() -> None:
    error = unreadable(big_csv(1000), max_bytes=10_000)
    assert (error.reason, error.message) == (
        QuarantineReason.FILE_TOO_LARGE,
        "upload.csv is larger than the limit of 10,000 bytes",
    )


def test_gzip_bomb_is_stopped_by_counting_decompressed_bytes() -> None:
    bomb = gzip.compress(b"LeadID\n" + b"0\n" * (4 * MIB))  # 8 MiB that packs into a few KiB
    assert len(bomb) < 50_000
    error = unreadable(bomb, "bomb.csv.gz", max_bytes=MIB // 2)
    assert error.reason == QuarantineReason.FILE_TOO_LARGE


def test_zip_member_declaring_more_than_the_limit_is_too_large() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("leads.csv", big_csv(10_000))
    error = unreadable(buffer.getvalue(), "leads.zip", max_bytes=100_000)
    assert error.reason == QuarantineReason.FILE_TOO_LARGE
    assert "'leads.csv' declares" in error.message


def test_zip_larger_than_the_limit_is_too_large_while_spooling() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("leads.csv", big_csv(10_000))
    assert (
        unreadable(buffer.getvalue(), "leads.zip", max_bytes=50_000).reason == QuarantineReason.FILE_TOO_LARGE
    )


# --- encodings ---------------------------------------------------------------------------------


def test_utf8_with_bom_is_reported_and_the_bom_is_not_in_the_first_header() -> None:
    source = open_fixture("crm_leads_semicolon_bom.csv")
    assert source.encoding == "utf-8-sig"
    assert source.preview_lines[0][0] == "Lead ID"


def test_cp1252_is_detected_and_decoded() -> None:
    source = open_fixture("dms_deals_cp1252.txt")
    assert source.encoding == "cp1252"
    assert all_rows(source)[0]["Notes"] == "Customer’s trade appraised at €12.500"


def test_utf16_le_with_bom_is_transcoded() -> None:
    source = open_fixture("crm_contacts_utf16.txt")
    assert source.encoding == "utf-16"
    assert all_rows(source)[1] == {"CustomerID": "C-2", "Name": "李小龍", "City": "San Francisco"}


def test_utf16_be_with_bom_is_transcoded() -> None:
    source = open_bytes(codecs.BOM_UTF16_BE + "Name\tCity\r\nZoë\tQuébec\r\n".encode("utf-16-be"), "x.txt")
    assert (source.encoding, source.delimiter) == ("utf-16", "\t")
    assert all_rows(source) == [{"Name": "Zoë", "City": "Québec"}]


def test_a_multibyte_character_cut_by_the_sample_boundary_is_still_utf8() -> None:
    # "é" is two bytes; put its first byte on the last byte of the 1 MiB sample.
    head = b"Name\n" + b"a" * (MIB - 7) + b"\n"
    assert len(head) == MIB - 1
    source = open_bytes(head + "é\n".encode())
    assert source.encoding == "utf-8"
    rows = all_rows(source)
    assert rows[-1] == {"Name": "é"}
    assert source.notes == []


def test_invalid_utf8_after_the_first_mib_is_read_as_cp1252_with_a_note() -> None:
    head = "Name\nJosé\n".encode() + b"x\n" * (MIB // 2)
    tail = "Müller\n".encode("cp1252")  # 0xFC is not valid UTF-8
    source = open_bytes(head + tail)
    assert source.encoding == "utf-8"
    rows = all_rows(source)
    assert rows[0] == {"Name": "José"}
    assert rows[-1] == {"Name": "Müller"}
    assert len(source.notes) == 1
    assert source.notes[0].startswith(f"invalid UTF-8 from byte {len(head) + 1} on")


def test_mostly_utf8_with_a_stray_latin1_byte_stays_utf8() -> None:
    data = "Name\nJosé\nZoë\nFrançois\n".encode() + "Peña\n".encode("latin-1")
    source = open_bytes(data)
    assert source.encoding == "utf-8"
    assert [row["Name"] for row in all_rows(source)] == ["José", "Zoë", "François", "Peña"]
    assert "read as cp1252" in source.notes[0]


def test_cp1252_undefined_bytes_do_not_crash() -> None:
    source = open_bytes(b"Name\nA\x81B\n")  # 0x81 has no cp1252 character
    assert source.encoding == "cp1252"
    assert all_rows(source) == [{"Name": "A\x81B"}]


def test_binary_junk_is_unreadable() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture("photo.bin")
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert "control characters" in caught.value.message


def test_utf16_without_bom_is_unreadable_with_a_hint() -> None:
    error = unreadable("Name,City\r\nAna,Austin\r\n".encode("utf-16-le"))
    assert error.reason == QuarantineReason.UNREADABLE_FILE
    assert "UTF-16 without a byte-order mark" in error.message


# --- format sniffing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'\n\n  <?xml version="1.0"?><adf></adf>', "adf"),
        (b"<adf><prospect/></adf>", "adf"),
        (b'  {"LeadID": "1"}\n', "jsonl"),
        (b"LeadID,Email\n1,a@example.com\n", "csv"),
        (b"[not json lines]\n", "csv"),
    ],
)
def test_format_is_sniffed_from_the_first_non_blank_character(data: bytes, expected: str) -> None:
    assert open_bytes(data).format == expected


def test_records_can_be_read_once() -> None:
    source = open_bytes(b"LeadID\n1\n")
    assert all_rows(source) == [{"LeadID": "1"}]
    with pytest.raises(RuntimeError, match="already called"):
        source.records()


def test_close_releases_a_spooled_zip() -> None:
    with open_fixture("leads_bundle.zip") as source:
        assert source.format == "csv"
    with pytest.raises(RuntimeError):
        source.records()
