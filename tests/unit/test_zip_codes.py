"""Zip code locations and distances: offline, cached, and never on the webhook's or ingest's cold path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from forecourt import zip_codes

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_a_known_zip_has_its_centroid_and_unknown_or_malformed_zips_have_none() -> None:
    lat, lon = zip_codes.location("60601") or (0.0, 0.0)
    assert lat == pytest.approx(41.886, abs=0.01) and lon == pytest.approx(-87.618, abs=0.01)
    assert zip_codes.location("00000") is None
    assert zip_codes.location("6060") is None
    assert zip_codes.location("60601-1234") is None  # the curated row keeps zip+4 apart
    assert zip_codes.location("abcde") is None


def test_haversine_miles_matches_a_known_distance() -> None:
    # Chicago O'Hare to Los Angeles International: 1,744 statute miles great-circle.
    assert zip_codes.haversine_miles((41.9786, -87.9048), (33.9425, -118.4081)) == pytest.approx(1744, abs=3)
    assert zip_codes.haversine_miles((41.9, -87.6), (41.9, -87.6)) == 0


def test_miles_between_zips_and_unknown_zips() -> None:
    assert zip_codes.miles_between("60601", "53202") == pytest.approx(81.7, abs=0.1)
    assert zip_codes.miles_between("60601", "00000") is None


def test_locations_are_cached_after_the_first_lookup() -> None:
    zip_codes.location("90731")
    hits = zip_codes.location.cache_info().hits
    zip_codes.location("90731")
    assert zip_codes.location.cache_info().hits == hits + 1


def test_the_webhook_and_ingest_handlers_do_not_import_the_zip_dataset() -> None:
    script = (
        "import importlib.util, sys\n"
        "for name in ('webhook', 'ingest'):\n"
        "    spec = importlib.util.spec_from_file_location(name, f'functions/{name}/app.py')\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "import forecourt.routing\n"
        "assert 'zipcodes' not in sys.modules, 'zipcodes imported on a cold path'\n"
    )
    env = os.environ | {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "t"}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
