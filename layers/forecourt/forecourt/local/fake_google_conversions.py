"""Offline conversion uploads on the local fake Google Ads API (``fake_google_ads.FakeGoogleAds``):
``POST /vNN/customers/<id>:uploadClickConversions``, checked against ``conversion_upload_service.proto``
and keeping the conversions Google would record.

``ConversionUploads(actions).install(fake)`` registers the method. A request carries
``conversions`` (1 to 2,000, else TOO_MANY_CONVERSIONS_IN_REQUEST) and ``partialFailure``; each
conversion needs

- ``conversionAction``: ``customers/<id>/conversionActions/<id>`` of a configured action (the
  action id decides, as Google documents; else NO_CONVERSION_ACTION_FOUND);
- ``conversionDateTime``: ``yyyy-mm-dd hh:mm:ss+|-hh:mm`` with the zone;
- a ``gclid``, or ``userIdentifiers`` (1 to 5, each exactly one of ``hashedEmail`` /
  ``hashedPhoneNumber``, 64 lowercase hex: "only hashed_email and hashed_phone_number are supported
  for conversion uploads");
- ``consent`` with ``adUserData`` (GRANTED, DENIED, UNSPECIFIED) and without ``adPersonalization``
  ("can only be set for OfflineUserDataJobService and UserDataService": the ``Consent`` message;
  here it is refused as INVALID_INPUT);
- ``conversionValue`` only with a three-letter ``currencyCode``.

An ``orderId`` is used once per conversion action: again in a later request → ORDER_ID_ALREADY_IN_USE,
twice in one → DUPLICATE_ORDER_ID; without one, the same click, action and time again →
CLICK_CONVERSION_ALREADY_EXISTS. ``unknown_clicks`` maps a gclid to the error Google would give it
(EVENT_NOT_FOUND, EXPIRED_EVENT…). With ``partialFailure`` the valid conversions are recorded and the
others reported in ``partialFailureError`` by index (``results`` has an empty object in their
place); without it one invalid conversion fails the request and nothing is recorded.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from forecourt.local.fake_google_ads import ApiError, FakeGoogleAds

MAX_CONVERSIONS = 2_000
MAX_IDENTIFIERS = 5
_ACTION = re.compile(r"^customers/\d+/conversionActions/(\d+)$")
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_CONSENT = frozenset({"GRANTED", "DENIED", "UNSPECIFIED"})
_RESULT = ("gclid", "conversionAction", "conversionDateTime", "userIdentifiers")
"""The fields of a ``ClickConversionResult`` taken from the conversion."""
_FAILURE = "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"


class Refused(Exception):
    def __init__(self, code: dict[str, str], message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _upload_error(code: str, message: str) -> Refused:
    return Refused({"conversionUploadError": code}, message)


@dataclass
class ConversionUploads:
    """The conversions one fake customer recorded, per conversion action id."""

    actions: set[str]
    """Conversion action ids (the last part of the resource name) that exist."""
    unknown_clicks: dict[str, str] = field(default_factory=dict)
    recorded: list[dict[str, Any]] = field(default_factory=list)
    """Every conversion recorded, in order."""
    requests: int = 0

    def install(self, fake: FakeGoogleAds) -> ConversionUploads:
        fake.methods[":uploadClickConversions"] = self.handle
        return self

    def by_order(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(action id, order id) → the conversion recorded with them."""
        return {(_action_id(c), str(c["orderId"])): c for c in self.recorded if c.get("orderId") is not None}

    def handle(self, fake: FakeGoogleAds, customer: str, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        conversions = body.get("conversions")
        if not isinstance(conversions, list) or not conversions:
            raise ApiError(400, "INVALID_ARGUMENT", "conversions is required.", [{"fieldError": "REQUIRED"}])
        if len(conversions) > MAX_CONVERSIONS:
            raise ApiError(
                400,
                "INVALID_ARGUMENT",
                "Upload fewer than 2001 events in a single request.",
                [{"conversionUploadError": "TOO_MANY_CONVERSIONS_IN_REQUEST"}],
            )
        partial = body.get("partialFailure") is True
        results: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        accepted: list[dict[str, Any]] = []
        orders = self.by_order()
        in_request: set[tuple[str, str]] = set()
        for index, conversion in enumerate(conversions):
            try:
                self._check(conversion, orders, in_request)
            except Refused as refused:
                failures.append(
                    {
                        "errorCode": refused.code,
                        "message": refused.message,
                        "location": {"fieldPathElements": [{"fieldName": "conversions", "index": index}]},
                    }
                )
                results.append({})
                continue
            accepted.append(conversion)
            results.append({k: conversion[k] for k in _RESULT if k in conversion})
        if failures and not partial:
            first = failures[0]
            raise ApiError(400, "INVALID_ARGUMENT", first["message"], [first["errorCode"]])
        self.recorded.extend(accepted)
        answer: dict[str, Any] = {"results": results, "jobId": str(secrets.randbelow(2**31))}
        if failures:
            answer["partialFailureError"] = {
                "code": 3,
                "message": f"{len(failures)} conversions failed",
                "details": [{"@type": _FAILURE, "errors": failures}],
            }
        return answer

    def _check(
        self,
        conversion: Any,
        orders: dict[tuple[str, str], dict[str, Any]],
        in_request: set[tuple[str, str]],
    ) -> None:
        if not isinstance(conversion, dict):
            raise Refused({"requestError": "INVALID_INPUT"}, "A conversion is an object.")
        action = _ACTION.match(str(conversion.get("conversionAction") or ""))
        if action is None or action.group(1) not in self.actions:
            raise _upload_error("NO_CONVERSION_ACTION_FOUND", "The conversion action cannot be found.")
        if not _DATE_TIME.match(str(conversion.get("conversionDateTime") or "")):
            raise Refused(
                {"dateError": "INVALID_FIELD_VALUES_IN_DATE_TIME"},
                'conversionDateTime must be "yyyy-mm-dd hh:mm:ss+|-hh:mm".',
            )
        _check_match(conversion)
        consent = conversion.get("consent")
        if not isinstance(consent, dict) or consent.get("adUserData") not in _CONSENT:
            raise Refused({"fieldError": "REQUIRED"}, "consent needs adUserData.")
        if "adPersonalization" in consent:
            raise Refused(
                {"requestError": "INVALID_INPUT"},
                "adPersonalization can only be set for OfflineUserDataJobService and UserDataService.",
            )
        if "conversionValue" in conversion and not _CURRENCY.match(str(conversion.get("currencyCode") or "")):
            raise Refused({"fieldError": "REQUIRED"}, "A conversion value needs its ISO 4217 currencyCode.")
        gclid = conversion.get("gclid")
        if gclid in self.unknown_clicks:
            raise _upload_error(self.unknown_clicks[gclid], "The click cannot be used for this conversion.")
        order = conversion.get("orderId")
        if order is not None:
            key = (action.group(1), str(order))
            if key in in_request:
                raise _upload_error("DUPLICATE_ORDER_ID", "Multiple conversions have the same order ID.")
            in_request.add(key)
            if key in orders:
                raise _upload_error("ORDER_ID_ALREADY_IN_USE", "The order ID was already recorded.")
        elif gclid and any(
            c.get("gclid") == gclid
            and _action_id(c) == action.group(1)
            and c.get("conversionDateTime") == conversion["conversionDateTime"]
            for c in self.recorded
        ):
            raise _upload_error("CLICK_CONVERSION_ALREADY_EXISTS", "This click conversion already exists.")


def _check_match(conversion: dict[str, Any]) -> None:
    identifiers = conversion.get("userIdentifiers")
    if conversion.get("gclid"):
        return
    if not isinstance(identifiers, list) or not identifiers:
        raise _upload_error("EVENT_NOT_FOUND", "Neither a click id nor user identifiers to match on.")
    if len(identifiers) > MAX_IDENTIFIERS:
        raise _upload_error("INVALID_USER_IDENTIFIER", "At most 5 user identifiers a conversion.")
    for item in identifiers:
        keys = set(item) - {"userIdentifierSource"} if isinstance(item, dict) else set()
        if len(keys) != 1 or not keys <= {"hashedEmail", "hashedPhoneNumber"}:
            raise _upload_error("UNSUPPORTED_USER_IDENTIFIER", "Use only hashed email or phone number.")
        value = item[next(iter(keys))]
        if not isinstance(value, str) or not _HEX.match(value):
            raise _upload_error("INVALID_USER_IDENTIFIER", "User identifiers must be SHA-256 hashed.")


def _action_id(conversion: dict[str, Any]) -> str:
    return str(conversion.get("conversionAction", "")).rsplit("/", 1)[-1]
