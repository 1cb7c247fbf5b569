"""Google Ads offline conversions (ConversionUploadService ``customers/{id}:uploadClickConversions``,
REST, camelCase; the ``ClickConversion`` message of ``conversion_upload_service.proto``).

Each lead stage is one ``ClickConversion`` for the conversion action configured for that stage:

- with the lead's ``gclid`` when one was captured: a click conversion;
- otherwise an enhanced conversion for leads, matched on ``userIdentifiers`` (``hashedEmail``,
  ``hashedPhoneNumber``: SHA-256 lowercase hex, normalized by Google's rules, ``audiences.google``;
  "only hashed_email and hashed_phone_number are supported for conversion uploads");
- ``conversionDateTime`` ``yyyy-mm-dd hh:mm:ss+00:00`` (UTC), ``orderId`` the conversion's id (a
  hash of lead and stage; "an order id can only be used for one conversion per conversion action",
  so a resend is refused as ORDER_ID_ALREADY_IN_USE instead of counted twice),
  ``conversionValue`` and ``currencyCode`` for a sale, and ``consent`` with ``adUserData`` only (the
  person's latest stated consent, ``UNSPECIFIED`` when never stated, which only happens outside the
  EEA: the consent gate keeps back anyone there without both GRANTED). The ``Consent`` message's
  ``ad_personalization`` "can only be set for OfflineUserDataJobService and UserDataService", so a
  click conversion never carries it.

A request holds at most 2,000 conversions, with ``partialFailure`` true (as Google says it always
should): the valid ones are recorded and the others come back in ``partialFailureError`` by index
(``outcomes``).

Configuration: the Google secret (``<prefix>/platforms/google``, ``audiences.google_ads_api``) with
``conversion_actions``: ``{"appointment_set": "customers/<id>/conversionActions/<id>", "shown": …,
"sold": …}``; a stage without an action is not sent.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_CONVERSIONS = 2_000
MAX_AGE = timedelta(days=90)
"""Google's longest click-through conversion window: older conversions cannot be attributed."""
ACTION = re.compile(r"^customers/\d+/conversionActions/\d+$")
DONE_ALREADY = frozenset({"ORDER_ID_ALREADY_IN_USE", "CLICK_CONVERSION_ALREADY_EXISTS"})
"""Google already has this conversion (a resend): it counts as sent."""
REFUSED_FOR_GOOD = frozenset(
    {"UNPARSEABLE_GCLID", "CONVERSION_PRECEDES_EVENT", "EXPIRED_EVENT", "EVENT_NOT_FOUND", "CLICK_NOT_FOUND",
     "INVALID_USER_IDENTIFIER", "UNSUPPORTED_USER_IDENTIFIER", "INVALID_CUSTOMER_FOR_CLICK",
     "UNAUTHORIZED_CUSTOMER", "CONVERSION_TRACKING_NOT_ENABLED_AT_IMPRESSION_TIME",
     "CONVERSION_NOT_COMPLIANT_WITH_ATT_POLICY", "ORDER_ID_CONTAINS_PII"}
)  # fmt: skip
"""Errors about the conversion itself: sending it again would fail again, so it is recorded as
refused. Any other error (a conversion action just made, customer data terms not accepted, enhanced
conversions for leads off, a click under 6 hours old) is about the set-up or the moment: the
conversion is not recorded and the next run sends it again."""
CONSENT = frozenset({"GRANTED", "DENIED"})


def conversion_date_time(moment: datetime) -> str:
    """``moment`` as Google's ``yyyy-mm-dd hh:mm:ss+|-hh:mm`` (in UTC)."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00:00"


def consent(ad_user_data: str | None) -> dict[str, str]:
    """The ``Consent`` of a click conversion from the person's latest stated ad-user-data consent
    (``adPersonalization`` is for OfflineUserDataJobService and UserDataService only: the
    ``Consent`` message of the Google Ads API)."""
    return {"adUserData": ad_user_data if ad_user_data in CONSENT else "UNSPECIFIED"}


def click_conversion(row: dict[str, Any], action: str) -> dict[str, Any] | None:
    """The ``ClickConversion`` of one conversion (a row of ``stages.prepare``) for ``action`` (a
    conversion action's resource name); None when there is nothing to match it on."""
    conversion: dict[str, Any] = {}
    if row.get("gclid"):
        conversion["gclid"] = row["gclid"]
    else:
        identifiers = [
            {name: row[column]}
            for name, column in (("hashedEmail", "google_email"), ("hashedPhoneNumber", "google_phone"))
            if row.get(column)
        ]
        if not identifiers:
            return None
        conversion["userIdentifiers"] = identifiers
    conversion |= {
        "conversionAction": action,
        "conversionDateTime": conversion_date_time(row["occurred_at"]),
        "orderId": row["conversion_id"],
        "consent": consent(row.get("ad_user_data")),
    }
    if row["stage"] == "sold" and row.get("sale_value") is not None and row.get("currency"):
        conversion["conversionValue"] = round(float(row["sale_value"]), 2)
        conversion["currencyCode"] = row["currency"]
    return conversion


def upload_body(conversions: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of one ``:uploadClickConversions`` request; raises ValueError beyond 2,000."""
    if not conversions or len(conversions) > MAX_CONVERSIONS:
        raise ValueError(
            f"{len(conversions)} conversions in one request: Google takes 1 to {MAX_CONVERSIONS:,}"
        )
    return {"conversions": conversions, "partialFailure": True}


def outcomes(answer: dict[str, Any], count: int) -> list[str]:
    """What became of each of the ``count`` conversions of a request, by index: ``accepted``,
    ``already_recorded``, ``refused:<CODE>`` (final) or ``retry:<CODE>`` (sent again next run).
    A conversion can fail with several errors: it is one failed conversion, whatever their order —
    already recorded if Google says so, else refused when any error is final (sending it again would
    fail again), else retried (the first code names it)."""
    codes: dict[int, list[str]] = {}
    error = answer.get("partialFailureError") or {}
    for detail in error.get("details") or []:
        for item in detail.get("errors") or []:
            index = _index(item)
            if index is not None and 0 <= index < count:
                found = [str(v) for v in (item.get("errorCode") or {}).values()]
                codes.setdefault(index, []).append(found[0] if found else "UNKNOWN")
    out = ["accepted"] * count
    for index, failed in codes.items():
        final = [code for code in failed if code in REFUSED_FOR_GOOD]
        if any(code in DONE_ALREADY for code in failed):
            out[index] = "already_recorded"
        elif final:
            out[index] = f"refused:{final[0]}"
        else:
            out[index] = f"retry:{failed[0]}"
    return out


def _index(item: dict[str, Any]) -> int | None:
    for element in (item.get("location") or {}).get("fieldPathElements") or []:
        if element.get("fieldName") == "conversions" and element.get("index") is not None:
            return int(element["index"])
    return None


def actions_from_secret() -> dict[str, str]:
    """Stage → conversion action resource name, from the Google secret's ``conversion_actions``;
    raises LookupError when there is no secret or it names none, ValueError for a malformed name."""
    from forecourt import aws
    from forecourt.audiences.google_ads_api import secret_name

    client = aws.client("secretsmanager")
    try:
        given = json.loads(client.get_secret_value(SecretId=secret_name())["SecretString"])
    except client.exceptions.ResourceNotFoundException:
        raise LookupError(f"no Google Ads credentials: create the secret {secret_name()!r}") from None
    return checked_actions(given.get("conversion_actions") or {}, secret_name())


def checked_actions(actions: dict[str, Any], where: str) -> dict[str, str]:
    """``actions`` validated (known stages, ``customers/<id>/conversionActions/<id>``)."""
    from forecourt.conversions.stages import STAGES

    form = "customers/<id>/conversionActions/<id>"
    if not actions:
        raise LookupError(f"{where} names no conversion_actions (stage → {form})")
    unknown = sorted(set(actions) - set(STAGES))
    if unknown:
        raise ValueError(f"{where}: conversion_actions of unknown stages {unknown} (not {', '.join(STAGES)})")
    bad = sorted(stage for stage, name in actions.items() if not ACTION.match(str(name)))
    if bad:
        raise ValueError(f"{where}: conversion_actions of {bad} are not {form}")
    return {stage: str(name) for stage, name in actions.items()}
