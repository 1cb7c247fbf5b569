"""Flags, consent and lead sources."""

from __future__ import annotations

import pyarrow as pa
import pytest
from forecourt.normalize import Locale, Normalized, normalize_column
from forecourt.normalize.values import LEAD_SOURCES, classify_lead_source


def run(kind: str, values: list[str | None], target: pa.DataType, *, invert: bool = False) -> Normalized:
    return normalize_column(kind, pa.array(values, pa.string()), target, Locale(), invert=invert)


# --- flag ---------------------------------------------------------------------------------------

TRUTHY = ["Y", "y", "Yes", "YES", "true", "True", "1", "T", "t", "X", "x"]
FALSY = ["N", "n", "No", "NO", "false", "FALSE", "0", "F", "f"]


def test_flag_spellings_become_booleans() -> None:
    result = run("flag", TRUTHY + FALSY, pa.bool_())
    assert result.values.to_pylist() == [True] * len(TRUTHY) + [False] * len(FALSY)
    assert result.invalid.true_count == 0


def test_inverted_flags_are_negated() -> None:
    # CanText=Y means the customer may be texted: do_not_text is False.
    result = run("flag", ["Y", "N", "X", None, ""], pa.bool_(), invert=True)
    assert result.values.to_pylist() == [False, True, False, None, None]
    assert result.invalid.to_pylist() == [False] * 5


def test_unknown_flag_values_are_invalid() -> None:
    result = run("flag", ["maybe", "2", "yess"], pa.bool_())
    assert result.values.to_pylist() == [None, None, None]
    assert result.invalid.to_pylist() == [True, True, True]


# --- consent ------------------------------------------------------------------------------------


def test_consent_answers_become_granted_or_denied() -> None:
    raw = ["GRANTED", "granted", "yes", "true", "1", "Y", "DENIED", "denied", "No", "false", "0", "n"]
    result = run("consent", raw, pa.string())
    assert result.values.to_pylist() == ["GRANTED"] * 6 + ["DENIED"] * 6


def test_unspecified_consent_is_null_but_not_invalid() -> None:
    result = run("consent", ["UNSPECIFIED", "unknown", "Unknown"], pa.string())
    assert result.values.to_pylist() == [None, None, None]
    assert result.invalid.to_pylist() == [False, False, False]


def test_other_consent_values_are_invalid() -> None:
    result = run("consent", ["perhaps", "GRANTED!"], pa.string())
    assert result.values.to_pylist() == [None, None]
    assert result.invalid.to_pylist() == [True, True]


# --- lead source --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "source"),
    [("Autotrader", "third_party"), ("Cars.com", "third_party"), ("CarGurus", "third_party"),
     ("TrueCar", "third_party"), ("Edmunds", "third_party"), ("KBB", "third_party"),
     ("Internet - Cars.com", "third_party"), ("OEM", "oem_website"), ("Manufacturer", "oem_website"),
     ("Brand site", "oem_website"), ("Toyota.com", "oem_website"), ("Chevrolet.com Lead", "oem_website"),
     ("Website", "dealer_website"), ("Dealer Website", "dealer_website"), ("Internet", "dealer_website"),
     ("Phone", "phone"), ("Call", "phone"), ("Phone Up", "phone"), ("Walk-in", "walk_in"),
     ("Showroom", "walk_in"), ("Fresh up", "walk_in"), ("Chat", "chat"), ("Website Chat", "chat"),
     ("Facebook", "social"), ("Instagram", "social"), ("Meta", "social"), ("Social", "social"),
     ("Email", "email"), ("E-mail", "email"), ("Referral", "referral"), ("Billboard", "other"),
     ("Radio", "other")],
)  # fmt: skip
def test_lead_sources_map_to_the_closed_set(raw: str, source: str) -> None:
    result = run("lead_source", [raw], pa.string())
    assert result.values.to_pylist() == [source]
    assert result.invalid.to_pylist() == [False]


def test_lead_source_column_only_holds_canonical_values() -> None:
    raw = ["Cars.com", None, "cars.com", "  Cars.com ", "?", "Walk In", "Cars.com"] * 100
    result = run("lead_source", raw, pa.string())
    assert set(result.values.drop_null().to_pylist()) <= set(LEAD_SOURCES)
    assert result.values.to_pylist()[:7] == [
        "third_party",
        None,
        "third_party",
        "third_party",
        "other",
        "walk_in",
        "third_party",
    ]
    assert classify_lead_source("FordDirect") == "oem_website"


def test_crm_event_spellings_map_to_the_closed_list() -> None:
    import pyarrow as pa
    from forecourt.normalize import Locale, normalize_column

    values = pa.array(
        [
            "Contacted",
            "Appt Set",
            "appointment-set",
            "SHOWED",
            "Sold",
            "Dead",
            "Walk-In",
            "RO Opened",
            "teleported",
            None,
            " ",
        ]
    )
    result = normalize_column(
        "event_type", values, pa.string(), Locale(country="US", timezone="America/Chicago")
    )
    assert result.values.to_pylist() == [
        "contacted", "appointment_set", "appointment_set", "shown", "sold", "lost",
        "showroom_visit", "service_visit", None, None, None,
    ]  # fmt: skip
    assert result.invalid.to_pylist() == [False] * 8 + [True, False, False]
