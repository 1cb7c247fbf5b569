"""The lead score: a transparent, additive model.

score = ``rules.score.base`` + the weight of every feature the lead has, clipped to 0–100. The
features are 0/1 columns of ``queries/enrich/enriched_leads.sql`` named as the weights; the reasons
are the features with the largest weights, strongest first. No feature reads a financial column,
so the score may go wherever the lead goes (a feature that did would make it financial).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.enrich.rules import Score

LABELS = {
    "fresh_2d": "requested in the last 2 days",
    "fresh_7d": "requested in the last 7 days",
    "stale_30d": "requested over 30 days ago",
    "showroom_visit": "showroom visit (from a week before the lead on)",
    "repeat_inquiry": "other leads within 30 days",
    "multi_dealer_shopper": "shopping at several dealers",
    "unfinished_deal": "unfinished digital deal",
    "trade_in_on_lead": "trade-in on the lead",
    "trade_in_candidate": "owns an older vehicle",
    "specific_vehicle": "asked about a specific vehicle",
    "phone_and_email": "reachable by phone and e-mail",
    "walk_in_or_phone": "walked in or phoned",
    "past_buyer": "bought before",
    "service_customer": "service customer",
    "lapsed_customer": "lapsed customer",
}
"""What each feature means, in the words the reasons use."""
TOP_REASONS = 3


def check(model: Score) -> None:
    """Raises ValueError for a weight of no known feature."""
    unknown = sorted(set(model.weights) - set(LABELS))
    if unknown:
        raise ValueError(f"score weights of unknown features {unknown}; features: {', '.join(LABELS)}")


def score(features: pa.Table, model: Score) -> pa.Table:
    """``score`` (int32), ``score_reasons`` and ``score_features`` for each row of ``features``."""
    check(model)
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
