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

import secrets
import time
from collections.abc import Callable

from forecourt import aws
from forecourt.config import settings
from forecourt.senders import SECRET_BYTES, SECRET_CACHE_SECONDS

_CURRENT, _PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"


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
    manager = aws.client("secretsmanager")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    try:
        manager.create_secret(
            Name=secret_name(dealer_id),
            SecretString=secret,
            Description=f"Forecourt: signs JSON webhook deliveries to dealer {dealer_id}",
        )
    except manager.exceptions.ResourceExistsException:
        return None
    _forget(dealer_id)
    return secret


def rotate(dealer_id: str) -> str:
    """Give the dealer a new webhook secret and return it (shown once). Deliveries are signed with the
    new and the previous secret until ``finish_rotation``; rotating again before that retires the
    oldest at once. Raises DealerSecretMissing."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    manager = aws.client("secretsmanager")
    try:
        manager.put_secret_value(SecretId=secret_name(dealer_id), SecretString=secret)
    except manager.exceptions.ResourceNotFoundException as exc:
        raise DealerSecretMissing(dealer_id) from exc
    _forget(dealer_id)
    return secret


def _previous_version(dealer_id: str) -> str | None:
    manager = aws.client("secretsmanager")
    try:
        versions = manager.describe_secret(SecretId=secret_name(dealer_id)).get("VersionIdsToStages", {})
    except manager.exceptions.ResourceNotFoundException as exc:
        raise DealerSecretMissing(dealer_id) from exc
    return next((version for version, stages in versions.items() if _PREVIOUS in stages), None)


def rotation_in_progress(dealer_id: str) -> bool:
    """Whether deliveries are still signed with a previous secret too. Raises DealerSecretMissing."""
    return _previous_version(dealer_id) is not None


def finish_rotation(dealer_id: str) -> bool:
    """Sign with the newest secret only from now on; False when no rotation was in progress. Raises
    DealerSecretMissing."""
    previous = _previous_version(dealer_id)
    if previous is None:
        return False
    aws.client("secretsmanager").update_secret_version_stage(
        SecretId=secret_name(dealer_id), VersionStage=_PREVIOUS, RemoveFromVersionId=previous
    )
    _forget(dealer_id)
    return True


def _fetch(dealer_id: str) -> list[str]:
    manager = aws.client("secretsmanager")
    values = []
    for stage in (_CURRENT, _PREVIOUS):
        try:
            answer = manager.get_secret_value(SecretId=secret_name(dealer_id), VersionStage=stage)
        except manager.exceptions.ResourceNotFoundException as exc:
            if stage == _CURRENT:
                raise DealerSecretMissing(dealer_id) from exc
            continue
        values.append(str(answer["SecretString"]))
    return values


_cache: dict[str, tuple[float, list[str]]] = {}
"""dealer id → (expiry on the caller's clock, secrets)"""


def secrets_for(dealer_id: str, *, clock: Callable[[], float] = time.monotonic) -> list[str]:
    """The secrets a delivery to the dealer is signed with: current first, then the previous one
    during a rotation; cached for ``SECRET_CACHE_SECONDS`` like senders' secrets. Raises
    DealerSecretMissing."""
    now = clock()
    cached = _cache.get(dealer_id)
    if cached is not None and now < cached[0]:
        return list(cached[1])
    values = _fetch(dealer_id)
    _cache[dealer_id] = (now + SECRET_CACHE_SECONDS, values)
    return list(values)


def _forget(dealer_id: str) -> None:
    _cache.pop(dealer_id, None)


def clear_cache() -> None:
    """Forget every cached secret (tests; after changing the settings)."""
    _cache.clear()
