"""Our secret for signing a dealer's JSON webhook deliveries (Secrets Manager, ARCHITECTURE §9).

The same scheme as the webhooks we receive (``forecourt.signing``), with the roles swapped: we sign,
the dealer's CRM verifies. The secret is ``<secret_prefix>/dealers/<dealer id>/webhook``, created when
a dealer is set to ``json_webhook`` (``forecourt dealers update ID --delivery json_webhook`` prints it
once) and rotated like a sender's (``forecourt.senders``): ``rotate`` puts a new value, which
Secrets Manager labels AWSCURRENT while the old one becomes AWSPREVIOUS. During a rotation every
delivery carries one ``v1=`` per secret, so the dealer's CRM verifies with either the old or the
new secret and can switch at its own pace; ``finish_rotation`` drops AWSPREVIOUS when it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from forecourt import rotating_secret
from forecourt.config import settings

SECRET_CACHE_SECONDS = rotating_secret.CACHE_SECONDS


class DealerSecretMissing(LookupError):
    """The dealer has no webhook secret (it was never set to json_webhook through the CLI)."""

    def __init__(self, dealer_id: str) -> None:
        super().__init__(
            f"dealer {dealer_id} has no webhook secret {secret_name(dealer_id)!r}; "
            f"`forecourt dealers update {dealer_id} --delivery json_webhook` creates it"
        )
        self.dealer_id = dealer_id


def secret_name(dealer_id: str) -> str:
    """The Secrets Manager name of a dealer's webhook secret: ``<prefix>/dealers/<id>/webhook``."""
    return f"{settings().secret_prefix}/dealers/{dealer_id}/webhook"


def ensure_secret(dealer_id: str) -> str | None:
    """Create the dealer's webhook secret unless it exists; returns the new secret (to be shown once)
    or None when the dealer already had one (it is kept: its CRM already verifies with it)."""
    return rotating_secret.create(
        secret_name(dealer_id), f"Forecourt: signs JSON webhook deliveries to dealer {dealer_id}"
    )


def issue(dealer_id: str) -> str:
    """The webhook secret of a dealer being registered, to be shown once: created, or — when a secret
    of that name is left from an earlier registration (an add that failed after it, a dealer removed
    and added again) — given a new value with the old one retired at once, since whoever holds the
    old one is not this registration's CRM."""
    created = ensure_secret(dealer_id)
    if created is not None:
        return created
    value = rotating_secret.rotate(secret_name(dealer_id))
    rotating_secret.finish_rotation(secret_name(dealer_id))
    return value


def rotate(dealer_id: str) -> str:
    """Give the dealer a new webhook secret and return it (shown once). Deliveries are signed with the
    new and the previous secret until ``finish_rotation``; rotating again before that retires the
    oldest at once. Raises DealerSecretMissing."""
    try:
        return rotating_secret.rotate(secret_name(dealer_id))
    except rotating_secret.SecretMissing as exc:
        raise DealerSecretMissing(dealer_id) from exc


def rotation_in_progress(dealer_id: str) -> bool:
    """Whether deliveries are still signed with a previous secret too. Raises DealerSecretMissing."""
    try:
        return rotating_secret.rotation_in_progress(secret_name(dealer_id))
    except rotating_secret.SecretMissing as exc:
        raise DealerSecretMissing(dealer_id) from exc


def finish_rotation(dealer_id: str) -> bool:
    """Sign with the newest secret only from now on; False when no rotation was in progress. Raises
    DealerSecretMissing."""
    try:
        return rotating_secret.finish_rotation(secret_name(dealer_id))
    except rotating_secret.SecretMissing as exc:
        raise DealerSecretMissing(dealer_id) from exc


def secrets_for(dealer_id: str, *, clock: Callable[[], float] = time.monotonic) -> list[str]:
    """The secrets a delivery to the dealer is signed with: current first, then the previous one
    during a rotation; cached like senders' secrets. Raises DealerSecretMissing."""
    try:
        return rotating_secret.values(secret_name(dealer_id), clock=clock)
    except rotating_secret.SecretMissing as exc:
        raise DealerSecretMissing(dealer_id) from exc


def clear_cache() -> None:
    """Forget every cached secret (tests; after changing the settings)."""
    rotating_secret.clear_cache()
