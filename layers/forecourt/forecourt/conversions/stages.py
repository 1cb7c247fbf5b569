"""The lead stages that may go back to the ad platforms, with what each platform matches them on.

``read`` runs ``queries/conversions/stage_events.sql``: each lead's ``appointment_set``, ``shown``
and ``sold`` from ``lead_events`` (its first occurrence), with the lead's click ids and contact
fields, and the initial ``lead`` stage of leads that carry an ad platform's lead id. ``prepare`` then

- gives each its ``conversion_id``: a hash of the lead and the stage, the same on every run, so a
  conversion sent twice is recognized by the platform as one (Meta ``event_id``, Google ``orderId``);
- keeps back the conversions of people the audiences' consent gate keeps back (``consent.gate``
  with the suppression list: ``suppressed``, ``opted_out_of_sale_or_sharing``,
  ``global_privacy_control``, ``eea_without_consent``), of people whose latest stated ad-user-data
  consent is ``DENIED`` wherever they live (``ad_user_data_denied``), of leads identity resolution
  has not reached yet (``not_resolved``: sent by a later run) and of persons whose records could not
  be read (``no_records``), and counts them per reason;
- hashes the lead's own e-mail and phone (and, for Meta, names, zip and country) by each platform's
  rules (``audiences.meta``, ``audiences.google``): the identifiers the person gave on that lead;
- tells a Meta lead ad's id (``platform_lead_id`` of 15 to 17 digits on a lead whose source, provider
  or UTM source names Facebook, Instagram or Meta, or that carries an ``fbclid``) from other
  platforms' lead ids, and the sale's currency from the lead's country; the ``lead`` stage is kept
  only for Meta lead ads (Meta's CRM integration asks for every stage, the initial lead first; for
  Google, the click or form is the lead conversion already).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

STAGES = ("appointment_set", "shown", "sold")
"""The stages dealers report that go to every platform."""
LEAD_STAGE = "lead"
"""The initial stage, sent to Meta for its lead ads only."""
REASONS = (
    "not_resolved",
    "no_records",
    "suppressed",
    "opted_out_of_sale_or_sharing",
    "global_privacy_control",
    "eea_without_consent",
    "ad_user_data_denied",
)
"""Why a conversion is kept back from every platform (the first that applies)."""
META_ORIGIN = r"facebook|instagram|\bmeta\b|\bfb\b|messenger"
META_LEAD_ID = r"^\d{15,17}$"
CURRENCIES = {
    "US": "USD", "CA": "CAD", "MX": "MXN", "GB": "GBP", "CH": "CHF", "SE": "SEK", "NO": "NOK",
    "DK": "DKK", "PL": "PLN", "CZ": "CZK", "HU": "HUF", "RO": "RON", "IS": "ISK", "AU": "AUD",
    "NZ": "NZD", "JP": "JPY", "KR": "KRW", "ZA": "ZAR", "BR": "BRL", "IN": "INR",
    **dict.fromkeys(("AT", "BE", "HR", "CY", "EE", "FI", "FR", "DE", "GR", "IE", "IT", "LV", "LT", "LU",
                     "MT", "NL", "PT", "SK", "SI", "ES"), "EUR"),
}  # fmt: skip
"""ISO 4217 currency of a sale by the lead's country (the dealer's, when the lead names none)."""


@dataclass(frozen=True)
class Stages:
    """The conversions that may leave, and how many were kept back per reason."""

    conversions: pa.Table
    """One row per lead and stage (see ``prepare``), sorted by dealer, time, lead and stage."""
    excluded: dict[str, int]


def read(since: datetime) -> pa.Table:
    """Every lead stage whose first occurrence (over all history) is from ``since`` on
    (``stage_events.sql`` on the lake)."""
    from forecourt import analytics, bundled
    from forecourt.enrich.rules import render

    sql = render(bundled.queries_dir() / "conversions" / "stage_events.sql", {"since": since})
    return analytics.run_query(sql).to_arrow()


def conversion_id(lead_id: str, stage: str) -> str:
    """The conversion's id: the same for a lead and stage on every run and for every platform."""
    from forecourt.lake import stable_hash

    return "fc-" + stable_hash("conversion", lead_id, stage)


def prepare(rows: pa.Table, records: pa.Table | None = None) -> Stages:
    """``read``'s rows gated and hashed (see the module). ``records``: the people records of the
    rows' persons (``audiences.build.people_records``), read when not given.

    Columns: conversion_id, lead_id, stage, dealer_id, person_id, occurred_at, sale_value (float),
    currency, gclid, meta_lead_id (int64), ad_user_data, ad_personalization (the person's latest
    stated consents, null when never stated), em, ph, fn, ln, zp, country (Meta's hashes),
    google_email, google_phone (Google's hashes)."""
    from forecourt.audiences import consent
    from forecourt.audiences.build import people_records
    from forecourt.privacy import suppression

    rows = _meta_lead_ads_only(rows)
    persons = pc.unique(rows["person_id"].combine_chunks().drop_null())
    if records is None:
        records = people_records(persons) if len(persons) else _NO_RECORDS.empty_table()
    gate = consent.gate(records, suppressed=suppression.suppressed_persons(records))
    stated = consent._latest_consents(records.filter(pc.is_valid(records["person_id"])))
    person = rows["person_id"].combine_chunks()
    why = pc.if_else(pc.is_valid(person), pa.scalar(None, pa.string()), pa.scalar("not_resolved"))
    found = pc.is_in(person, value_set=pc.unique(records["person_id"].combine_chunks()))
    why = _first(why, pc.and_(pc.is_valid(person), pc.invert(found)), "no_records")
    held = (
        gate.reasons["reason"]
        .combine_chunks()
        .take(pc.index_in(person, value_set=gate.reasons["person_id"].combine_chunks()))
    )
    why = pc.if_else(pc.is_null(why), held, why)
    at = pc.index_in(person, value_set=stated["person_id"].combine_chunks())
    user_data = stated["user_data"].combine_chunks().take(at)
    personalization = stated["personalization"].combine_chunks().take(at)
    why = _first(why, pc.fill_null(pc.equal(user_data, "DENIED"), False), "ad_user_data_denied")
    excluded = dict.fromkeys(REASONS, 0)
    for reason, count in zip(*pc.value_counts(why.drop_null()).flatten(), strict=True):
        excluded[reason.as_py()] = count.as_py()
    keep = pc.is_null(why)
    table = _identified(rows, user_data, personalization).filter(keep)
    return Stages(conversions=table, excluded=excluded)


def for_platform(rows: pa.Table, platform: str) -> pa.Table:
    """``read``'s rows that are ``platform``'s: the ``lead`` stage only for Meta, and there only for
    Meta lead ads."""
    lead_stage = pc.equal(rows["stage"], LEAD_STAGE)
    if platform != "meta":
        return rows.filter(pc.invert(lead_stage))
    return _meta_lead_ads_only(rows)


def _meta_lead_ads_only(rows: pa.Table) -> pa.Table:
    """``rows`` without the ``lead`` stage of leads that are not Meta lead ads."""
    lead_stage = pc.equal(rows["stage"], LEAD_STAGE)
    return rows.filter(pc.or_(pc.invert(lead_stage), pc.is_valid(_meta_lead_ids(rows))))


def _meta_lead_ids(rows: pa.Table) -> pa.Array:
    """Meta's lead id of each row's lead (null when it is not a Meta lead ad)."""
    origin = pc.fill_null(rows["origin"].combine_chunks(), "")
    from_meta = pc.or_(
        pc.match_substring_regex(origin, META_ORIGIN), pc.is_valid(rows["fbclid"].combine_chunks())
    )
    platform_id = rows["platform_lead_id"].combine_chunks()
    is_meta_id = pc.and_(pc.fill_null(pc.match_substring_regex(platform_id, META_LEAD_ID), False), from_meta)
    return pc.if_else(is_meta_id, platform_id, pa.scalar(None, pa.string())).cast(pa.int64())


def _first(why: pa.Array, hit: pa.Array, reason: str) -> pa.Array:
    """``why`` with ``reason`` where ``hit`` and no reason yet."""
    return pc.if_else(pc.and_(pc.is_null(why), hit), pa.scalar(reason), why)


def _identified(rows: pa.Table, user_data: pa.Array, personalization: pa.Array) -> pa.Table:
    from forecourt.audiences import google, meta, people
    from forecourt.audiences.hashing import sha256_hex

    contact = rows.select(["email", "phone", "first_name", "last_name", "zip", "country"])
    prepared = people.prepare(contact, default_country="US")
    hashed = meta.identifiers(prepared)
    country = prepared["country"].combine_chunks()
    currency = pc.index_in(country, value_set=pa.array(list(CURRENCIES), pa.string()))
    currency = pa.array(list(CURRENCIES.values()), pa.string()).take(currency)
    lead_ids = rows["lead_id"].to_pylist()
    stages = rows["stage"].to_pylist()
    gclid = pc.utf8_trim_whitespace(rows["gclid"].combine_chunks())
    return pa.table(
        {
            "conversion_id": pa.array(
                [conversion_id(lead, stage) for lead, stage in zip(lead_ids, stages, strict=True)],
                pa.string(),
            ),
            "lead_id": rows["lead_id"],
            "stage": rows["stage"],
            "dealer_id": rows["dealer_id"],
            "person_id": rows["person_id"],
            "occurred_at": rows["occurred_at"],
            "sale_value": rows["sale_value"].cast(pa.float64()),
            "currency": currency,
            "gclid": pc.if_else(pc.equal(gclid, ""), pa.scalar(None, pa.string()), gclid),
            "meta_lead_id": _meta_lead_ids(rows),
            "ad_user_data": user_data,
            "ad_personalization": personalization,
            "em": hashed["EMAIL"],
            "ph": hashed["PHONE"],
            "fn": hashed["FN"],
            "ln": hashed["LN"],
            "zp": hashed["ZIP"],
            "country": hashed["COUNTRY"],
            "google_email": sha256_hex(google.normalize_email(prepared["email"].combine_chunks())),
            "google_phone": sha256_hex(prepared["phone"].combine_chunks()),
        }
    )


_NO_RECORDS = pa.schema(
    [
        ("person_id", pa.string()),
        ("record_id", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("email", pa.string()),
        ("alternate_email", pa.string()),
        ("phone", pa.string()),
        ("mobile_phone", pa.string()),
        ("home_phone", pa.string()),
        ("alternate_phone", pa.string()),
        ("country", pa.string()),
        ("ccpa_opt_out", pa.bool_()),
        ("gpc", pa.bool_()),
        ("ad_user_data_consent", pa.string()),
        ("ad_personalization_consent", pa.string()),
        ("consent_at", pa.timestamp("us", tz="UTC")),
    ]
)
"""The people records' columns the gate and the suppression check read, for a run without persons."""
