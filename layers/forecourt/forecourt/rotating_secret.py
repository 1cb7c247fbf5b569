"""A secret in Secrets Manager that rotates with two valid values (webhook senders' secrets, our
secrets for signing dealer webhooks).

``rotate`` puts a new value, which Secrets Manager labels AWSCURRENT while the one it replaces
becomes AWSPREVIOUS: both are valid until ``finish_rotation`` takes the AWSPREVIOUS label away.
Rotating again before finishing retires the oldest value at once, so at most two are ever valid.
``values`` (current first) is cached per process for ``CACHE_SECONDS`` so that a warm Lambda does
not ask Secrets Manager on every request.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from forecourt import aws

SECRET_BYTES = 32
CACHE_SECONDS = 60.0
_CURRENT, _PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"


class SecretMissing(LookupError):
    """No secret of that name exists."""

    def __init__(self, secret_id: str) -> None:
        super().__init__(f"secret {secret_id!r} does not exist")
        self.secret_id = secret_id


def new_value() -> str:
    """A fresh random secret (32 bytes, URL-safe text)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def create(secret_id: str, description: str) -> str | None:
    """Create the secret with a new value and return it (to be shown once); None when it exists."""
    manager = aws.client("secretsmanager")
    value = new_value()
    try:
        manager.create_secret(Name=secret_id, SecretString=value, Description=description)
    except manager.exceptions.ResourceExistsException:
        return None
    forget(secret_id)
    return value


def rotate(secret_id: str) -> str:
    """Put a new current value and return it; the replaced one stays valid. Raises SecretMissing."""
    value = new_value()
    manager = aws.client("secretsmanager")
    try:
        manager.put_secret_value(SecretId=secret_id, SecretString=value)
    except manager.exceptions.ResourceNotFoundException as exc:
        raise SecretMissing(secret_id) from exc
    forget(secret_id)
    return value


def _previous_version(secret_id: str) -> str | None:
    manager = aws.client("secretsmanager")
    try:
        versions = manager.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    except manager.exceptions.ResourceNotFoundException as exc:
        raise SecretMissing(secret_id) from exc
    return next((version for version, stages in versions.items() if _PREVIOUS in stages), None)


def rotation_in_progress(secret_id: str) -> bool:
    """Whether a previous value is still valid. Raises SecretMissing."""
    return _previous_version(secret_id) is not None


def finish_rotation(secret_id: str) -> bool:
    """Only the current value is valid from now on; False when no rotation was in progress. Raises
    SecretMissing."""
    previous = _previous_version(secret_id)
    if previous is None:
        return False
    aws.client("secretsmanager").update_secret_version_stage(
        SecretId=secret_id, VersionStage=_PREVIOUS, RemoveFromVersionId=previous
    )
    forget(secret_id)
    return True


def _fetch(secret_id: str) -> list[str]:
    manager = aws.client("secretsmanager")
    values = []
    for stage in (_CURRENT, _PREVIOUS):
        try:
            answer = manager.get_secret_value(SecretId=secret_id, VersionStage=stage)
        except manager.exceptions.ResourceNotFoundException as exc:
            if stage == _CURRENT:
                raise SecretMissing(secret_id) from exc
            continue
        values.append(str(answer["SecretString"]))
    return values


_cache: dict[str, tuple[float, list[str]]] = {}
"""secret id → (expiry on the caller's clock, values)"""


def values(secret_id: str, *, clock: Callable[[], float] = time.monotonic) -> list[str]:
    """The valid values, current first, then the previous one during a rotation; cached for
    ``CACHE_SECONDS`` on ``clock``. Raises SecretMissing."""
    now = clock()
    cached = _cache.get(secret_id)
    if cached is not None and now < cached[0]:
        return list(cached[1])
    found = _fetch(secret_id)
    _cache[secret_id] = (now + CACHE_SECONDS, found)
    return list(found)


def forget(secret_id: str) -> None:
    _cache.pop(secret_id, None)


def clear_cache() -> None:
    """Forget every cached value (tests; after changing the settings)."""
    _cache.clear()
