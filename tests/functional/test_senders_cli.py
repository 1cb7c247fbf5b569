"""``forecourt senders`` in-process with click's CliRunner, against the session's moto server presented
as a running local stack (a ``stack.json`` in a temporary FORECOURT_HOME, as ``forecourt local up``
writes it)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from forecourt import senders, signing
from forecourt.cli import main

BODY = b'{"lead":"x"}'


def forecourt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def words(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def fresh() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def accepts(secret: str, name: str) -> bool:
    try:
        signing.verify(
            signing.sign([secret], BODY, 1_000_000), BODY, senders.secrets_for(name), now=1_000_000
        )
    except signing.SignatureError:
        return False
    return True


def test_add_prints_the_secret_once_with_a_warning(stack_home: Path) -> None:
    name = fresh()
    result = forecourt("senders", "add", name, "--kind", "lead_provider", "--dealers", "D100,D200")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    secret = lines[lines.index(f"secret of sender {name}:") + 1].strip()
    assert accepts(secret, name)
    said = words(result.stdout)
    assert f"sender {name} (lead_provider) registered; may post for D100, D200" in said
    assert "shown once and cannot be shown again" in said
    listed = forecourt("senders", "list")
    assert name in listed.stdout and secret not in listed.stdout


def test_add_with_json_prints_the_sender_and_secret_and_warns_on_stderr(stack_home: Path) -> None:
    name = fresh()
    result = forecourt("senders", "add", name, "--kind", "oem_site", "--all", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["sender"]["name"] == name and answer["sender"]["all_dealers"] is True
    assert accepts(answer["secret"], name)
    assert "shown once" in words(result.stderr)


def test_dealers_may_be_repeated_or_comma_separated(stack_home: Path) -> None:
    name = fresh()
    result = forecourt(
        "senders",
        "add",
        name,
        "--kind",
        "dealer_crm",
        "--dealers",
        "D100",
        "--dealers",
        "D200, D300",
        "--json",
    )
    assert json.loads(result.stdout)["sender"]["dealers"] == ["D100", "D200", "D300"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--kind", "lead_provider"], "--dealers ID[,ID…]) or --all"),
        (["--kind", "lead_provider", "--dealers", "D100", "--all"], "not both"),
        (["--kind", "lead_provider", "--dealers", "D100,D777"], "unknown dealer(s): D777"),
    ],
)
def test_add_refusals_are_clear(stack_home: Path, args: list[str], says: str) -> None:
    result = forecourt("senders", "add", fresh(), *args)
    assert result.exit_code == 1
    assert says in words(result.stderr)


def test_a_bad_name_is_refused_in_one_line(stack_home: Path) -> None:
    result = forecourt("senders", "add", "Bad Name", "--kind", "lead_provider", "--all")
    assert result.exit_code == 1
    assert "name: String should match pattern" in words(result.stderr)


def test_a_duplicate_is_refused(stack_home: Path) -> None:
    name = fresh()
    forecourt("senders", "add", name, "--kind", "lead_provider", "--all")
    result = forecourt("senders", "add", name, "--kind", "lead_provider", "--all")
    assert result.exit_code == 1 and "already registered" in words(result.stderr)


def test_rotate_then_finish(stack_home: Path) -> None:
    name = fresh()
    old = json.loads(forecourt("senders", "add", name, "--kind", "lead_provider", "--all", "--json").stdout)[
        "secret"
    ]
    rotated = forecourt("senders", "rotate", name)
    assert rotated.exit_code == 0, rotated.output
    said = words(rotated.stdout)
    assert f"both verify until `forecourt senders rotate {name} --finish`" in said
    lines = rotated.stdout.splitlines()
    new = lines[lines.index(f"secret of sender {name}:") + 1].strip()
    assert accepts(new, name) and accepts(old, name)
    [row] = [r for r in json.loads(forecourt("senders", "list", "--json").stdout) if r["name"] == name]
    assert row["rotation_in_progress"] is True

    finished = forecourt("senders", "rotate", name, "--finish")
    assert "only its newest secret verifies" in words(finished.stdout)
    senders.clear_cache()
    assert accepts(new, name) and not accepts(old, name)
    again = forecourt("senders", "rotate", name, "--finish", "--json")
    assert json.loads(again.stdout) == {"sender": name, "finished": False}


def test_rotate_json(stack_home: Path) -> None:
    name = fresh()
    forecourt("senders", "add", name, "--kind", "lead_provider", "--all")
    answer = json.loads(forecourt("senders", "rotate", name, "--json").stdout)
    assert answer["sender"] == name and answer["rotation_in_progress"] is True
    assert senders.secrets_for(name)[0] == answer["secret"]


def test_rotating_an_unknown_sender_fails_clearly(stack_home: Path) -> None:
    result = forecourt("senders", "rotate", "nobody-here")
    assert result.exit_code == 1 and "no sender 'nobody-here' is registered" in words(result.stderr)


def test_update_replaces_the_dealers(stack_home: Path) -> None:
    name = fresh()
    forecourt("senders", "add", name, "--kind", "dealer_crm", "--dealers", "D100")
    result = forecourt("senders", "update", name, "--dealers", "D200", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dealers"] == ["D200"]
    table = forecourt("senders", "update", name, "--all")
    assert name in table.stdout and "all" in table.stdout
    assert senders.get_sender(name).all_dealers  # type: ignore[union-attr]


def test_list_shows_a_table_by_default(stack_home: Path) -> None:
    name = fresh()
    forecourt("senders", "add", name, "--kind", "dealer_crm", "--dealers", "D300")
    result = forecourt("senders", "list")
    assert result.exit_code == 0
    assert "Webhook senders" in result.stdout and name in result.stdout and "dealer_crm" in result.stdout


def test_verbs_say_clearly_when_the_stack_is_not_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECOURT_HOME", str(tmp_path / "nowhere"))
    for args in (
        ["list"],
        ["add", "x", "--kind", "oem_site", "--all"],
        ["rotate", "x"],
        ["update", "x", "--all"],
    ):
        result = forecourt("senders", *args)
        assert result.exit_code == 1
        assert "not running" in result.stderr and "forecourt local up" in words(result.stderr)
