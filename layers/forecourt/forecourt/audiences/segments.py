"""Audience segments, kept as data (``queries/audiences/segments.json``), and the SQL they run.

A segment is a query of ``queries/audiences/segments/`` with parameters, over ``activity`` (one row
per record of a resolved person, ``queries/enrich/activity.sql``), that returns ``person_id``,
``list_key`` and ``evidence_at``. A null ``list_key`` makes one list; values split the segment into
one list per value (``model_shoppers`` has one per make and model). Parameters are rendered as in
the enrichment rules (``enrich.rules.render``).

An audience leaves for an advertising platform, so a segment may not read a column of PII class
``financial`` (GLBA; ARCHITECTURE §5): ``load`` refuses one, naming the columns, from the same
column lineage that classes the enrichment tags (``enrich.rules.classes_read``).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from forecourt import bundled
from forecourt.enrich import rules as enrich_rules
from forecourt.enrich.rules import SimpleName

QUERIES = bundled.queries_dir() / "audiences"
SEGMENTS = QUERIES / "segments.json"
_PROBE = datetime(2000, 1, 1)
"""Any moment: what a query reads does not depend on ``as_of``."""


class Segment(BaseModel):
    """One segment: the query that finds its people, its parameters, and whether its lists target
    (``include``) or leave out (``exclusion``) the people in them."""

    segment: SimpleName
    query: SimpleName
    params: dict[str, int | str] = Field(default_factory=dict)
    kind: Literal["include", "exclusion"] = "include"
    description: str = ""

    @model_validator(mode="after")
    def _no_financial_columns(self) -> Segment:
        if not self.path().is_file():
            raise ValueError(
                f"segment {self.segment!r}: no query queries/audiences/segments/{self.query}.sql"
            )
        read = enrich_rules.classes_read(self.sql(_PROBE))
        financial = sorted(name for name, pii in read.items() if pii == "financial")
        if financial:
            raise ValueError(
                f"segment {self.segment!r} reads financial columns ({', '.join(financial)}, from "
                "sales_finance): an audience leaves for ad platforms, and financial data never leaves "
                "the dealer's own outbound"
            )
        return self

    def path(self) -> Path:
        return QUERIES / "segments" / f"{self.query}.sql"

    def sql(self, as_of: datetime) -> str:
        """The segment's query, ready to run as of ``as_of``."""
        return enrich_rules.render(self.path(), {**self.params, "as_of": as_of})


class Segments(BaseModel):
    """Every segment, from one JSON file."""

    description: str = ""
    segments: list[Segment]

    @field_validator("segments")
    @classmethod
    def _unique(cls, segments: list[Segment]) -> list[Segment]:
        names = [s.segment for s in segments]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"segment names repeat: {', '.join(repeated)}")
        return segments


def load(path: Path | None = None) -> Segments:
    """The segments in ``path`` (default: ``queries/audiences/segments.json``); raises ValueError
    naming the problem."""
    return Segments.model_validate_json((path or SEGMENTS).read_text(encoding="utf-8"))


def audience_name(segment: str, list_key: str | None) -> str:
    """The name of one list: the segment, and its list key as a slug (``model_shoppers`` +
    ``chevrolet equinox`` → ``model_shoppers/chevrolet-equinox``)."""
    if list_key is None:
        return segment
    slug = re.sub(r"[^a-z0-9]+", "-", list_key.lower()).strip("-")
    return f"{segment}/{slug or 'unnamed'}"
