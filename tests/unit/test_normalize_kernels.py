"""The Arrow building blocks under the normalizers."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from forecourt.normalize._kernels import (
    LookupTable,
    clean_strings,
    collapse_whitespace,
    delete_ascii,
    lookup_folded,
    map_python,
    update_where,
)


def test_clean_strings_trims_and_nulls_blanks() -> None:
    cleaned = clean_strings(pa.array(["  a ", "", " \t ", None, "\u00a0b\u00a0"]))
    assert cleaned.to_pylist() == ["a", None, None, None, "b"]


def test_delete_ascii_removes_characters_and_keeps_rows() -> None:
    values = pa.array(["(212) 555-0123", None, "é-è ü", "", "---", "a/b.c"])
    result = delete_ascii(values, " -()/.")
    result.validate(full=True)
    assert result.to_pylist() == ["2125550123", None, "éèü", "", "", "abc"]


def test_delete_ascii_on_a_slice_of_a_larger_array() -> None:
    values = pa.array(["x-1", "a-b", None, "c d-e", "z"]).slice(1, 3)
    result = delete_ascii(values, "- ")
    result.validate(full=True)
    assert result.to_pylist() == ["ab", None, "cde"]


def test_delete_ascii_refuses_non_ascii_characters() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        delete_ascii(pa.array(["a"]), "é")


def test_delete_ascii_on_empty_and_all_null_arrays() -> None:
    assert delete_ascii(pa.array([], pa.string()), "-").to_pylist() == []
    assert delete_ascii(pa.nulls(3, pa.string()), "-").to_pylist() == [None, None, None]


def test_update_where_computes_only_the_selected_rows() -> None:
    seen: list[list[str | None]] = []

    def shout(rows: pa.Array) -> pa.Array:
        seen.append(rows.to_pylist())
        return pc.utf8_upper(rows)

    values = pa.array(["a", "b", None, "d"])
    result = update_where(values, pa.array([True, False, None, True]), shout)
    assert result.to_pylist() == ["A", "b", None, "D"]
    assert seen == [["a", "d"]]
    assert update_where(values, pa.array([False] * 4), shout) is values


def test_map_python_calls_once_per_distinct_value() -> None:
    calls: list[str] = []

    def length(value: str) -> int:
        calls.append(value)
        return len(value)

    result = map_python(pa.array(["ab", "ab", None, "abc", "ab"]), length, pa.int64())
    assert result.to_pylist() == [2, 2, None, 3, 2]
    assert sorted(calls) == ["ab", "abc"]


def test_collapse_whitespace() -> None:
    result = collapse_whitespace(pa.array(["a  b", "a\tb", "a\u00a0b", "a b", None]))
    assert result.to_pylist() == ["a b", "a b", "a b", "a b", None]


def test_lookup_folded_ignores_case_dots_and_dashes() -> None:
    table = LookupTable.build({"new york": "NY", "ny": "NY"})
    assert lookup_folded(pa.array(["N.Y.", "New-York", " new   york ", "NJ", None]), table).to_pylist() == [
        "NY",
        "NY",
        "NY",
        None,
        None,
    ]
