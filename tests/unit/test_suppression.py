"""The suppression list's keyed hashes, and the CLI refusing what it cannot use without echoing it."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from forecourt.cli import main
from forecourt.privacy.suppression import keyed_hashes


def test_keyed_hashes_depend_on_the_key_and_the_kind() -> None:
    values = pa.array(["jane@example.com", None, "", "jane@example.com"])
    one = keyed_hashes("email", values, b"key-one").to_pylist()
    assert one[0] == one[3] == hmac.new(b"key-one", b"email:jane@example.com", hashlib.sha256).hexdigest()
    assert one[1] is None and one[2] is None
    assert one[0] != hashlib.sha256(b"jane@example.com").hexdigest()  # not a plain, guessable hash
    assert keyed_hashes("email", values, b"key-two")[0] != one[0]
    assert keyed_hashes("phone", values, b"key-one")[0] != one[0]


def test_suppress_refuses_invalid_values_by_position_and_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a short path: the message wraps at the terminal's width
    listed = Path("requests.csv")
    listed.write_text("E-Mail,Phone Number\nok@example.com,+1 312 555 0137\nnot-an-address,12\n")
    result = CliRunner().invoke(
        main,
        ["privacy", "suppress", "--email", "fine@example.com", "--email", "broken@", "--phone", "555",
         "--file", str(listed), "--source", "PR-9"],
    )  # fmt: skip
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # unwrapped
    assert "--email #2: email is not valid" in said
    assert "--phone #1: phone is not valid" in said
    assert f"{listed} row 3: email is not valid" in said
    assert f"{listed} row 3: phone is not valid" in said
    assert "broken@" not in said and "not-an-address" not in said
    assert "nothing added" in said
    empty = CliRunner().invoke(main, ["privacy", "suppress", "--source", "PR-9"])
    assert empty.exit_code == 1 and "nothing to suppress" in empty.output


def test_erase_refuses_invalid_values_by_position_and_a_source_that_names_someone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    listed = Path("erase.csv")
    listed.write_text("email,person_id\nok@example.com,\nwho@,\n,P-123\n")
    result = CliRunner().invoke(
        main, ["privacy", "erase", "--phone", "555", "--file", str(listed), "--source", "DSR-1"]
    )
    said = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "--phone #1: phone is not valid" in said and f"{listed} row 3: email is not valid" in said
    assert "who@" not in said and "555" not in said.replace("--phone #1", "")
    assert "nothing erased" in said
    named = CliRunner().invoke(main, ["privacy", "erase", "--person", "P-1", "--source", "jane@example.com"])
    assert named.exit_code == 1 and "never an e-mail or phone" in named.output
    empty = CliRunner().invoke(main, ["privacy", "erase", "--source", "DSR-1"])
    assert empty.exit_code == 1 and "nothing to erase" in empty.output


def test_erase_reads_the_options_as_one_person_and_each_file_row_as_another(tmp_path: Path) -> None:
    from forecourt.cli.privacy import _erasure_requests

    listed = tmp_path / "erase.csv"
    listed.write_text("email,phone,person_id\nb@example.com,,\n,312-555-0199,P-7\n")
    requests = _erasure_requests(
        ("A@Example.com",), ("(312) 555-0142",), ("P-9",), listed, "US", False, "DSR-2"
    )
    assert [(r.emails, r.phones, r.persons) for r in requests[1:]] == [
        (("b@example.com",), (), ()),
        ((), ("+13125550199",), ("P-7",)),
    ]
    one = requests[0]
    assert one.emails == ("a@example.com",) and one.phones == ("+13125550142",) and one.persons == ("P-9",)
    assert one.reason == "erasure" and one.source == "DSR-2"
