"""What the format readers hand to ingest: batches of string columns, rejected records, file errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from forecourt.reasons import QuarantineReason

MAX_RAW_BYTES = 64 * 1024
"""A rejected record keeps at most this much of its raw text (UTF-8 bytes)."""


@dataclass(frozen=True)
class RejectedRecord:
    """A record that could not be parsed at all; ingest writes it to quarantine as is."""

    source_line: int | None
    """1-based physical line where the record starts (header and title lines count); None: whole file."""
    reason: QuarantineReason
    message: str
    raw: str
    """The record's raw text, truncated to 64 KiB."""


@dataclass
class SourceBatch:
    """Up to ``batch_rows`` records of one file, every column a string, plus the rejects of that span."""

    columns: pa.Table
    source_lines: pa.Array
    """int64: the line where each record of ``columns`` starts."""
    rejected: list[RejectedRecord] = field(default_factory=list)


class FileUnreadable(Exception):
    """The file as a whole cannot be read: ingest quarantines it whole with ``reason``."""

    def __init__(
        self,
        reason: QuarantineReason,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.line = line
        """1-based line of the problem, when a parser reported one."""
        self.column = column
        """1-based column of the problem, when a parser reported one."""

    def __repr__(self) -> str:
        return (
            f"FileUnreadable({self.reason.value!r}, {self.message!r}, line={self.line}, column={self.column})"
        )


def truncate_raw(text: str) -> str:
    """``text`` cut to at most 64 KiB of UTF-8 (never in the middle of a character)."""
    if len(text) * 4 <= MAX_RAW_BYTES:
        return text
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= MAX_RAW_BYTES:
        return text
    return encoded[:MAX_RAW_BYTES].decode("utf-8", errors="ignore")


def line_breaks(text: str) -> int:
    """How many line breaks ``text`` holds, counting CRLF, LF and a lone CR as one each."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def string_table(rows: list[dict[str, str | None]], columns: list[str]) -> pa.Table:
    """An Arrow table of string columns named ``columns`` from ``rows`` (a missing key is null)."""
    return pa.table(
        {name: pa.array([row.get(name) for row in rows], type=pa.string()) for name in columns},
        schema=pa.schema([pa.field(name, pa.string()) for name in columns]),
    )
