"""The documents generated from schemas/ and reasons.py are checked in and up to date."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from forecourt import docs, schemas
from forecourt.reasons import QuarantineReason

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A scratch repository holding a copy of the checked-in generated documents and views."""
    shutil.copytree(REPO_ROOT / "docs", tmp_path / "docs")
    shutil.copytree(REPO_ROOT / "queries" / "views", tmp_path / "queries" / "views")
    return tmp_path


def test_checked_in_docs_are_up_to_date() -> None:
    stale = docs.generate(REPO_ROOT, check=True)
    assert stale == [], f"stale generated docs {[str(p) for p in stale]}: run `forecourt schemas generate`"


def test_a_hand_edited_doc_is_reported_stale_and_check_writes_nothing(repo_copy: Path) -> None:
    edited = repo_copy / "docs" / "datasets.md"
    before = edited.read_text(encoding="utf-8").replace("| `email` |", "| `e_mail` |")
    edited.write_text(before, encoding="utf-8")

    assert docs.generate(repo_copy, check=True) == [edited]
    assert edited.read_text(encoding="utf-8") == before


def test_a_missing_doc_is_reported_and_generate_restores_it(repo_copy: Path) -> None:
    missing = repo_copy / "docs" / "quarantine-reasons.md"
    missing.unlink()

    assert docs.generate(repo_copy, check=True) == [missing]
    assert docs.generate(repo_copy) == [missing]
    assert docs.generate(repo_copy, check=True) == []
    checked_in = REPO_ROOT / "docs" / "quarantine-reasons.md"
    assert missing.read_text(encoding="utf-8") == checked_in.read_text(encoding="utf-8")


def test_generation_is_deterministic() -> None:
    datasets = list(schemas.load_all().values())
    assert docs.datasets_markdown(datasets) == docs.datasets_markdown(reversed(datasets))
    assert docs.reasons_markdown(datasets) == docs.reasons_markdown(reversed(datasets))


def test_every_reason_code_is_documented_with_its_docstring() -> None:
    text = docs.reasons_markdown(schemas.load_all().values())
    described = docs.reason_docstrings()
    assert list(described) == list(QuarantineReason)
    assert described[QuarantineReason.EMPTY_FILE] == "The object has no bytes, or no header line."
    assert "| `empty_file` | The object has no bytes, or no header line. |" in text


def test_field_issue_labels_list_the_columns_of_each_kind() -> None:
    text = docs.reasons_markdown(schemas.load_all().values())
    email_row = next(line for line in text.splitlines() if line.startswith("| `email` |"))
    assert "`<field>:invalid_email`" in email_row
    assert "`alternate_email` (leads, sales, visits), `email` (leads, sales, visits)" in email_row


def test_the_data_dictionary_shows_effective_pii_and_the_contract() -> None:
    text = docs.datasets_markdown(schemas.load_all().values())
    assert "| `apr` | `decimal(6,3)` | yes | financial |" in text
    assert "| `extras` | `string` | yes | direct |" in text
    assert (
        "- Minimum contract: all of `requested_at`, `vehicle_year`, `vehicle_make`, `vehicle_model`; "
        "at least one of `first_name`, `last_name`; "
        "at least one of `email`, `phone`, `mobile_phone`, `alternate_phone`"
    ) in text
    assert "- Partitioning: day(`received_at`)" in text


def test_the_views_doc_lists_each_view_with_its_settings_and_current_views_are_generated(
    repo_copy: Path,
) -> None:
    text = (REPO_ROOT / "docs" / "views.md").read_text(encoding="utf-8")
    assert "| `dedupe_window_days` | 7 | lead_outcomes |" in text
    assert "| `speed_to_lead_target_minutes` | 30 | dealer_speed_to_lead |" in text
    assert "## lead_funnel" in text and "close_rate = sold / shown" in text
    current = repo_copy / "queries" / "views" / "leads_current.sql"
    current.write_text("SELECT 1\n", encoding="utf-8")

    assert docs.generate(repo_copy, check=True) == [current]
    docs.generate(repo_copy)
    assert current.read_text(encoding="utf-8") == (
        REPO_ROOT / "queries" / "views" / "leads_current.sql"
    ).read_text(encoding="utf-8")
