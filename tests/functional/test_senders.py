"""Webhook senders against moto: the registry (DynamoDB), their secrets and rotations (Secrets Manager)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from forecourt import rotating_secret, senders, signing
from forecourt.senders import Sender
from pydantic import ValidationError

BODY = b'{"dealer_id":"D100","customer":{"email":"pat@example.com"}}'
NOW = 1_767_225_600


@pytest.fixture(autouse=True)
def _empty_cache(local_aws: Any, registered_dealers: Any) -> Iterator[None]:
    senders.clear_cache()
    yield
    senders.clear_cache()


def fresh(prefix: str = "lp") -> str:
    """A sender name no other test uses (the moto server is shared by the session)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def signed_by(secret: str) -> str:
    return signing.sign([secret], BODY, NOW)


def verifies(header: str, name: str) -> bool:
    try:
        signing.verify(header, BODY, senders.secrets_for(name), now=NOW)
    except signing.SignatureError:
        return False
    return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_local_stack_creates_the_sender_registry_and_points_settings_at_it(local_aws: Any) -> None:
    from forecourt.config import settings

    assert local_aws.resources.tables["SenderRegistryTable"] == "forecourt-sender-registry-table"
    assert settings().sender_table == "forecourt-sender-registry-table"


# --- registering ------------------------------------------------------------------------------------


def test_an_added_sender_is_stored_with_its_dealers_and_a_fresh_secret() -> None:
    name = fresh()
    sender, secret = senders.add_sender(name, "lead_provider", ["D200", "D100", "D100"])
    assert sender.dealers == ["D100", "D200"]
    assert senders.get_sender(name) == sender
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    assert senders.secrets_for(name) == [secret]
    assert verifies(signed_by(secret), name)


def test_two_senders_never_get_the_same_secret() -> None:
    _, one = senders.add_sender(fresh(), "oem_site", all_dealers=True)
    _, two = senders.add_sender(fresh(), "oem_site", all_dealers=True)
    assert one != two


def test_the_secret_lives_in_secrets_manager_under_the_prefix(local_aws: Any) -> None:
    from forecourt import aws

    name = fresh()
    _, secret = senders.add_sender(name, "dealer_crm", ["D300"])
    assert senders.secret_name(name) == f"forecourt/senders/{name}"
    stored = aws.client("secretsmanager").get_secret_value(SecretId=f"forecourt/senders/{name}")
    assert stored["SecretString"] == secret


def test_a_name_already_registered_is_refused_and_its_secret_kept() -> None:
    name = fresh()
    _, secret = senders.add_sender(name, "lead_provider", ["D100"])
    with pytest.raises(senders.SenderExists, match="already registered"):
        senders.add_sender(name, "oem_site", all_dealers=True)
    assert senders.get_sender(name).kind == "lead_provider"  # type: ignore[union-attr]
    assert senders.secrets_for(name) == [secret]


def test_unknown_dealers_are_refused_and_nothing_is_registered() -> None:
    name = fresh()
    with pytest.raises(senders.UnknownDealers) as caught:
        senders.add_sender(name, "lead_provider", ["D100", "D999", "NOPE"])
    assert caught.value.dealers == ["D999", "NOPE"]
    assert "D999, NOPE" in str(caught.value)
    assert senders.get_sender(name) is None
    with pytest.raises(senders.SenderNotFound):
        senders.secrets_for(name)


def test_a_sender_for_all_dealers_needs_no_registered_dealer() -> None:
    sender, _ = senders.add_sender(fresh("oem"), "oem_site", all_dealers=True)
    assert sender.all_dealers and sender.dealers == []


@pytest.mark.parametrize(
    ("name", "kind", "dealers", "all_dealers"),
    [
        ("Upper", "lead_provider", ["D100"], False),
        ("-dash-first", "lead_provider", ["D100"], False),
        ("has space", "lead_provider", ["D100"], False),
        ("x" * 65, "lead_provider", ["D100"], False),
        ("ok-name", "marketplace", ["D100"], False),
        ("ok-name", "lead_provider", [], False),
        ("ok-name", "lead_provider", ["D100"], True),
        ("ok-name", "lead_provider", ["D 100"], False),
    ],
)
def test_bad_registrations_are_refused(name: str, kind: Any, dealers: list[str], all_dealers: bool) -> None:
    with pytest.raises(ValidationError):
        senders.add_sender(name, kind, dealers, all_dealers)


def test_a_secret_left_behind_is_not_adopted(local_aws: Any) -> None:
    from forecourt import aws

    name = fresh()
    aws.client("secretsmanager").create_secret(Name=senders.secret_name(name), SecretString="someone else's")
    with pytest.raises(senders.SenderExists, match="already exists without a registered sender"):
        senders.add_sender(name, "lead_provider", ["D100"])
    assert senders.get_sender(name) is None


def test_senders_are_listed_by_name() -> None:
    names = sorted(fresh("list") for _ in range(3))
    for name in reversed(names):
        senders.add_sender(name, "lead_provider", ["D100"])
    listed = [s.name for s in senders.list_senders()]
    assert [n for n in listed if n in names] == names
    assert listed == sorted(listed)


def test_updating_dealers_replaces_them() -> None:
    name = fresh()
    created, _ = senders.add_sender(name, "dealer_crm", ["D100"])
    updated = senders.update_dealers(name, ["D200", "D300"])
    assert updated.dealers == ["D200", "D300"] and not updated.all_dealers
    assert updated.created_at == created.created_at and updated.kind == "dealer_crm"
    assert senders.get_sender(name) == updated
    widened = senders.update_dealers(name, all_dealers=True)
    assert widened.all_dealers and widened.dealers == []


def test_updating_refuses_unknown_senders_and_dealers() -> None:
    with pytest.raises(senders.SenderNotFound):
        senders.update_dealers(fresh(), ["D100"])
    name = fresh()
    senders.add_sender(name, "dealer_crm", ["D100"])
    with pytest.raises(senders.UnknownDealers):
        senders.update_dealers(name, ["D100", "D404"])
    assert senders.get_sender(name).dealers == ["D100"]  # type: ignore[union-attr]


# --- rotation ---------------------------------------------------------------------------------------


def test_after_a_rotation_both_secrets_verify_until_it_is_finished() -> None:
    name = fresh()
    _, old = senders.add_sender(name, "lead_provider", ["D100"])
    new = senders.rotate(name)
    assert new != old
    assert senders.secrets_for(name) == [new, old]
    assert senders.rotation_in_progress(name)
    assert verifies(signed_by(old), name) and verifies(signed_by(new), name)
    assert verifies(signing.sign([new, old], BODY, NOW), name)

    assert senders.finish_rotation(name) is True
    assert senders.secrets_for(name) == [new]
    assert not senders.rotation_in_progress(name)
    assert verifies(signed_by(new), name)
    assert not verifies(signed_by(old), name)


def test_finishing_without_a_rotation_changes_nothing() -> None:
    name = fresh()
    _, secret = senders.add_sender(name, "lead_provider", ["D100"])
    assert senders.finish_rotation(name) is False
    assert senders.secrets_for(name) == [secret]


def test_rotating_twice_retires_the_oldest_secret_at_once() -> None:
    name = fresh()
    _, first = senders.add_sender(name, "lead_provider", ["D100"])
    second = senders.rotate(name)
    third = senders.rotate(name)
    assert senders.secrets_for(name) == [third, second]
    assert not verifies(signed_by(first), name)


def test_rotating_an_unknown_sender_is_refused() -> None:
    with pytest.raises(senders.SenderNotFound, match="no sender"):
        senders.rotate(fresh())
    with pytest.raises(senders.SenderNotFound):
        senders.finish_rotation(fresh())


# --- the in-process cache ---------------------------------------------------------------------------


def test_secrets_are_cached_for_60_seconds(local_aws: Any) -> None:
    from forecourt import aws

    name = fresh()
    _, old = senders.add_sender(name, "lead_provider", ["D100"])
    clock = FakeClock()
    assert senders.secrets_for(name, clock=clock) == [old]
    # another process (the CLI) rotates: this process keeps its copy for a minute
    aws.client("secretsmanager").put_secret_value(SecretId=senders.secret_name(name), SecretString="new")
    clock.now += 59.9
    assert senders.secrets_for(name, clock=clock) == [old]
    clock.now += 0.1
    assert senders.secrets_for(name, clock=clock) == ["new", old]


def test_a_cache_hit_asks_nothing_of_secrets_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    name = fresh()
    _, secret = senders.add_sender(name, "lead_provider", ["D100"])
    clock = FakeClock()
    senders.secrets_for(name, clock=clock)

    def no_call(name: str) -> list[str]:
        raise AssertionError("asked Secrets Manager")

    monkeypatch.setattr(rotating_secret, "_fetch", no_call)
    clock.now += 30
    assert senders.secrets_for(name, clock=clock) == [secret]


def test_rotating_in_this_process_is_seen_at_once_and_clear_cache_forgets() -> None:
    name = fresh()
    _, old = senders.add_sender(name, "lead_provider", ["D100"])
    clock = FakeClock()
    assert senders.secrets_for(name, clock=clock) == [old]
    new = senders.rotate(name)
    assert senders.secrets_for(name, clock=clock) == [new, old]
    senders.finish_rotation(name)
    assert senders.secrets_for(name, clock=clock) == [new]
    senders.secrets_for(name, clock=clock)
    senders.clear_cache()
    assert rotating_secret._cache == {}


def test_a_returned_list_cannot_change_the_cache() -> None:
    name = fresh()
    _, secret = senders.add_sender(name, "lead_provider", ["D100"])
    senders.secrets_for(name).append("forged")
    assert senders.secrets_for(name) == [secret]


# --- who may post for whom --------------------------------------------------------------------------


def test_a_sender_may_post_only_for_its_dealers() -> None:
    sender = Sender(name="crm-lakeside", kind="dealer_crm", dealers=["D100", "D200"])
    assert sender.may_post_for("D100") and sender.may_post_for("D200")
    assert not sender.may_post_for("D300")
    assert not sender.may_post_for("d100")


def test_a_lead_that_names_no_dealer_only_from_a_sender_for_all_dealers() -> None:
    scoped = Sender(name="autotrader", kind="lead_provider", dealers=["D100"])
    national = Sender(name="oem-site", kind="oem_site", all_dealers=True)
    assert not scoped.may_post_for(None)
    assert national.may_post_for(None)
    assert national.may_post_for("D100") and national.may_post_for("D999")


def test_a_stored_sender_keeps_its_permissions() -> None:
    name = fresh()
    senders.add_sender(name, "dealer_crm", ["D300"])
    stored = senders.get_sender(name)
    assert stored is not None
    assert stored.may_post_for("D300") and not stored.may_post_for("D100") and not stored.may_post_for(None)


# --- the local stack keeps secrets across down / up -------------------------------------------------


def test_local_state_saves_and_restores_secrets_with_their_rotation(local_aws: Any, tmp_path: Path) -> None:
    from forecourt import aws
    from forecourt.local import state
    from forecourt.local.resources import LocalResources

    rotating, settled = fresh(), fresh()
    _, old = senders.add_sender(rotating, "lead_provider", ["D100"])
    new = senders.rotate(rotating)
    _, only = senders.add_sender(settled, "lead_provider", ["D100"])
    state.dump(aws.client, LocalResources(), tmp_path)
    manager = aws.client("secretsmanager")
    for name in (rotating, settled):
        manager.delete_secret(SecretId=senders.secret_name(name), ForceDeleteWithoutRecovery=True)

    state.restore(aws.client, LocalResources(), tmp_path)
    senders.clear_cache()
    assert senders.secrets_for(rotating) == [new, old]
    assert senders.secrets_for(settled) == [only]
