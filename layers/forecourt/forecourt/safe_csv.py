"""CSV files we write for people to open: cells that a spreadsheet would run as a formula are defused.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is what OWASP calls CSV
injection: Excel and LibreOffice evaluate it (``=HYPERLINK(…)``, ``@SUM(…)``). Such a cell gets a
leading apostrophe, which the spreadsheet shows as text and does not keep as part of the value.

A sign followed only by digits, spaces, dots, hyphens and parentheses is a number or a phone number
(``+13125550181``, ``-12.50``, ``+1 (312) 555-0181``): nothing a spreadsheet can run, so it is left as
it is; a dealer's CRM importing the file would otherwise store the apostrophe in every phone.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FORMULA_START = r"^(?:[=@\t\r]|[+\-](?:.*[^0-9 ().\-])|[+\-]$)"


def neutralize(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """String cells that start like a formula, with an apostrophe in front; other types unchanged."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    risky = pc.fill_null(pc.match_substring_regex(values, FORMULA_START), False)
    return pc.if_else(risky, pc.binary_join_element_wise("'", values, ""), values)


def write_csv(table: pa.Table, path: Path | str) -> None:
    """``table`` as a UTF-8 CSV with a header, every string column neutralized."""
    safe = pa.table({name: neutralize(table.column(name)) for name in table.column_names})
    pacsv.write_csv(safe, str(path))
