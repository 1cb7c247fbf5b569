"""Closed sets of reason codes that analysts group by (documented in docs/quarantine-reasons.md)."""

from __future__ import annotations

from enum import StrEnum


class QuarantineReason(StrEnum):
    """Why a record (or a whole file) went to quarantine instead of a curated table."""

    UNKNOWN_DEALER = "unknown_dealer"
    """The raw key names a dealer that is not registered: the file is quarantined whole."""
    UNKNOWN_FEED = "unknown_feed"
    """No feed profile matches the file's format and headers (or the named feed does not exist)."""
    UNREADABLE_FILE = "unreadable_file"
    """The bytes cannot be read as a file of any supported kind (broken compression, not text, …)."""
    EMPTY_FILE = "empty_file"
    """The object has no bytes, or no header line."""
    FILE_TOO_LARGE = "file_too_large"
    """The object (or its decompressed content) is over the configured size limit."""
    NOT_WELL_FORMED = "not_well_formed"
    """An XML document that does not parse (or the rest of it after the last good prospect); the message
    carries the parser's line and column."""
    MALFORMED_ROW = "malformed_row"
    """A CSV row with the wrong number of cells, or a JSON line that does not parse or is not an object."""
    MISSING_REQUIRED_FIELD = "missing_required_field"
    """A field of the dataset's minimum contract is empty or absent."""
    INVALID_REQUIRED_FIELD = "invalid_required_field"
    """A field of the minimum contract is present but unusable (bad date, bad year…)."""
    MISSING_ONE_OF = "missing_one_of"
    """None of a group of alternatives is usable (e.g. no name, or neither phone nor e-mail)."""
    REPORT_SUMMARY_ROW = "report_summary_row"
    """A totals line of an ad-platform report download: not a record, kept here for the count."""
    SUPPRESSED = "suppressed"
    """The record names an e-mail or phone of a person who was erased (the suppression list,
    ``privacy.erasure``): it never reaches a curated table, and its raw record is not kept."""


def field_issue(field: str, kind: str) -> str:
    """The field-issue label stored on a curated row: ``'<field>:invalid_<kind>'``."""
    return f"{field}:invalid_{kind}"
