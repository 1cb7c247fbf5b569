"""Raw and outbound files rewritten without an erased person's records: whole records are blanked
(a quoted CSV cell spanning lines, a JSON line, an ADF prospect; their lines stay, empty, so the
records after them keep their line numbers), found by source line or by naming one of their
identifiers however the phone is written; everything else stays byte for byte."""

from __future__ import annotations

import re

from forecourt.privacy.erasure import text_pattern
from forecourt.privacy.erasure_objects import without_records

NAMES = re.compile(text_pattern(["ada.quill@example.com"], ["+13125550142"]).removeprefix("(?i)"), re.I)  # type: ignore[union-attr]


def test_a_csv_record_spanning_lines_goes_whole_and_the_header_stays() -> None:
    text = (
        "id,name,email,phone,notes\r\n"
        '1,Bo,bo@example.com,,"fine"\r\n'
        '2,Ada,ADA.QUILL@example.com,,"called twice,\r\nsecond line"\r\n'
        '3,Cy,cy@example.com,312.555.0142,""\r\n'
        "4,Di,di@example.com,,\r\n"
    )
    kept = without_records(text.encode(), {"format": "csv", "delimiter": ","}, set(), NAMES)
    assert (
        kept
        == b'id,name,email,phone,notes\r\n1,Bo,bo@example.com,,"fine"\r\n\r\n\r\n\r\n4,Di,di@example.com,,\r\n'
    )


def test_records_go_by_source_line_even_without_an_identifier() -> None:
    text = "id,name\n1,Bo\n2,Ada Quill\n3,Cy\n"
    kept = without_records(text.encode(), {"format": "csv", "delimiter": ","}, {3}, None)
    assert kept == b"id,name\n1,Bo\n\n3,Cy\n"  # 3,Cy is still line 4


def test_json_lines_and_adf_prospects_go_whole() -> None:
    jsonl = '{"email": "bo@example.com"}\n{"phone": "(312) 555-0142"}\n{"email": "cy@example.com"}\n'
    assert without_records(jsonl.encode(), {"format": "jsonl"}, set(), NAMES) == (
        b'{"email": "bo@example.com"}\n\n{"email": "cy@example.com"}\n'
    )
    adf = (
        '<?xml version="1.0"?>\n<adf>\n<prospect><customer><contact><email>ada.quill@example.com</email>'
        "</contact></customer></prospect>\n<prospect>\n<customer>Bo</customer>\n</prospect>\n"
        "<prospect><customer>Cy</customer></prospect>\n</adf>\n"
    )
    kept = without_records(adf.encode("cp1252"), {"format": "adf", "encoding": "cp1252"}, {7}, NAMES)
    assert (
        kept
        == b'<?xml version="1.0"?>\n<adf>\n\n<prospect>\n<customer>Bo</customer>\n</prospect>\n\n</adf>\n'
    )


def test_a_zip_is_rewritten_member_by_member() -> None:
    import io
    import zipfile

    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "leads.csv", "id,email\n1,bo@example.com\n2,ada.quill@example.com\n3,cy@example.com\n"
        )
    kept = without_records(packed.getvalue(), {"format": "csv", "delimiter": ","}, set(), NAMES)
    assert kept is not None
    with zipfile.ZipFile(io.BytesIO(kept)) as archive:
        assert archive.read("leads.csv") == b"id,email\n1,bo@example.com\n\n3,cy@example.com\n"
    nobody = without_records(packed.getvalue(), {"format": "csv", "delimiter": ","}, set(), None)
    assert nobody == packed.getvalue()  # nothing to erase: the very same bytes
    assert (
        without_records(b"PK\x03\x04 broken ada.quill@example.com", {"format": "csv"}, set(), NAMES) is None
    )


def test_an_erased_e_mail_is_found_alone_not_inside_another() -> None:
    import re

    from forecourt.privacy.erasure import text_pattern

    pattern = text_pattern(["ann@example.org"], [])
    assert pattern is not None
    found = re.compile(pattern.removeprefix("(?i)"), re.IGNORECASE)
    assert found.search("1,Ann,ANN@example.org,x") and found.search('{"email": "ann@example.org"}')
    assert found.search("ann@example.org") and found.search("<email>ann@example.org</email>")
    assert not found.search("joann@example.org") and not found.search("ann@example.org.uk")
    assert not found.search("mary.ann@example.org")


def test_an_erased_phone_is_found_however_written_but_not_inside_another_number() -> None:
    import re

    from forecourt.privacy.erasure import text_pattern

    pattern = text_pattern([], ["+13125550100"])
    assert pattern is not None
    found = re.compile(pattern.removeprefix("(?i)"), re.IGNORECASE)
    for written in ("(312) 555-0100", "x,312.555.0100,y", "+1 312 555 0100", "13125550100", '"+13125550100"'):
        assert found.search(written), written
    for other in ("1312 555 01009", "23125550100", "31255501007", "phone: 43125550100"):
        assert not found.search(other), other
