"""Enrichment rules as data: parameters rendered safely, PII classes derived from what a query
reads, and the additive lead score with its reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from forecourt.enrich import rules
from forecourt.enrich.rules import LABELS
from forecourt.enrich.score import score

AS_OF = datetime(2026, 11, 3, 6, tzinfo=UTC)


def test_parameters_become_literals_and_a_quote_cannot_escape(tmp_path: Path) -> None:
    sql = tmp_path / "q.sql"
    sql.write_text("SELECT {{name}} AS n, {{as_of}} - INTERVAL '{{days}}' DAY AS t, {{days}} AS d")
    rendered = rules.render(sql, {"name": "O'Brien'; DROP TABLE leads --", "days": 30, "as_of": AS_OF})
    assert rendered == (
        "SELECT 'O''Brien''; DROP TABLE leads --' AS n, "
        "TIMESTAMP '2026-11-03 06:00:00.000000 UTC' - INTERVAL '30' DAY AS t, 30 AS d"
    )
    with pytest.raises(KeyError, match=r"no value for \{\{days\}\}"):
        rules.render(sql, {"name": "x", "as_of": AS_OF})
    with pytest.raises(TypeError, match="whole number"):
        rules.render(sql, {"name": "x", "days": "30' DAY --", "as_of": AS_OF})


def test_the_shipped_rules_load_and_every_tag_query_renders() -> None:
    loaded = rules.load()
    assert {t.tag for t in loaded.tags} >= {
        "in_market", "multi_dealer_shopper", "service_customer", "trade_in_candidate", "finance_ending",
        "lapsed_customer", "unfinished_deal",
    }  # fmt: skip
    assert set(loaded.score.weights) <= set(LABELS)
    for rule in loaded.tags:
        assert "{{" not in rules.tag_sql(rule, AS_OF)


def test_a_rule_naming_a_missing_query_or_repeating_a_tag_is_refused() -> None:
    good = {"tag": "in_market", "query": "in_market"}
    with pytest.raises(ValueError, match=r"no query queries/enrich/tags/nope\.sql"):
        rules.Rules.model_validate({"tags": [{"tag": "x", "query": "nope"}], "score": {"weights": {}}})
    with pytest.raises(ValueError, match="tag names repeat"):
        rules.Rules.model_validate({"tags": [good, good], "score": {"weights": {}}})


def test_pii_class_follows_the_columns_a_tag_reads() -> None:
    classes = rules.activity_classes()
    assert classes["finance_ends"] == classes["deal_gross"] == classes["finance_type"] == "financial"
    assert classes["service_gross"] == classes["at"] == classes["dealer_id"] == "none"
    by_tag = {t.tag: rules.pii_class(rules.tag_sql(t, AS_OF)) for t in rules.load().tags}
    assert by_tag.pop("finance_ending") == "financial"
    assert set(by_tag.values()) == {"none"}
    # a filter is enough: a tag that only selects rows by deal gross is financial too
    assert rules.pii_class("SELECT person_id FROM activity WHERE deal_gross > 1000") == "financial"


def test_score_adds_weights_clips_and_names_the_strongest_reasons() -> None:
    model = rules.Score(
        base=20, weights={"fresh_2d": 15, "showroom_visit": 15, "past_buyer": 10, "stale_30d": -30}
    )
    features = pa.table(
        {
            "fresh_2d": [1, 0, 1],
            "showroom_visit": [1, 0, 1],
            "past_buyer": [0, 0, 1],
            "stale_30d": [0, 1, 0],
        }
    )
    out = score(features, model).to_pylist()
    assert [r["score"] for r in out] == [50, 0, 60]  # 20 - 30 clips at 0
    assert out[0]["score_reasons"] == "requested in the last 2 days +15; showroom visit near the lead +15"
    assert out[1]["score_reasons"] == "requested over 30 days ago -30"
    assert out[2]["score_features"] == ["fresh_2d", "showroom_visit", "past_buyer"]
    with pytest.raises(ValueError, match="unknown features"):
        rules.Score(weights={"shoe_size": 3})
