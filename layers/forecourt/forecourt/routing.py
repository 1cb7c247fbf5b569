"""Which dealer gets a lead, and why (ARCHITECTURE §6 ``route_lead``; issue 4, "Routing").

``route`` is pure: it takes the curated lead, the dealer the customer chose, the registered dealers
and the person's prior leads (from the identity index) and returns a ``RouteDecision`` whose
``reason`` names the evidence. The rules, first match wins (DOMAIN, "OEM lead programs and routing"):

1. ``test_lead``: an OEM test lead (test e-mail domain, the word "test" as a first or last name
   word, or the e-mail local part ``test``) never reaches a dealer;
2. ``chosen``: the dealer the customer chose, when registered and active;
3. ``dealer_of_record``: the dealer of the person's most recent prior lead within
   ``dealer_of_record_days``, when that dealer is active. "Same person" is an exact match on the
   normalized e-mail or E.164 phone (``person_keys``) until identity resolution (issue 5) exists;
4. ``territory``: the active dealer whose territory zips hold the lead's zip (ties: lowest dealer id);
5. ``nearest``: the active dealer whose zip is nearest the lead's, within ``max_distance_miles``;
6. ``fallback``: nobody; the OEM's staff route it by hand.

Independently, a lead of the same person and vehicle as a prior lead within ``duplicate_days`` is a
duplicate of the first such lead: the routed dealer's ``duplicate_policy`` sends it as an ``update``
or ``suppress``-es it. A lead for nobody, or for a dealer without a delivery configured, is ``hold``:
it waits in the OEM fallback queue.

Reasons carry dealer ids, lead ids (shortened), dates, zips and distances: never names, e-mails or
phones. The lead's zip is a quasi identifier, and the ``lead_routes`` table classes ``reason`` so.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from forecourt.config import Settings, settings
from forecourt.registry import Dealer

Rule = Literal["test_lead", "chosen", "dealer_of_record", "territory", "nearest", "fallback"]
Action = Literal["new", "update", "suppress", "hold"]
RULES: tuple[Rule, ...] = ("test_lead", "chosen", "dealer_of_record", "territory", "nearest", "fallback")
"""The rules in the order they are tried."""

_EMAIL_COLUMNS = ("email",)
_PHONE_COLUMNS = ("phone", "mobile_phone")
"""The contact columns that identify a person. Alternate (evening, work) phones and e-mails are
left out: they are shared by households and offices more often than they identify one person."""
_TEST_WORD = re.compile(r"\btest\b", re.IGNORECASE)
US = "US"


def _default(name: str) -> Any:
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class RoutingRules:
    """The routing windows and limits; defaults are the settings' (``FORECOURT_…`` variables)."""

    dealer_of_record_days: int = _default("dealer_of_record_days")
    duplicate_days: int = _default("duplicate_days")
    max_distance_miles: float = _default("max_distance_miles")
    test_lead_domains: tuple[str, ...] = _default("test_lead_domains")

    @classmethod
    def from_settings(cls, conf: Settings | None = None) -> RoutingRules:
        """The rules configured for this process (``settings()`` unless given)."""
        conf = conf or settings()
        return cls(
            dealer_of_record_days=conf.dealer_of_record_days,
            duplicate_days=conf.duplicate_days,
            max_distance_miles=conf.max_distance_miles,
            test_lead_domains=conf.test_lead_domains,
        )

    @property
    def memory_days(self) -> int:
        """How long the identity index must remember a lead: the longest window."""
        return max(self.dealer_of_record_days, self.duplicate_days)


@dataclass(frozen=True)
class PriorLead:
    """A lead routed before, as the identity index remembers it (no contact data)."""

    lead_id: str
    dealer_id: str | None
    """The dealer it was routed to; None when it was held for the OEM."""
    received_at: datetime
    keys: frozenset[str] = field(default_factory=frozenset)
    """The identity index keys (``person_keys``) it was found under."""
    vin: str | None = None
    make_model: str | None = None
    """``make|model``, case-folded (``vehicle_key``)."""
    requested_at: datetime | None = None


@dataclass(frozen=True)
class RouteDecision:
    """Where a lead goes, by which rule, and why."""

    lead_id: str
    dealer_id: str | None
    """The dealer the lead is routed to; None for a test lead and for the OEM fallback."""
    rule: Rule
    reason: str
    """One sentence naming the evidence (dealer and lead ids, dates, zip, distance; no contact data)."""
    action: Action
    """``new`` / ``update``: deliver to the dealer; ``suppress``: send nothing (a duplicate the dealer
    does not want, or a test lead); ``hold``: park in the OEM fallback queue."""
    duplicate_of: str | None = None
    distance_miles: float | None = None
    is_test: bool = False


@dataclass(frozen=True)
class _Pick:
    dealer: Dealer | None
    rule: Rule
    reason: str
    distance_miles: float | None = None


def person_keys(lead: Mapping[str, Any]) -> list[str]:
    """The identity index keys of a lead: ``email#<sha256 hex>`` of its normalized e-mail and
    ``phone#<sha256 hex>`` of each E.164 phone (the curated row holds them normalized)."""
    keys: list[str] = []
    for kind, columns in (("email", _EMAIL_COLUMNS), ("phone", _PHONE_COLUMNS)):
        for column in columns:
            value = lead.get(column)
            if isinstance(value, str) and value.strip():
                key = f"{kind}#{hashlib.sha256(value.strip().encode('utf-8')).hexdigest()}"
                if key not in keys:
                    keys.append(key)
    return keys


def vehicle_key(lead: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(VIN, ``make|model`` case-folded) of the lead's vehicle of interest; either may be None."""
    vin = lead.get("vehicle_vin") or None
    make, model = lead.get("vehicle_make"), lead.get("vehicle_model")
    make_model = None
    if isinstance(make, str) and isinstance(model, str) and make.strip() and model.strip():
        make_model = f"{make.strip().casefold()}|{model.strip().casefold()}"
    return (str(vin).upper() if vin else None), make_model


def detect_test_lead(lead: Mapping[str, Any], domains: Sequence[str]) -> str | None:
    """Why the lead is an OEM test lead (no contact data in the answer), or None when it is not."""
    for column in ("email", "alternate_email"):
        address = lead.get(column)
        if not isinstance(address, str) or "@" not in address:
            continue
        local, _, domain = address.strip().lower().rpartition("@")
        for test_domain in domains:
            if domain == test_domain or domain.endswith("." + test_domain):
                return f"e-mail domain {test_domain} is an OEM test domain"
        if local == "test":
            return "the e-mail address is test@…"
    for column, label in (("first_name", "first name"), ("last_name", "last name")):
        value = lead.get(column)
        if isinstance(value, str) and _TEST_WORD.search(value):
            return f"the {label} holds the word 'test'"
    return None


def route(
    lead: Mapping[str, Any],
    chosen: str | None,
    dealers: Sequence[Dealer],
    history: Sequence[PriorLead],
    now: datetime,
    rules: RoutingRules | None = None,
) -> RouteDecision:
    """Decide where ``lead`` (a curated ``leads`` row) goes (see the module docstring).

    ``chosen`` is the dealer the customer picked (None when none); ``history`` the prior leads the
    identity index holds for the lead's keys — entries of other people, of this same lead (a
    redelivery) and later than ``now`` are ignored. ``now`` is the moment the windows are measured
    from: route_lead passes the lead's arrival time, so a redelivered lead is decided the same way.
    Raises KeyError when the lead has no ``record_id``.
    """
    rules = rules or RoutingRules()
    lead_id = str(lead["record_id"])
    evidence = detect_test_lead(lead, rules.test_lead_domains)
    if evidence:
        reason = f"test lead: {evidence}; never sent to a dealer"
        return RouteDecision(lead_id, None, "test_lead", reason, "suppress", is_test=True)
    prior = _prior_leads_of_person(lead, history, now)
    pick = _pick_dealer(lead, chosen, {d.dealer_id: d for d in dealers}, prior, now, rules)
    duplicate = _first_duplicate(lead, prior, now, rules)
    action, note = _action(pick.dealer, duplicate)
    reason = pick.reason + (f"; {note}" if note else "")
    return RouteDecision(
        lead_id,
        pick.dealer.dealer_id if pick.dealer else None,
        pick.rule,
        reason,
        action,
        duplicate_of=duplicate.lead_id if duplicate else None,
        distance_miles=pick.distance_miles,
    )


def short_id(lead_id: str) -> str:
    """A lead id shortened for reasons and logs: its first 8 characters and an ellipsis."""
    return lead_id if len(lead_id) <= 9 else lead_id[:8] + "…"


def _prior_leads_of_person(
    lead: Mapping[str, Any], history: Sequence[PriorLead], now: datetime
) -> list[PriorLead]:
    """Prior leads sharing an identity key with ``lead``, not the lead itself, none later than
    ``now``; newest first (then by lead id, for a stable order)."""
    keys = set(person_keys(lead))
    lead_id = str(lead["record_id"])
    same = [p for p in history if p.keys & keys and p.lead_id != lead_id and p.received_at <= now]
    return sorted(same, key=lambda p: (p.received_at, p.lead_id), reverse=True)


def _pick_dealer(
    lead: Mapping[str, Any],
    chosen: str | None,
    dealers: Mapping[str, Dealer],
    prior: Sequence[PriorLead],
    now: datetime,
    rules: RoutingRules,
) -> _Pick:
    """The first rule after ``test_lead`` that finds an active dealer; its reason is preceded by
    what the rules before it noticed (an inactive chosen dealer, a zip in no territory…)."""
    notes: list[str] = []
    pick: _Pick | None = None
    if chosen:
        dealer = dealers.get(chosen)
        if dealer is not None and dealer.active:
            pick = _Pick(dealer, "chosen", f"the customer chose {chosen}")
        else:
            notes.append(f"chosen dealer {chosen} is {'inactive' if dealer else 'not registered'}")
    pick = (
        pick
        or _dealer_of_record(prior, dealers, now, rules)
        or _territory(lead, dealers, notes)
        or _nearest(lead, dealers, rules, notes)
    )
    if pick is None:
        return _Pick(None, "fallback", "; ".join([*notes, "held for the OEM"]))
    return _Pick(pick.dealer, pick.rule, "; ".join([*notes, pick.reason]), pick.distance_miles)


def _dealer_of_record(
    prior: Sequence[PriorLead], dealers: Mapping[str, Dealer], now: datetime, rules: RoutingRules
) -> _Pick | None:
    since = now - timedelta(days=rules.dealer_of_record_days)
    for earlier in prior:  # newest first
        dealer = dealers.get(earlier.dealer_id or "")
        if earlier.received_at >= since and dealer is not None and dealer.active:
            day = earlier.received_at.date().isoformat()
            return _Pick(
                dealer, "dealer_of_record", f"dealer of record: lead {short_id(earlier.lead_id)} on {day}"
            )
    return None


def _lead_zip(lead: Mapping[str, Any]) -> str | None:
    value = lead.get("zip")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _same_country(lead: Mapping[str, Any], dealer: Dealer) -> bool:
    return (lead.get("country") or dealer.country) == dealer.country


def _territory(lead: Mapping[str, Any], dealers: Mapping[str, Dealer], notes: list[str]) -> _Pick | None:
    """The active dealer whose territory holds the lead's zip (lowest id on a tie)."""
    zip_code = _lead_zip(lead)
    if zip_code is None:
        return None
    owners = sorted(
        d.dealer_id
        for d in dealers.values()
        if d.active and zip_code in d.territory_zips and _same_country(lead, d)
    )
    if not owners:
        notes.append(f"zip {zip_code} is in no active dealer's territory")
        return None
    if len(owners) == 1:
        return _Pick(dealers[owners[0]], "territory", f"zip {zip_code} is in {owners[0]}'s territory")
    listed = ", ".join(owners)
    reason = f"zip {zip_code} is in the territories of {listed}: the lowest dealer id, {owners[0]}, takes it"
    return _Pick(dealers[owners[0]], "territory", reason)


def _nearest(
    lead: Mapping[str, Any], dealers: Mapping[str, Dealer], rules: RoutingRules, notes: list[str]
) -> _Pick | None:
    """The nearest active US dealer within the limit; otherwise None, with a note saying why."""
    from forecourt import zip_codes

    zip_code = _lead_zip(lead)
    if zip_code is None:
        notes.append("the lead has no zip")
        return None
    if (lead.get("country") or US) != US or zip_codes.location(zip_code) is None:
        notes.append(f"zip {zip_code} is not a known US zip")
        return None
    distances = sorted(
        (miles, d.dealer_id)
        for d in dealers.values()
        if d.active and d.zip and d.country == US
        for miles in [zip_codes.miles_between(zip_code, d.zip)]
        if miles is not None
    )
    if not distances:
        notes.append("no active dealer has a known zip")
        return None
    miles, dealer_id = distances[0]
    if miles > rules.max_distance_miles:
        notes.append(
            f"no active dealer within {rules.max_distance_miles:g} miles of zip {zip_code} "
            f"(nearest: {dealer_id}, {miles:,.1f} miles)"
        )
        return None
    reason = f"nearest active dealer to zip {zip_code}: {dealer_id}, {miles:.1f} miles"
    return _Pick(dealers[dealer_id], "nearest", reason, round(miles, 1))


def _first_duplicate(
    lead: Mapping[str, Any], prior: Sequence[PriorLead], now: datetime, rules: RoutingRules
) -> PriorLead | None:
    """The first (earliest) prior lead of the same person and vehicle within the duplicate window."""
    vin, make_model = vehicle_key(lead)
    since = now - timedelta(days=rules.duplicate_days)
    matches = [
        p for p in prior if p.received_at >= since and _same_vehicle(vin, make_model, p.vin, p.make_model)
    ]
    return min(matches, key=lambda p: (p.received_at, p.lead_id)) if matches else None


def _same_vehicle(
    vin: str | None, make_model: str | None, other_vin: str | None, other_mm: str | None
) -> bool:
    """Same VIN when both have one, else the same make and model."""
    if vin and other_vin:
        return vin == other_vin
    return make_model is not None and make_model == other_mm


def _action(dealer: Dealer | None, duplicate: PriorLead | None) -> tuple[Action, str]:
    """The action for the routed dealer and the sentence that explains it (empty for a plain new lead)."""
    first = ""
    if duplicate is not None:
        day = duplicate.received_at.date().isoformat()
        first = f"duplicate of lead {short_id(duplicate.lead_id)} (same person and vehicle on {day})"
    if dealer is None:
        return "hold", first
    if duplicate is not None and dealer.duplicate_policy == "suppress":
        return "suppress", f"{first}: suppressed, {dealer.dealer_id}'s duplicate policy"
    if dealer.delivery is None:
        held = f"{dealer.dealer_id} has no delivery configured: held for the OEM"
        return "hold", f"{first}; {held}" if first else held
    if duplicate is not None:
        return "update", f"{first}: sent as an update"
    return "new", ""
