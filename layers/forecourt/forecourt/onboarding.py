"""Checks a dealer must pass before it is saved by ``forecourt dealers add`` / ``update``.

The ``registry.Dealer`` model checks shapes (5-digit zips, an IANA time zone, known feeds); these
checks need the world around the dealer: zips that exist, a country that exists, feeds a dealer may
send, a delivery endpoint our functions may safely call, and a territory that does not silently
overlap another dealer's (routing gives a zip shared by two active dealers to the lowest dealer id,
so the other would never see those leads). Every problem is reported at once, and nothing is saved
while there is one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from forecourt.registry import Dealer

OEM_DATASETS = frozenset({"campaigns", "campaign_spend"})
"""Datasets only the OEM sends (``forecourt ingest --oem``): not a dealer's feed."""
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Problem:
    """One reason a dealer cannot be saved: the setting (as the CLI option names it) and why."""

    setting: str
    message: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


class DealerRefused(ValueError):
    """A dealer failed its checks; ``problems`` lists every reason."""

    def __init__(self, dealer_id: str, problems: list[Problem]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"dealer {dealer_id} not saved:\n{listed}")


def model_problems(error: Any) -> list[Problem]:
    """A pydantic ValidationError of ``registry.Dealer`` as problems named by CLI option."""
    options = {"zip": "--zip", "territory_zips": "--territory", "timezone": "--timezone", "feeds": "--feed"}
    options |= {"country": "--country", "business_hours": "--hours", "dealer_id": "DEALER_ID"}
    options |= {"delivery": "--delivery/--endpoint", "duplicate_policy": "--duplicates", "name": "--name"}
    problems = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "delivery"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch" and field in ("zip", "country"):
            message = {"zip": "a zip is 5 digits", "country": "an ISO 3166 alpha-2 code, like US"}[field]
            message += f", not {item['input']!r}"
        problems.append(Problem(options.get(field, field), message))
    return problems


def check(dealer: Dealer, others: Iterable[Dealer], *, local: bool, allow_overlap: bool = False) -> None:
    """Raise DealerRefused with every problem of ``dealer`` among the registered ``others`` (``local``:
    the local stack, whose dealer CRMs listen on loopback)."""
    problems = [
        *_place_problems(dealer),
        *_feed_problems(dealer),
        *_delivery_problems(dealer, local=local),
    ]
    if not allow_overlap:
        problems += _overlaps(dealer, others)
    if problems:
        raise DealerRefused(dealer.dealer_id, problems)


def _place_problems(dealer: Dealer) -> list[Problem]:
    import phonenumbers

    from forecourt import zip_codes

    problems = []
    if dealer.country not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(Problem("--country", f"{dealer.country} is not an ISO 3166 alpha-2 country code"))
    if dealer.zip and zip_codes.location(dealer.zip) is None:
        problems.append(Problem("--zip", f"{dealer.zip} is not a US zip code"))
    unknown = [z for z in dealer.territory_zips if zip_codes.location(z) is None]
    if unknown:
        problems.append(Problem("--territory", f"not US zip codes: {_few(unknown)}"))
    return problems


def _feed_problems(dealer: Dealer) -> list[Problem]:
    from forecourt import feeds

    oem = [name for name in dealer.feeds if feeds.get(name).dataset in OEM_DATASETS]
    if oem:
        return [
            Problem(
                "--feed", f"{', '.join(oem)}: OEM data, sent with `forecourt ingest --oem`, not by a dealer"
            )
        ]
    return []


def _delivery_problems(dealer: Dealer, *, local: bool) -> list[Problem]:
    delivery = dealer.delivery
    if delivery is None or delivery.method not in ("adf_http", "json_webhook") or not delivery.endpoint:
        return []
    try:
        url = urlsplit(delivery.endpoint)
        host = url.hostname or ""
        _ = url.port  # a port that is no number raises here
    except ValueError as exc:
        return [Problem("--endpoint", f"not a URL: {exc}")]
    problems = []
    if not host:
        problems.append(Problem("--endpoint", "names no host"))
    if url.username or url.password:
        problems.append(
            Problem("--endpoint", "carries a user or password: the registry is no place for credentials")
        )
    if url.fragment:
        problems.append(Problem("--endpoint", "has a #fragment, which is never sent to the server"))
    loopback = host in _LOOPBACK_HOSTS
    if url.scheme != "https" and not (local and loopback):
        problems.append(Problem("--endpoint", "must be https:// (leads carry personal data)"))
    if host and not (local and loopback) and _internal(host):
        problems.append(
            Problem(
                "--endpoint",
                f"{host} is an internal address our functions must never call; give the CRM's public URL",
            )
        )
    return problems


def _internal(host: str) -> bool:
    """A loopback, private, link-local (instance metadata), reserved or unspecified address."""
    if host in _LOOPBACK_HOSTS or host.endswith((".localhost", ".internal", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def _overlaps(dealer: Dealer, others: Iterable[Dealer]) -> list[Problem]:
    mine = set(dealer.territory_zips)
    if not mine or not dealer.active:
        return []
    problems = []
    for other in sorted(others, key=lambda d: d.dealer_id):
        shared = sorted(mine & set(other.territory_zips))
        if other.dealer_id == dealer.dealer_id or not other.active or not shared:
            continue
        winner = min(dealer.dealer_id, other.dealer_id)
        problems.append(
            Problem(
                "--territory",
                f"{_few(shared)} already in {other.dealer_id}'s territory ({other.name or 'no name'}); "
                f"a lead from a shared zip goes to {winner} (the lowest id). Leave them out, or pass "
                "--allow-overlap",
            )
        )
    return problems


def _few(values: list[str], shown: int = 8) -> str:
    more = len(values) - shown
    return ", ".join(values[:shown]) + (f" and {more} more" if more > 0 else "")
