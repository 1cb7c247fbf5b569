"""normalize_column: the contract every kind shares (lengths, types, blanks, the invalid mask)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from forecourt import schemas
from forecourt.normalize import KINDS, Locale, Normalized, normalize_column

SAMPLES = {
    "email": "Jane.Doe@Example.com",
    "phone": "(212) 555-0123",
    "name": "JANE",
    "text": "red  car",
    "state": "ny",
    "zip": "10001",
    "country": "usa",
    "vin": "1M8GDM9AXKP042788",
    "make": "chevy",
    "vehicle_status": "N",
    "lead_source": "Cars.com",
    "consent": "granted",
    "event_type": "Appt Set",
    "model_year": "2024",
    "integer": "1,234",
    "number": "$12.50",
    "flag": "Y",
    "timestamp": "2026-11-02T14:05:00Z",
    "date": "2026-11-02",
}


def schema_columns() -> list[tuple[str, str, pa.DataType]]:
    """Every (dataset.column, kind, Arrow type) of the schemas that names a normalize kind."""
    return [
        (f"{dataset.name}.{column.name}", column.normalize, column.arrow_type)
        for dataset in schemas.load_all().values()
        for column in dataset.columns
        if column.normalize
    ]


def test_kinds_cover_every_normalize_attribute_of_the_schemas() -> None:
    assert {kind for _, kind, _ in schema_columns()} == KINDS
    assert set(SAMPLES) == KINDS


@pytest.mark.parametrize(("column", "kind", "target"), schema_columns(), ids=str)
def test_every_schema_column_gets_exactly_its_arrow_type(column: str, kind: str, target: pa.DataType) -> None:
    raw = pa.array([SAMPLES[kind], None, "   "], pa.string())
    result = normalize_column(kind, raw, target, Locale())
    assert result.values.type == target
    assert len(result.values) == 3
    assert result.values[0].is_valid, column
    assert result.values.to_pylist()[1:] == [None, None]
    assert result.invalid.to_pylist() == [False, False, False]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_blank_and_whitespace_values_are_null_and_not_invalid(kind: str) -> None:
    target = next(t for _, k, t in schema_columns() if k == kind)
    result = normalize_column(kind, pa.array(["", "  ", "\t\n", None], pa.string()), target, Locale())
    assert result.values.null_count == 4
    assert result.invalid.to_pylist() == [False] * 4
    assert result.invalid.null_count == 0


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_empty_and_all_null_columns(kind: str) -> None:
    target = next(t for _, k, t in schema_columns() if k == kind)
    empty = normalize_column(kind, pa.array([], pa.string()), target, Locale())
    assert (len(empty.values), len(empty.invalid), empty.values.type) == (0, 0, target)
    all_null = normalize_column(kind, pa.nulls(5, pa.string()), target, Locale())
    assert all_null.values.null_count == 5
    assert all_null.invalid.to_pylist() == [False] * 5
    for part in all_null.parts.values():
        assert part.null_count == 5


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown normalize kind 'shoe_size'"):
        normalize_column("shoe_size", pa.array(["9"]), pa.string(), Locale())


@pytest.mark.parametrize(
    ("kind", "target"),
    [("email", pa.int32()), ("flag", pa.string()), ("timestamp", pa.date32()), ("number", pa.bool_())],
)
def test_a_target_the_kind_cannot_produce_is_refused(kind: str, target: pa.DataType) -> None:
    with pytest.raises(ValueError, match=f"kind '{kind}' cannot produce"):
        normalize_column(kind, pa.array(["x"]), target, Locale())


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        normalize_column(
            "timestamp", pa.array(["2026-01-01"]), pa.timestamp("us", tz="UTC"), Locale("US", "Mars/Base")
        )


def test_plain_string_column_is_only_trimmed() -> None:
    result = normalize_column(None, pa.array(["  Stock #12  ", "", None, "a  b"]), pa.string(), Locale())
    assert result.values.to_pylist() == ["Stock #12", None, None, "a  b"]
    assert result.invalid.to_pylist() == [False] * 4


def test_plain_column_with_a_typed_target_is_parsed_as_that_type() -> None:
    integers = normalize_column(None, pa.array([" 42 ", "4,200", "forty"]), pa.int64(), Locale())
    assert integers.values.type == pa.int64()
    assert integers.values.to_pylist() == [42, 4200, None]
    assert integers.invalid.to_pylist() == [False, False, True]
    dates = normalize_column(None, pa.array(["2026-11-02"]), pa.date32(), Locale())
    assert str(dates.values[0]) == "2026-11-02"


def test_a_plain_column_cannot_become_a_list() -> None:
    with pytest.raises(ValueError, match="cannot produce"):
        normalize_column(None, pa.array(["a"]), pa.list_(pa.string()), Locale())


def test_chunked_large_and_dictionary_strings_are_accepted() -> None:
    chunked = pa.chunked_array([["Y"], ["N", None]])
    assert normalize_column("flag", chunked, pa.bool_(), Locale()).values.to_pylist() == [True, False, None]
    large = pa.array(["y"], pa.large_string())
    assert normalize_column("flag", large, pa.bool_(), Locale()).values.to_pylist() == [True]
    dictionary = pa.array(["chevy", "chevy", "vw"]).dictionary_encode()
    result = normalize_column("make", dictionary, pa.string(), Locale())
    assert result.values.to_pylist() == ["Chevrolet", "Chevrolet", "Volkswagen"]


def test_a_sliced_input_keeps_its_rows() -> None:
    raw = pa.array(["x", "(212) 555-0123", None, "212-555-0199 x7", "bad"]).slice(1, 3)
    result = normalize_column("phone", raw, pa.string(), Locale())
    assert result.values.to_pylist() == ["+12125550123", None, "+12125550199"]
    assert result.parts["ext"].to_pylist() == [None, None, "7"]


def test_large_string_target_is_honoured() -> None:
    result = normalize_column("text", pa.array(["a"]), pa.large_string(), Locale())
    assert isinstance(result, Normalized)
    assert result.values.type == pa.large_string()
