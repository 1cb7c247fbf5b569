"""Delimited text (CSV, TSV, pipe, semicolon): dialect sniffing, a preview, and streamed records.

Parsing is pyarrow's streaming CSV reader with every column a string (no type inference: dealer
data is normalized later, column by column). Line numbers are physical lines of the file: a record
with a quoted newline spans several, so each record's start line is computed column-wise from the
line breaks inside the values of the records before it (and of the rows skipped in between: ragged
rows reported by pyarrow's ``invalid_row_handler``, blank lines), carried across batches.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from forecourt.formats.batches import (
    FileUnreadable,
    RejectedRecord,
    SourceBatch,
    line_breaks,
    truncate_raw,
)
from forecourt.formats.readahead import read_ahead
from forecourt.formats.text import TextStream, Utf8Bytes, drop_controls
from forecourt.reasons import QuarantineReason

DELIMITERS = (",", "\t", "|", ";")
"""Candidates, in order of preference when two fit the preview equally well."""
PREVIEW_LINES = 10
BLOCK_BYTES = 1 << 20
"""pyarrow reads this much at a time; one record (quoted newlines included) must fit in it."""

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass(frozen=True)
class CsvPreview:
    """The first lines of a delimited file, parsed, with where each starts and ends."""

    delimiter: str
    lines: list[list[str]]
    """Cells of the first ≤ 10 lines (a line here is a CSV record; a blank line is ``[]``)."""
    first_lines: list[int]
    """1-based physical line where each of ``lines`` starts."""
    line_counts: list[int]
    """How many physical lines each spans (more than one with quoted newlines)."""
    ends: list[int]
    """Character offset in the decoded text just after each (line break included)."""
    whole_file: bool
    """Whether the text parsed was the whole file (else its first MiB)."""


def _parse_head(text: str, delimiter: str, *, complete: bool) -> CsvPreview:
    """Parse the first ≤ 10 complete records of ``text`` with Python's csv module."""
    consumed = [0]

    def physical_lines() -> Iterator[str]:
        for match in _LINE.finditer(text):
            consumed[0] = match.end()
            yield match.group(0)

    reader = csv.reader(physical_lines(), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    preview = CsvPreview(delimiter, [], [], [], [], whole_file=complete)
    lines_before = 0
    try:
        for cells in reader:
            if consumed[0] >= len(text) and not complete:
                break  # the sample may have cut this record short
            preview.lines.append(cells)
            preview.first_lines.append(lines_before + 1)
            preview.line_counts.append(reader.line_num - lines_before)
            preview.ends.append(consumed[0])
            lines_before = reader.line_num
            if len(preview.lines) == PREVIEW_LINES:
                break
    except csv.Error:
        pass  # a field over the csv module's size limit: the preview stops there
    return preview


def _fit(preview: CsvPreview) -> tuple[int, int]:
    """How well a delimiter fits: (lines with the most common cell count, that count); (0, 0) if ≤ 1."""
    counts = Counter(len(cells) for cells in preview.lines if any(cell.strip() for cell in cells))
    if not counts:
        return (0, 0)
    cells, lines = max(counts.items(), key=lambda item: (item[1], item[0]))
    return (lines, cells) if cells > 1 else (0, 0)


def sniff(head_text: str, *, complete: bool) -> CsvPreview:
    """Pick the delimiter among ``, TAB | ;`` that gives the most consistent cell count (> 1) over
    the first lines, respecting quotes; return the preview parsed with it (``,`` for one column)."""
    best = _parse_head(head_text, DELIMITERS[0], complete=complete)
    best_fit = _fit(best)
    for delimiter in DELIMITERS[1:]:
        candidate = _parse_head(head_text, delimiter, complete=complete)
        if _fit(candidate) > best_fit:
            best, best_fit = candidate, _fit(candidate)
    return best


def header_names(cells: list[str]) -> list[str]:
    """Column names from header cells: trimmed, control characters dropped (as from every cell); a
    repeated name gets `` (2)``, `` (3)``…"""
    names: list[str] = []
    seen: set[str] = set()
    for cell in cells:
        base = drop_controls(cell).strip()
        name, copy = base, 1
        while name in seen:
            copy += 1
            name = f"{base} ({copy})"
        seen.add(name)
        names.append(name)
    return names


@dataclass
class _Skipped:
    ordinal: int
    """0-based position among all rows pyarrow parsed (accepted, ragged and blank)."""
    width: int
    """Physical lines the row spans."""
    rejected: RejectedRecord | None
    """None for a blank line."""


class _LineTracker:
    """Places records on physical lines across batches, merging in the rows pyarrow skipped.

    pyarrow reports a skipped row through ``invalid_row_handler`` with its ordinal, possibly one
    block ahead of the batch being returned; a batch's rows are the next ``n`` ordinals that were
    not skipped.
    """

    def __init__(self, first_line: int) -> None:
        self.next_ordinal = 0
        self.next_line = first_line
        self._skipped: deque[_Skipped] = deque()

    def on_invalid_row(self, row: pacsv.InvalidRow) -> str:
        """pyarrow's ``invalid_row_handler``: remember the row, tell pyarrow to skip it."""
        if row.number is None:  # only a multi-threaded reader loses row numbers; ours is serial
            return "error"
        rejected = None
        if row.text.strip():
            rejected = RejectedRecord(
                source_line=None,
                reason=QuarantineReason.MALFORMED_ROW,
                message=f"expected {row.expected_columns} cells, found {row.actual_columns}",
                raw=truncate_raw(row.text),
            )
        self._skipped.append(_Skipped(row.number - 1, 1 + line_breaks(row.text), rejected))
        return "skip"

    def place_batch(self, widths: pa.Array) -> tuple[pa.Array, list[RejectedRecord]]:
        """Start lines of a batch's rows (``widths``: physical lines of each) and the rejects before
        and among them."""
        rows = len(widths)
        ends = pc.cumulative_sum(widths)
        gaps: list[int] | None = None
        gap_total = 0
        placed: list[RejectedRecord] = []
        taken = 0
        while self._skipped:
            skipped = self._skipped[0]
            position = skipped.ordinal - self.next_ordinal - taken
            if position >= rows:
                break
            self._skipped.popleft()
            before = ends[position - 1].as_py() if position > 0 else 0
            if skipped.rejected is not None:
                placed.append(replace(skipped.rejected, source_line=self.next_line + before + gap_total))
            gaps = gaps if gaps is not None else [0] * rows
            gaps[position] += skipped.width
            gap_total += skipped.width
            taken += 1
        starts = pc.add(pc.subtract(ends, widths), self.next_line)
        if gaps is not None:
            starts = pc.add(starts, pc.cumulative_sum(pa.array(gaps, pa.int64())))
        self.next_ordinal += rows + taken
        self.next_line += (ends[rows - 1].as_py() if rows else 0) + gap_total
        return starts, placed + self.place_run()

    def place_run(self, *, everything: bool = False) -> list[RejectedRecord]:
        """Place skipped rows that directly follow the last placed row (or all that are left)."""
        placed: list[RejectedRecord] = []
        while self._skipped and (everything or self._skipped[0].ordinal == self.next_ordinal):
            skipped = self._skipped.popleft()
            if skipped.rejected is not None:
                placed.append(replace(skipped.rejected, source_line=self.next_line))
            self.next_ordinal += 1
            self.next_line += skipped.width
        return placed


def _has_line_break(column: pa.Array) -> bool:
    """Whether any value of a string column holds CR or LF (a search of its data bytes, no copy per value)."""
    _, offsets, data = column.buffers()
    if data is None or not len(column):
        return False
    ends = pa.Array.from_buffers(pa.int32(), len(column) + 1, [None, offsets], offset=column.offset)
    values = memoryview(data)[ends[0].as_py() : ends[len(column)].as_py()].tobytes()
    return b"\n" in values or b"\r" in values


def _widths(batch: pa.RecordBatch) -> pa.Array:
    """Physical lines each row spans: one plus the line breaks (CRLF, LF, lone CR) in its values."""
    breaks: pa.Array | None = None
    for column in batch.columns:
        if _has_line_break(column):
            count = pc.subtract(
                pc.add(pc.count_substring(column, "\n"), pc.count_substring(column, "\r")),
                pc.count_substring(column, "\r\n"),
            )
            breaks = count if breaks is None else pc.add(breaks, count)
    if breaks is None:
        return pa.repeat(pa.scalar(1, pa.int64()), batch.num_rows)
    return pc.add(pc.cast(breaks, pa.int64()), 1)


def _filled(batch: pa.RecordBatch) -> pa.Array | None:
    """Which rows hold something other than blanks; None when every row does.

    Only rows whose first cell is blank can be blank rows, so only those are looked at whole."""
    first_blank = pc.equal(pc.utf8_trim_whitespace(batch.column(0)), "")
    if not pc.any(first_blank).as_py():
        return None
    candidates = pc.indices_nonzero(first_blank)
    cells = [pc.take(column, candidates) for column in batch.columns]
    joined = pc.binary_join_element_wise(*cells, "") if len(cells) > 1 else cells[0]
    blank = pc.equal(pc.utf8_trim_whitespace(joined), "")
    mask = pc.replace_with_mask(pa.repeat(pa.scalar(True), batch.num_rows), first_blank, pc.invert(blank))
    return mask


def _open_reader(
    data: Utf8Bytes, names: list[str], delimiter: str, tracker: _LineTracker
) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        data,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES, column_names=names),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"',
            double_quote=True,
            escape_char=False,
            newlines_in_values=True,
            ignore_empty_lines=False,  # a blank line becomes an all-empty row: it keeps its line
            invalid_row_handler=tracker.on_invalid_row,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _arrow_batches(
    data: Utf8Bytes, names: list[str], delimiter: str, tracker: _LineTracker
) -> Iterator[pa.RecordBatch]:
    """pyarrow's batches; its parse errors become FileUnreadable with the line reached."""
    try:
        reader = _open_reader(data, names, delimiter, tracker)
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            yield batch
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "straddl" in message:
            message = (
                f"a record starting at or after line {tracker.next_line} is longer than "
                f"{BLOCK_BYTES >> 20} MiB (an unclosed quote?)"
            )
        raise FileUnreadable(
            QuarantineReason.UNREADABLE_FILE, f"CSV parse error: {message}", line=tracker.next_line
        ) from exc


@dataclass
class _Pending:
    """Parsed records not yet handed out: pyarrow's blocks are gathered into batches of ``batch_rows``."""

    tables: list[pa.Table] = field(default_factory=list)
    lines: list[pa.Array] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    rows: int = 0

    def add(self, table: pa.Table, lines: pa.Array, rejected: list[RejectedRecord]) -> None:
        """Queue the records of one block (blank rows already dropped) and the rejects of its span."""
        self.tables.append(table)
        self.lines.append(lines)
        self.rejected += rejected
        self.rows += table.num_rows

    def take(self, batch_rows: int, *, final: bool) -> Iterator[SourceBatch]:
        """Hand out full batches (and, when ``final``, the rest); each reject goes with its span."""
        if self.rows < batch_rows and not (final and (self.rows or self.rejected)):
            return
        table = pa.concat_tables(self.tables).combine_chunks() if len(self.tables) > 1 else self.tables[0]
        lines = pa.concat_arrays(self.lines) if len(self.lines) > 1 else self.lines[0]
        offset = 0
        while self.rows - offset >= batch_rows or (final and offset < max(self.rows, 1)):
            end = offset + batch_rows
            boundary = lines[end].as_py() if end < self.rows else None
            mine = [r for r in self.rejected if boundary is None or _before(r, boundary)]
            self.rejected = [r for r in self.rejected if not (boundary is None or _before(r, boundary))]
            yield SourceBatch(table.slice(offset, batch_rows), lines.slice(offset, batch_rows), mine)
            offset = end
        offset = min(offset, self.rows)
        self.tables, self.lines = [table.slice(offset)], [lines.slice(offset)]
        self.rows -= offset


def _before(rejected: RejectedRecord, line: int) -> bool:
    return rejected.source_line is not None and rejected.source_line < line


def _parsed(
    data: Utf8Bytes, names: list[str], delimiter: str, first_line: int, batch_rows: int
) -> Generator[SourceBatch, None, None]:
    """The records of ``data`` in batches, with their start lines and the rejects of each span."""
    tracker = _LineTracker(first_line)
    schema = pa.schema([pa.field(name, pa.string()) for name in names])
    pending = _Pending()
    for batch in _arrow_batches(data, names, delimiter, tracker):
        lines, rejected = tracker.place_batch(_widths(batch))
        table = pa.Table.from_batches([batch], schema=schema)
        filled = _filled(batch)
        if filled is not None:
            table, lines = table.filter(filled), lines.filter(filled)
        pending.add(table, lines, rejected)
        yield from pending.take(batch_rows, final=False)
    pending.add(schema.empty_table(), pa.array([], pa.int64()), tracker.place_run(everything=True))
    yield from pending.take(batch_rows, final=True)


def read_records(
    text: TextStream, preview: CsvPreview, *, header_line: int, batch_rows: int
) -> Iterator[SourceBatch]:
    """Stream the records below line ``header_line`` of the preview (lines above it are skipped).

    Ragged rows become RejectedRecord(MALFORMED_ROW); blank rows (every cell empty or spaces) are
    skipped; control characters (NUL…, ``text.CONTROL_BYTES``) are dropped from every cell. Parsing
    runs in a worker thread, a batch ahead. Raises FileUnreadable(UNREADABLE_FILE) when pyarrow cannot
    parse on (a record longer than ``BLOCK_BYTES``), or what the byte stream raises (FILE_TOO_LARGE,
    broken compression).
    """
    names = header_names(preview.lines[header_line])
    text.skip(preview.ends[header_line])
    data = Utf8Bytes(text)
    if data.at_end():
        return
    first_line = preview.first_lines[header_line] + preview.line_counts[header_line]
    yield from read_ahead(_parsed(data, names, preview.delimiter, first_line, batch_rows))
