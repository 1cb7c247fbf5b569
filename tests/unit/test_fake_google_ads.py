"""The Google Ads API client against the local fake: the documented Customer Match flow works, and
the fake refuses what Google refuses."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from forecourt.audiences import google_ads_api as g
from forecourt.local.fake_google_ads import FakeGoogleAds


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def user(email: str) -> dict[str, object]:
    return {"userIdentifiers": [{"hashedEmail": h(email)}]}


@pytest.fixture
def fake() -> Iterator[FakeGoogleAds]:
    with FakeGoogleAds() as server:
        yield server


def api(fake: FakeGoogleAds) -> g.GoogleAdsApi:
    given = fake.credentials()
    return g.GoogleAdsApi(
        customer_id="123-456-7890", developer_token=given["developer_token"], client_id=given["client_id"],
        client_secret=given["client_secret"], refresh_token=given["refresh_token"],
        base_url=given["base_url"], token_url=given["token_url"],
    )  # fmt: skip


GRANTED = {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}


def test_a_list_is_filled_by_a_job_that_runs(fake: FakeGoogleAds) -> None:
    client = api(fake)
    user_list = client.create_user_list("Forecourt test", "a test list")
    job = client.create_job(user_list, GRANTED)
    address = {"addressInfo": {"hashedFirstName": h("jane"), "hashedLastName": h("doe"),
                               "countryCode": "US", "postalCode": "60601"}}  # fmt: skip
    both = {"userIdentifiers": [{"hashedEmail": h("jane@example.com")}, address]}
    assert client.add_operations(job, g.job_operations("create", [both, user("joe@example.com")])) == {}
    assert client.job_status(job) == ("PENDING", None)
    client.run_job(job)
    assert client.job_status(job)[0] == "SUCCESS"
    assert len(fake.members(user_list)) == 2

    removal = client.create_job(user_list, GRANTED)
    client.add_operations(removal, g.job_operations("remove", [user("joe@example.com")]))
    client.run_job(removal)
    assert client.job_status(removal)[0] == "SUCCESS"
    assert fake.members(user_list) == {frozenset({("hashedEmail", h("jane@example.com")),
                                                  ("addressInfo", h("jane"), h("doe"), "US", "60601")})}  # fmt: skip
    assert {r.path for r in fake.requests} >= {"/token", "/v26/customers/1234567890/userLists:mutate"}
    assert sum(r.path == "/token" for r in fake.requests) == 1, "the access token is kept"


def test_a_replace_starts_with_remove_all_and_a_job_never_mixes_creates_and_removes(
    fake: FakeGoogleAds,
) -> None:
    client = api(fake)
    user_list = client.create_user_list("Forecourt replace", "")
    first = client.create_job(user_list, GRANTED)
    client.add_operations(first, g.job_operations("create", [user("a@example.com"), user("b@example.com")]))
    client.run_job(first)
    replace = client.create_job(user_list, GRANTED)
    client.add_operations(replace, g.job_operations("create", [user("c@example.com")], remove_all=True))
    answer = client.add_operations(replace, g.job_operations("remove", [user("c@example.com")]))
    assert g.partial_failures(answer) == 1
    assert "CONFLICTING_OPERATION" in str(answer)
    late = client.add_operations(replace, {"operations": [{"removeAll": True}], "enablePartialFailure": True})
    assert "INVALID_OPERATION_ORDER" in str(late)
    client.run_job(replace)
    client.job_status(replace)
    assert fake.members(user_list) == {frozenset({("hashedEmail", h("c@example.com"))})}
    with pytest.raises(g.GoogleAdsError, match="INVALID_JOB_STATUS"):
        client.add_operations(replace, g.job_operations("create", [user("d@example.com")]))


def test_limits_hash_format_and_partial_failure(fake: FakeGoogleAds) -> None:
    client = api(fake)
    user_list = client.create_user_list("Forecourt limits", "")
    job = client.create_job(user_list, GRANTED)
    too_many = {"userIdentifiers": [{"hashedEmail": h(f"{i}@example.com")} for i in range(21)]}
    with pytest.raises(ValueError, match="more than 20"):
        g.job_operations("create", [too_many])
    with pytest.raises(g.GoogleAdsError, match="TOO_MANY_USER_IDENTIFIERS"):
        client.add_operations(job, {"operations": [{"create": too_many}], "enablePartialFailure": True})
    unhashed = {"userIdentifiers": [{"hashedEmail": "jane@example.com"}]}
    answer = client.add_operations(job, g.job_operations("create", [unhashed, user("ok@example.com")]))
    assert g.partial_failures(answer) == 1 and "INVALID_SHA256_FORMAT" in str(answer)
    with pytest.raises(g.GoogleAdsError, match="INVALID_SHA256_FORMAT"):
        client.add_operations(job, {"operations": [{"create": unhashed}]})
    with pytest.raises(ValueError, match="100,000"):
        g.job_operations("create", [{"userIdentifiers": [{"hashedEmail": h("x")}] * 20}] * 5001)


def test_rate_limits_credentials_and_unknown_lists(fake: FakeGoogleAds) -> None:
    client = api(fake)
    fake.throttle(1)
    with pytest.raises(g.RateLimited, match="RESOURCE_EXHAUSTED"):
        client.create_user_list("Forecourt throttled", "")
    with pytest.raises(g.GoogleAdsError) as gone:
        client.create_job("customers/1234567890/userLists/1", GRANTED)
    assert gone.value.list_gone
    wrong = g.GoogleAdsApi(**{**client.__dict__, "developer_token": "nope", "_token": None})
    with pytest.raises(g.GoogleAdsError, match="DEVELOPER_TOKEN_INVALID"):
        wrong.create_user_list("Forecourt nope", "")
    refused = g.GoogleAdsApi(**{**client.__dict__, "refresh_token": "stolen", "_token": None})
    with pytest.raises(g.GoogleAdsError, match="refresh token was refused"):
        refused.create_user_list("Forecourt nope", "")


def test_the_lists_survive_a_restart_and_are_listed_without_members(fake: FakeGoogleAds) -> None:
    import json
    import urllib.request

    client = api(fake)
    user_list = client.create_user_list("Forecourt kept", "")
    job = client.create_job(user_list, GRANTED)
    client.add_operations(job, g.job_operations("create", [user("kept@example.com")]))
    client.run_job(job)
    with FakeGoogleAds() as again:
        again.restore(json.loads(json.dumps(fake.saved())))
        assert again.members(user_list) == fake.members(user_list)
        with urllib.request.urlopen(f"{again.url}/_fake/lists") as answer:
            listed = json.loads(answer.read())
        assert listed == [{"id": user_list, "name": "Forecourt kept", "members": 1}]
        assert api(again).create_user_list("Forecourt next", "") != user_list  # ids go on


def test_membership_lasts_at_most_540_days(fake: FakeGoogleAds) -> None:
    client = api(fake)
    body = {"operations": [{"create": {"name": "Forecourt forever", "membershipLifeSpan": "10000",
                                       "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO"}}}]}  # fmt: skip
    with pytest.raises(g.GoogleAdsError, match="TOO_HIGH"):
        client.post("/userLists:mutate", body)
    assert client.create_user_list("Forecourt 540", "")  # what the sync asks for is accepted
