"""Routing rules, their order and their windows (issue 4, "Routing"): pure values in, decisions out."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from forecourt.config import from_environment
from forecourt.registry import Dealer, Delivery
from forecourt.routing import RULES, PriorLead, RoutingRules, detect_test_lead, person_keys, route

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
FILE = Delivery(method="file")
RULES_ = RoutingRules()


def dealer(dealer_id: str, zip_code: str | None = None, **changes: Any) -> Dealer:
    return Dealer(dealer_id=dealer_id, zip=zip_code, delivery=FILE, **changes)


# D100 downtown Chicago with a territory; D110 0.8 miles away without one; D300 Milwaukee (82 miles
# from 60601); D900 inactive, right on the lead's zip.
DEALERS = [
    dealer("D100", "60601", territory_zips=["60601", "60602"]),
    dealer("D110", "60611"),
    dealer("D300", "53202"),
    dealer("D900", "60614", active=False, territory_zips=["60614"]),
]


def lead(**changes: Any) -> dict[str, Any]:
    return {
        "record_id": "L-new-0000000001",
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann.lee@example.com",
        "phone": "+13125550142",
        "zip": "60601",
        "country": "US",
        "vehicle_make": "Chevrolet",
        "vehicle_model": "Equinox",
        "vehicle_vin": None,
    } | changes


def prior(
    lead_id: str,
    dealer_id: str | None,
    age: timedelta,
    *,
    of: dict[str, Any] | None = None,
    vin: str | None = None,
    make_model: str | None = "chevrolet|equinox",
) -> PriorLead:
    """A prior lead of the person ``of`` (the default lead's person), ``age`` before NOW."""
    return PriorLead(
        lead_id=lead_id,
        dealer_id=dealer_id,
        received_at=NOW - age,
        keys=frozenset(person_keys(of or lead())),
        vin=vin,
        make_model=make_model,
    )


OTHER_CAR = "chevrolet|blazer"


# --- test leads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "evidence"),
    [
        ({"email": "ann@mailinator.com"}, "e-mail domain mailinator.com is an OEM test domain"),
        ({"email": "ann@qa.test.com"}, "e-mail domain test.com is an OEM test domain"),
        ({"alternate_email": "x@example.test"}, "e-mail domain example.test is an OEM test domain"),
        ({"email": "test@gmail.com"}, "the e-mail address is test@…"),
        ({"first_name": "Test"}, "the first name holds the word 'test'"),
        ({"last_name": "TEST LEAD"}, "the last name holds the word 'test'"),
        ({"last_name": "Lee-test"}, "the last name holds the word 'test'"),
    ],
)
def test_oem_test_leads_are_recognized_by_domain_name_word_or_local_part(
    changes: dict[str, Any], evidence: str
) -> None:
    assert detect_test_lead(lead(**changes), RULES_.test_lead_domains) == evidence


@pytest.mark.parametrize(
    "changes",
    [
        {},  # example.com is our demo's domain, not a test domain
        {"first_name": "Testa"},
        {"last_name": "Contest"},
        {"first_name": "Celeste"},
        {"email": "tester@gmail.com"},
        {"email": "ann@latest.com"},  # not a subdomain of test.com
        {"email": "ann@test.company.com"},
    ],
)
def test_real_people_are_not_test_leads(changes: dict[str, Any]) -> None:
    assert detect_test_lead(lead(**changes), RULES_.test_lead_domains) is None


def test_a_test_lead_never_reaches_a_dealer_not_even_the_chosen_one() -> None:
    decision = route(lead(last_name="Test"), "D100", DEALERS, [], NOW)
    assert (decision.rule, decision.dealer_id, decision.action, decision.is_test) == (
        "test_lead",
        None,
        "suppress",
        True,
    )
    assert decision.reason == "test lead: the last name holds the word 'test'; never sent to a dealer"


def test_test_lead_domains_come_from_the_settings() -> None:
    conf = from_environment({"FORECOURT_TEST_LEAD_DOMAINS": "oemqa.example, Leads.Test "})
    rules = RoutingRules.from_settings(conf)
    assert rules.test_lead_domains == ("oemqa.example", "leads.test")
    assert route(lead(email="a@oemqa.example"), None, DEALERS, [], NOW, rules).is_test
    assert not route(lead(email="a@mailinator.com"), None, DEALERS, [], NOW, rules).is_test


# --- the order of the rules -----------------------------------------------------------------------


def test_each_rule_gives_way_to_the_one_before_it() -> None:
    """One lead with evidence for every rule: remove the evidence one rule at a time."""
    history = [prior("L-old-0000000001", "D300", timedelta(days=10), make_model=OTHER_CAR)]
    steps = [
        (lead(first_name="Test"), "D110", history, "test_lead", None),
        (lead(), "D110", history, "chosen", "D110"),
        (lead(), None, history, "dealer_of_record", "D300"),
        (lead(), None, [], "territory", "D100"),
        (lead(zip="60611"), None, [], "nearest", "D110"),
        (lead(zip="99701"), None, [], "fallback", None),
    ]
    assert [rule for *_, rule, _ in steps] == list(RULES)
    for row, chosen, past, rule, dealer_id in steps:
        decision = route(row, chosen, DEALERS, past, NOW)
        assert (decision.rule, decision.dealer_id) == (rule, dealer_id), decision


def test_the_chosen_dealer_takes_the_lead_when_active() -> None:
    decision = route(lead(), "D300", DEALERS, [], NOW)
    assert (decision.rule, decision.dealer_id, decision.action) == ("chosen", "D300", "new")
    assert decision.reason == "the customer chose D300"
    assert decision.duplicate_of is None and decision.distance_miles is None and not decision.is_test


def test_an_inactive_chosen_dealer_is_skipped_and_the_reason_says_so() -> None:
    decision = route(lead(zip="60614"), "D900", DEALERS, [], NOW)
    assert decision.rule == "nearest" and decision.dealer_id == "D110"  # D900's own territory: inactive
    assert decision.reason.startswith("chosen dealer D900 is inactive; ")


def test_an_unregistered_chosen_dealer_is_skipped_and_the_reason_says_so() -> None:
    decision = route(lead(), "D404", DEALERS, [], NOW)
    assert (decision.rule, decision.dealer_id) == ("territory", "D100")
    assert decision.reason == "chosen dealer D404 is not registered; zip 60601 is in D100's territory"


# --- dealer of record -----------------------------------------------------------------------------


def test_the_dealer_of_record_is_the_dealer_of_the_most_recent_prior_lead() -> None:
    history = [
        prior("3f2a9c1e77d04b5c", "D110", timedelta(days=13), make_model=OTHER_CAR),
        prior("9a8b7c6d5e4f3a2b", "D300", timedelta(days=40), make_model=OTHER_CAR),
    ]
    decision = route(lead(), None, DEALERS, history, NOW)
    assert (decision.rule, decision.dealer_id) == ("dealer_of_record", "D110")
    assert decision.reason == "dealer of record: lead 3f2a9c1e… on 2026-10-20"
    assert decision.duplicate_of is None  # another vehicle


def test_a_prior_lead_found_by_phone_alone_makes_a_dealer_of_record() -> None:
    by_phone = lead(email="other@example.com")
    history = [prior("L-phone-000000001", "D300", timedelta(days=5), of=by_phone, make_model=OTHER_CAR)]
    assert route(lead(), None, DEALERS, history, NOW).dealer_id == "D300"


@pytest.mark.parametrize(
    ("age", "rule"),
    [
        (timedelta(days=90), "dealer_of_record"),
        (timedelta(days=90, seconds=1), "territory"),
    ],
)
def test_the_dealer_of_record_window_includes_its_last_day(age: timedelta, rule: str) -> None:
    history = [prior("L-old-0000000001", "D300", age, make_model=OTHER_CAR)]
    assert route(lead(), None, DEALERS, history, NOW).rule == rule


def test_the_dealer_of_record_window_is_configurable() -> None:
    history = [prior("L-old-0000000001", "D300", timedelta(days=20), make_model=OTHER_CAR)]
    rules = RoutingRules(dealer_of_record_days=14)
    assert route(lead(), None, DEALERS, history, NOW, rules).rule == "territory"
    conf = from_environment({"FORECOURT_DEALER_OF_RECORD_DAYS": "30", "FORECOURT_DUPLICATE_DAYS": "7"})
    assert RoutingRules.from_settings(conf).dealer_of_record_days == 30
    assert RoutingRules.from_settings(conf).memory_days == 30


def test_an_inactive_dealer_of_record_gives_way_to_the_next_most_recent_active_one() -> None:
    history = [
        prior("L-new-inactive01", "D900", timedelta(days=2), make_model=OTHER_CAR),
        prior("L-older-active01", "D300", timedelta(days=30), make_model=OTHER_CAR),
    ]
    decision = route(lead(), None, DEALERS, history, NOW)
    assert (decision.rule, decision.dealer_id) == ("dealer_of_record", "D300")


def test_other_people_the_lead_itself_and_later_leads_are_not_history() -> None:
    stranger = lead(email="bo@example.com", phone="+13125550199")
    history = [
        prior("L-stranger-00001", "D300", timedelta(days=1), of=stranger),
        prior("L-new-0000000001", "D300", timedelta(0)),  # the lead itself (a redelivery)
        prior("L-later-00000001", "D300", -timedelta(hours=1)),  # arrived after it
        PriorLead(
            "L-held-000000001", None, NOW - timedelta(days=3), frozenset(person_keys(lead())), None, None
        ),
    ]
    decision = route(lead(), None, DEALERS, history, NOW)
    assert (decision.rule, decision.dealer_id, decision.duplicate_of) == ("territory", "D100", None)


def test_the_chosen_dealer_beats_the_dealer_of_record() -> None:
    history = [prior("L-old-0000000001", "D300", timedelta(days=1), make_model=OTHER_CAR)]
    assert route(lead(), "D110", DEALERS, history, NOW).rule == "chosen"


# --- territory and distance -----------------------------------------------------------------------


def test_a_territory_tie_goes_to_the_lowest_dealer_id_and_says_so() -> None:
    dealers = [*DEALERS, dealer("D050", "60602", territory_zips=["60601"])]
    decision = route(lead(), None, dealers, [], NOW)
    assert (decision.rule, decision.dealer_id) == ("territory", "D050")
    assert decision.reason == (
        "zip 60601 is in the territories of D050, D100: the lowest dealer id, D050, takes it"
    )


def test_territory_beats_a_nearer_dealer() -> None:
    dealers = [*DEALERS, dealer("D120", "60614", territory_zips=["60611"])]
    decision = route(lead(zip="60611"), None, dealers, [], NOW)  # D110 sits in 60611 itself
    assert (decision.rule, decision.dealer_id) == ("territory", "D120")


def test_a_territory_is_matched_only_in_the_dealers_country() -> None:
    dealers = [dealer("C100", None, country="CA", territory_zips=["60601"]), *DEALERS[1:]]
    assert route(lead(), None, dealers, [], NOW).dealer_id == "D110"  # nearest in the US instead


def test_the_nearest_active_dealer_takes_a_lead_outside_every_territory() -> None:
    decision = route(lead(zip="60614"), None, DEALERS, [], NOW)
    assert (decision.rule, decision.dealer_id, decision.distance_miles) == ("nearest", "D110", 2.2)
    assert decision.reason == (
        "zip 60614 is in no active dealer's territory; nearest active dealer to zip 60614: D110, 2.2 miles"
    )


@pytest.mark.parametrize(
    ("limit", "rule", "dealer_id"),
    [(82.0, "nearest", "D300"), (81.5, "fallback", None)],
)
def test_the_nearest_dealer_must_be_within_the_distance_limit(
    limit: float, rule: str, dealer_id: str | None
) -> None:
    dealers = [DEALERS[2]]  # Milwaukee, 81.7 miles from 60601
    decision = route(lead(), None, dealers, [], NOW, RoutingRules(max_distance_miles=limit))
    assert (decision.rule, decision.dealer_id) == (rule, dealer_id)
    if rule == "fallback":
        assert decision.reason == (
            "zip 60601 is in no active dealer's territory; no active dealer within 81.5 miles of zip 60601 "
            "(nearest: D300, 81.7 miles); held for the OEM"
        )
        assert decision.action == "hold"


def test_the_default_distance_limit_is_100_miles() -> None:
    assert RoutingRules().max_distance_miles == 100
    assert route(lead(zip="53703"), None, [dealer("D100", "60601")], [], NOW).rule == "fallback"  # 122 mi
    assert route(lead(zip="53202"), None, [dealer("D100", "60601")], [], NOW).rule == "nearest"  # 82 mi


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"zip": None}, "the lead has no zip"),
        ({"zip": "00000"}, "zip 00000 is not a known US zip"),
        ({"zip": "10115", "country": "DE"}, "zip 10115 is not a known US zip"),
    ],
)
def test_a_lead_without_a_usable_zip_falls_back(changes: dict[str, Any], why: str) -> None:
    decision = route(lead(**changes), None, [dealer("D300", "10115")], [], NOW)
    assert (decision.rule, decision.dealer_id, decision.action) == ("fallback", None, "hold")
    assert why in decision.reason


def test_inactive_dealers_are_never_chosen_by_territory_or_distance() -> None:
    decision = route(lead(zip="60614"), None, [DEALERS[3]], [], NOW)
    assert decision.rule == "fallback"


def test_a_dealer_without_delivery_keeps_the_lead_on_hold() -> None:
    dealers = [Dealer(dealer_id="D100", zip="60601", territory_zips=["60601"])]
    decision = route(lead(), None, dealers, [], NOW)
    assert (decision.rule, decision.dealer_id, decision.action) == ("territory", "D100", "hold")
    assert decision.reason.endswith("; D100 has no delivery configured: held for the OEM")


# --- duplicates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "action"), [("update", "update"), ("suppress", "suppress")])
def test_a_duplicate_follows_the_routed_dealers_policy(policy: str, action: str) -> None:
    dealers = [dealer("D100", "60601", territory_zips=["60601"], duplicate_policy=policy)]
    history = [prior("5d6e7f8091a2b3c4", "D100", timedelta(days=3))]
    decision = route(lead(vehicle_make="CHEVROLET", vehicle_model="equinox"), None, dealers, history, NOW)
    assert (decision.rule, decision.action, decision.duplicate_of) == (
        "dealer_of_record",
        action,
        "5d6e7f8091a2b3c4",
    )
    assert "duplicate of lead 5d6e7f80… (same person and vehicle on 2026-10-30)" in decision.reason


def test_a_duplicate_is_linked_to_the_first_lead_in_the_window() -> None:
    history = [
        prior("L-second-0000001", "D100", timedelta(days=2)),
        prior("L-first-00000001", "D100", timedelta(days=20)),
        prior("L-too-old-000001", "D100", timedelta(days=31)),
    ]
    assert route(lead(), None, DEALERS, history, NOW).duplicate_of == "L-first-00000001"


@pytest.mark.parametrize(
    ("age", "duplicate"),
    [(timedelta(days=30), True), (timedelta(days=30, seconds=1), False)],
)
def test_the_duplicate_window_includes_its_last_day(age: timedelta, duplicate: bool) -> None:
    decision = route(lead(), None, DEALERS, [prior("L-old-0000000001", "D100", age)], NOW)
    assert (decision.duplicate_of is not None) is duplicate
    assert decision.action == ("update" if duplicate else "new")


@pytest.mark.parametrize(
    ("lead_vin", "prior_vin", "prior_car", "duplicate"),
    [
        ("1GNAXKEV0RZ000001", "1GNAXKEV0RZ000001", OTHER_CAR, True),  # the VIN decides
        ("1GNAXKEV0RZ000001", "1GNAXKEV0RZ000002", "chevrolet|equinox", False),
        ("1GNAXKEV0RZ000001", None, "chevrolet|equinox", True),  # one VIN only: make and model
        (None, None, OTHER_CAR, False),
    ],
)
def test_same_vehicle_is_the_vin_when_both_have_one_else_make_and_model(
    lead_vin: str | None, prior_vin: str | None, prior_car: str, duplicate: bool
) -> None:
    history = [prior("L-old-0000000001", "D100", timedelta(days=1), vin=prior_vin, make_model=prior_car)]
    decision = route(lead(vehicle_vin=lead_vin), None, DEALERS, history, NOW)
    assert (decision.duplicate_of == "L-old-0000000001") is duplicate


def test_a_duplicate_of_a_lead_nobody_took_is_held_and_linked() -> None:
    history = [prior("L-held-000000001", None, timedelta(days=1))]
    decision = route(lead(zip="99701"), None, DEALERS, history, NOW)
    assert (decision.rule, decision.action, decision.duplicate_of) == ("fallback", "hold", "L-held-000000001")


# --- identity keys --------------------------------------------------------------------------------


def test_person_keys_are_hashes_of_the_normalized_email_and_phones() -> None:
    keys = person_keys(lead(mobile_phone="+13125550143", alternate_phone="+13125550100"))
    sha = lambda value: hashlib.sha256(value.encode()).hexdigest()  # noqa: E731
    assert keys == [
        "email#" + sha("ann.lee@example.com"),
        "phone#" + sha("+13125550142"),
        "phone#" + sha("+13125550143"),
    ]
    assert person_keys(lead(mobile_phone="+13125550142")) == keys[:2]  # one key per distinct number
    assert person_keys(lead(email=None, phone=None)) == []
