"""JSON-lines dealer files: flattening, exact numbers, rejected lines, batches (forecourt.formats)."""

from __future__ import annotations

import gzip

import pytest
from forecourt.formats import SourceFile, jsonl
from forecourt.reasons import QuarantineReason
from format_files import DATA, open_named


def open_bytes(data: bytes, name: str = "customers.jsonl") -> SourceFile:
    return open_named(data, name)


def test_dms_dump_is_flattened_line_by_line() -> None:
    source = open_bytes((DATA / "dms_customers.jsonl").read_bytes())
    assert (source.format, source.delimiter) == ("jsonl", None)
    batches = list(source.records())
    assert len(batches) == 1
    rows = batches[0].columns.to_pylist()
    assert batches[0].source_lines.to_pylist() == [1, 3, 6]  # line 2 is blank, 4 and 5 are rejected
    assert rows[0] == {
        "customerId": "C-900",
        "name.first": "Dana",
        "name.last": "Reyes",
        "email": "dana@example.com",  # a one-element list is unwrapped
        "optIn": "true",
        "balance": "1200.50",  # the number's own text, trailing zero kept
        "phones": None,
        "vehicles": None,
        "tags": None,
        "score": None,
        "note": None,
    }
    assert rows[1]["phones"] == '["555-0101", "555-0102"]'
    assert rows[1]["vehicles"] == '[{"vin": "1FTFW1E50PFA00001"}]'
    assert rows[1]["optIn"] == "false"
    assert (rows[2]["tags"], rows[2]["score"], rows[2]["note"]) == ("[]", "7", None)
    assert all(field.type == "string" for field in batches[0].columns.schema)


def test_lines_that_are_not_json_objects_are_rejected_with_the_parser_column() -> None:
    batch = next(iter(open_bytes((DATA / "dms_customers.jsonl").read_bytes()).records()))
    assert [(r.source_line, r.reason, r.message) for r in batch.rejected] == [
        (4, QuarantineReason.MALFORMED_ROW, "expected a JSON object, found an array"),
        (5, QuarantineReason.MALFORMED_ROW, "not valid JSON at column 51: Expecting ',' delimiter"),
    ]
    assert batch.rejected[1].raw == '{"customerId": "C-903", "name": {"first": "Broken"'


def test_preview_lists_the_fields_of_the_first_records() -> None:
    source = open_bytes((DATA / "dms_customers.jsonl").read_bytes())
    assert source.preview_lines == [
        [
            "customerId",
            "name.first",
            "name.last",
            "email",
            "optIn",
            "balance",
            "phones",
            "vehicles",
            "tags",
            "score",
            "note",
        ]
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"customer": {"email": "a@b"}}', {"customer.email": "a@b"}),
        ('{"a": {"b": {"c": 1}}, "d": 2.50}', {"a.b.c": "1", "d": "2.50"}),
        (
            '{"vin": ["1FTFW1E50PFA00001"], "odo": [45210], "flag": [null]}',
            {"vin": "1FTFW1E50PFA00001", "odo": "45210", "flag": None},
        ),
        (
            '{"big": 12345678901234567890123, "e": 1E+5, "neg": -0.0}',
            {"big": "12345678901234567890123", "e": "1E+5", "neg": "-0.0"},
        ),
        ('{"list": [1.0, "x", true, null, {"k": 2}]}', {"list": '[1.0, "x", true, null, {"k": 2}]'}),
        ('{"nested": [["a"]]}', {"nested": '[["a"]]'}),
        ('{"empty": {}, "s": "Zoë"}', {"s": "Zoë"}),
    ],
)
def test_flattening_rules(line: str, expected: dict[str, str | None]) -> None:
    assert jsonl.parse_line(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('"just a string"', "expected a JSON object, found a string"),
        ("42", "expected a JSON object, found a number"),
        ("null", "expected a JSON object, found null"),
        ('{"a": 1,}', "not valid JSON at column 9: Expecting property name enclosed in double quotes"),
        ('{"a": 1} trailing', "not valid JSON at column 10: Extra data"),
    ],
)
def test_parse_errors_say_what_and_where(line: str, message: str) -> None:
    assert jsonl.parse_line(line) == message


def test_batches_are_bounded_and_columns_grow_as_fields_appear() -> None:
    data = b'{"id": "1"}\n{"id": "2", "email": "b@example.com"}\n{"id": "3"}\n'
    batches = list(open_bytes(data).records(batch_rows=2))
    assert [batch.columns.num_rows for batch in batches] == [2, 1]
    assert batches[0].columns.column_names == ["id", "email"]
    assert batches[1].columns.to_pylist() == [{"id": "3", "email": None}]
    assert batches[1].source_lines.to_pylist() == [3]


def test_a_line_longer_than_the_limit_is_rejected_without_being_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "MAX_LINE_CHARS", 100)
    monkeypatch.setattr(jsonl, "_CHUNK_CHARS", 64)
    data = b'{"id": "1"}\n{"blob": "' + b"x" * 1000 + b'"}\n{"id": "3"}\n'
    batch = next(iter(open_bytes(data).records()))
    assert batch.columns.to_pylist() == [{"id": "1"}, {"id": "3"}]
    assert batch.source_lines.to_pylist() == [1, 3]
    assert [(r.source_line, r.message, r.raw) for r in batch.rejected] == [
        (2, "line longer than 100 characters", "")
    ]


def test_gzipped_cp1252_json_lines_are_read() -> None:
    data = gzip.compress('{"name": "José Peña"}\n'.encode("cp1252"))
    source = open_bytes(data, "customers.jsonl.gz")
    assert (source.compression, source.encoding, source.format) == ("gzip", "cp1252", "jsonl")
    assert next(iter(source.records())).columns.to_pylist() == [{"name": "José Peña"}]


def test_a_file_of_only_bad_lines_still_reports_them() -> None:
    batches = list(open_bytes(b"{not json\n{\n").records())
    assert len(batches) == 1
    assert batches[0].columns.num_rows == 0
    assert [r.source_line for r in batches[0].rejected] == [1, 2]


def test_a_pretty_printed_object_is_one_record_at_the_line_it_starts() -> None:
    body = (
        b'\n{\n  "lead_id": "W-1",\n  "customer": {"email": "ann@example.com",\n    "phone": "555-0101"}\n}\n'
    )
    source = open_bytes(body, "lead.json")
    assert source.format == "jsonl"
    assert source.preview_lines == [["lead_id", "customer.email", "customer.phone"]]
    (batch,) = source.records()
    assert batch.columns.to_pylist() == [
        {"lead_id": "W-1", "customer.email": "ann@example.com", "customer.phone": "555-0101"}
    ]
    assert batch.source_lines.to_pylist() == [2]
    assert batch.rejected == []


def test_an_array_of_objects_is_a_record_each() -> None:
    source = open_bytes(b'[\n {"lead_id": "A"},\n {"lead_id": "B"}\n]', "leads.json")
    assert source.format == "jsonl"
    batches = list(source.records(batch_rows=1))
    assert [b.columns.to_pylist() for b in batches] == [[{"lead_id": "A"}], [{"lead_id": "B"}]]


def test_a_broken_document_is_rejected_line_by_line_as_before() -> None:
    source = open_bytes(b'{\n  "lead_id": "W-1",\n  "oops"\n}\n{"lead_id": "ok"}\n', "leads.json")
    (batch,) = source.records()
    assert batch.columns.to_pylist() == [{"lead_id": "ok"}]
    assert [r.source_line for r in batch.rejected] == [1, 2, 3, 4]
    assert {r.reason for r in batch.rejected} == {QuarantineReason.MALFORMED_ROW}
