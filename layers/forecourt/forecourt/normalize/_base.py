"""The values every normalizer shares: the dealer's locale, the request, the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from forecourt.normalize._kernels import lost_values


@dataclass(frozen=True)
class Locale:
    """Where the dealer is: the defaults for values that do not say it themselves."""

    country: str = "US"
    """ISO 3166-1 alpha-2: default region of phone numbers and the meaning of ``state`` and ``zip``."""
    timezone: str = "America/New_York"
    """IANA zone: naive timestamps in the dealer's files are local times of this zone."""

    @property
    def region(self) -> str:
        """The country code, uppercased."""
        return self.country.strip().upper()


@dataclass
class Normalized:
    """One normalized column."""

    values: pa.Array
    """The normalized column, of exactly the requested target type."""
    invalid: pa.Array
    """``pa.bool_()``, never null: True where a non-blank input could not be used (and was nulled)."""
    parts: dict[str, pa.Array] = field(default_factory=dict)
    """Side outputs: ``ext`` for phones (extension digits), ``zip4`` for US zips (the +4 add-on)."""


@dataclass(frozen=True)
class Request:
    """What the caller asked for, handed to every kind's normalizer."""

    target: pa.DataType
    locale: Locale
    invert: bool = False
    formats: Sequence[str] = ()


def finish(cleaned: pa.Array, values: pa.Array, parts: dict[str, pa.Array] | None = None) -> Normalized:
    """The result for ``values`` computed from ``cleaned``: invalid where a present input was lost."""
    return Normalized(values=values, invalid=lost_values(cleaned, values), parts=parts or {})
