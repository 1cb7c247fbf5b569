"""Test helper: the field names a feed file offers, read the plain way (no forecourt.formats).

Used to check that feed detection (``forecourt.feeds.match_headers``) picks the right profile for the
fixtures in ``tests/data/feeds`` and for the files ``forecourt.local.generate`` writes. It only needs
the header, so it stays small: decompress, decode, split the first lines; flatten ADF prospects and
JSON objects into the dotted paths the feed profiles name.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from defusedxml import ElementTree
from forecourt import feeds

DELIMITERS = (",", "\t", "|", ";")


def raw_bytes(path: Path) -> bytes:
    """The file's content, gunzipped or taken from the first member of a zip."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read(archive.namelist()[0])
    return data


def decode(data: bytes) -> str:
    """Text by BOM (UTF-16, UTF-8), else UTF-8, else Windows-1252."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def csv_header_candidates(path: Path, max_lines: int) -> list[list[str]]:
    """The first ``max_lines`` lines split as CSV rows with the delimiter they use most."""
    lines = decode(raw_bytes(path)).splitlines()[:max_lines]
    candidates = []
    for line in lines:
        delimiter = max(DELIMITERS, key=line.count)
        candidates.append(next(csv.reader([line], delimiter=delimiter), []))
    return candidates


def _adf_paths(element: Any, prefix: str) -> Iterator[str]:
    tag = str(element.tag).rsplit("}", 1)[-1]
    key = tag
    if tag == "name" and element.get("part"):
        key = f"name.{element.get('part')}"
    elif tag == "phone" and element.get("type") not in (None, "voice"):
        key = f"phone.{element.get('type')}"
    elif tag == "vehicle" and element.get("interest") == "trade-in":
        key = "tradein"
    path = f"{prefix}.{key}" if prefix else key
    for attribute in element.attrib:
        yield f"{path}@{attribute}"
    children = list(element)
    if not children:
        yield path
    for child in children:
        yield from _adf_paths(child, path)


def adf_fields(path: Path) -> set[str]:
    """Flattened paths of every prospect (``vehicle.year``, ``id@source``, ``prospect@status``…)."""
    root = ElementTree.fromstring(raw_bytes(path))
    fields: set[str] = set()
    for prospect in root.iter("prospect"):
        fields |= {f"prospect@{name}" for name in prospect.attrib}
        for child in prospect:
            fields |= set(_adf_paths(child, ""))
    return fields


def _json_paths(value: Any, prefix: str) -> Iterator[str]:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _json_paths(child, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


def jsonl_fields(path: Path) -> set[str]:
    """Dotted paths of every object line; lines that do not parse are skipped."""
    fields: set[str] = set()
    for line in decode(raw_bytes(path)).splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            fields |= set(_json_paths(record, ""))
    return fields


def detection_scores(path: Path, file_format: str) -> dict[str, int | None]:
    """``match_headers`` score of every profile of ``file_format`` for the file (None: not a candidate).

    A CSV profile is scored on the best of the first ``max_header_line`` lines, as detection does.
    """
    profiles = [p for p in feeds.load_all().values() if p.format == file_format]
    if file_format == "csv":
        candidates = csv_header_candidates(path, max(p.max_header_line for p in profiles))
        scores: dict[str, int | None] = {}
        for profile in profiles:
            found = [feeds.match_headers(profile, c) for c in candidates[: profile.max_header_line]]
            numbers = [s for s in found if s is not None]
            scores[profile.name] = max(numbers) if numbers else None
        return scores
    fields = sorted(adf_fields(path) if file_format == "adf" else jsonl_fields(path))
    return {p.name: feeds.match_headers(p, fields) for p in profiles}


def detected_feed(path: Path, file_format: str) -> str | None:
    """The feed detection would choose: the single best score, None when nothing fits or two tie."""
    scores = {name: s for name, s in detection_scores(path, file_format).items() if s}
    if not scores:
        return None
    best = max(scores.values())
    winners = [name for name, s in scores.items() if s == best]
    return winners[0] if len(winners) == 1 else None
