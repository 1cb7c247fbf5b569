"""Open any dealer file and stream its records as string columns.

``open_source`` takes the object's non-seekable byte stream and finds out how it is packed
(gzip, zip), encoded (UTF-8, UTF-8 with BOM, cp1252, UTF-16) and formatted (CSV in any of the usual
dialects, ADF XML, JSON lines); ``SourceFile.records`` then streams batches of records, every
column a string named by the source field, with the line each record starts on and the records
that could not be parsed at all. Memory stays bounded whatever the file size.

CSV is what nearly every feed sends, so ``delimited`` is imported with this package; the ADF reader
(defusedxml, expat) and the JSON-lines reader are imported when a file of their format is opened.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from forecourt.formats import delimited
from forecourt.formats.batches import FileUnreadable, RejectedRecord, SourceBatch
from forecourt.formats.source import (
    Decompressed,
    check_not_archive,
    open_decompressed,
    read_exactly,
    sniff_format,
)
from forecourt.formats.text import SAMPLE_BYTES, ByteReader, TextStream, detect_encoding, junk_reason
from forecourt.reasons import QuarantineReason

__all__ = ["FileUnreadable", "RejectedRecord", "SourceBatch", "SourceFile", "open_source"]

DEFAULT_MAX_BYTES = 4 * 2**30


@dataclass
class SourceFile:
    """An opened dealer file: what it is, its first lines, and its records (readable once)."""

    name: str
    format: str
    """``csv``, ``adf`` or ``jsonl``."""
    compression: str
    """``none``, ``gzip`` or ``zip``."""
    encoding: str
    """``utf-8``, ``utf-8-sig``, ``cp1252`` or ``utf-16``."""
    delimiter: str | None
    """CSV only: ``,``, ``\\t``, ``|`` or ``;``."""
    preview_lines: list[list[str]]
    """CSV: the cells of the first ≤ 10 lines (a blank line is ``[]``), to find the header in;
    ADF / JSON lines: one list, the field names filled in the first records."""
    notes: list[str] = field(default_factory=list)
    """What the reader had to decide or repair (zip member chosen, invalid UTF-8 read as cp1252);
    grows while records are read."""
    _text: TextStream | None = field(default=None, repr=False, compare=False)
    _csv: delimited.CsvPreview | None = field(default=None, repr=False, compare=False)
    _packed: Decompressed | None = field(default=None, repr=False, compare=False)

    def records(self, *, header_line: int = 0, batch_rows: int = 65536) -> Iterator[SourceBatch]:
        """Stream the file's records in batches of at most ``batch_rows``.

        ``header_line`` (CSV only) is the 0-based index in ``preview_lines`` of the header; the
        lines above it are skipped but count for line numbers. The stream is read once: a second
        call raises RuntimeError. Raises ValueError for a ``header_line`` beyond the preview,
        FileUnreadable when the file breaks while being read (EMPTY_FILE when there is no such
        header line, FILE_TOO_LARGE, UNREADABLE_FILE for corrupt compression or an unparsable CSV,
        NOT_WELL_FORMED for XML broken before its first prospect).
        """
        if self._text is None:
            raise RuntimeError(f"{self.name}: records() was already called (the stream is read once)")
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        text, self._text = self._text, None
        if self.format == "adf":
            from forecourt.formats import adf

            return adf.read_records(text, batch_rows=batch_rows)
        if self.format == "jsonl":
            from forecourt.formats import jsonl

            return jsonl.read_records(text, batch_rows=batch_rows)
        assert self._csv is not None
        self._check_header_line(self._csv, header_line)
        return delimited.read_records(text, self._csv, header_line=header_line, batch_rows=batch_rows)

    def _check_header_line(self, preview: delimited.CsvPreview, header_line: int) -> None:
        if not 0 <= header_line < delimited.PREVIEW_LINES:
            raise ValueError(f"header_line must be in 0..{delimited.PREVIEW_LINES - 1}, not {header_line}")
        if header_line >= len(preview.lines) and preview.whole_file:
            raise FileUnreadable(
                QuarantineReason.EMPTY_FILE,
                f"{self.name} has no header on line {header_line + 1}: it has {len(preview.lines)} lines",
            )
        if header_line >= len(preview.lines):
            raise FileUnreadable(
                QuarantineReason.UNREADABLE_FILE,
                f"{self.name}: line {header_line + 1} does not end within the first MiB (an unclosed quote?)",
            )
        if not any(cell.strip() for cell in preview.lines[header_line]):
            line = preview.first_lines[header_line]
            raise FileUnreadable(
                QuarantineReason.EMPTY_FILE, f"{self.name}: the header line {line} is blank", line=line
            )

    def close(self) -> None:
        """Release the spooled archive, if any (records() cannot be read after this)."""
        self._text = None
        if self._packed is not None:
            self._packed.close()

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_source(
    stream: ByteReader, name: str, *, max_bytes: int = DEFAULT_MAX_BYTES, spool_dir: str | None = None
) -> SourceFile:
    """Open a dealer file from a non-seekable binary stream (a BinaryIO, an S3 StreamingBody:
    anything with ``.read(n)``).

    Reads the first MiB (after decompression) to tell compression, encoding, format and, for CSV,
    the delimiter and first lines. A zip is spooled to a temporary file in ``spool_dir``.
    Raises FileUnreadable: EMPTY_FILE, FILE_TOO_LARGE (over ``max_bytes`` packed or unpacked),
    UNREADABLE_FILE (broken or nested archive, binary content, an XML root other than <adf>),
    NOT_WELL_FORMED (ADF broken before its first prospect, or declaring entities).
    """
    packed = open_decompressed(stream, name, max_bytes=max_bytes, spool_dir=spool_dir)
    try:
        return _open_text(packed, name)
    except BaseException:
        packed.close()
        raise


def _open_text(packed: Decompressed, name: str) -> SourceFile:
    head = read_exactly(packed.reader, SAMPLE_BYTES)
    complete = len(head) < SAMPLE_BYTES
    if packed.compression != "none":
        if not head:
            raise FileUnreadable(QuarantineReason.EMPTY_FILE, f"{name} decompresses to nothing")
        check_not_archive(head, name)
    text = TextStream(
        packed.reader, head, detect_encoding(head, complete=complete), complete=complete, notes=packed.notes
    )
    junk = junk_reason(text.head_text)
    if junk is not None:
        raise FileUnreadable(QuarantineReason.UNREADABLE_FILE, f"{name}: {junk}")
    file_format = sniff_format(text.head_text, name, complete=complete)
    source = SourceFile(
        name=name,
        format=file_format,
        compression=packed.compression,
        encoding=text.encoding,
        delimiter=None,
        preview_lines=[],
        notes=packed.notes,
        _text=text,
        _packed=packed,
    )
    if file_format == "csv":
        preview = delimited.sniff(text.head_text, complete=complete)
        source.delimiter, source.preview_lines, source._csv = preview.delimiter, preview.lines, preview
    elif file_format == "jsonl":
        from forecourt.formats import jsonl

        source.preview_lines = [jsonl.preview_fields(text.head_text, complete=complete)]
    else:
        from forecourt.formats import adf

        source.preview_lines = [adf.preview_fields(text.head_text, complete=complete)]
    return source
