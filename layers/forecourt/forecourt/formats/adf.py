"""ADF 1.0 (Auto-lead Data Format) XML: one record per ``<prospect>``, streamed.

The parser is defusedxml's hardened expat parser (entity declarations and external references
raise) fed chunk by chunk; only the prospect being read is held in memory. Real feeds break the DTD
(DOMAIN.md): processing instructions in any spelling before the root (``<?ADF VERSION "1.0"?>``,
``<?adf version="1.0"?>`` before the XML declaration, an upper-case ``<?XML …?>``) are blanked out
before parsing, keeping every line and column where it was. The text is fed as ``str``, so the
encoding was decided by our own sniffing (UTF-8, else cp1252) whatever the declaration claims.
Field names: see ``adf_fields``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import islice
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

import pyarrow as pa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from forecourt.formats.adf_fields import ADF_COLUMNS, Node, flatten_prospect
from forecourt.formats.batches import (
    MAX_RAW_BYTES,
    FileUnreadable,
    RejectedRecord,
    SourceBatch,
    line_breaks,
    string_table,
    truncate_raw,
)
from forecourt.formats.text import TextStream
from forecourt.reasons import QuarantineReason

PREVIEW_RECORDS = 10
MAX_DEPTH = 32
"""Elements nested inside a prospect at most (ADF needs 5: prospect/customer/contact/address/street);
deeper is hostile (a document nested 100,000 deep would exhaust the stack and, by path, memory)."""
_CHUNK_CHARS = 1 << 20
_PREVIEW_CHUNK = 8 << 10
_SPACE = re.compile(r"\s*")
_NAME = re.compile(r"[A-Za-z_][\w.:-]*")
_NOT_LINE_BREAK = re.compile(r"[^\r\n]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

Record = tuple[int, dict[str, str | None]]


def _doctype_end(text: str, pos: int) -> int:
    close = text.find(">", pos)
    bracket = text.find("[", pos)
    if bracket != -1 and (close == -1 or bracket < close):
        subset_end = text.find("]", bracket)
        close = -1 if subset_end == -1 else text.find(">", subset_end)
    return close + 1 if close != -1 else -1


def repair_prolog(text: str) -> tuple[str, str | None]:
    """Blank out the processing instructions (XML declaration included) before the root element;
    return the repaired text (same length, same line breaks) and the root's name (None when the
    root is not in ``text``)."""
    pos = 0
    while True:
        pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # \s* always matches
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            if end == -1:
                return text, None
            text = text[:pos] + _NOT_LINE_BREAK.sub(" ", text[pos : end + 2]) + text[end + 2 :]
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end == -1:
                return text, None
            pos = end + 3
        elif text.startswith("<!", pos):
            pos = _doctype_end(text, pos)
            if pos == -1:
                return text, None
        else:
            match = _NAME.match(text, pos + 1) if text.startswith("<", pos) else None
            return text, match.group(0) if match else None


class _WrongRoot(Exception):
    """The document's root element is not ``<adf>``."""


class _TooDeep(Exception):
    """A prospect nests elements deeper than ``MAX_DEPTH``."""


def _local(name: str) -> str:
    """Element or attribute name without namespace, lower-cased (feeds vary the case)."""
    return name.rsplit("}", 1)[-1].lower()


class _ProspectCollector:
    """ElementTree parser target that builds one prospect at a time and flattens it when it ends."""

    def __init__(self) -> None:
        self.line_now: Callable[[], int] = lambda: 0
        self.column_now: Callable[[], int] = lambda: 0
        self.root: str | None = None
        self.records: list[Record] = []
        self.completed = 0
        self._stack: list[Node] = []
        self._start_line = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        """A start tag: open a node inside the current prospect (or a new prospect)."""
        name = _local(tag)
        if self.root is None:
            self.root = name
            if name != "adf":
                raise _WrongRoot(tag)
            return
        if not self._stack and name != "prospect":
            return
        if len(self._stack) >= MAX_DEPTH:
            raise _TooDeep(tag)
        node = Node(name, {_local(key): value for key, value in attrs.items()})
        if self._stack:
            self._stack[-1].children.append(node)
        else:
            self._start_line = self.line_now()
        self._stack.append(node)

    def end(self, tag: str) -> None:
        """An end tag: close the node; a closed prospect becomes a record."""
        if self._stack:
            node = self._stack.pop()
            if not self._stack:
                self.records.append((self._start_line, flatten_prospect(node)))
                self.completed += 1

    def data(self, text: str) -> None:
        """Character data (CDATA included) of the innermost open node."""
        if self._stack:
            self._stack[-1].parts.append(text)

    def close(self) -> None:
        """End of the document."""
        return None


def _new_parser(collector: _ProspectCollector) -> DefusedXMLParser:
    parser = DefusedXMLParser(target=collector, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    expat_parser = parser.parser
    collector.line_now = lambda: int(expat_parser.CurrentLineNumber)
    collector.column_now = lambda: int(expat_parser.CurrentColumnNumber) + 1
    return parser


def _feed(
    parser: DefusedXMLParser, collector: _ProspectCollector, chunk: str | None
) -> FileUnreadable | None:
    """Feed ``chunk`` (None: end of input). Returns the error when the XML is not well-formed or
    nested deeper than ``MAX_DEPTH``; raises FileUnreadable for forbidden entities (NOT_WELL_FORMED)
    and a root other than <adf> (UNREADABLE_FILE)."""
    try:
        if chunk is None:
            parser.close()
        else:
            parser.feed(chunk)
    except ParseError as exc:
        line, column = exc.position
        return FileUnreadable(
            QuarantineReason.NOT_WELL_FORMED,
            f"XML not well-formed at line {line}, column {column + 1}: {expat.ErrorString(exc.code)}",
            line=line,
            column=column + 1,
        )
    except _TooDeep:
        line, column = collector.line_now(), collector.column_now()
        return FileUnreadable(
            QuarantineReason.NOT_WELL_FORMED,
            f"XML nested deeper than {MAX_DEPTH} elements inside a prospect at line {line}, column {column}",
            line=line,
            column=column,
        )
    except DefusedXmlException as exc:
        line = collector.line_now()
        raise FileUnreadable(
            QuarantineReason.NOT_WELL_FORMED,
            f"XML entity declarations and external references are forbidden (line {line}: {exc!r})",
            line=line,
        ) from exc
    except _WrongRoot as exc:
        raise FileUnreadable(
            QuarantineReason.UNREADABLE_FILE,
            f"XML root element is <{exc.args[0]}>, not <adf>: not an ADF file",
        ) from exc
    return None


class _RecentText:
    """The last two chunks fed to the parser, to quote the broken tail of a file."""

    def __init__(self) -> None:
        self._chunks: list[tuple[int, str]] = []
        self._next_line = 1

    def add(self, chunk: str) -> None:
        self._chunks = [*self._chunks[-1:], (self._next_line, chunk)]
        self._next_line += line_breaks(chunk)

    def tail_from(self, line: int, rest: TextStream) -> str:
        """The text from the start of ``line`` on (≤ 64 KiB), reading on into ``rest`` if needed
        (from the start of the kept chunks when ``line`` is older than them)."""
        first_line = self._chunks[0][0] if self._chunks else 1
        text = "".join(chunk for _, chunk in self._chunks)
        offset = 0
        if line > first_line:
            breaks = list(islice(_LINE_BREAK.finditer(text), line - first_line))
            offset = breaks[-1].end() if breaks else 0
        tail = text[offset : offset + MAX_RAW_BYTES]
        if len(tail) < MAX_RAW_BYTES:
            tail += rest.read(MAX_RAW_BYTES - len(tail))
        return truncate_raw(tail)


def _batch(records: list[Record], rejected: list[RejectedRecord]) -> SourceBatch:
    rows = [fields for _, fields in records]
    lines = pa.array([line for line, _ in records], pa.int64())
    return SourceBatch(string_table(rows, list(ADF_COLUMNS)), lines, rejected)


def _full_batches(collector: _ProspectCollector, batch_rows: int) -> Iterator[SourceBatch]:
    while len(collector.records) >= batch_rows:
        yield _batch(collector.records[:batch_rows], [])
        del collector.records[:batch_rows]


def _parse_stream(text: TextStream, collector: _ProspectCollector) -> Iterator[RejectedRecord | None]:
    """Feed the file to a parser, pausing (None) after each chunk. Raises FileUnreadable (see _feed)
    when the XML breaks before any prospect was read; after that, yields one RejectedRecord for
    the unread rest and stops."""
    parser = _new_parser(collector)
    recent = _RecentText()
    chunk = text.read(_CHUNK_CHARS)
    if chunk:
        chunk = repair_prolog(chunk)[0]
    while True:
        if chunk:
            recent.add(chunk)
        error = _feed(parser, collector, chunk or None)
        if error is not None and collector.completed == 0:
            raise error
        if error is not None:
            message = f"{error.message}; the rest of the file (from line {error.line}) was not read"
            yield RejectedRecord(error.line, error.reason, message, recent.tail_from(error.line or 1, text))
            return
        if not chunk:
            return
        yield None
        chunk = text.read(_CHUNK_CHARS)


def read_records(text: TextStream, *, batch_rows: int) -> Iterator[SourceBatch]:
    """Stream the prospects of an ADF file as records (``ADF_COLUMNS``, source line = line of the
    ``<prospect>`` start tag).

    Raises FileUnreadable: NOT_WELL_FORMED when the XML breaks before the first prospect is read
    (after that, the rest of the file becomes one RejectedRecord) or declares entities,
    UNREADABLE_FILE when the root is not <adf>; and whatever the byte stream raises.
    """
    collector = _ProspectCollector()
    rejected: list[RejectedRecord] = []
    for outcome in _parse_stream(text, collector):
        if outcome is not None:
            rejected.append(outcome)
        yield from _full_batches(collector, batch_rows)
    if collector.records or rejected:
        yield _batch(collector.records, rejected)


def preview_fields(head_text: str, *, complete: bool) -> list[str]:
    """Field names (of ADF_COLUMNS) filled in the first prospects of ``head_text``.

    Raises FileUnreadable as read_records would when the head is broken before any prospect.
    """
    collector = _ProspectCollector()
    parser = _new_parser(collector)
    repaired = repair_prolog(head_text)[0]
    error = None
    for start in range(0, len(repaired), _PREVIEW_CHUNK):
        error = _feed(parser, collector, repaired[start : start + _PREVIEW_CHUNK])
        if error is not None or collector.completed >= PREVIEW_RECORDS:
            break
    else:
        if complete:
            error = _feed(parser, collector, None)
    if error is not None and collector.completed == 0:
        raise error
    filled = {name for _, fields in collector.records for name, value in fields.items() if value is not None}
    return [name for name in ADF_COLUMNS if name in filled]
