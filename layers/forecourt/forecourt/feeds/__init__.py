"""Feed profiles: a named format + dialect + target dataset (ARCHITECTURE §3, issue 3 §4).

A profile is data (``feeds/profiles/<name>.json``): which source fields map to which dataset columns,
how to recognise a file of that feed from its headers, and constants the feed implies. Adding a
dealer dialect means adding one JSON file (see README, "Adding a dealer feed").
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from forecourt import schemas


class ColumnMap(BaseModel):
    """Where one source field goes."""

    to: str
    invert: bool = False
    """For flags named the other way round ("CanText" → ``do_not_text``, "Allow Email" → ``do_not_email``)."""
    formats: list[str] = Field(default_factory=list)
    """strptime formats tried first for a date/timestamp field of this feed."""
    also: list[str] = Field(default_factory=list)
    """Further columns that receive the same source value (``lead_source_raw`` beside ``lead_source``)."""

    @property
    def targets(self) -> list[str]:
        """Every column this source field fills."""
        return [self.to, *self.also]


class Detect(BaseModel):
    """How to recognise the feed: every one of ``headers`` present (case-insensitive, trimmed)."""

    headers: list[str] = Field(default_factory=list)


class FeedProfile(BaseModel):
    """One dealer or OEM feed."""

    name: str
    description: str
    format: Literal["csv", "adf", "jsonl"]
    dataset: str
    companions: list[str] = Field(default_factory=list)
    """Further datasets filled from the same records (a DMS deal → ``sales`` and ``sales_finance``)."""
    source_system: str
    columns: dict[str, str | ColumnMap]
    constants: dict[str, str] = Field(default_factory=dict)
    detect: Detect = Field(default_factory=Detect)
    summary_row_prefixes: list[str] = Field(default_factory=list)
    """First-cell prefixes of report totals lines ("Total:"); such rows are quarantined as summary rows."""
    max_header_line: int = 1
    """The header is searched in the first N lines (report downloads put a title above it)."""

    @model_validator(mode="after")
    def _targets_exist(self) -> FeedProfile:
        known: set[str] = set()
        for name in [self.dataset, *self.companions]:
            known |= set(schemas.get(name).column_names)
        targets = [t for src in self.columns for t in self.column_map(src).targets] + list(self.constants)
        unknown = sorted(set(targets) - known)
        if unknown:
            raise ValueError(f"feed {self.name}: maps to unknown columns {unknown}")
        return self

    def column_map(self, source: str) -> ColumnMap:
        """The mapping for source field ``source`` as a ColumnMap."""
        value = self.columns[source]
        return ColumnMap(to=value) if isinstance(value, str) else value

    def mapping_by_folded_name(self) -> dict[str, ColumnMap]:
        """Source field name folded (trimmed, lowercased) → mapping; how headers are matched."""
        return {fold(src): self.column_map(src) for src in self.columns}


def fold(header: str) -> str:
    """How header names are compared: trimmed, case-insensitive, BOM and inner spacing ignored."""
    return " ".join(header.replace("\ufeff", "").strip().lower().split())


def profiles_dir() -> Path:
    return Path(__file__).parent / "profiles"


@cache
def load_all() -> dict[str, FeedProfile]:
    """Every feed profile, by name."""
    found: dict[str, FeedProfile] = {}
    for path in sorted(profiles_dir().glob("*.json")):
        profile = FeedProfile.model_validate(json.loads(path.read_text(encoding="utf-8")))
        if profile.name != path.stem:
            raise ValueError(f"{path.name}: name {profile.name!r} differs from the file name")
        found[profile.name] = profile
    return found


def get(name: str) -> FeedProfile:
    """The feed called ``name``; raises KeyError listing the known feeds."""
    feeds = load_all()
    if name not in feeds:
        raise KeyError(f"unknown feed {name!r}; known feeds: {', '.join(sorted(feeds))}")
    return feeds[name]


def match_headers(profile: FeedProfile, headers: list[str]) -> int | None:
    """Score how well ``headers`` fit ``profile``: None when a detect header is missing, else the
    number of headers the profile maps (higher is a better fit)."""
    folded = {fold(h) for h in headers}
    if not all(fold(h) in folded for h in profile.detect.headers):
        return None
    mapped = profile.mapping_by_folded_name()
    return sum(1 for h in folded if h in mapped)
