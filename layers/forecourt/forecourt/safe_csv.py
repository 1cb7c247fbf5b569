"""CSV files we write for people to open: cells that a spreadsheet would run as a formula are defused.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is what OWASP calls CSV
injection: Excel and LibreOffice evaluate it (``=HYPERLINK(…)``, ``@SUM(…)``). Such a cell gets a
leading apostrophe, which the spreadsheet shows as text and does not keep as part of the value.

A sign followed only by digits, spaces, dots, hyphens and parentheses is a number or a phone number
(``+13125550181``, ``-12.50``, ``+1 (312) 555-0181``): nothing a spreadsheet can run, so it is left as
it is; a dealer's CRM importing the file would otherwise store the apostrophe in every phone.

Every CSV Forecourt writes (outbound files, CLI output and reports) goes through this module;
``tests/unit/test_safe_csv.py`` fails on a CSV writer anywhere else in the package.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FORMULA_START = r"^(?:[=@\t\r]|[+\-](?:.*[^0-9 ().\-])|[+\-]$)"
_FORMULA_START = re.compile(FORMULA_START)


def neutralize(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """String cells that start like a formula, with an apostrophe in front; other types unchanged."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    risky = pc.fill_null(pc.match_substring_regex(values, FORMULA_START), False)
    return pc.if_else(risky, pc.binary_join_element_wise("'", values, ""), values)


def neutralize_cell(value: Any) -> Any:
    """One cell as ``neutralize`` treats a column: a string that starts like a formula gets an
    apostrophe in front; anything else (numbers, None, dates) is returned as it is."""
    if isinstance(value, str) and _FORMULA_START.match(value):
        return f"'{value}"
    return value


def write_csv(table: pa.Table, sink: Path | str | IO[bytes]) -> None:
    """``table`` as a UTF-8 CSV with a header (to a path or a binary stream), every string column
    neutralized."""
    safe = pa.table({name: neutralize(table.column(name)) for name in table.column_names})
    pacsv.write_csv(safe, str(sink) if isinstance(sink, Path | str) else sink)


def write_rows(header: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO) -> None:
    """Python rows as CSV (``csv`` module, excel dialect) to a text stream, header and cells
    neutralized (a header comes from SQL aliases a user wrote)."""
    writer = csv.writer(out)
    writer.writerow([neutralize_cell(name) for name in header])
    writer.writerows([neutralize_cell(cell) for cell in row] for row in rows)
