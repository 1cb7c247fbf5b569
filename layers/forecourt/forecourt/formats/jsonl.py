"""JSON lines: one object per line, flattened to string fields named by their path.

A JSON *document* is read too: one object or an array of objects spread over several lines (what a
webhook body or a ``.json`` export usually is), up to ``MAX_LINE_CHARS``; its records take the line
number where the document starts.

``{"customer": {"email": "a@b"}}`` → ``customer.email``; a list holding exactly one scalar is
unwrapped (DMS exports wrap scalars in one-element lists); other lists become their JSON text;
numbers keep their exact text (``25999.00`` stays ``25999.00``), booleans become ``true``/``false``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from forecourt.formats.batches import RejectedRecord, SourceBatch, string_table, truncate_raw
from forecourt.formats.text import TextStream
from forecourt.reasons import QuarantineReason

MAX_LINE_CHARS = 16 << 20
"""A longer line is rejected whole (and skipped without being held in memory)."""
PREVIEW_RECORDS = 10
_CHUNK_CHARS = 1 << 20


class _JsonNumber(str):
    """A JSON number kept as its source text."""

    __slots__ = ()


_DECODER = json.JSONDecoder(parse_float=_JsonNumber, parse_int=_JsonNumber, parse_constant=_JsonNumber)
_KINDS: dict[type, str] = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    type(None): "null",
    _JsonNumber: "a number",
}


def _json_text(value: Any) -> str:
    """JSON text of a parsed value, numbers exactly as they were written."""
    if isinstance(value, _JsonNumber):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_json_text(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(key, ensure_ascii=False)}: {_json_text(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    return json.dumps(value, ensure_ascii=False)


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _JsonNumber):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], list | dict):
        return _scalar_text(value[0])
    return _json_text(value)


def flatten(
    obj: dict[str, Any], prefix: str = "", out: dict[str, str | None] | None = None
) -> dict[str, str | None]:
    """A JSON object as ``{field path: text or None}`` (nested objects joined with ".")."""
    out = {} if out is None else out
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flatten(value, path, out)
        else:
            out[path] = _scalar_text(value)
    return out


def parse_line(line: str) -> dict[str, str | None] | str:
    """The flattened record of one line, or a message saying why it is not a JSON object."""
    try:
        value = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        return f"not valid JSON at column {exc.colno}: {exc.msg}"
    except RecursionError:
        return "JSON nested too deeply"
    if not isinstance(value, dict):
        return f"expected a JSON object, found {_KINDS.get(type(value), type(value).__name__)}"
    return flatten(value)


def physical_lines(text: TextStream) -> Iterator[tuple[int, str | None]]:
    """``(line number, line)`` for every line (None for one over MAX_LINE_CHARS), ``\\r\\n`` or ``\\n``."""
    number = 1
    buffer = ""
    too_long = False
    while chunk := text.read(_CHUNK_CHARS):
        parts = (buffer + chunk).split("\n")
        buffer = parts.pop()
        for part in parts:
            yield number, None if too_long else part.removesuffix("\r")
            number += 1
            too_long = False
        if len(buffer) > MAX_LINE_CHARS:
            buffer, too_long = "", True
    if buffer or too_long:
        yield number, None if too_long else buffer.removesuffix("\r")


def _rejected(line_number: int, line: str | None, message: str) -> RejectedRecord:
    return RejectedRecord(
        source_line=line_number,
        reason=QuarantineReason.MALFORMED_ROW,
        message=message,
        raw="" if line is None else truncate_raw(line),
    )


class _Batcher:
    """Collects records into batches; the column list is the union of fields seen so far."""

    def __init__(self) -> None:
        self.columns: dict[str, None] = {}
        self.rows: list[dict[str, str | None]] = []
        self.lines: list[int] = []
        self.rejected: list[RejectedRecord] = []

    def add(self, line_number: int, record: dict[str, str | None]) -> None:
        for name in record:
            self.columns.setdefault(name)
        self.rows.append(record)
        self.lines.append(line_number)

    def take(self) -> SourceBatch:
        batch = SourceBatch(
            string_table(self.rows, list(self.columns)), pa.array(self.lines, pa.int64()), self.rejected
        )
        self.rows, self.lines, self.rejected = [], [], []
        return batch


def parse_document(text: str) -> list[dict[str, str | None]] | None:
    """The flattened records of a JSON document (an object, or an array of objects); None when
    ``text`` is not one."""
    try:
        value = _DECODER.decode(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, dict) for item in values):
        return None
    return [flatten(item) for item in values]


def _document_lines(
    first: tuple[int, str], rest: Iterator[tuple[int, str | None]]
) -> tuple[list[tuple[int, str | None]], list[dict[str, str | None]] | None]:
    """Hold the lines from ``first`` on (at most ``MAX_LINE_CHARS`` in all) and read them as one JSON
    document; returns the lines held and the document's records (None: not a document)."""
    held: list[tuple[int, str | None]] = [first]
    size = len(first[1])
    for number, line in rest:
        held.append((number, line))
        size += 0 if line is None else len(line) + 1
        if line is None or size > MAX_LINE_CHARS:
            return held, None
    return held, parse_document("\n".join(line or "" for _, line in held))


def read_records(text: TextStream, *, batch_rows: int) -> Iterator[SourceBatch]:
    """Stream the records of a JSON-lines file (or a JSON document, see the module docstring); blank
    lines are skipped, a line that is not a JSON object becomes RejectedRecord(MALFORMED_ROW).
    Raises what the byte stream raises."""
    batcher = _Batcher()
    lines: Iterator[tuple[int, str | None]] = physical_lines(text)
    for number, line in lines:  # the first line with content: a JSON document starting there?
        if line is not None and not line.strip():
            continue
        if line is not None and line.lstrip()[0] in "{[" and isinstance(parse_line(line), str):
            held, document = _document_lines((number, line), lines)
            if document is not None:
                for fields in document:
                    batcher.add(number, fields)
                    if len(batcher.rows) >= batch_rows:
                        yield batcher.take()
                if batcher.rows:
                    yield batcher.take()
                return
            lines = itertools.chain(held, lines)
        else:
            lines = itertools.chain([(number, line)], lines)
        break
    for number, line in lines:
        if line is None:
            batcher.rejected.append(
                _rejected(number, None, f"line longer than {MAX_LINE_CHARS:,} characters")
            )
            continue
        if not line.strip():
            continue
        record = parse_line(line)
        if isinstance(record, str):
            batcher.rejected.append(_rejected(number, line, record))
        else:
            batcher.add(number, record)
        if len(batcher.rows) >= batch_rows:
            yield batcher.take()
    if batcher.rows or batcher.rejected:
        yield batcher.take()


def preview_fields(head_text: str, *, complete: bool) -> list[str]:
    """Field names of the first records in ``head_text`` (the decoded start of the file;
    ``complete``: all of it)."""
    names: dict[str, None] = {}
    records = 0
    lines = head_text.split("\n")
    if complete and not any(isinstance(parse_line(line), dict) for line in lines if line.strip()):
        lines = [json.dumps(record) for record in parse_document(head_text) or []]
    for line in lines if complete else lines[:-1]:
        record = parse_line(line) if line.strip() else None
        if isinstance(record, dict):
            names.update(dict.fromkeys(record))
            records += 1
            if records == PREVIEW_RECORDS:
                break
    return list(names)
