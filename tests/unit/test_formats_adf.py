"""ADF 1.0 lead XML: field paths, extras, real-world quirks, hostile and broken XML."""

from __future__ import annotations

import gzip
import json

import pytest
from forecourt.formats import FileUnreadable, SourceFile, adf
from forecourt.formats.adf_fields import ADF_COLUMNS
from forecourt.reasons import QuarantineReason
from format_files import open_fixture, open_named


def open_bytes(data: bytes, name: str = "lead.xml") -> SourceFile:
    return open_named(data, name)


def filled(row: dict[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in row.items() if value is not None}


def test_a_full_prospect_maps_to_field_paths() -> None:
    source = open_fixture("adf_two_prospects.xml")
    assert (source.format, source.encoding, source.delimiter) == ("adf", "utf-8", None)
    batches = list(source.records())
    assert len(batches) == 1
    batch = batches[0]
    assert batch.columns.column_names == list(ADF_COLUMNS)
    assert batch.source_lines.to_pylist() == [4, 46]  # lines of the <prospect> start tags
    first = filled(batch.columns.to_pylist()[0])
    extras = json.loads(first.pop("extras"))
    assert first == {
        "prospect@status": "new",
        "id": "FD-20240512-0001",
        "id@source": "ford.com",
        "requestdate": "2024-05-12T09:15:00-05:00",
        "vehicle@interest": "buy",
        "vehicle@status": "new",
        "vehicle.year": "2024",
        "vehicle.make": "Ford",
        "vehicle.model": "Bronco",
        "vehicle.vin": "1FMDE5BH0RLA00001",
        "vehicle.trim": "Badlands",
        "vehicle.price": "52995",
        "tradein.year": "2015",
        "tradein.make": "Honda",
        "tradein.model": "Civic",
        "tradein.odometer": "90211",
        "customer.contact.name.first": "María",
        "customer.contact.name.last": "González",
        "customer.contact.email": "maria.g@example.com",
        "customer.contact.phone": "512-555-0142",
        "customer.contact.phone.voice": "512-555-0142",
        "customer.contact.phone.cellphone": "512-555-0143",
        "customer.contact.address.street": "100 Congress Ave, Apt 4",
        "customer.contact.address.city": "Austin",
        "customer.contact.address.regioncode": "TX",
        "customer.contact.address.postalcode": "78701",
        "customer.contact.address.country": "US",
        "customer.timeframe.description": "Within a week",
        "customer.comments": "Is the <Badlands> in stock? Price & availability please.",  # CDATA
        "vendor.vendorname": "Hill Country Ford",
        "vendor.id": "D-1042",
        "vendor.contact.name.full": "Internet Sales Desk",
        "provider.name": "Ford Direct",
        "provider.service": "Build and Price",
        "provider.id": "FDX",
    }
    assert extras == {
        "id@sequence": "1",
        "vehicle.price@type": "msrp",
        "vehicle.price@currency": "USD",
        "vehicle.colorcombination.exteriorcolor": "Eruption Green",
        "vehicle[2]@interest": "trade-in",
        "vehicle[2]@status": "used",
        "vehicle[2].odometer@units": "mi",
        "vehicle[3]@interest": "buy",
        "vehicle[3]@status": "used",
        "vehicle[3].year": "2022",
        "vehicle[3].make": "Ford",
        "vehicle[3].model": "Maverick",
        "customer.contact.phone@time": "evening",
        "customer.contact.x_gclid": "Cj0KCQjw-gclid-123",
        "customer.timeframe.earliestdate": "2024-05-13",
        "vendor.contact.email": "bdc@hcford.example",
    }


def test_a_resend_prospect_may_carry_only_an_id_and_a_date() -> None:
    rows = next(iter(open_fixture("adf_two_prospects.xml").records())).columns.to_pylist()
    assert filled(rows[1]) == {
        "prospect@status": "resend",
        "id": "FD-20240511-0042",
        "id@source": "ford.com",
        "requestdate": "2024-05-11T18:02",
    }


def test_preview_lists_the_fields_filled_in_the_first_prospects() -> None:
    preview = open_fixture("adf_two_prospects.xml").preview_lines
    assert len(preview) == 1
    assert preview[0][:4] == ["prospect@status", "id", "id@source", "requestdate"]
    assert "vehicle.middle" not in preview[0] and "customer.contact.name.middle" not in preview[0]
    assert preview[0][-1] == "extras"


def test_a_declared_latin1_body_with_an_upper_case_adf_instruction_is_read() -> None:
    source = open_fixture("adf_latin1_declared.xml")  # encoding="ISO-8859-1", then <?ADF VERSION "1.0"?>
    assert source.encoding == "cp1252"
    row = filled(next(iter(source.records())).columns.to_pylist()[0])
    assert row == {
        "requestdate": "2024-05-12",
        "customer.contact.name.full": "Hélène Lefèvre",
        "customer.contact.phone": "514-555-0100",
        "vendor.vendorname": "Concession Côté",
    }


def test_an_undeclared_latin1_body_with_an_upper_case_xml_declaration_is_read() -> None:
    source = open_fixture("adf_latin1_undeclared.xml")  # <?XML VERSION="1.0"?>: UTF-8 by default, but is not
    assert source.encoding == "cp1252"
    row = filled(next(iter(source.records())).columns.to_pylist()[0])
    assert (row["customer.contact.name.first"], row["customer.contact.name.last"]) == ("Iñaki", "Muñoz")


def test_repair_prolog_blanks_instructions_but_keeps_lines_and_columns() -> None:
    text = '<?adf version="1.0"?>\n<?xml version="1.0"?>\n<!-- lead -->\n<adf><prospect/></adf>'
    repaired, root = adf.repair_prolog(text)
    assert root == "adf"
    assert len(repaired) == len(text)
    assert repaired.splitlines()[:2] == [" " * 21, " " * 21]
    assert repaired.endswith("<!-- lead -->\n<adf><prospect/></adf>")


def test_a_file_broken_after_some_prospects_yields_them_and_rejects_the_rest() -> None:
    batches = list(open_fixture("adf_truncated.xml").records())
    rows = [filled(row) for batch in batches for row in batch.columns.to_pylist()]
    assert rows == [{"id": "A-1", "requestdate": "2024-05-01"}, {"id": "A-2", "requestdate": "2024-05-02"}]
    assert [line for batch in batches for line in batch.source_lines.to_pylist()] == [3, 4]
    rejected = [r for batch in batches for r in batch.rejected]
    assert len(rejected) == 1
    assert rejected[0].reason == QuarantineReason.NOT_WELL_FORMED
    assert rejected[0].source_line == 9
    assert rejected[0].message.startswith("XML not well-formed at line 9, column 28: mismatched tag")
    assert rejected[0].raw == "  <requestdate>2024-05-03</requestdat>\n</prospect>\n</adf>\n"


def test_a_file_broken_before_any_prospect_is_not_well_formed_with_line_and_column() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture("adf_broken_start.xml")
    error = caught.value
    assert (error.reason, error.line, error.column) == (QuarantineReason.NOT_WELL_FORMED, 4, 1)
    assert error.message == "XML not well-formed at line 4, column 1: not well-formed (invalid token)"


def test_a_document_that_ends_too_early_is_not_well_formed() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_bytes(b"<adf>\n<prospect><id>1</id>\n")
    assert caught.value.reason == QuarantineReason.NOT_WELL_FORMED
    assert "no element found" in caught.value.message


@pytest.mark.parametrize("fixture", ["adf_billion_laughs.xml", "adf_xxe.xml"])
def test_entity_declarations_are_forbidden(fixture: str) -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture(fixture)
    assert caught.value.reason == QuarantineReason.NOT_WELL_FORMED
    assert "entity declarations and external references are forbidden" in caught.value.message


def test_an_xml_file_that_is_not_adf_is_unreadable_and_names_its_root() -> None:
    with pytest.raises(FileUnreadable) as caught:
        open_fixture("rss_feed.xml")
    assert caught.value.reason == QuarantineReason.UNREADABLE_FILE
    assert caught.value.message == "XML root element is <rss>, not <adf>: not an ADF file"


def test_a_doctype_without_entities_is_accepted() -> None:
    data = (
        b'<?xml version="1.0"?>\n<!DOCTYPE adf SYSTEM "adf.dtd">\n'
        b"<adf><prospect><id>D-1</id></prospect></adf>"
    )
    rows = next(iter(open_bytes(data).records())).columns.to_pylist()
    assert filled(rows[0]) == {"id": "D-1"}


def test_names_without_part_are_full_names_and_extra_phones_are_kept() -> None:
    data = (
        b"<adf><prospect><customer><contact>"
        b"<name>Pat Doe</name>"
        b'<phone type="home">555-0100</phone><phone type="fax">555-0101</phone>'
        b'<phone type="home">555-0102</phone>'
        b"<email>a@example.com</email><email>b@example.com</email>"
        b"</contact></customer></prospect></adf>"
    )
    row = filled(next(iter(open_bytes(data).records())).columns.to_pylist()[0])
    assert json.loads(row.pop("extras")) == {
        "customer.contact.phone@type": "home",
        "customer.contact.phone[3]": "555-0102",
        "customer.contact.phone[3]@type": "home",
        "customer.contact.email[2]": "b@example.com",
    }
    assert row == {
        "customer.contact.name.full": "Pat Doe",
        "customer.contact.phone": "555-0100",
        "customer.contact.phone.fax": "555-0101",
        "customer.contact.email": "a@example.com",
    }


def test_a_sell_vehicle_is_a_trade_in_even_when_it_comes_first() -> None:
    data = (
        b'<adf><prospect><vehicle interest="sell"><year>2012</year><make>Toyota</make><model>Camry</model>'
        b"<vin>4T1BF1FK0CU000001</vin></vehicle>"
        b'<vehicle interest="lease" status="new">'
        b"<year>2024</year><make>Ford</make><model>Escape</model></vehicle>"
        b"</prospect></adf>"
    )
    row = filled(next(iter(open_bytes(data).records())).columns.to_pylist()[0])
    assert row["vehicle@interest"] == "lease"
    assert (row["vehicle.year"], row["vehicle.model"]) == ("2024", "Escape")
    assert (row["tradein.year"], row["tradein.vin"]) == ("2012", "4T1BF1FK0CU000001")
    assert json.loads(row["extras"]) == {"vehicle@interest": "sell"}


def test_a_large_adf_file_streams_in_batches_with_the_prospect_lines() -> None:
    prospect = (
        "<prospect>\n<id>{0}</id>\n<requestdate>2024-05-01</requestdate>\n"
        '<customer><contact><name part="full">Lead {0}</name></contact></customer>\n</prospect>\n'
    )
    body = "".join(prospect.format(i) for i in range(12_000))  # ~1.5 MB: two parser chunks
    data = gzip.compress(f'<?xml version="1.0"?>\n<adf>\n{body}</adf>\n'.encode())
    source = open_bytes(data, "leads.xml.gz")
    assert source.compression == "gzip"
    batches = list(source.records(batch_rows=5000))
    assert [batch.columns.num_rows for batch in batches] == [5000, 5000, 2000]
    ids = [row["id"] for batch in batches for row in batch.columns.to_pylist()]
    assert ids == [str(i) for i in range(12_000)]
    lines = [line for batch in batches for line in batch.source_lines.to_pylist()]
    assert lines[:3] == [3, 8, 13]
    assert lines[-1] == 3 + 5 * 11_999


def test_prospects_after_a_break_late_in_a_large_file_are_reported_from_the_error_line() -> None:
    prospect = "<prospect><id>{0}</id></prospect>\n"
    body = "".join(prospect.format(i) for i in range(32_000)) + "<prospect><id>bad</di></prospect>\n</adf>\n"
    batches = list(open_bytes(f"<adf>\n{body}".encode()).records())
    assert sum(batch.columns.num_rows for batch in batches) == 32_000
    rejected = [r for batch in batches for r in batch.rejected]
    assert [(r.source_line, r.raw) for r in rejected] == [
        (32_002, "<prospect><id>bad</di></prospect>\n</adf>\n")
    ]
