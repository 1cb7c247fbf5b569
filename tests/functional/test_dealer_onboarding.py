"""Onboarding a dealer in one command: `forecourt dealers add` checks every setting before saving
anything, makes the webhook secret and prints it once; `update` checks the same; `list` shows what an
operator needs and never a secret; `--stack NAME` does the same on a deployed stack."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from forecourt import dealer_secrets, registry, rotating_secret
from forecourt.cli import main


def forecourt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def words(text: str) -> str:
    return " ".join(text.split())


def fresh() -> str:
    return f"N{uuid.uuid4().hex[:8]}"


def test_add_takes_everything_checks_it_and_prints_the_secret_once(stack_home: Path) -> None:
    dealer_id = fresh()
    answer = forecourt(
        "dealers", "add", dealer_id, "--name", "Front Range Subaru",
        "--feed", "vinsolutions-leads,cdk-sales", "--feed", "service-visits",
        "--timezone", "America/Denver", "--zip", "80202", "--territory", "80202,80203", "--territory", "80204",
        "--delivery", "json_webhook", "--endpoint", "https://crm.frontrange.example/leads?key=abc123",
        "--duplicates", "suppress", "--hours", "mon-sat=08:00-20:00",
    )  # fmt: skip
    assert answer.exit_code == 0, answer.output
    lines = answer.stdout.splitlines()
    secret = lines[lines.index(f"webhook secret of dealer {dealer_id}:") + 1].strip()
    assert f"dealer {dealer_id} registered" in answer.stdout and "shown once" in words(answer.stdout)
    dealer = registry.get_dealer(dealer_id)
    assert dealer is not None
    assert (dealer.name, dealer.timezone, dealer.zip) == ("Front Range Subaru", "America/Denver", "80202")
    assert dealer.feeds == ["vinsolutions-leads", "cdk-sales", "service-visits"]
    assert dealer.territory_zips == ["80202", "80203", "80204"]
    assert dealer.delivery == registry.Delivery(
        method="json_webhook", endpoint="https://crm.frontrange.example/leads?key=abc123"
    )
    assert dealer.duplicate_policy == "suppress" and dealer.business_hours["sat"] == "08:00-20:00"
    dealer_secrets.clear_cache()
    assert dealer_secrets.secrets_for(dealer_id) == [secret]

    listed = forecourt("dealers", "list", "--json")
    (row,) = [r for r in json.loads(listed.stdout) if r["dealer_id"] == dealer_id]
    assert (
        row["webhook_secret"] == "set"
        and row["delivery"]["endpoint"] == "https://crm.frontrange.example/leads?…"
    )
    table = forecourt("dealers", "list").stdout
    assert secret not in table + listed.stdout and "abc123" not in table + listed.stdout


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--zip", "00000"], "--zip: 00000 is not a US zip code"),
        (["--zip", "8020"], "--zip: a zip is 5 digits, not '8020'"),
        (["--territory", "80205,99999"], "--territory: not US zip codes: 99999"),
        (["--feed", "no-such-feed"], "--feed: unknown feed 'no-such-feed'"),
        (
            ["--feed", "google-ads-spend"],
            "--feed: google-ads-spend: OEM data, sent with `forecourt ingest --oem`",
        ),
        (["--timezone", "Mars/Olympus_Mons"], "--timezone: unknown time zone 'Mars/Olympus_Mons'"),
        (["--country", "XX"], "--country: XX is not an ISO 3166 alpha-2 country code"),
        (["--delivery", "adf_http", "--endpoint", "http://crm.example/adf"], "needs an https:// endpoint"),
        (["--delivery", "adf_http", "--endpoint", "https://169.254.169.254/latest"], "internal address"),
        (
            ["--delivery", "adf_http", "--endpoint", "https://10.1.2.3/leads"],
            "10.1.2.3 is an internal address",
        ),
        (
            ["--delivery", "json_webhook", "--endpoint", "https://bob:pw@crm.example/"],
            "carries a user or password",
        ),
        (["--delivery", "adf_email", "--endpoint", "leads-at-crm.example"], "lead-intake e-mail address"),
    ],
)
def test_a_bad_setting_is_refused_by_its_option_and_nothing_is_saved(
    stack_home: Path, args: list[str], problem: str
) -> None:
    dealer_id = fresh()
    answer = forecourt("dealers", "add", dealer_id, "--name", "Refused Motors", *args)
    assert answer.exit_code == 1
    assert f"dealer {dealer_id} not saved" in words(answer.output) and problem in words(answer.output)
    assert registry.get_dealer(dealer_id) is None
    with pytest.raises(dealer_secrets.DealerSecretMissing):
        dealer_secrets.secrets_for(dealer_id)


def test_every_problem_is_listed_at_once(stack_home: Path) -> None:
    answer = forecourt(
        "dealers", "add", fresh(), "--name", "Many Problems Ford", "--zip", "00000", "--territory", "99998",
        "--feed", "meta-ads-campaigns", "--delivery", "adf_http", "--endpoint", "https://localhost/leads",
    )  # fmt: skip
    said = words(answer.output)
    assert answer.exit_code == 1
    for problem in ("--zip: 00000", "--territory: not US zip codes: 99998", "--feed: meta-ads-campaigns"):
        assert problem in said
    assert "--endpoint: localhost is an internal address" not in said  # loopback is the local stack's CRMs


def test_a_territory_overlap_is_refused_unless_allowed(stack_home: Path) -> None:
    first, second = sorted([fresh(), fresh()])
    assert (
        forecourt("dealers", "add", first, "--name", "Rose City Kia", "--territory", "97201,97202").exit_code
        == 0
    )
    refused = forecourt("dealers", "add", second, "--name", "Bridge Kia", "--territory", "97202,97203")
    assert refused.exit_code == 1 and registry.get_dealer(second) is None
    assert (
        f"97202 already in {first}'s territory (Rose City Kia); a lead from a shared zip goes to {first}"
        in words(refused.output)
    )
    allowed = forecourt(
        "dealers", "add", second, "--name", "Bridge Kia", "--territory", "97202,97203", "--allow-overlap"
    )
    assert allowed.exit_code == 0, allowed.output
    renamed = forecourt(
        "dealers", "update", second, "--name", "Bridge Kia Portland"
    )  # the overlap stays as it was
    assert renamed.exit_code == 0, renamed.output
    widened = forecourt("dealers", "update", second, "--territory", "97201,97202,97203")
    assert widened.exit_code == 1 and "97201, 97202 already in" in words(widened.output)
    after = registry.get_dealer(second)
    assert (
        after is not None
        and after.name == "Bridge Kia Portland"
        and after.territory_zips == ["97202", "97203"]
    )


def test_add_refuses_a_registered_id_and_wants_a_name(stack_home: Path) -> None:
    dealer_id = fresh()
    assert forecourt("dealers", "add", dealer_id, "--name", "Plains Ram").exit_code == 0
    again = forecourt("dealers", "add", dealer_id, "--name", "Another Ram")
    assert again.exit_code == 1 and f"change it with `forecourt dealers update {dealer_id}`" in words(
        again.output
    )
    nameless = forecourt("dealers", "add", fresh())
    assert nameless.exit_code == 1 and "give the dealer's name" in nameless.output
    dealer = registry.get_dealer(dealer_id)
    assert dealer is not None and dealer.name == "Plains Ram"


def test_a_secret_left_by_an_earlier_registration_is_replaced_for_the_new_dealer(stack_home: Path) -> None:
    dealer_id = fresh()
    rotating_secret.create(dealer_secrets.secret_name(dealer_id), "left over")
    dealer_secrets.clear_cache()
    (old,) = dealer_secrets.secrets_for(dealer_id)
    answer = forecourt(
        "dealers", "add", dealer_id, "--name", "Second Try Honda", "--json",
        "--delivery", "json_webhook", "--endpoint", "https://crm.secondtry.example/hook",
    )  # fmt: skip
    assert answer.exit_code == 0, answer.output
    secret = json.loads(answer.stdout)["webhook_secret"]
    dealer_secrets.clear_cache()
    assert secret != old and dealer_secrets.secrets_for(dealer_id) == [secret]
