"""The identity index against moto: hashed keys only, one entry per lead, capped, pruned, expiring,
and safe under concurrent writers."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import LocalAws

AT = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@pytest.fixture()
def someone(local_aws: LocalAws) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    return {
        "record_id": f"L-{tag}-0",
        "email": f"kim.{tag}@example.com",
        "phone": f"+1312555{int(tag[:4], 16) % 10_000:04d}",
        "vehicle_make": "Ford",
        "vehicle_model": "F-150",
        "vehicle_vin": None,
        "requested_at": "2026-11-02T14:55:00+00:00",
    }


def decision(lead_id: str, dealer_id: str | None = "D100", *, is_test: bool = False) -> Any:
    from forecourt.routing import RouteDecision

    return RouteDecision(lead_id, dealer_id, "territory", "zip in territory", "new", is_test=is_test)


def item(key: str) -> dict[str, Any]:
    from forecourt import aws
    from forecourt.config import settings

    answer = aws.client("dynamodb").get_item(
        TableName=settings().identity_index_table, Key={"key": {"S": key}}
    )
    return dict(answer.get("Item", {}))


def test_a_remembered_lead_is_found_under_its_email_and_phone_hashes(someone: dict[str, Any]) -> None:
    from forecourt import identity_index
    from forecourt.routing import person_keys

    assert identity_index.prior_leads(someone) == []
    assert identity_index.remember(someone, decision(someone["record_id"]), AT) == 2
    [found] = identity_index.prior_leads(someone | {"record_id": "L-next"})
    assert (found.lead_id, found.dealer_id, found.received_at) == (someone["record_id"], "D100", AT)
    assert found.keys == frozenset(person_keys(someone))
    assert (found.vin, found.make_model) == (None, "ford|f-150")
    assert found.requested_at == datetime(2026, 11, 2, 14, 55, tzinfo=UTC)
    # a later lead known only by the phone finds it too, under the phone key alone
    [by_phone] = identity_index.prior_leads({"phone": someone["phone"]})
    assert by_phone.keys == frozenset(person_keys({"phone": someone["phone"]}))
    stored = item(person_keys(someone)[0])
    assert someone["email"] not in str(stored) and someone["phone"] not in str(stored)
    assert int(stored["expires_at"]["N"]) == int((AT + timedelta(days=90)).timestamp())


def test_remembering_a_lead_twice_keeps_one_entry(someone: dict[str, Any]) -> None:
    from forecourt import identity_index
    from forecourt.routing import person_keys

    identity_index.remember(someone, decision(someone["record_id"]), AT)
    assert identity_index.remember(someone, decision(someone["record_id"]), AT) == 0
    assert len(item(person_keys(someone)[0])["leads"]["L"]) == 1


def test_a_lead_remembered_from_a_stale_read_keeps_what_changed_since(someone: dict[str, Any]) -> None:
    from forecourt import identity_index
    from forecourt.routing import person_keys

    identity_index.remember(someone, decision(someone["record_id"]), AT)
    later = someone | {"record_id": someone["record_id"][:-1] + "1"}
    seen = identity_index.look_up(later)  # route_lead reads, decides, queues …
    assert [p.lead_id for p in seen.leads] == [someone["record_id"]]
    meanwhile = someone | {"record_id": someone["record_id"][:-1] + "2"}
    identity_index.remember(meanwhile, decision(meanwhile["record_id"]), AT + timedelta(seconds=1))
    # … and writes from its read: the version condition fails, the key is read again, nothing lost
    assert (
        identity_index.remember(later, decision(later["record_id"]), AT + timedelta(seconds=2), seen=seen)
        == 2
    )
    for key in person_keys(someone):
        kept = [e["M"]["lead_id"]["S"] for e in item(key)["leads"]["L"]]
        assert kept == [someone["record_id"], meanwhile["record_id"], later["record_id"]]


def test_test_leads_are_never_remembered(someone: dict[str, Any]) -> None:
    from forecourt import identity_index

    assert identity_index.remember(someone, decision(someone["record_id"], None, is_test=True), AT) == 0
    assert identity_index.prior_leads(someone) == []


def test_an_item_keeps_the_newest_leads_within_the_longest_window(someone: dict[str, Any]) -> None:
    from forecourt import identity_index
    from forecourt.routing import person_keys

    identity_index.remember(
        someone | {"record_id": "L-ancient"}, decision("L-ancient"), AT - timedelta(days=200)
    )
    for n in range(identity_index.MAX_ENTRIES + 3):
        lead_id = f"L-{n:03d}"
        identity_index.remember(
            someone | {"record_id": lead_id}, decision(lead_id), AT + timedelta(minutes=n)
        )
    kept = [e["M"]["lead_id"]["S"] for e in item(person_keys(someone)[0])["leads"]["L"]]
    assert kept == [f"L-{n:03d}" for n in range(3, identity_index.MAX_ENTRIES + 3)]
    newest = identity_index.prior_leads(someone)[0]
    assert newest.lead_id == f"L-{identity_index.MAX_ENTRIES + 2:03d}"


def test_concurrent_leads_of_one_person_all_land(someone: dict[str, Any]) -> None:
    from forecourt import identity_index

    def remember(n: int) -> None:
        lead_id = f"L-par-{n}"
        identity_index.remember(
            someone | {"record_id": lead_id}, decision(lead_id), AT + timedelta(seconds=n)
        )

    threads = [threading.Thread(target=remember, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.lead_id for p in identity_index.prior_leads(someone)) == [f"L-par-{n}" for n in range(4)]


def test_a_held_lead_is_remembered_without_a_dealer(someone: dict[str, Any]) -> None:
    from forecourt import identity_index

    identity_index.remember(someone, decision(someone["record_id"], None), AT)
    [found] = identity_index.prior_leads(someone | {"record_id": "L-next"})
    assert found.dealer_id is None


def test_a_lead_finds_its_persons_earlier_leads_under_the_other_keys_resolution_published(
    someone: dict[str, Any],
) -> None:
    from forecourt import identity_index
    from forecourt.routing import person_keys

    email_key, phone_key = person_keys({"email": someone["email"]}), person_keys({"phone": someone["phone"]})
    by_email = {k: v for k, v in someone.items() if k != "phone"}
    identity_index.remember(by_email, decision(someone["record_id"]), AT)
    by_phone = {"record_id": "L-phone-only", "phone": someone["phone"]}
    assert identity_index.prior_leads(by_phone) == []  # nothing under the phone itself

    person = f"P-{someone['record_id']}"
    keys = [*email_key, *phone_key]
    assert identity_index.publish({k: ([person], keys) for k in keys}, AT) == 2
    [found] = identity_index.prior_leads(by_phone)
    assert (found.lead_id, found.dealer_id) == (someone["record_id"], "D100")
    assert found.keys == frozenset(phone_key)  # the lead's own key that led to it
    seen = identity_index.look_up(by_phone)
    assert list(seen.items) == phone_key and seen.items[phone_key[0]] is None  # remember starts from these
    published = item("resolved#" + phone_key[0])
    assert published["persons"]["SS"] == [person] and set(published["keys"]["SS"]) == set(keys)


def test_a_key_shared_by_many_persons_leads_to_none_of_their_other_keys(someone: dict[str, Any]) -> None:
    from forecourt import identity_index
    from forecourt.routing import person_keys

    [email_key], [phone_key] = (
        person_keys({"email": someone["email"]}),
        person_keys({"phone": someone["phone"]}),
    )
    identity_index.remember(
        {k: v for k, v in someone.items() if k != "phone"}, decision(someone["record_id"]), AT
    )
    household = [f"P-{someone['record_id']}-{n}" for n in range(identity_index.MAX_PERSONS + 1)]
    identity_index.publish({phone_key: (household, [email_key, phone_key])}, AT)
    assert identity_index.prior_leads({"record_id": "L-2", "phone": someone["phone"]}) == []
    assert "keys" not in item("resolved#" + phone_key)
