"""The local Meta Graph API holds the contract the sync must meet, and the client reads its errors."""

from __future__ import annotations

import hashlib
import json

import pytest
from forecourt.audiences.meta_api import MetaApi, MetaError, RateLimited, request_fields
from forecourt.audiences.sync import plan
from forecourt.local.fake_meta import FakeMeta

MARY = hashlib.sha256(b"mary@example.com").hexdigest()
SCHEMA = ["EMAIL", "COUNTRY"]
US = hashlib.sha256(b"us").hexdigest()


def test_the_fake_enforces_tokens_batch_limits_sessions_and_hashes() -> None:
    with FakeMeta() as fake:
        api = MetaApi(fake.url, "v21.0", "test-token", "act_99")
        audience = api.create_audience("Forecourt test", "a test list")
        with pytest.raises(MetaError, match="error 190"):
            MetaApi(fake.url, "v21.0", "wrong", "act_99").send(
                audience, "add", request_fields(SCHEMA, [[MARY, US]], 1, 1, True, 1)
            )
        with pytest.raises(MetaError, match="at most 10000 users a request"):
            api.send(audience, "add", request_fields(SCHEMA, [[MARY, US]] * 10_001, 1, 1, True, 10_001))
        with pytest.raises(MetaError, match="must start with batch_seq 1"):
            api.send(audience, "add", request_fields(SCHEMA, [[MARY, US]], 7, 2, False, 2))
        # a plain e-mail, a wrong-length row and a non-hex value are invalid entries, not errors
        answer = api.send(
            audience, "add",
            request_fields(SCHEMA, [[MARY, US], ["mary@example.com", US], [MARY], [MARY.upper(), US]], 5, 1, False, 5),
        )  # fmt: skip
        assert answer["num_received"] == 4 and answer["num_invalid_entries"] == 3
        with pytest.raises(MetaError, match="expects batch_seq 2"):
            api.send(audience, "add", request_fields(SCHEMA, [[MARY, US]], 5, 3, True, 5))
        again = api.send(audience, "add", request_fields(SCHEMA, [[MARY, US]], 5, 1, False, 5))
        assert again["num_received"] == 1  # the same batch again: acknowledged, not applied twice
        api.send(audience, "add", request_fields(SCHEMA, [[US, US]], 5, 2, True, 5))
        with pytest.raises(MetaError, match="already received its last batch"):
            api.send(audience, "add", request_fields(SCHEMA, [[US, US]], 5, 3, True, 5))
        assert fake.members(audience) == {
            (("EMAIL", MARY), ("COUNTRY", US)),
            (("EMAIL", US), ("COUNTRY", US)),
        }
        api.send(audience, "remove", request_fields(SCHEMA, [[US, US]], 6, 1, True, 1))
        assert fake.members(audience) == {(("EMAIL", MARY), ("COUNTRY", US))}
        with pytest.raises(MetaError, match="is a users_add session"):
            api.send(audience, "remove", request_fields(SCHEMA, [[MARY, US]], 5, 1, True, 1))
        fake.throttle(1)
        with pytest.raises(RateLimited, match="error 80003"):
            api.send(audience, "replace", request_fields(SCHEMA, [[US, US]], 8, 1, True, 1))
        api.send(audience, "replace", request_fields(SCHEMA, [[US, US]], 8, 1, True, 1))
        assert fake.members(audience) == {(("EMAIL", US), ("COUNTRY", US))}
        sent = [r for r in fake.requests if r.status == 200 and r.path.endswith("/users")]
        assert json.loads(sent[0].fields["payload"])["schema"] == SCHEMA
        assert all(
            "access_token" in r.fields for r in fake.requests
        )  # the fake saw it; the sync never logs it


def test_a_plan_sends_removals_then_additions_and_a_full_sync_replaces() -> None:
    assert plan(None, ["a", "b"], full=False) == [("add", ["a", "b"])]
    assert plan(["a", "b", "c"], ["b", "c", "d"], full=False) == [("remove", ["a"]), ("add", ["d"])]
    assert plan(["a"], ["a"], full=False) == []
    assert plan(["a"], ["b"], full=True) == [("replace", ["b"])]
    assert plan(["a"], [], full=True) == [("clear", [])]  # a replace cannot carry nobody
    assert plan([], [], full=True) == [] and plan(None, [], full=True) == []


def test_the_audiences_survive_a_restart_and_are_listed_without_members() -> None:
    import urllib.request

    with FakeMeta() as fake:
        api = MetaApi(fake.url, "v21.0", "test-token", "act_99")
        audience = api.create_audience("Forecourt kept", "")
        api.send(audience, "add", request_fields(SCHEMA, [[MARY, US]], 9, 1, True, 1))
        saved = json.loads(json.dumps(fake.saved()))
    with FakeMeta() as again:
        again.restore(saved)
        assert again.members(audience) == {(("EMAIL", MARY), ("COUNTRY", US))}
        with urllib.request.urlopen(f"{again.url}/_fake/lists") as answer:
            assert json.loads(answer.read()) == [{"id": audience, "name": "Forecourt kept", "members": 1}]
        assert (
            MetaApi(again.url, "v21.0", "test-token", "act_99").create_audience("Forecourt next", "")
            != audience
        )


def test_a_session_meta_no_longer_knows_starts_over_under_a_new_one() -> None:
    from forecourt.audiences.targets import MetaTarget, Stopped

    with FakeMeta() as fake:
        target = MetaTarget(MetaApi(fake.url, "v21.0", "test-token", "act_99"))
        ledger: dict[str, object] = {"audience": "top_value", "audience_id": None}
        saves: list[int] = []
        target.ensure_list(ledger, lambda: saves.append(1))
        state = target.open("top_value", "20270101T000000Z", "add", "2027-01-01T00:00:00+00:00")
        row = [MARY, "", "", "", "", US]
        assert target.send(ledger, "add", state, 1, [row], False, 2, lambda: saves.append(2)) == (1, 0)
        first = state["session_id"]
        fake.audiences[str(ledger["audience_id"])].sessions.clear()  # expired, or the fake restarted
        with pytest.raises(Stopped, match="under a new session"):
            target.send(ledger, "add", state, 2, [row], True, 2, lambda: saves.append(3))
        assert state["done"] == 0 and state["session_id"] != first and saves[-1] == 3
        assert target.send(ledger, "add", state, 1, [row], True, 1, lambda: None) == (1, 0)
