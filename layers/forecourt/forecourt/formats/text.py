"""Text encodings of dealer files: guess from the first MiB, then decode as a stream.

Dealer exports come as UTF-8 (with or without a byte-order mark), Windows-1252 (older DMS and
Excel "CSV" on Windows) or UTF-16 with a BOM (Excel "Unicode text"). Every reader downstream sees
valid text: a file that looked like UTF-8 in its first MiB and turns out not to be later on is
decoded leniently (the bad bytes as cp1252) and a note says so, instead of failing half-way.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

SAMPLE_BYTES = 1 << 20
"""How much of the (decompressed) file the encoding and format guesses look at."""
_READ_BYTES = 1 << 20

_CP1252_FALLBACK = "forecourt.cp1252_fallback"
_LATIN1_FALLBACK = "forecourt.latin1_fallback"

# C0 control characters that do not occur in text files (tab, LF, VT, FF, CR and the DOS end-of-file
# mark ^Z do), plus DEL.
_JUNK_CONTROLS = tuple(chr(code) for code in [*range(0, 9), 14, *range(15, 26), *range(27, 32), 127])
_JUNK_RATIO = 0.01


class ByteReader(Protocol):
    """A binary stream we only read from (an S3 StreamingBody, a GzipFile, a zip member…)."""

    def read(self, size: int = -1, /) -> bytes: ...


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    """cp1252 leaves five bytes undefined; decode them as Latin-1 (C1 controls), like browsers do."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Bytes that are not valid UTF-8 inside a UTF-8 file: decode them as cp1252."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("cp1252", errors=_LATIN1_FALLBACK), exc.end


codecs.register_error(_LATIN1_FALLBACK, _latin1_fallback)
codecs.register_error(_CP1252_FALLBACK, _cp1252_fallback)


@dataclass(frozen=True)
class EncodingGuess:
    """The encoding a file is read with."""

    name: str
    """What we report: ``utf-8``, ``utf-8-sig``, ``cp1252`` or ``utf-16``."""
    codec: str
    """The Python codec for the bytes after the byte-order mark."""
    bom_bytes: int
    """How many bytes of byte-order mark to drop."""


def detect_encoding(sample: bytes, *, complete: bool) -> EncodingGuess:
    """Guess the encoding from the first bytes of a file (``complete``: the sample is the whole file).

    A byte-order mark decides. Otherwise UTF-8 when the sample is valid UTF-8 (a character cut at
    the end of the sample does not count against it) or mostly so: when its valid multi-byte
    characters outnumber its invalid bytes (a UTF-8 export with a few stray Latin-1 bytes; those
    are read as cp1252 with a note). Anything else is cp1252.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return EncodingGuess("utf-8-sig", "utf-8", 3)
    if sample.startswith(codecs.BOM_UTF16_LE):
        return EncodingGuess("utf-16", "utf-16-le", 2)
    if sample.startswith(codecs.BOM_UTF16_BE):
        return EncodingGuess("utf-16", "utf-16-be", 2)
    decoded = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(sample, final=complete)
    invalid = decoded.count("\ufffd") - sample.count("\ufffd".encode())
    if invalid == 0:
        return EncodingGuess("utf-8", "utf-8", 0)
    multibyte = len(decoded) - len(decoded.encode("ascii", errors="ignore")) - invalid
    if multibyte > invalid:
        return EncodingGuess("utf-8", "utf-8", 0)
    return EncodingGuess("cp1252", "cp1252", 0)


def junk_reason(text: str) -> str | None:
    """Why ``text`` (a decoded sample) is not a text file, or None when it looks like text."""
    if not text:
        return None
    junk = sum(text.count(char) for char in _JUNK_CONTROLS)  # a count per character: fast C loops
    if junk <= len(text) * _JUNK_RATIO:
        return None
    nuls = text.count("\x00")
    lopsided = abs(text[0::2].count("\x00") - text[1::2].count("\x00")) >= nuls * 0.8
    if nuls * 3 >= len(text) and lopsided:
        return "it looks like UTF-16 without a byte-order mark, which is not supported"
    return f"{junk} of its first {len(text)} characters are control characters (NUL…): not a text file"


class TextStream:
    """The file's content decoded to text, read in chunks; the decoded head is kept for sniffing."""

    def __init__(
        self,
        reader: ByteReader,
        head: bytes,
        guess: EncodingGuess,
        *,
        complete: bool,
        notes: list[str],
    ) -> None:
        self.encoding = guess.name
        self.notes = notes
        self._reader = reader
        self._eof = complete
        errors = _LATIN1_FALLBACK if guess.codec == "cp1252" else "strict"
        if guess.codec.startswith("utf-16"):
            errors = "replace"
        self._decoder = codecs.getincrementaldecoder(guess.codec)(errors=errors)
        self._bytes_in = guess.bom_bytes  # offsets in notes count from the file's first byte
        self.head_text = self._decode(head[guess.bom_bytes :], final=complete)
        self._pending = self.head_text
        self._pending_at = 0
        self._utf8 = guess.codec == "utf-8"
        self._held = b""
        """UTF-8 pass-through: the bytes of a character cut at the end of the last read."""

    def _decode(self, data: bytes, *, final: bool) -> str:
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            # Only a strict UTF-8 decoder raises: keep going with cp1252 for the bad bytes.
            buffered = len(self._decoder.getstate()[0])
            offset = self._bytes_in - buffered + exc.start
            self.notes.append(f"invalid UTF-8 from byte {offset} on: the invalid bytes were read as cp1252")
            self._decoder.errors = _CP1252_FALLBACK
            text = self._decoder.decode(data, final)
        self._bytes_in += len(data)
        return text

    def read(self, size: int = _READ_BYTES) -> str:
        """Up to about ``size`` characters of text (at least one unless the file has ended: then "").

        Raises whatever the byte stream raises (FileUnreadable for broken compression or size).
        """
        if self._pending_at < len(self._pending):
            chunk = self._pending[self._pending_at : self._pending_at + size]
            self._pending_at += len(chunk)
            return chunk
        while not self._eof:
            data = self._reader.read(max(size, 4096))
            if not data:
                self._eof = True
                return self._decode(b"", final=True)
            text = self._decode(data, final=False)
            if text:
                return text
        return ""

    def read_utf8(self, size: int = _READ_BYTES) -> bytes:
        """Up to about ``size`` bytes of the text encoded as UTF-8 (b"" once the file has ended).

        The same bytes as ``read(size).encode("utf-8")``, but a UTF-8 file is passed through as it
        is (checked by Arrow's validator, without a round trip through Python strings) until its
        first invalid byte; from there on it is decoded like ``read`` does. Once called, call ``read``
        no more. Raises what ``read`` does.
        """
        if self._pending_at < len(self._pending) or not self._passes_through():
            return self.read(size).encode("utf-8")
        while not self._eof:
            data = self._reader.read(max(size, 1))
            if not data:
                self._eof = True
                return self._take_held(b"", final=True)
            chunk = self._take_held(data, final=False)
            if chunk:
                return chunk
            if not self._passes_through():
                return self.read(size).encode("utf-8")
        return b""

    def _passes_through(self) -> bool:
        """Whether bytes can go out as read: a UTF-8 file not yet found invalid."""
        if not self._utf8 or self._decoder.errors != "strict":
            return False
        if not self._held and self._decoder.getstate()[0]:
            self._held = self._decoder.getstate()[0]  # a character cut at the end of the head
            self._decoder.reset()
        return True

    def _take_held(self, data: bytes, *, final: bool) -> bytes:
        """``data`` after the held bytes, up to its last complete character, if all of it is valid."""
        start = self._bytes_in - len(self._held)  # file offset of the first held byte
        self._bytes_in += len(data)
        whole = self._held + data if self._held else data
        cut = len(whole) if final else _complete_utf8_end(whole)
        body = whole if cut == len(whole) else whole[:cut]
        if _is_utf8(body):
            self._held = whole[cut:]
            return body
        self._held = b""
        self._bytes_in = start
        return self._decode(whole, final=final).encode("utf-8")

    def skip(self, count: int) -> None:
        """Drop the next ``count`` characters (the lines above a CSV header)."""
        while count > 0:
            chunk = self.read(min(count, _READ_BYTES))
            if not chunk:
                return
            count -= len(chunk)


CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32), 127])
"""C0 control characters other than tab, LF and CR, and DEL: no dealer means them in a cell (a NUL
from a C string, ^Z at the end of a DOS file); a NUL would also merge two cells of a record's hash."""


def drop_controls(text: str) -> str:
    """``text`` without the characters of ``CONTROL_BYTES``."""
    return text.translate(_CONTROL_TABLE)


_CONTROL_TABLE = dict.fromkeys(CONTROL_BYTES)


class Utf8Bytes:
    """A TextStream as a binary UTF-8 stream with ``read(n)``, for pyarrow's CSV reader; the bytes of
    ``CONTROL_BYTES`` are dropped (no UTF-8 character holds them, and line breaks stay where they are)."""

    closed = False

    def __init__(self, text: TextStream) -> None:
        self._text = text
        self._buffer = b""

    def readable(self) -> bool:
        """Always True: this stream is for reading."""
        return True

    def at_end(self) -> bool:
        """True when no bytes are left (reads ahead into the buffer to find out)."""
        while not self._buffer:
            chunk = self._text.read_utf8()
            if not chunk:
                return True
            self._buffer = chunk.translate(None, CONTROL_BYTES)
        return False

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of UTF-8 (everything left when ``size`` < 0); b"" at the end.

        Returns exactly ``size`` bytes until the end (pyarrow takes each read as one block), asking
        the text stream for just what is missing, so that a UTF-8 file goes through without copies."""
        parts = [self._buffer] if self._buffer else []
        have = len(self._buffer)
        while size < 0 or have < size:
            chunk = self._text.read_utf8(_READ_BYTES if size < 0 else size - have)
            if not chunk:
                break
            chunk = chunk.translate(None, CONTROL_BYTES)  # about 1 ms a MiB
            parts.append(chunk)
            have += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if size < 0 or len(data) <= size:
            self._buffer = b""
            return data
        self._buffer = data[size:]
        return data[:size]

    def close(self) -> None:
        """Mark the stream closed (the underlying file is closed by its SourceFile)."""
        self.closed = True


def _complete_utf8_end(data: bytes) -> int:
    """Where the last complete UTF-8 character of ``data`` ends (a cut multi-byte one is left out)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: how long is its sequence?
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if back < length else len(data)
    return len(data)


def _is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8 (Arrow's validator: the same verdict as Python's strict codec)."""
    offsets = pa.py_buffer(struct.pack("<ii", 0, len(data)))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True
