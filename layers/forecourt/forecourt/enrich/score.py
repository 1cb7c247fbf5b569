"""The lead score: a transparent, additive model.

score = ``rules.score.base`` + the weight of every feature the lead has, clipped to 0–100. The
features are 0/1 columns of ``queries/enrich/enriched_leads.sql`` named as the weights; the reasons
are the features with the largest weights, strongest first. No feature reads a financial column,
so the score may go wherever the lead goes (a feature that did would make it financial).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.enrich.rules import LABELS, Score

TOP_REASONS = 3


def score(features: pa.Table, model: Score) -> pa.Table:
    """``score`` (int32), ``score_reasons`` and ``score_features`` for each row of ``features``."""
    total = pa.repeat(pa.scalar(model.base, pa.int64()), features.num_rows)
    for name, weight in model.weights.items():
        total = pc.add(total, pc.multiply(features[name].cast(pa.int64()), weight))
    clipped = pc.max_element_wise(pc.min_element_wise(total, 100), 0).cast(pa.int32())
    ranked = sorted(model.weights.items(), key=lambda item: (-abs(item[1]), item[0]))
    columns = {name: features[name].to_pylist() for name, _ in ranked}
    reasons: list[str | None] = []
    present: list[list[str]] = []
    for row in range(features.num_rows):
        has = [(name, weight) for name, weight in ranked if columns[name][row] and weight]
        present.append([name for name, _ in has])
        shown = "; ".join(f"{LABELS[name]} {weight:+d}" for name, weight in has[:TOP_REASONS])
        reasons.append(shown or None)
    return pa.table(
        {
            "score": clipped,
            "score_reasons": pa.array(reasons, pa.string()),
            "score_features": pa.array(present, pa.list_(pa.string())),
        }
    )
