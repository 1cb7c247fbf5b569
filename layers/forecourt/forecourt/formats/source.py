"""The bytes of a dealer file: decompression (by magic bytes), size limits, and what format it is.

The object arrives as a non-seekable stream (an S3 StreamingBody). gzip is decompressed on the fly;
a zip archive needs its central directory at the end, so it is spooled to a temporary file first.
Sizes are checked while reading, never trusted from headers alone (zip bombs declare small sizes).
"""

from __future__ import annotations

import gzip
import re
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Literal

from forecourt.formats.batches import FileUnreadable
from forecourt.formats.text import ByteReader
from forecourt.reasons import QuarantineReason

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_COPY_BYTES = 1 << 20
_ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz")
_ZIP_METADATA = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$)")
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)
# zipfile parses the spooled copy (a local file, so an OSError here comes from the bytes, not the
# network): damaged headers surface as any of these, e.g. a negative member offset as EINVAL on seek,
# a garbled version field as NotImplementedError, a flagged-UTF-8 name that is not UTF-8.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    UnicodeDecodeError,
    IndexError,
    ValueError,
    OSError,
)

Format = Literal["csv", "adf", "jsonl"]


def human_size(size: int) -> str:
    """``size`` bytes for a message: ``4 GiB`` when it is a round figure, else ``10,000 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size:,} bytes"


class _Prefixed:
    """Bytes already read (to look at magic bytes) followed by the rest of the stream."""

    def __init__(self, prefix: bytes, rest: ByteReader) -> None:
        self._prefix = prefix
        self._rest = rest

    def read(self, size: int = -1, /) -> bytes:
        if self._prefix:
            if size < 0:
                data, self._prefix = self._prefix + self._rest.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._rest.read(size)


class _Limited:
    """Counts the bytes read through it; over ``limit`` → FILE_TOO_LARGE. Maps decompression
    errors of the wrapped stream to UNREADABLE_FILE (network errors pass through untouched, so the
    message is retried instead of quarantined)."""

    def __init__(self, inner: ByteReader, limit: int, what: str, errors: tuple[type[Exception], ...]) -> None:
        self._inner = inner
        self._limit = limit
        self._what = what
        self._errors = errors
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        try:
            data = self._inner.read(size)
        except self._errors as exc:
            where = f" after {self.count} bytes of content" if self.count else ""
            raise FileUnreadable(
                QuarantineReason.UNREADABLE_FILE, f"{self._what} cannot be decompressed{where}: {exc}"
            ) from exc
        self.count += len(data)
        if self.count > self._limit:
            raise FileUnreadable(
                QuarantineReason.FILE_TOO_LARGE,
                f"{self._what} is larger than the limit of {human_size(self._limit)}",
            )
        return data


@dataclass
class Decompressed:
    """The file's content as a byte stream, how it was packed, and what to close afterwards."""

    reader: ByteReader
    compression: Literal["none", "gzip", "zip"]
    notes: list[str] = field(default_factory=list)
    resources: list[IO[bytes] | zipfile.ZipFile] = field(default_factory=list)

    def close(self) -> None:
        """Close the spooled archive and member streams (idempotent)."""
        while self.resources:
            self.resources.pop().close()


def read_exactly(reader: ByteReader, size: int) -> bytes:
    """Read until ``size`` bytes or the end of the stream (a stream may return short reads)."""
    parts: list[bytes] = []
    have = 0
    while have < size:
        data = reader.read(size - have)
        if not data:
            break
        parts.append(data)
        have += len(data)
    return b"".join(parts)


def open_decompressed(
    stream: ByteReader, name: str, *, max_bytes: int, spool_dir: str | None = None
) -> Decompressed:
    """Look at the magic bytes of ``stream`` and return its decompressed content as a stream.

    Raises FileUnreadable: EMPTY_FILE (no bytes), FILE_TOO_LARGE (over ``max_bytes``, packed or
    unpacked), UNREADABLE_FILE (broken or encrypted archive, an Office document, nested archives).
    """
    magic = read_exactly(stream, 4)
    if not magic:
        raise FileUnreadable(QuarantineReason.EMPTY_FILE, f"{name} has no bytes")
    whole = _Prefixed(magic, stream)
    if magic.startswith(GZIP_MAGIC):
        unpacked = gzip.GzipFile(fileobj=whole, mode="rb")  # type: ignore[call-overload]  # reading never seeks
        reader = _Limited(unpacked, max_bytes, f"{name} (gzip)", _GZIP_ERRORS)
        return Decompressed(reader, "gzip", resources=[unpacked])
    if magic.startswith(EMPTY_ZIP_MAGIC):
        raise FileUnreadable(QuarantineReason.EMPTY_FILE, f"{name} is a zip archive without files")
    if magic.startswith(ZIP_MAGIC):
        return _open_zip(whole, name, max_bytes=max_bytes, spool_dir=spool_dir)
    return Decompressed(_Limited(whole, max_bytes, name, ()), "none")


def _spool(stream: ByteReader, name: str, max_bytes: int, spool_dir: str | None) -> IO[bytes]:
    spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 -- closed by Decompressed.close
    total = 0
    try:
        while data := stream.read(_COPY_BYTES):
            total += len(data)
            if total > max_bytes:
                raise FileUnreadable(
                    QuarantineReason.FILE_TOO_LARGE,
                    f"{name} is larger than the limit of {human_size(max_bytes)}",
                )
            spool.write(data)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def _open_zip(stream: ByteReader, name: str, *, max_bytes: int, spool_dir: str | None) -> Decompressed:
    spool = _spool(stream, name, max_bytes, spool_dir)
    result = Decompressed(_Prefixed(b"", stream), "zip", resources=[spool])
    try:
        try:
            archive = zipfile.ZipFile(spool)
        except _ZIP_ERRORS as exc:
            raise FileUnreadable(
                QuarantineReason.UNREADABLE_FILE, f"{name} is not a readable zip: {exc}"
            ) from exc
        result.resources.append(archive)
        member = _choose_member(archive, name, max_bytes, result.notes)
        try:
            opened = archive.open(member)
        except _ZIP_ERRORS as exc:
            raise FileUnreadable(
                QuarantineReason.UNREADABLE_FILE, f"{name}: cannot open {member.filename!r}: {exc}"
            ) from exc
        result.resources.append(opened)
        result.reader = _Limited(opened, max_bytes, f"{name}:{member.filename}", _ZIP_ERRORS)
    except BaseException:
        result.close()
        raise
    return result


def _choose_member(archive: zipfile.ZipFile, name: str, max_bytes: int, notes: list[str]) -> zipfile.ZipInfo:
    """The single file of the archive, or the largest when there are several (with a note)."""
    infos = archive.infolist()
    if any(info.filename == "[Content_Types].xml" for info in infos):
        raise FileUnreadable(
            QuarantineReason.UNREADABLE_FILE,
            f"{name} is an Office document (xlsx/docx), not a data file: export it as CSV",
        )
    members = [  # a damaged entry can have an empty name: not a file to read
        info
        for info in infos
        if info.filename and not info.is_dir() and not _ZIP_METADATA.search(info.filename)
    ]
    if not members:
        raise FileUnreadable(QuarantineReason.EMPTY_FILE, f"{name} is a zip archive without files")
    chosen = max(members, key=lambda info: info.file_size)
    if len(members) > 1:
        others = ", ".join(repr(info.filename) for info in members if info is not chosen)
        notes.append(
            f"zip holds {len(members)} files: read the largest, {chosen.filename!r}; ignored {others}"
        )
    if chosen.flag_bits & 0x1:
        raise FileUnreadable(QuarantineReason.UNREADABLE_FILE, f"{name}: {chosen.filename!r} is encrypted")
    if chosen.filename.lower().endswith(_ARCHIVE_SUFFIXES):
        raise FileUnreadable(
            QuarantineReason.UNREADABLE_FILE,
            f"{name} holds another archive ({chosen.filename!r}): nested archives are not read",
        )
    if chosen.file_size > max_bytes:
        raise FileUnreadable(
            QuarantineReason.FILE_TOO_LARGE,
            f"{name}: {chosen.filename!r} declares {human_size(chosen.file_size)}, "
            f"over the limit of {human_size(max_bytes)}",
        )
    return chosen


def check_not_archive(head: bytes, name: str) -> None:
    """Raise FileUnreadable(UNREADABLE_FILE) when decompressed content is itself an archive."""
    if head.startswith((GZIP_MAGIC, ZIP_MAGIC, EMPTY_ZIP_MAGIC)) or head[257:262] == b"ustar":
        raise FileUnreadable(
            QuarantineReason.UNREADABLE_FILE,
            f"{name} holds another archive (gzip, zip or tar) inside: nested archives are not read",
        )


_FIRST_CHAR = re.compile(r"\S")


def sniff_format(head_text: str, name: str, *, complete: bool) -> Format:
    """The format of a file from its first non-blank character: ``<`` ADF (XML), ``{`` JSON lines,
    ``[{`` a JSON array of objects, anything else CSV (``complete``: ``head_text`` is the whole file).

    Raises FileUnreadable: EMPTY_FILE when the file is blank, UNREADABLE_FILE when its first MiB is.
    """
    match = _FIRST_CHAR.search(head_text)
    if match is None and complete:
        raise FileUnreadable(QuarantineReason.EMPTY_FILE, f"{name} holds only blank lines")
    if match is None:
        raise FileUnreadable(QuarantineReason.UNREADABLE_FILE, f"the first MiB of {name} is blank")
    first = match.group(0)
    if first == "<":
        return "adf"
    if first == "{" or re.match(r"\[\s*\{", head_text[match.start() :]):
        return "jsonl"
    return "csv"
