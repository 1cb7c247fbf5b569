"""Meta Marketing API calls for customer-file custom audiences (``/act_<id>/customaudiences``,
``/<audience>/users``, ``/<audience>/usersreplace``), with the standard library's HTTP client.

Requests are form-encoded, as Meta's examples are: ``payload`` and ``session`` as JSON text, and
``access_token``. ``request_fields`` builds the exact fields (what ``--dry-run`` writes, with the
token left out). Errors: ``RateLimited`` for Meta's rate limits (code 80003 for custom audiences,
4, 17, 613, or HTTP 429), worth retrying later; ``MetaError`` for the rest. Neither carries a row.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

RATE_LIMIT_CODES = frozenset({4, 17, 613, 80003})
TIMEOUT_SECONDS = 60.0
OPERATIONS = {"add": ("POST", "users"), "remove": ("DELETE", "users"), "replace": ("POST", "usersreplace")}


class MetaError(Exception):
    """Meta refused a request (the code and message are Meta's, and name no person)."""

    def __init__(self, status: int, code: int | None, message: str, subcode: int | None = None) -> None:
        super().__init__(f"Meta answered {status}, error {code}: {message}")
        self.status, self.code, self.subcode = status, code, subcode

    @property
    def object_gone(self) -> bool:
        """The audience does not exist (any more): Meta deletes unused customer-file audiences."""
        return self.code == 100 and self.subcode == 33


class RateLimited(MetaError):
    """Too many calls: try again later."""


@dataclass(frozen=True)
class MetaApi:
    """One ad account's access: ``base_url`` is ``https://graph.facebook.com`` (or the local fake)."""

    base_url: str
    version: str
    access_token: str
    ad_account_id: str

    def create_audience(self, name: str, description: str) -> str:
        """A new customer-file custom audience; returns its id."""
        fields = {
            "name": name,
            "description": description,
            "subtype": "CUSTOM",
            "customer_file_source": "USER_PROVIDED_ONLY",
        }
        answer = self._call("POST", f"act_{self.ad_account_id.removeprefix('act_')}/customaudiences", fields)
        return str(answer["id"])

    def delete_audience(self, audience_id: str) -> None:
        """Delete a custom audience (``DELETE /<audience id>``)."""
        self._call("DELETE", audience_id, {})

    def send(self, audience_id: str, operation: str, fields: dict[str, str]) -> dict[str, Any]:
        """One batch of ``operation`` (add, remove, replace) with ``request_fields``' fields."""
        method, edge = OPERATIONS[operation]
        return self._call(method, f"{audience_id}/{edge}", fields)

    def _call(self, method: str, path: str, fields: dict[str, str]) -> dict[str, Any]:
        body = urlencode({**fields, "access_token": self.access_token}).encode()
        request = urllib.request.Request(  # noqa: S310 (the base URL is configuration: https or loopback)
            f"{self.base_url.rstrip('/')}/{self.version}/{path}",
            data=body,
            method=method,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as error:
            raise _error(error.code, error.read()) from None


def _error(status: int, body: bytes) -> MetaError:
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code")
    message = str(error.get("message") or "no error message")[:300]
    kind = RateLimited if status == 429 or code in RATE_LIMIT_CODES else MetaError
    return kind(status, code, message, error.get("error_subcode"))


def request_fields(
    schema: list[str], rows: list[list[str]], session_id: int, batch_seq: int, last: bool, total: int
) -> dict[str, str]:
    """The fields of one ``/users`` or ``/usersreplace`` request (without the access token)."""
    session = {
        "session_id": session_id,
        "batch_seq": batch_seq,
        "last_batch_flag": last,
        "estimated_num_total": total,
    }
    payload = {"schema": schema, "data": rows}
    return {"payload": json.dumps(payload, separators=(",", ":")), "session": json.dumps(session)}


GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v21.0"


def secret_name() -> str:
    """The Secrets Manager name of the Meta credentials: ``<prefix>/platforms/meta``, a JSON object
    with ``access_token`` (a system user's token with ads_management), ``ad_account_id`` and,
    optionally, ``base_url`` (another Graph API address, e.g. the local fake) and ``version``."""
    from forecourt.config import settings

    return f"{settings().secret_prefix}/platforms/meta"


def from_secret() -> MetaApi:
    """The ``MetaApi`` the credentials in Secrets Manager describe; raises LookupError naming the
    secret when there is none, ValueError when it lacks a field."""
    from forecourt import aws

    client = aws.client("secretsmanager")
    try:
        text = client.get_secret_value(SecretId=secret_name())["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        raise LookupError(
            f"no Meta credentials: create the secret {secret_name()!r} with "
            '{"access_token": "…", "ad_account_id": "…"}'
        ) from None
    given = json.loads(text)
    missing = [name for name in ("access_token", "ad_account_id") if not given.get(name)]
    if missing:
        raise ValueError(f"secret {secret_name()!r} lacks {', '.join(missing)}")
    return MetaApi(
        base_url=str(given.get("base_url") or GRAPH_URL),
        version=str(given.get("version") or API_VERSION),
        access_token=str(given["access_token"]),
        ad_account_id=str(given["ad_account_id"]),
    )
