"""What routing and delivery need from the dealer registry, set with `forecourt dealers update`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from forecourt import registry
from forecourt.cli import main
from pydantic import ValidationError


def forecourt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_routing_and_delivery_settings_round_trip_through_the_cli(stack_home: Path) -> None:
    assert forecourt("dealers", "add", "D700", "--name", "Prairie Buick", "--zip", "66101").exit_code == 0
    before = registry.get_dealer("D700")
    assert before is not None and before.delivery is None and before.business_hours == registry.DEFAULT_HOURS
    answer = forecourt(
        "dealers", "update", "D700",
        "--territory", "66101,66102", "--territory", "66103",
        "--delivery", "adf_email", "--endpoint", "leads@prairie-buick.example",
        "--duplicates", "suppress", "--hours", "mon-fri=08:30-18:00,sat=09:00-14:00", "--json",
    )  # fmt: skip
    assert answer.exit_code == 0, answer.output
    shown = json.loads(answer.output)
    dealer = registry.get_dealer("D700")
    assert dealer is not None and shown == json.loads(dealer.model_dump_json())
    assert dealer.territory_zips == ["66101", "66102", "66103"]
    assert dealer.delivery == registry.Delivery(method="adf_email", endpoint="leads@prairie-buick.example")
    assert dealer.duplicate_policy == "suppress"
    assert dealer.business_hours == dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "08:30-18:00") | {
        "sat": "09:00-14:00"
    }
    assert (dealer.name, dealer.zip) == ("Prairie Buick", "66101")  # untouched
    assert forecourt("dealers", "update", "D700", "--inactive").exit_code == 0
    after = registry.get_dealer("D700")
    assert after is not None and not after.active and after.territory_zips == dealer.territory_zips


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--delivery", "adf_http", "--endpoint", "ftp://crm.example"], "https://"),
        (["--delivery", "adf_email", "--endpoint", "not-an-address"], "e-mail address"),
        (["--territory", "6610"], "5 digits"),
        (["--hours", "mon=19:00-09:00"], "opening first"),
        (["--hours", "funday=09:00-10:00"], "mon..sun"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(stack_home: Path, args: list[str], message: str) -> None:
    forecourt("dealers", "add", "D701", "--name", "Prairie Buick West")
    answer = CliRunner().invoke(main, ["dealers", "update", "D701", *args])
    assert answer.exit_code != 0 and message in " ".join(answer.output.split())


def test_updating_an_unknown_dealer_says_how_to_add_it(stack_home: Path) -> None:
    answer = CliRunner().invoke(main, ["dealers", "update", "NOPE"])
    assert answer.exit_code != 0 and "forecourt dealers add NOPE" in answer.output


def test_file_delivery_takes_no_endpoint() -> None:
    with pytest.raises(ValidationError, match="no endpoint"):
        registry.Delivery(method="file", endpoint="https://x.example")
    assert registry.Delivery(method="json_webhook", endpoint="https://crm.example/hook").endpoint


def _unused(_: Any) -> None: ...
