"""Does the lead score mean anything? A backtest: score the leads as of a past moment, seeing only
what was known then, and compare each score band with the share of those leads' persons who bought
(at any dealer) in the following days. A useful score shows rates rising with the band."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.enrich.rules import Rules

BANDS = ((0, 19), (20, 39), (40, 59), (60, 79), (80, 100))


@dataclass
class Band:
    scores: str
    leads: int
    bought: int

    @property
    def rate(self) -> float:
        return self.bought / self.leads if self.leads else 0.0


def calibrate(as_of: datetime, horizon_days: int, rules: Rules) -> list[Band]:
    """Leads of the ``rules.lead_days`` before ``as_of``, scored as of then, by score band, with
    how many of their persons bought in the ``horizon_days`` after ``as_of``."""
    from forecourt.enrich import job

    # one read of the lake up to the end; what was known at as_of is its part up to then
    # (activity.sql depends on as_of only through its final filter, at <= as_of)
    everything = job.activity(as_of + timedelta(days=horizon_days))
    known = pc.less_equal(everything["at"], pa.scalar(as_of, everything["at"].type))
    activity = everything.filter(known)
    leads = job.lead_rows(activity, job.tag_rows(activity, rules, as_of, as_of), rules, as_of)
    sales = everything.filter(pc.and_(pc.equal(everything["kind"], "sale"), pc.invert(known)))
    bought = pc.is_in(leads["person_id"], value_set=sales["person_id"].unique())
    scores = leads["score"]
    bands = []
    for low, high in BANDS:
        inside = pc.and_(pc.greater_equal(scores, low), pc.less_equal(scores, high))
        bands.append(
            Band(
                scores=f"{low}–{high}",
                leads=pc.sum(inside.cast(pa.int64())).as_py() or 0,
                bought=pc.sum(pc.and_(inside, bought).cast(pa.int64())).as_py() or 0,
            )
        )
    return bands
