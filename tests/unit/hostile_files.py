"""Hostile dealer files too large (or too dangerous) to commit, built at test time (issue 8).

Bombs are built without inflating them here: deflate blocks ended by a full flush do not refer to
what came before, so one compressed MiB of rows repeated N times is a valid stream of N MiB. Their
checksums are left at zero: a reader stops at the size limit long before it could check one.

``python tests/unit/hostile_files.py`` runs the memory-bound cases in a fresh interpreter and prints,
as JSON, each case's outcome and the process's peak RSS growth over its state after a warm-up ingest
(the tests run it in a subprocess, so the figure is the ingest's own).
"""

from __future__ import annotations

import io
import json
import resource
import struct
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FEEDS = Path(__file__).parents[1] / "data" / "feeds"
HEADER = (FEEDS / "generic-leads" / "website_leads_20240212.csv").read_text(encoding="utf-8").splitlines()[0]
ROW = "HC-H-{n},2024-02-12T09:05:00-05:00,Dealer Website,{first},Kowalczyk,nina{n}@gmail.com,(201) 555-0164,,,Hoboken,NJ,07030,2024,Chevrolet,Equinox,LT,new,false,false,Get ePrice,"
MiB = 1 << 20


def lead_row(n: int, first: str = "Nina") -> str:
    """One valid generic-leads row (its lead id ``HC-H-<n>``)."""
    return ROW.format(n=n, first=first)


def lines_over(size: int, start: int = 0) -> list[str]:
    """Valid rows, numbered from ``start``, that together are longer than ``size`` characters."""
    rows: list[str] = []
    total = 0
    while total <= size:
        rows.append(lead_row(start + len(rows)))
        total += len(rows[-1]) + 1
    return rows


DEEP_PROSPECT = "<prospect><id>H-1</id><requestdate>2024-02-12T09:05:00-05:00</requestdate>"
"""The start of ``deep_adf``'s prospect, before its nested elements."""


def deep_adf(depth: int, before: str = "") -> bytes:
    """An ADF document whose (last) prospect nests ``depth`` elements, after the prospects ``before``."""
    return f"<adf>{before}{DEEP_PROSPECT}{'<a>' * depth}x{'</a>' * depth}</prospect></adf>".encode()


def invalid_utf8_in_the_middle() -> tuple[bytes, int]:
    """A UTF-8 CSV whose first MiB is clean, then a row with cp1252 bytes (``Ren\\xe9e``), then more
    rows; and the 1-based line of that row."""
    head = lines_over(MiB + 4096)
    tail = [lead_row(len(head) + 1 + i) for i in range(3)]
    text = HEADER + "\n" + "\n".join(head) + "\n"
    bad = lead_row(len(head), first="Ren\udce9e").encode("utf-8", errors="surrogateescape")
    return text.encode() + bad + b"\n" + ("\n".join(tail) + "\n").encode(), len(head) + 2


def _repeated_deflate(head: bytes, block: bytes, total: int) -> bytes:
    """A raw deflate stream of ``head`` then ``block`` repeated up to about ``total`` bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = packer.compress(head + block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    return first + again * (total // len(block)) + packer.flush()


def _rows_block() -> bytes:
    return ("\n".join(lead_row(7) for _ in range(MiB // len(lead_row(7)))) + "\n").encode()


def gzip_bomb(unpacked: int) -> bytes:
    """A gzip of a generic-leads CSV that unpacks to about ``unpacked`` bytes (a few KiB per GiB)."""
    body = _repeated_deflate((HEADER + "\n").encode(), _rows_block(), unpacked)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + struct.pack("<II", 0, unpacked & 0xFFFFFFFF)


def zip_bomb(unpacked: int, *, declared: int | None = None, name: str = "leads.csv") -> bytes:
    """A zip holding one CSV that unpacks to about ``unpacked`` bytes; its headers declare
    ``declared`` (default: the truth)."""
    data = _repeated_deflate((HEADER + "\n").encode(), _rows_block(), unpacked)
    size = unpacked if declared is None else declared
    encoded = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, 0, len(data), size, len(encoded), 0)
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0x21,
        0,
        len(data),
        size,
        len(encoded),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    directory = central + encoded
    offset = len(local) + len(encoded) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), offset, 0)
    return local + encoded + data + directory + end


class Generated(io.RawIOBase):
    """A non-seekable stream of ``head``, ``fill`` repeated to ``size`` bytes, then ``tail``: a
    huge object that is never in memory whole."""

    def __init__(self, head: bytes, fill: bytes, size: int, tail: bytes = b"") -> None:
        self._parts = [head]
        self._fill = fill * max(1, MiB // len(fill))
        self._left = size
        self._tail = tail

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._parts and self._parts[0]:
            return self._parts.pop()
        if self._left > 0:
            take = min(self._left, len(self._fill), size if size > 0 else len(self._fill))
            self._left -= take
            return self._fill[:take]
        tail, self._tail = self._tail, b""
        return tail


def _memory_cases() -> dict[str, tuple[Any, str, int]]:
    """name → (stream factory, object name, max_bytes)."""
    jsonl = (FEEDS / "jsonl-leads" / "web_leads_20240212.jsonl").read_bytes().splitlines()
    return {
        "csv_50mb_line": (
            lambda: Generated(f"{HEADER}\n{lead_row(1)}\n{lead_row(2)}".encode(), b"x", 50 * MiB, b"\n"),
            "long_line.csv",
            1 << 30,
        ),
        "jsonl_50mb_line": (
            lambda: Generated(jsonl[0] + b'\n{"lead_id": "', b"x", 50 * MiB, b'"}\n' + jsonl[1] + b"\n"),
            "long_line.jsonl",
            1 << 30,
        ),
        "gzip_bomb": (lambda: io.BytesIO(gzip_bomb(1 << 30)), "bomb.csv.gz", 16 * MiB),
        "zip_bomb": (lambda: io.BytesIO(zip_bomb(1 << 30)), "bomb.zip", 16 * MiB),
        "zip_bomb_declaring_1mib": (
            lambda: io.BytesIO(zip_bomb(1 << 30, declared=MiB)),
            "bomb.zip",
            16 * MiB,
        ),
    }


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_memory_cases() -> dict[str, dict[str, Any]]:
    """Ingest each memory case through ``ingest_object``; its outcome and peak RSS growth (MiB)."""
    from forecourt import feeds, intake
    from forecourt.ingest import RawObject, ingest_object
    from forecourt.privacy import suppression
    from forecourt.registry import Dealer

    suppression.erased_list = lambda: None  # type: ignore[assignment]  # no lake in this process
    received = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    dealer = Dealer(dealer_id="D-HOSTILE", feeds=sorted(feeds.load_all()))
    results: dict[str, dict[str, Any]] = {}

    def ingest(stream: Any, name: str, max_bytes: int) -> Any:
        spool = tempfile.mkdtemp()
        obj = RawObject("lake", f"raw/files/dealer=D-HOSTILE/dt=2026-11-02/{name}", "v1", None, received)
        factory = intake.spool_writer_factory(spool, "up-hostile", received)
        return ingest_object(
            stream,
            obj,
            dealer,
            "D-HOSTILE",
            received,
            "up-hostile",
            factory,
            max_bytes=max_bytes,
            batch_rows=65536,
        )

    ingest(io.BytesIO(f"{HEADER}\n{lead_row(0)}\n".encode()), "warm.csv", MiB)  # imports, pools
    baseline = _peak_mib()
    for case, (stream, name, max_bytes) in _memory_cases().items():
        clock = time.monotonic()
        report = ingest(stream(), name, max_bytes)
        results[case] = {
            **report.model_dump(include={"status", "rows_in", "rows_curated", "rows_quarantined", "message"}),
            "quarantine_reasons": report.quarantine_reasons,
            "size_bytes": report.size_bytes,
            "seconds": round(time.monotonic() - clock, 2),
            "peak_growth_mib": round(_peak_mib() - baseline, 1),  # the peak so far: a bound for each case
        }
    return results


if __name__ == "__main__":
    json.dump(run_memory_cases(), sys.stdout, indent=1)
