"""Coded values: yes/no flags, ad-platform consent, and the lead source.

Each has a handful of distinct spellings per file, so all of them are mapped once per distinct
value and spread back to the rows.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._base import Normalized, Request, finish
from forecourt.normalize._kernels import STRING, LookupTable, lookup_folded, map_python

# --- flags --------------------------------------------------------------------------------------

FLAG_VALUES = {
    "y": True, "yes": True, "true": True, "t": True, "1": True, "x": True, "on": True, "checked": True,
    "n": False, "no": False, "false": False, "f": False, "0": False, "off": False, "unchecked": False,
}  # fmt: skip
"""CRM and DMS spellings of a checkbox (``X`` marks a ticked box in DMS extracts)."""
_FLAGS = LookupTable.build(FLAG_VALUES, pa.bool_())


def normalize_flag(cleaned: pa.Array, request: Request) -> Normalized:
    """Y/N, Yes/No, true/false, 1/0, T/F, X as booleans; negated when ``request.invert``.

    ``invert`` serves columns named the other way round (``CanText=Y`` → ``do_not_text=False``).
    Unknown spellings are nulled and flagged invalid. Raises nothing.
    """
    flags = lookup_folded(cleaned, _FLAGS)
    return finish(cleaned, pc.invert(flags) if request.invert else flags)


# --- consent ------------------------------------------------------------------------------------

CONSENT_VALUES = {
    "granted": "GRANTED", "grant": "GRANTED", "yes": "GRANTED", "y": "GRANTED", "true": "GRANTED",
    "1": "GRANTED", "opt in": "GRANTED", "opted in": "GRANTED",
    "denied": "DENIED", "deny": "DENIED", "no": "DENIED", "n": "DENIED", "false": "DENIED", "0": "DENIED",
    "opt out": "DENIED", "opted out": "DENIED",
}  # fmt: skip
"""Google Ads ``ConsentStatus`` values (GRANTED / DENIED) and the yes/no spellings dealers use."""
CONSENT_NOT_GIVEN = frozenset({"unspecified", "unknown", "not specified", "n/a", "na"})
"""Spellings of "no answer": null, not invalid (Google's UNSPECIFIED / UNKNOWN)."""
_CONSENT = LookupTable.build(CONSENT_VALUES)
_CONSENT_NOT_GIVEN = pa.array(sorted(CONSENT_NOT_GIVEN), STRING)


def normalize_consent(cleaned: pa.Array, request: Request) -> Normalized:
    """``GRANTED`` / ``DENIED`` from consent answers; ``UNSPECIFIED`` / ``unknown`` give null.

    Other values are nulled and flagged invalid. Raises nothing.
    """
    not_given = pc.is_in(pc.utf8_lower(cleaned), value_set=_CONSENT_NOT_GIVEN)
    answered = pc.if_else(not_given, pa.scalar(None, STRING), cleaned)
    return finish(answered, lookup_folded(answered, _CONSENT))


# --- lead source --------------------------------------------------------------------------------

LEAD_SOURCES = (
    "oem_website",
    "third_party",
    "dealer_website",
    "phone",
    "walk_in",
    "chat",
    "social",
    "email",
    "referral",
    "other",
)
"""The closed set of canonical lead sources (leads.lead_source)."""
LEAD_SOURCE_RULES: tuple[tuple[str, str], ...] = (
    (
        "third_party",
        "autotrader|auto trader|cars com|carscom|cargurus|car gurus|truecar|true car|edmunds|kbb"
        "|kelley blue book|kelly blue book|carfax|cars direct|carsdirect|autobytel|autoweb|capital one"
        "|carvana|car and driver|motortrend|third party|3rd party|lead provider",
    ),
    ("social", "facebook|instagram|meta|social|tiktok|twitter|youtube|linkedin|marketplace|fb"),
    ("chat", "chat|sms|text message|texting|messenger"),
    (
        "oem_website",
        "oem|manufacturer|brand site|brand website|factory|tier 1|tier1"
        "|<make> com|<make>com|<make> website|<make> digital|<make> direct|<make>direct",
    ),
    ("dealer_website", "website|web site|dealer site|internet|web|online|dealer com|dealeron|dealer inspire"),
    ("email", "email|e mail|mail in"),
    ("phone", "phone|call|calls|telephone|inbound call|phone up|phoneup"),
    ("walk_in", "walk in|walkin|walk|showroom|fresh up|freshup|drive by|lot"),
    ("referral", "referral|referred|refer|friend|family|repeat|word of mouth"),
)
"""Keyword rules, first match wins: ``|``-separated keywords matched as whole words of the value
folded to lowercase letters and digits (``Cars.com`` → ``cars com``). ``<make>`` stands for any make
name (``Toyota.com`` → oem_website)."""


def _keyword_pattern(keywords: str, makes: tuple[str, ...]) -> re.Pattern[str]:
    alternatives: list[str] = []
    for keyword in keywords.split("|"):
        if "<make>" in keyword:
            alternatives += [re.escape(keyword.replace("<make>", make)) for make in makes]
        else:
            alternatives.append(re.escape(keyword))
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


@cache
def _compiled_rules() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The keyword rules, compiled on first use (not at import: cold starts stay short)."""
    from forecourt.normalize.vehicles import MAKES

    makes = tuple(sorted({make.lower().replace("-", " ") for make in MAKES} | {"chevy", "vw", "mercedes"}))
    return tuple((source, _keyword_pattern(keywords, makes)) for source, keywords in LEAD_SOURCE_RULES)


@lru_cache(maxsize=4096)
def classify_lead_source(value: str) -> str:
    """The canonical lead source of one free-text source (``"Cars.com"`` → ``third_party``)."""
    folded = " ".join(re.sub(r"[^a-z0-9]+", " ", value.lower()).split())
    for source, pattern in _compiled_rules():
        if pattern.search(folded):
            return source
    return "other"


def normalize_lead_source(cleaned: pa.Array, request: Request) -> Normalized:
    """Free-text lead sources mapped to ``LEAD_SOURCES`` by keyword rules; unrecognised → ``other``.

    Never invalid: an unknown source is still a source. Raises nothing.
    """
    return finish(cleaned, map_python(cleaned, classify_lead_source, STRING))


# --- lead events ---------------------------------------------------------------------------------

EVENT_TYPES = {
    "contacted": "contacted", "contact": "contacted", "first contact": "contacted", "responded": "contacted",
    "appointment set": "appointment_set", "appointment": "appointment_set", "appt set": "appointment_set",
    "appt": "appointment_set", "appointment scheduled": "appointment_set",
    "shown": "shown", "show": "shown", "showed": "shown", "appointment shown": "shown",
    "sold": "sold", "sale": "sold", "delivered": "sold",
    "lost": "lost", "dead": "lost", "bad": "lost", "closed lost": "lost",
    "showroom visit": "showroom_visit", "showroom": "showroom_visit", "walk in": "showroom_visit",
    "service visit": "service_visit", "service": "service_visit", "ro opened": "service_visit",
}  # fmt: skip
"""The closed list of what a CRM reports (``contacted``, ``appointment_set``, ``shown``, ``sold``,
``lost``, ``showroom_visit``, ``service_visit``) and the spellings CRMs use for them."""
_EVENT_TYPES = LookupTable.build(EVENT_TYPES, STRING)


def normalize_event_type(cleaned: pa.Array, request: Request) -> Normalized:
    """A CRM event to one of the closed list (``appointment_set``, ``Appt Set`` … → ``appointment_set``);
    anything else is nulled and flagged invalid. Raises nothing."""
    return finish(cleaned, lookup_folded(cleaned, _EVENT_TYPES))
