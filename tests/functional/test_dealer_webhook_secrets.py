"""Our secret for a dealer's signed JSON deliveries: created (and shown once) when the dealer is set to
json_webhook, rotated like a sender's, read by the deliver function (current first)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from forecourt import dealer_secrets, registry
from forecourt.cli import main


def forecourt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def dealer_id(stack_home: Path) -> str:
    dealer = f"W{uuid.uuid4().hex[:8]}"
    assert forecourt("dealers", "add", dealer, "--name", "Hill Country Ford").exit_code == 0
    dealer_secrets.clear_cache()
    return dealer


def secret_after(output: str, heading: str) -> str:
    lines = output.splitlines()
    return lines[lines.index(heading) + 1].strip()


def test_setting_json_webhook_creates_the_secret_and_shows_it_once(dealer_id: str) -> None:
    answer = forecourt(
        "dealers", "update", dealer_id, "--delivery", "json_webhook", "--endpoint", "https://crm.example/hook"
    )
    assert answer.exit_code == 0, answer.output
    secret = secret_after(answer.stdout, f"webhook secret of dealer {dealer_id}:")
    assert "shown once and cannot be shown again" in words(answer.stdout)
    assert dealer_secrets.secrets_for(dealer_id) == [secret]
    assert dealer_secrets.secret_name(dealer_id) == f"forecourt/dealers/{dealer_id}/webhook"

    again = forecourt("dealers", "update", dealer_id, "--endpoint", "https://crm.example/hook2")
    assert again.exit_code == 0 and secret not in again.stdout and "webhook secret" not in again.stdout
    assert dealer_secrets.secrets_for(dealer_id) == [secret]  # kept: the CRM verifies with it


def test_with_json_the_secret_is_in_the_document_and_the_warning_on_stderr(dealer_id: str) -> None:
    answer = forecourt(
        "dealers", "update", dealer_id, "--delivery", "json_webhook",
        "--endpoint", "https://crm.example/hook", "--json",
    )  # fmt: skip
    shown = json.loads(answer.stdout)
    assert shown["delivery"] == {"method": "json_webhook", "endpoint": "https://crm.example/hook"}
    assert dealer_secrets.secrets_for(dealer_id) == [shown["webhook_secret"]]
    assert "shown once" in words(answer.stderr)


def test_other_methods_get_no_secret(dealer_id: str) -> None:
    forecourt(
        "dealers", "update", dealer_id, "--delivery", "adf_http", "--endpoint", "https://crm.example/adf"
    )
    with pytest.raises(dealer_secrets.DealerSecretMissing, match="--delivery json_webhook"):
        dealer_secrets.secrets_for(dealer_id)


def test_rotation_signs_with_both_until_finished(dealer_id: str) -> None:
    first = json.loads(
        forecourt(
            "dealers", "update", dealer_id, "--delivery", "json_webhook",
            "--endpoint", "https://crm.example/hook", "--json",
        ).stdout
    )["webhook_secret"]  # fmt: skip
    rotated = forecourt("dealers", "rotate-secret", dealer_id)
    assert rotated.exit_code == 0, rotated.output
    new = secret_after(rotated.stdout, f"webhook secret of dealer {dealer_id}:")
    assert f"until `forecourt dealers rotate-secret {dealer_id} --finish`" in words(rotated.stdout)
    assert dealer_secrets.secrets_for(dealer_id) == [new, first]
    assert dealer_secrets.rotation_in_progress(dealer_id)

    finished = forecourt("dealers", "rotate-secret", dealer_id, "--finish")
    assert "newest secret only" in words(finished.stdout)
    assert dealer_secrets.secrets_for(dealer_id) == [new]
    again = forecourt("dealers", "rotate-secret", dealer_id, "--finish", "--json")
    assert json.loads(again.stdout) == {"dealer_id": dealer_id, "finished": False}


def test_rotate_json_prints_the_new_secret(dealer_id: str) -> None:
    dealer_secrets.ensure_secret(dealer_id)
    answer = json.loads(forecourt("dealers", "rotate-secret", dealer_id, "--json").stdout)
    assert answer["rotation_in_progress"] is True
    assert dealer_secrets.secrets_for(dealer_id)[0] == answer["webhook_secret"]


def test_rotating_a_dealer_without_a_secret_says_how_to_get_one(dealer_id: str) -> None:
    answer = CliRunner().invoke(main, ["dealers", "rotate-secret", dealer_id])
    assert answer.exit_code == 1
    assert f"forecourt dealers update {dealer_id} --delivery json_webhook" in words(answer.output)


def test_secrets_are_cached_for_a_minute(dealer_id: str) -> None:
    now = [1000.0]
    dealer_secrets.ensure_secret(dealer_id)
    first = dealer_secrets.secrets_for(dealer_id, clock=lambda: now[0])
    registry_secret = dealer_secrets.secret_name(dealer_id)
    from forecourt import aws

    aws.client("secretsmanager").put_secret_value(SecretId=registry_secret, SecretString="changed-outside")
    now[0] += 30
    assert dealer_secrets.secrets_for(dealer_id, clock=lambda: now[0]) == first
    now[0] += 31
    assert dealer_secrets.secrets_for(dealer_id, clock=lambda: now[0])[0] == "changed-outside"
    assert registry.get_dealer(dealer_id) is not None
