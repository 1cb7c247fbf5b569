"""Google Ads Customer Match: how an identifier must look (Google's Data Manager formatting rules).

- E-mail: trimmed and lowercased; for ``gmail.com`` / ``googlemail.com`` addresses the dots and any
  ``+suffix`` of the local part removed (``Jane.Doe+cars@gmail.com`` → ``janedoe@gmail.com``);
  SHA-256, lowercase hex (``hashed_email``).
- Phone: E.164 with the ``+`` (``+13125550137``); SHA-256 (``hashed_phone_number``).
- First and last name: lowercase, trimmed, no punctuation; no title (``Dr.``, ``Mrs``) in front of
  the first name; SHA-256 (``address_info.hashed_first_name`` / ``hashed_last_name``).
- Country (ISO 3166-1 alpha-2, ``US``) and postal code (``60601``): **not** hashed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.audiences.hashing import sha256_hex

COLUMNS = (
    "hashed_email",
    "hashed_phone_number",
    "hashed_first_name",
    "hashed_last_name",
    "country_code",
    "postal_code",
)
"""The output columns, named after the Google Ads API's UserIdentifier / OfflineUserAddressInfo fields."""
_TITLES = r"^(?:(?:mr|mrs|ms|miss|mx|dr|prof|sir|madam|mme|mlle|herr|frau)\b\.?\s*)+"


def normalize_email(email: pa.Array) -> pa.Array:
    """Lowercase addresses (as ``people.prepare`` leaves them) with Google's gmail rule applied."""
    parts = pc.split_pattern(email, "@", max_splits=1, reverse=True)
    local = pc.list_element(parts, 0)
    domain = pc.list_element(parts, 1)
    gmail = pc.fill_null(pc.is_in(domain, value_set=pa.array(["gmail.com", "googlemail.com"])), False)
    plain = pc.replace_substring(pc.replace_substring_regex(local, r"\+.*$", ""), ".", "")
    folded = pc.binary_join_element_wise(plain, domain, "@")
    return pc.if_else(gmail, folded, email)


def normalize_name(name: pa.Array, *, first: bool = False) -> pa.Array:
    """Lowercase, punctuation removed, spaces trimmed and single; for a ``first`` name, a title in
    front dropped too when a name remains (``Sir`` alone stays ``sir``; a surname is never cut)."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(name))
    if first:
        untitled = pc.replace_substring_regex(lowered, _TITLES, "")
        lowered = pc.if_else(pc.equal(pc.utf8_trim_whitespace(untitled), ""), lowered, untitled)
    bare = pc.replace_substring_regex(lowered, r"[\p{P}\p{S}]", "")
    single = pc.utf8_trim_whitespace(pc.replace_substring_regex(bare, r"\s+", " "))
    return pc.if_else(pc.equal(single, ""), pa.scalar(None, pa.string()), single)


def identifiers(people: pa.Table) -> pa.Table:
    """``COLUMNS`` for each row of ``people.prepare``'s table, row for row."""
    return pa.table(
        {
            "hashed_email": sha256_hex(normalize_email(people["email"].combine_chunks())),
            "hashed_phone_number": sha256_hex(people["phone"].combine_chunks()),
            "hashed_first_name": sha256_hex(
                normalize_name(people["first_name"].combine_chunks(), first=True)
            ),
            "hashed_last_name": sha256_hex(normalize_name(people["last_name"].combine_chunks())),
            "country_code": people["country"].combine_chunks(),
            "postal_code": people["zip"].combine_chunks(),
        }
    )
