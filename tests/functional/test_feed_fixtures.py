"""Every feed fixture under tests/data/feeds/ through the real handlers: counts, reasons and values
must be exactly what its ``.expected.json`` says (rows in = curated + quarantined, always)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

FEEDS = Path(__file__).parents[1] / "data" / "feeds"
EXPECTED = sorted(FEEDS.glob("*/*.expected.json"))


def _fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name.removesuffix('.expected.json')}"


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, float) and isinstance(want, str):
        return Decimal(want) == Decimal(str(got))
    return bool(got == want)


def _expected_comparable(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat()
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _query(sql: str) -> list[dict[str, Any]]:
    from forecourt import analytics

    result = analytics.run_query(sql)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


@pytest.mark.parametrize("expected_path", EXPECTED, ids=_fixture_id)
def test_fixture_is_ingested_exactly_as_expected(local_aws, expected_path: Path):
    from forecourt import registry

    expected = json.loads(expected_path.read_text())
    dealer = expected["dealer"]
    if dealer["dealer_id"] != "oem":
        registry.put_dealer(
            registry.Dealer(**{k: dealer[k] for k in ("dealer_id", "name", "zip", "country", "timezone")})
        )
    data_file = expected_path.with_name(expected_path.name.removesuffix(".expected.json"))
    report = local_aws.ingest_file(
        data_file, dealer["dealer_id"], name=f"{expected_path.parent.name}-{data_file.name}"
    )

    assert report.rows_in == report.rows_curated + report.rows_quarantined
    assert (report.rows_in, report.rows_curated, report.rows_quarantined) == (
        expected["rows_in"],
        expected["rows_curated"],
        expected["rows_quarantined"],
    ), report.quarantine_reasons
    assert report.quarantine_reasons == expected["quarantine_reasons"]
    assert report.status == expected["status"]
    for field in ("feed", "dataset", "format", "encoding", "compression", "delimiter"):
        if field in expected and report.status != "rejected":
            assert getattr(report, field) == expected[field], field
    _check_values(report, expected)
    _check_quarantined(report, expected)


def _check_values(report: Any, expected: dict[str, Any]) -> None:
    values = expected.get("values", {})
    if not values:
        return
    # the upload's rows read once (each read of the table plans its files: one per key was slow)
    upload = _query(f"SELECT * FROM {expected['dataset']} WHERE upload_id = '{report.upload_id}'")
    for key, columns in values.items():
        if key.startswith("line:"):
            rows = [r for r in upload if r["source_line"] == int(key.removeprefix("line:"))]
        else:
            rows = [r for r in upload if r["source_key"] == key]
        assert len(rows) == 1, f"{key}: {len(rows)} rows"
        got = {k: _comparable(rows[0][k]) for k in columns}
        want = {k: _expected_comparable(v) for k, v in columns.items()}
        differing = {k: (got[k], want[k]) for k in want if not _same(got[k], want[k])}
        assert not differing, f"{key}: (got, expected) {differing}"


def _holds(raw: str | None, key: str) -> bool:
    """The quarantined record carries ``key`` as one of its values (raw text for unparsable rows)."""
    try:
        record = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return key in (raw or "")
    return key in record.values()


def _check_quarantined(report: Any, expected: dict[str, Any]) -> None:
    rows = _query(
        f"SELECT source_line, reason_code, raw_record, message FROM quarantine WHERE upload_id = '{report.upload_id}'"
    )
    for key, reason in expected.get("quarantined", {}).items():
        if key.startswith("line:"):
            hits = [r for r in rows if r["source_line"] == int(key.removeprefix("line:"))]
        else:
            hits = [r for r in rows if _holds(r["raw_record"], key)]
        assert [h["reason_code"] for h in hits] == [reason], key
    if "error_line" in expected:
        assert any(
            r["source_line"] == expected["error_line"] or f"line {expected['error_line']}" in r["message"]
            for r in rows
        )
