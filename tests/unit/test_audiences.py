"""Audience identifiers formatted and hashed exactly as Google Ads Customer Match and Meta custom
audiences document them (DOMAIN: advertising platforms), and ``forecourt audiences hash``."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from forecourt.audiences import google, meta, people
from forecourt.cli import main


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed(platform: object, **columns: list[str | None]) -> list[dict[str, str | None]]:
    prepared = people.prepare(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}))
    return platform.identifiers(prepared).to_pylist()  # type: ignore[attr-defined]


def test_metas_published_example_mary_at_example_com() -> None:
    (row,) = hashed(meta, email=["  Mary@Example.COM "])
    assert row["EMAIL"] == "f1904cf1a9d73a55fa5de0ac823c4403ded71afd4c3248d00bdcd0866552bb79"  # f1904cf1…


def test_google_folds_gmail_addresses_and_only_those() -> None:
    rows = hashed(
        google, email=["Jane.Doe+cars@GMail.com", "jane.doe+cars@googlemail.com", "Jane.Doe+cars@example.com"]
    )
    assert [r["hashed_email"] for r in rows] == [
        sha("janedoe@gmail.com"),
        sha("janedoe@googlemail.com"),
        sha("jane.doe+cars@example.com"),  # dots and +suffix mean something elsewhere
    ]
    (row,) = hashed(meta, email=["Jane.Doe+cars@gmail.com"])
    assert row["EMAIL"] == sha("jane.doe+cars@gmail.com")  # Meta has no gmail rule


def test_phones_are_e164_with_plus_for_google_and_digits_for_meta_by_each_persons_country() -> None:
    phones = {"phone": ["(312) 555-0137", "020 7946 0958"], "country": ["US", "GB"]}
    assert [r["hashed_phone_number"] for r in hashed(google, **phones)] == [
        sha("+13125550137"),
        sha("+442079460958"),
    ]
    assert [r["PHONE"] for r in hashed(meta, **phones)] == [sha("13125550137"), sha("442079460958")]


def test_names_lowercase_without_punctuation_google_drops_titles_meta_keeps_letters_only() -> None:
    names = {"first_name": ["Dr. Mary Lou", "  Chloé "], "last_name": ["O'Brien-Smith", None]}
    google_rows = hashed(google, **names)
    assert [r["hashed_first_name"] for r in google_rows] == [sha("mary lou"), sha("chloé")]
    assert [r["hashed_last_name"] for r in google_rows] == [sha("obriensmith"), None]
    meta_rows = hashed(meta, **names)
    assert [r["FN"] for r in meta_rows] == [sha("drmarylou"), sha("chloé")]
    assert [r["LN"] for r in meta_rows] == [sha("obriensmith"), None]


def test_google_drops_a_title_only_in_front_of_a_first_name_that_remains() -> None:
    rows = hashed(google, first_name=["Sir", "Mrs Ada"], last_name=["Herr", "Miss"])
    assert [r["hashed_first_name"] for r in rows] == [sha("sir"), sha("ada")]
    assert [r["hashed_last_name"] for r in rows] == [sha("herr"), sha("miss")]  # surnames, not titles


def test_country_and_zip_are_clear_for_google_and_hashed_for_meta() -> None:
    places = {"zip": ["60601-1234", "SW1A 1AA", None], "country": ["usa", "GB", ""]}
    assert [(r["country_code"], r["postal_code"]) for r in hashed(google, **places)] == [
        ("US", "60601"),
        ("GB", "SW1A 1AA"),
        ("US", None),  # no country given: the default
    ]
    assert [(r["COUNTRY"], r["ZIP"]) for r in hashed(meta, **places)] == [
        (sha("us"), sha("60601")),
        (sha("gb"), sha("sw1a1aa")),
        (sha("us"), None),
    ]


def test_values_that_cannot_be_used_are_left_out_and_named_row_for_row() -> None:
    prepared = people.prepare(
        pa.table(
            {
                "email": ["not-an-email", "ok@example.com", None],
                "phone": ["12", "312-555-0137", None],
                "country": ["Narnia", "US", None],
            }
        )
    )
    assert prepared["issues"].to_pylist() == ["country:invalid,email:invalid,phone:invalid", None, None]
    rows = google.identifiers(prepared).to_pylist()
    assert len(rows) == 3
    assert rows[0]["hashed_email"] is None and rows[0]["country_code"] is None  # not guessed
    assert rows[2] == dict.fromkeys(google.COLUMNS, None) | {"country_code": "US"}
    with pytest.raises(ValueError, match="unknown country 'Atlantis'"):
        people.prepare(pa.table({"email": ["a@b.co"]}), default_country="Atlantis")


def test_the_hash_verb_writes_one_row_per_input_row_with_the_platforms_columns(tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "E-Mail,First Name,Last Name,Phone,ZIP,notes\n"
        "mary@example.com,Mary,Smith,(312) 555-0137,60601,vip\n"
        "=cmd|' /C calc'!A0,=HYPERLINK(1),,,,\n"
        ",,,,,\n"
    )
    out = tmp_path / "meta.csv"

    answer = CliRunner().invoke(
        main, ["audiences", "hash", "--platform", "meta", str(source), "--out", str(out), "--json"]
    )

    assert answer.exit_code == 0, answer.output
    summary = json.loads(answer.stdout)
    assert summary["rows"] == 3 and summary["columns ignored"] == ["notes"]
    assert summary["identifiers per column"]["EMAIL"] == 1 and summary["rows with issues"] == 1
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == [*meta.SCHEMA, "issues"]
    assert len(rows) == 3
    assert rows[0]["EMAIL"] == sha("mary@example.com") and rows[0]["PHONE"] == sha("13125550137")
    assert rows[1]["issues"] == "email:invalid" and rows[1]["FN"] == sha("hyperlink")
    assert rows[2]["EMAIL"] == "" and rows[2]["COUNTRY"] == sha("us")


def test_the_hash_verb_says_what_is_wrong(tmp_path: Path) -> None:
    source = tmp_path / "ids.csv"
    source.write_text("customer_id\n42\n")
    runner = CliRunner()
    no_columns = runner.invoke(
        main, ["audiences", "hash", "--platform", "google", str(source), "--out", "x.csv"]
    )
    assert no_columns.exit_code == 1
    assert "none of the columns email, phone" in " ".join(no_columns.output.split())
    source.write_text("email\na@b.co\n")
    bad_country = runner.invoke(
        main,
        [
            "audiences",
            "hash",
            "--platform",
            "google",
            str(source),
            "--out",
            str(tmp_path / "o.csv"),
            "--country",
            "Atlantis",
        ],
    )
    assert bad_country.exit_code == 1 and "unknown country 'Atlantis'" in bad_country.output


def test_read_errors_name_the_file_but_never_a_persons_values(tmp_path: Path) -> None:
    runner = CliRunner()
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("email,phone\njohn@secret.com,312,extra\n")
    answer = runner.invoke(main, ["audiences", "hash", "--platform", "meta", str(ragged), "--out", "o.csv"])
    assert answer.exit_code == 1 and "cannot be read as CSV" in answer.output
    assert "john@secret.com" not in answer.output
    headless = tmp_path / "headless.csv"
    headless.write_text("mary@example.com,Mary,Smith\n")
    answer = runner.invoke(main, ["audiences", "hash", "--platform", "meta", str(headless), "--out", "o.csv"])
    assert answer.exit_code == 1 and "mary" not in answer.output.lower().replace("summary", "")
    twice = tmp_path / "twice.csv"
    twice.write_text("Email,E-Mail,EMAIL\na@b.co,a@b.co,a@b.co\n")
    answer = runner.invoke(main, ["audiences", "hash", "--platform", "meta", str(twice), "--out", "o.csv"])
    assert answer.exit_code == 1 and "several columns mean email" in " ".join(answer.output.split())
