"""The consent gate: only people whose records all allow it leave for an advertising platform, and
every person kept back is counted under a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from forecourt import schemas
from forecourt.audiences.consent import CONSENT_COLUMNS, REASONS, gate


def records(*rows: dict[str, Any]) -> pa.Table:
    leads = schemas.get("leads").arrow_schema()
    fields = [
        leads.field(name) if name != "person_id" else pa.field("person_id", pa.string())
        for name in CONSENT_COLUMNS
    ]
    return pa.Table.from_pylist([{"country": "US", **row} for row in rows], schema=pa.schema(fields))


def at(day: int) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC)


def test_opt_outs_gpc_and_eea_consent_keep_people_back_with_their_reason() -> None:
    done = gate(
        records(
            {"person_id": "us-ok"},
            {"person_id": "us-ok", "ccpa_opt_out": False},
            {"person_id": "opted-out", "ccpa_opt_out": True},
            {"person_id": "opted-out"},  # one record saying no is enough
            {"person_id": "gpc", "gpc": True},
            {"person_id": "de-granted", "country": "DE", "ad_user_data_consent": "GRANTED",
             "ad_personalization_consent": "GRANTED", "consent_at": at(2)},
            {"person_id": "de-half", "country": "DE", "ad_user_data_consent": "GRANTED"},
            {"person_id": "fr-silent", "country": "fr"},
            {"person_id": "uk-denied", "country": "GB", "ad_user_data_consent": "DENIED",
             "ad_personalization_consent": "GRANTED"},
            {"person_id": "both", "ccpa_opt_out": True, "gpc": True},
            {"person_id": "erased", "ccpa_opt_out": True},
            {"person_id": "suppressed"},
            # outside the EEA no consent is needed, but a stated no is never uploaded as a yes
            {"person_id": "us-denied", "ad_personalization_consent": "DENIED", "consent_at": at(2)},
            {"person_id": "us-granted", "ad_user_data_consent": "GRANTED"},
        ),
        suppressed=pa.array(["erased", "suppressed", "not-in-the-audience"]),
    )  # fmt: skip
    assert done.kept.to_pylist() == ["de-granted", "us-granted", "us-ok"]
    assert done.excluded == {
        "suppressed": 2,  # the suppression list comes first
        "opted_out_of_sale_or_sharing": 2,  # opted-out, both (counted once, under the first reason)
        "global_privacy_control": 1,
        "eea_without_consent": 3,  # de-half, fr-silent, uk-denied
        "consent_denied": 1,  # us-denied
        "no_person": 0,
    }
    assert list(done.excluded) == list(REASONS)
    assert done.reasons.to_pylist() == [
        {"person_id": "both", "reason": "opted_out_of_sale_or_sharing"},
        {"person_id": "de-half", "reason": "eea_without_consent"},
        {"person_id": "erased", "reason": "suppressed"},
        {"person_id": "fr-silent", "reason": "eea_without_consent"},
        {"person_id": "gpc", "reason": "global_privacy_control"},
        {"person_id": "opted-out", "reason": "opted_out_of_sale_or_sharing"},
        {"person_id": "suppressed", "reason": "suppressed"},
        {"person_id": "uk-denied", "reason": "eea_without_consent"},
        {"person_id": "us-denied", "reason": "consent_denied"},
    ]


def test_the_latest_stated_consent_counts_and_any_eea_record_requires_it() -> None:
    done = gate(
        records(
            # denied, then granted again later: may leave
            {"person_id": "regranted", "country": "NL", "ad_user_data_consent": "DENIED",
             "ad_personalization_consent": "DENIED", "consent_at": at(1)},
            {"person_id": "regranted", "country": "NL", "ad_user_data_consent": "GRANTED",
             "ad_personalization_consent": "GRANTED", "consent_at": at(5)},
            {"person_id": "regranted", "country": "NL"},  # a record stating nothing changes nothing
            # granted, then withdrawn: may not
            {"person_id": "withdrawn", "country": "IE", "ad_user_data_consent": "GRANTED",
             "ad_personalization_consent": "GRANTED", "consent_at": at(1)},
            {"person_id": "withdrawn", "country": "IE", "ad_personalization_consent": "DENIED", "consent_at": at(6)},
            # a US record and an Italian one: the EEA rule applies
            {"person_id": "moved", "country": "US"},
            {"person_id": "moved", "country": "IT"},
        )
    )  # fmt: skip
    assert done.kept.to_pylist() == ["regranted"]
    assert done.excluded["eea_without_consent"] == 2


def test_an_undated_or_simultaneous_denial_wins_and_records_without_a_person_never_leave() -> None:
    done = gate(
        records(
            {"person_id": "undated-no", "country": "DE", "ad_user_data_consent": "GRANTED",
             "ad_personalization_consent": "GRANTED", "consent_at": at(3)},
            {"person_id": "undated-no", "country": "DE", "ad_user_data_consent": "DENIED"},
            {"person_id": "tie", "country": "DE", "ad_user_data_consent": "GRANTED",
             "ad_personalization_consent": "GRANTED", "consent_at": at(3)},
            {"person_id": "tie", "country": "DE", "ad_personalization_consent": "DENIED", "consent_at": at(3)},
            {"person_id": None, "country": "US"},
            {"person_id": None, "country": " de "},
            {"person_id": "spaced", "country": " de "},
        )
    )  # fmt: skip
    assert done.kept.to_pylist() == []
    assert done.excluded == {
        "suppressed": 0,
        "opted_out_of_sale_or_sharing": 0,
        "global_privacy_control": 0,
        "eea_without_consent": 3,
        "consent_denied": 0,
        "no_person": 2,
    }
    nobody = gate(records())
    assert nobody.kept.to_pylist() == [] and sum(nobody.excluded.values()) == 0
