"""Address parts: state or province, postal code, country.

All three have few distinct values per file, so they are looked up once per distinct value
(``lookup_folded``): ``"N.Y."``, ``"new york"`` and ``"NY"`` fold to keys of one table.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.normalize._base import Normalized, Request, finish
from forecourt.normalize._kernels import (
    NULL_STRING,
    LookupTable,
    collapse_whitespace,
    delete_ascii,
    lookup_folded,
    map_distinct,
)

# --- state / province ---------------------------------------------------------------------------

US_STATES = {
    "AL": "alabama", "AK": "alaska", "AZ": "arizona", "AR": "arkansas", "CA": "california",
    "CO": "colorado", "CT": "connecticut", "DE": "delaware", "FL": "florida", "GA": "georgia",
    "HI": "hawaii", "ID": "idaho", "IL": "illinois", "IN": "indiana", "IA": "iowa", "KS": "kansas",
    "KY": "kentucky", "LA": "louisiana", "ME": "maine", "MD": "maryland", "MA": "massachusetts",
    "MI": "michigan", "MN": "minnesota", "MS": "mississippi", "MO": "missouri", "MT": "montana",
    "NE": "nebraska", "NV": "nevada", "NH": "new hampshire", "NJ": "new jersey", "NM": "new mexico",
    "NY": "new york", "NC": "north carolina", "ND": "north dakota", "OH": "ohio", "OK": "oklahoma",
    "OR": "oregon", "PA": "pennsylvania", "RI": "rhode island", "SC": "south carolina",
    "SD": "south dakota", "TN": "tennessee", "TX": "texas", "UT": "utah", "VT": "vermont",
    "VA": "virginia", "WA": "washington", "WV": "west virginia", "WI": "wisconsin", "WY": "wyoming",
    "DC": "district of columbia", "PR": "puerto rico", "VI": "us virgin islands", "GU": "guam",
    "AS": "american samoa", "MP": "northern mariana islands",
    "AA": "armed forces americas", "AE": "armed forces europe", "AP": "armed forces pacific",
}  # fmt: skip
"""USPS two-letter codes (Publication 28, appendix B) with their names."""
CA_PROVINCES = {
    "AB": "alberta", "BC": "british columbia", "MB": "manitoba", "NB": "new brunswick",
    "NL": "newfoundland and labrador", "NS": "nova scotia", "NT": "northwest territories",
    "NU": "nunavut", "ON": "ontario", "PE": "prince edward island", "QC": "quebec",
    "SK": "saskatchewan", "YT": "yukon",
}  # fmt: skip
"""Canada Post two-letter province and territory codes."""
STATE_ALIASES = {
    "washington dc": "DC", "wash dc": "DC", "virgin islands": "VI", "québec": "QC", "pq": "QC",
    "newfoundland": "NL", "nfld": "NL", "labrador": "NL", "yukon territory": "YT", "nwt": "NT",
    "pei": "PE", "calif": "CA", "fla": "FL", "mass": "MA", "mich": "MI", "minn": "MN", "penn": "PA",
    "penna": "PA", "tenn": "TN", "tex": "TX", "wis": "WI", "wisc": "WI", "ariz": "AZ", "colo": "CO",
    "conn": "CT", "ill": "IL", "ind": "IN", "okla": "OK", "ore": "OR", "wash": "WA",
}  # fmt: skip


def _state_table() -> LookupTable:
    mapping: dict[str, str] = {}
    for codes in (US_STATES, CA_PROVINCES):
        for code, name in codes.items():
            mapping[code.lower()] = code
            mapping[name] = code
    mapping.update(STATE_ALIASES)
    return LookupTable.build(mapping)


_STATES = _state_table()


def normalize_state(cleaned: pa.Array, request: Request) -> Normalized:
    """US states and Canadian provinces as two-letter codes, from codes or names in any case.

    Only for US and CA dealers; elsewhere the trimmed text is kept. Unknown values are nulled and
    flagged invalid. Raises nothing.
    """
    if request.locale.region not in ("US", "CA"):
        return finish(cleaned, collapse_whitespace(cleaned))
    return finish(cleaned, lookup_folded(cleaned, _STATES))


# --- postal code --------------------------------------------------------------------------------

_US_ZIP = r"^(?:\d{4,5}|\d{4,5}[- ]?\d{4})$"
_CANADIAN_POSTAL_CODE = r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$"


def _us_zips(distinct: pa.Array) -> list[pa.Array]:
    """ZIP and +4 of distinct US values; Canadian postal codes pass as ``A1A 1A1``."""
    digits = delete_ascii(distinct, "- ")
    length = pc.binary_length(digits)
    shaped = pc.match_substring_regex(distinct, _US_ZIP)
    padded = pc.if_else(pc.less_equal(length, 5), pc.utf8_lpad(digits, 5, "0"), pc.utf8_lpad(digits, 9, "0"))
    zip5 = pc.utf8_slice_codeunits(padded, 0, 5)
    usable = pc.and_(shaped, pc.not_equal(zip5, "00000"))
    plus4 = pc.if_else(
        pc.and_(usable, pc.greater(length, 5)), pc.utf8_slice_codeunits(padded, 5, 9), NULL_STRING
    )
    upper = pc.utf8_upper(distinct)
    canadian = pc.match_substring_regex(upper, _CANADIAN_POSTAL_CODE)
    compact = delete_ascii(upper, " ")
    formatted = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(compact, 0, 3), pc.utf8_slice_codeunits(compact, 3, 6), " "
    )
    zip_or_postal = pc.if_else(usable, zip5, pc.if_else(canadian, formatted, NULL_STRING))
    return [zip_or_postal, plus4]


def normalize_zip(cleaned: pa.Array, request: Request) -> Normalized:
    """Postal codes. US dealers: 5-digit ZIPs, the +4 add-on in ``parts["zip4"]``.

    Accepts ``12345``, ``12345-6789``, ``123456789`` and ZIPs that lost their leading zero in a
    spreadsheet (``1234`` → ``01234``, ``1234-5678`` → ``01234`` + ``5678``); Canadian postal codes
    (``k1a0b1`` → ``K1A 0B1``) are kept too. Anything else is nulled and flagged. Other countries:
    uppercased text, never invalid. Raises nothing.
    """
    if request.locale.region != "US":
        text = pc.utf8_upper(collapse_whitespace(cleaned))
        return finish(cleaned, text, {"zip4": pa.nulls(len(cleaned), pa.string())})
    zip5, plus4 = map_distinct(cleaned, _us_zips)
    return finish(cleaned, zip5, {"zip4": plus4})


# --- country ------------------------------------------------------------------------------------

_ISO_ALPHA2_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG
    EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR
    HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR
    LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG
    NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE
    SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA
    UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"""
ISO_ALPHA2 = frozenset(_ISO_ALPHA2_CODES.split())
"""Every officially assigned ISO 3166-1 alpha-2 code (249)."""
COUNTRY_NAMES = {
    "US": ["usa", "united states", "united states of america", "america", "us of a"],
    "CA": ["can", "canada"], "MX": ["mex", "mexico", "méxico"],
    "GB": ["gbr", "uk", "united kingdom", "great britain", "britain", "england", "scotland", "wales"],
    "DE": ["deu", "germany", "deutschland"], "FR": ["fra", "france"], "IT": ["ita", "italy", "italia"],
    "ES": ["esp", "spain", "españa"], "NL": ["nld", "netherlands", "the netherlands", "holland"],
    "BE": ["bel", "belgium"], "CH": ["che", "switzerland"], "AT": ["aut", "austria"],
    "IE": ["irl", "ireland"], "PT": ["prt", "portugal"], "SE": ["swe", "sweden"], "NO": ["nor", "norway"],
    "DK": ["dnk", "denmark"], "FI": ["fin", "finland"], "PL": ["pol", "poland"],
    "CZ": ["cze", "czech republic", "czechia"], "GR": ["grc", "greece"], "TR": ["tur", "turkey", "türkiye"],
    "RU": ["rus", "russia"], "UA": ["ukr", "ukraine"], "JP": ["jpn", "japan"], "CN": ["chn", "china"],
    "KR": ["kor", "south korea", "korea"], "IN": ["ind", "india"], "AU": ["aus", "australia"],
    "NZ": ["nzl", "new zealand"], "BR": ["bra", "brazil", "brasil"], "AR": ["arg", "argentina"],
    "CL": ["chl", "chile"], "CO": ["col", "colombia"], "PE": ["per", "peru"], "ZA": ["zaf", "south africa"],
    "PR": ["pri", "puerto rico"], "PH": ["phl", "philippines"], "AE": ["are", "united arab emirates", "uae"],
    "SA": ["sau", "saudi arabia"], "IL": ["isr", "israel"], "SG": ["sgp", "singapore"],
}  # fmt: skip
"""Alpha-3 codes and common names (folded: lowercase, no dots) of the countries dealers see most."""


def _country_table() -> LookupTable:
    mapping = {code.lower(): code for code in sorted(ISO_ALPHA2)}
    for code, names in COUNTRY_NAMES.items():
        mapping.update(dict.fromkeys(names, code))
    return LookupTable.build(mapping)


_COUNTRIES = _country_table()


def normalize_country(cleaned: pa.Array, request: Request) -> Normalized:
    """Countries as ISO 3166-1 alpha-2 (``"U.S."``, ``"usa"``, ``"United States"`` → ``US``).

    Nulls stay null (the ingest core fills the dealer's country); unknown values are nulled and
    flagged invalid. Raises nothing.
    """
    return finish(cleaned, lookup_folded(cleaned, _COUNTRIES))
