"""Shared by the formats tests: raw bytes opened the way ingest opens an S3 object."""

from __future__ import annotations

import io
from pathlib import Path

from forecourt.formats import SourceFile, open_source

DATA = Path(__file__).resolve().parents[1] / "data" / "formats"


class NonSeekable:
    """What an S3 StreamingBody offers: read(n), nothing else."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def open_named(data: bytes, name: str) -> SourceFile:
    """Open ``data`` as the object ``name`` (the name only appears in messages)."""
    return open_source(NonSeekable(data), name)


def open_fixture(name: str) -> SourceFile:
    """Open a file of tests/data/formats/."""
    return open_named((DATA / name).read_bytes(), name)
