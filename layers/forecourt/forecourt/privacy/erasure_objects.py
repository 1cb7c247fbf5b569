"""Erasure beyond the tables (``erasure`` step 5): the S3 objects, DynamoDB items and local files
that hold the person."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forecourt.privacy.erasure import Found, Ledger


def erase(found: Found, ledger: Ledger) -> None:
    """Remove the person from every object and item outside the tables; each step in ``ledger``."""
