"""Feed profiles (``forecourt/feeds/profiles``) and the per-feed fixtures in ``tests/data/feeds``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from feed_headers import adf_fields, csv_header_candidates, detection_scores, jsonl_fields
from forecourt import feeds, schemas
from forecourt.curate import META_COLUMNS
from forecourt.reasons import QuarantineReason

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "feeds"
SIDECARS = sorted(FIXTURES.glob("*/*.expected.json"))
FEEDS = {
    "lead-events",
    "generic-leads",
    "vinsolutions-leads",
    "elead-leads",
    "cdk-sales",
    "dealertrack-sales",
    "service-visits",
    "showroom-visits",
    "adf",
    "jsonl-leads",
    "google-ads-spend",
    "meta-ads-spend",
    "google-ads-campaigns",
    "meta-ads-campaigns",
}
BOOKKEEPING = META_COLUMNS  # filled by ingest itself, never by a feed
KEYLESS = {"google-ads-spend", "meta-ads-spend"}  # report rows: one per campaign and day, no id of their own


def raw_profile(name: str) -> dict[str, Any]:
    path = feeds.profiles_dir() / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def all_targets(name: str) -> list[str]:
    """Every column a profile writes: mapping targets, their ``also`` copies, and constants."""
    profile = raw_profile(name)
    targets: list[str] = []
    for mapping in profile["columns"].values():
        if isinstance(mapping, str):
            targets.append(mapping)
        else:
            targets += [mapping["to"], *mapping.get("also", [])]
    return targets + list(profile.get("constants", {}))


def dataset_columns(profile: feeds.FeedProfile) -> set[str]:
    names: set[str] = set()
    for dataset in [profile.dataset, *profile.companions]:
        names |= set(schemas.get(dataset).column_names)
    return names


def sidecar(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_every_feed_has_a_profile_named_for_its_file() -> None:
    assert set(feeds.load_all()) == FEEDS


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_profile_says_which_system_writes_the_file(name: str) -> None:
    profile = feeds.get(name)
    assert profile.source_system
    assert len(profile.description) > 80


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_profile_writes_only_real_business_columns(name: str) -> None:
    profile = feeds.get(name)
    targets = all_targets(name)
    assert set(targets) <= dataset_columns(profile)
    assert not set(targets) & BOOKKEEPING - {"source_key"}


@pytest.mark.parametrize("name", sorted(FEEDS - KEYLESS))
def test_profile_maps_the_sources_own_key_to_source_key(name: str) -> None:
    assert "source_key" in all_targets(name)


@pytest.mark.parametrize("name", sorted(FEEDS))
def test_detect_headers_are_fields_the_profile_maps(name: str) -> None:
    profile = feeds.get(name)
    mapped = profile.mapping_by_folded_name()
    assert all(feeds.fold(h) in mapped for h in profile.detect.headers)


def test_visit_feeds_say_which_kind_of_visit_and_ad_feeds_which_platform() -> None:
    assert feeds.get("service-visits").constants["visit_type"] == "service"
    assert feeds.get("showroom-visits").constants["visit_type"] == "showroom"
    for name in ("google-ads-spend", "google-ads-campaigns"):
        assert feeds.get(name).constants["platform"] == "google_ads"
    for name in ("meta-ads-spend", "meta-ads-campaigns"):
        assert feeds.get(name).constants["platform"] == "meta"


def test_report_downloads_skip_title_lines_and_flag_total_rows() -> None:
    spend = feeds.get("google-ads-spend")
    assert spend.max_header_line >= 3
    assert "Total:" in spend.summary_row_prefixes


@pytest.mark.parametrize("dataset", schemas.CURATED)
def test_every_contract_field_is_reachable_from_some_feed(dataset: str) -> None:
    reachable: set[str] = set()
    for profile in feeds.load_all().values():
        if dataset in (profile.dataset, *profile.companions):
            reachable |= set(all_targets(profile.name))
    contract = schemas.get(dataset).contract
    assert set(contract.required) <= reachable
    for group in contract.any_of:
        assert set(group) & reachable, group


def test_every_feed_has_a_fixture() -> None:
    assert {path.parent.name for path in SIDECARS} == FEEDS


@pytest.mark.parametrize("path", SIDECARS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_sidecar_adds_up(path: Path) -> None:
    expected = sidecar(path)
    assert expected["feed"] == path.parent.name
    assert (path.parent / expected["file"]).is_file()
    assert expected["dataset"] == feeds.get(expected["feed"]).dataset
    assert expected["rows_in"] == expected["rows_curated"] + expected["rows_quarantined"]
    reasons = expected["quarantine_reasons"]
    assert sum(reasons.values()) == expected["rows_quarantined"]
    assert set(reasons) <= {r.value for r in QuarantineReason}
    for reason in expected["quarantined"].values():
        assert reason in reasons


@pytest.mark.parametrize("path", SIDECARS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_expected_values_name_real_columns(path: Path) -> None:
    expected = sidecar(path)
    assert not set(expected["values"]) & set(expected["quarantined"]), "quarantined rows have no values"
    columns = set(schemas.get(expected["dataset"]).column_names)
    for row in expected["values"].values():
        assert set(row) <= columns
    for companion, spec in expected.get("companions", {}).items():
        companion_columns = set(schemas.get(companion).column_names)
        for row in spec["values"].values():
            assert set(row) <= companion_columns


READABLE = [p for p in SIDECARS if sidecar(p)["status"] != "rejected"]


@pytest.mark.parametrize("path", READABLE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_is_detected_as_its_own_feed(path: Path) -> None:
    expected = sidecar(path)
    scores = detection_scores(path.parent / expected["file"], expected["format"])
    own = scores.pop(expected["feed"])
    assert own, f"{expected['feed']} does not recognise its own fixture"
    assert all(other is None or other < own for other in scores.values()), scores


@pytest.mark.parametrize("path", READABLE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_fields_cover_the_dataset_contract(path: Path) -> None:
    expected = sidecar(path)
    profile = feeds.get(expected["feed"])
    reachable = _mapped_targets(profile, path.parent / expected["file"], expected["format"])
    contract = schemas.get(profile.dataset).contract
    assert set(contract.required) <= reachable
    for group in contract.any_of:
        assert set(group) & reachable, group


def _mapped_targets(profile: feeds.FeedProfile, path: Path, file_format: str) -> set[str]:
    if file_format == "csv":
        candidates = csv_header_candidates(path, profile.max_header_line)
        fields = max(candidates, key=lambda c: feeds.match_headers(profile, c) or 0)
    else:
        fields = sorted(adf_fields(path) if file_format == "adf" else jsonl_fields(path))
    mapped = profile.mapping_by_folded_name()
    return {mapped[feeds.fold(f)].to for f in fields if feeds.fold(f) in mapped} | set(profile.constants)
