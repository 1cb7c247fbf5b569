"""Google Ads API (REST) calls, with the standard library's HTTP client: Customer Match user lists
and their OfflineUserDataJobs, and any other ``customers/{id}…`` method (conversion uploads).

Every call carries an OAuth2 access token (exchanged from the refresh token at ``token_url``,
kept until a minute before it expires), the ``developer-token`` header and, when the credentials
name a manager account, ``login-customer-id``. Bodies are JSON in the API's camelCase.

Customer Match, as documented: a CRM-based user list (``userLists:mutate``, upload key
CONTACT_INFO); per change, an OfflineUserDataJob of type CUSTOMER_MATCH_USER_LIST carrying the list
and the consent (``offlineUserDataJobs:create``); ``:addOperations`` requests of at most 100,000
user identifiers and at most 20 identifiers per user, with partial failure on; a job holds either
creates or removes, never both (CONFLICTING_OPERATION), and a full replace starts with
``removeAll``; then ``:run``, and the job's status polled (``googleAds:search``) until SUCCESS or
FAILED — Google says it may take hours.

Errors: ``RateLimited`` for RESOURCE_EXHAUSTED (HTTP 429) and the transient UNAVAILABLE (503),
worth retrying later; ``GoogleAdsError`` for the rest, with Google's error codes
(``{"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"}``) and messages, which name no person.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

API_URL = "https://googleads.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 (an address, not a secret)
API_VERSION = "v26"
TIMEOUT_SECONDS = 60.0
MAX_IDENTIFIERS_PER_REQUEST = 100_000
MAX_IDENTIFIERS_PER_USER = 20
JOB_DONE = frozenset({"SUCCESS", "FAILED"})
MEMBERSHIP_DAYS = 540
_RETRYABLE = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE"})


class GoogleAdsError(Exception):
    """Google Ads refused a request: the HTTP status, the RPC status, and the error codes."""

    def __init__(self, status: int, rpc_status: str, message: str, codes: list[dict[str, str]]) -> None:
        named = ", ".join(f"{k}={v}" for code in codes for k, v in code.items())
        super().__init__(
            f"Google Ads answered {status} {rpc_status}: {message}" + (f" ({named})" if named else "")
        )
        self.status, self.rpc_status, self.codes = status, rpc_status, codes

    def has(self, value: str) -> bool:
        """Whether any error code is ``value`` (``INVALID_USER_LIST_ID``)."""
        return any(value in code.values() for code in self.codes)

    @property
    def list_gone(self) -> bool:
        """The user list does not exist (any more), or was closed: it must be made again."""
        return any(self.has(v) for v in ("INVALID_USER_LIST_ID", "USER_LIST_MUTATE_NOT_SUPPORTED"))

    @property
    def job_gone(self) -> bool:
        """The job is unknown, or no longer takes operations: its operation starts over in a new job."""
        return self.status == 404 or any(self.has(v) for v in ("RESOURCE_NOT_FOUND", "INVALID_JOB_STATUS"))


class RateLimited(GoogleAdsError):
    """Quota exhausted or the service briefly unavailable: try again later."""


@dataclass
class GoogleAdsApi:
    """One Google Ads customer's access (``base_url`` is the API, or the local fake)."""

    customer_id: str
    developer_token: str
    client_id: str
    client_secret: str
    refresh_token: str
    login_customer_id: str | None = None
    base_url: str = API_URL
    token_url: str = TOKEN_URL
    version: str = API_VERSION
    _token: tuple[str, float] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def customer(self) -> str:
        """``customers/<id>``, the id without dashes."""
        return f"customers/{_digits(self.customer_id)}"

    def post(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``customers/<id><method>`` (``":uploadClickConversions"``,
        ``"/offlineUserDataJobs:create"``) or, for a ``method`` starting with ``customers/``, to that
        resource (``"customers/1/offlineUserDataJobs/2:run"``)."""
        path = method if method.startswith("customers/") else f"{self.customer}{method}"
        request = urllib.request.Request(  # noqa: S310 (the base URL is configuration: https or loopback)
            f"{self.base_url.rstrip('/')}/{self.version}/{path}",
            data=json.dumps(body, separators=(",", ":")).encode(),
            method="POST",
            headers=self._headers(),
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise _error(error.code, error.read()) from None
        return dict(json.loads(text)) if text.strip() else {}

    # --- Customer Match ----------------------------------------------------------------------------

    def create_user_list(self, name: str, description: str) -> str:
        """A new Customer Match (CRM-based, contact info) user list; returns its resource name."""
        operation = {
            "create": {
                "name": name,
                "description": description,
                "membershipStatus": "OPEN",
                # days a member stays after their last upload; Google refuses more than 540 since
                # April 2025 (RangeError TOO_HIGH), so the sync re-adds members well before (targets)
                "membershipLifeSpan": str(MEMBERSHIP_DAYS),
                "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO", "dataSourceType": "FIRST_PARTY"},
            }
        }
        answer = self.post("/userLists:mutate", {"operations": [operation]})
        return str(answer["results"][0]["resourceName"])

    def create_job(self, user_list: str, consent: dict[str, str]) -> str:
        """A new OfflineUserDataJob for ``user_list`` with the ``consent`` of its members; returns
        its resource name."""
        job = {
            "type": "CUSTOMER_MATCH_USER_LIST",
            "customerMatchUserListMetadata": {"userList": user_list, "consent": consent},
        }
        return str(self.post("/offlineUserDataJobs:create", {"job": job})["resourceName"])

    def add_operations(self, job: str, body: dict[str, Any]) -> dict[str, Any]:
        """One ``:addOperations`` request (``job_operations``' body); Google's answer (which may hold
        a ``partialFailureError``)."""
        return self.post(f"{job}:addOperations", body)

    def run_job(self, job: str) -> None:
        self.post(f"{job}:run", {})

    def job_status(self, job: str) -> tuple[str, str | None]:
        """The job's status (PENDING, RUNNING, SUCCESS, FAILED) and failure reason."""
        query = (
            "SELECT offline_user_data_job.status, offline_user_data_job.failure_reason "
            f"FROM offline_user_data_job WHERE offline_user_data_job.resource_name = '{job}'"
        )
        rows = self.post("/googleAds:search", {"query": query}).get("results") or []
        if not rows:
            raise GoogleAdsError(404, "NOT_FOUND", f"no offline user data job {job}", [])
        found = rows[0].get("offlineUserDataJob") or {}
        return str(found.get("status") or "UNKNOWN"), found.get("failureReason")

    # --- transport ---------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self._access_token()}",
            "developer-token": self.developer_token,
            "Content-Type": "application/json",
        }
        if self.login_customer_id:
            headers["login-customer-id"] = _digits(self.login_customer_id)
        return headers

    def _access_token(self) -> str:
        with self._lock:
            if self._token is not None and self._token[1] > time.monotonic():
                return self._token[0]
            body = urlencode(
                {
                    "grant_type": "refresh_token",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "refresh_token": self.refresh_token,
                }
            ).encode()
            request = urllib.request.Request(  # noqa: S310 (configuration: https or loopback)
                self.token_url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                    given = json.loads(answer.read())
            except urllib.error.HTTPError as error:
                raise GoogleAdsError(
                    error.code, "UNAUTHENTICATED", "the OAuth refresh token was refused", []
                ) from None
            lifetime = float(given.get("expires_in") or 3600)
            self._token = (str(given["access_token"]), time.monotonic() + max(0.0, lifetime - 60))
            return self._token[0]


def _digits(customer_id: str) -> str:
    return customer_id.replace("-", "").strip()


def _error(status: int, body: bytes) -> GoogleAdsError:
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    rpc_status = str(error.get("status") or "UNKNOWN")
    message = str(error.get("message") or "no error message")[:300]
    codes = [
        {str(k): str(v) for k, v in (item.get("errorCode") or {}).items()}
        for detail in error.get("details") or []
        for item in detail.get("errors") or []
    ]
    retry = (
        status == 429
        or rpc_status in _RETRYABLE
        or any(
            "RESOURCE_EXHAUSTED" in v or "RESOURCE_TEMPORARILY_EXHAUSTED" in v
            for code in codes
            for v in code.values()
        )
    )
    return (RateLimited if retry else GoogleAdsError)(status, rpc_status, message, codes)


def job_operations(kind: str, users: list[dict[str, Any]], remove_all: bool = False) -> dict[str, Any]:
    """The body of one ``:addOperations`` request: each user (``{"userIdentifiers": [...]}``) as a
    ``create`` or ``remove`` operation (``kind``), after a ``removeAll`` when ``remove_all``;
    partial failure on. Raises ValueError beyond Google's identifier limits."""
    if kind not in ("create", "remove"):
        raise ValueError(f"unknown operation {kind!r}")
    identifiers = sum(len(user["userIdentifiers"]) for user in users)
    if identifiers > MAX_IDENTIFIERS_PER_REQUEST:
        raise ValueError(
            f"{identifiers:,} identifiers in one request: Google takes {MAX_IDENTIFIERS_PER_REQUEST:,}"
        )
    if any(len(user["userIdentifiers"]) > MAX_IDENTIFIERS_PER_USER for user in users):
        raise ValueError(f"a user with more than {MAX_IDENTIFIERS_PER_USER} identifiers")
    operations: list[dict[str, Any]] = [{"removeAll": True}] if remove_all else []
    operations.extend({kind: user} for user in users)
    return {"operations": operations, "enablePartialFailure": True}


def partial_failures(answer: dict[str, Any], skip: int = 0) -> int:
    """How many operations Google refused in a partial-failure answer: the distinct operation
    indexes its errors name (one operation can fail with several errors), leaving out the first
    ``skip`` operations (a ``removeAll`` in front of the users); an error naming no operation
    counts as one."""
    error = answer.get("partialFailureError") or {}
    indexes: set[int] = set()
    unplaced = 0
    for detail in error.get("details") or []:
        for item in detail.get("errors") or []:
            index = _operation_index(item)
            if index is None:
                unplaced += 1
            else:
                indexes.add(index)
    return sum(1 for index in indexes if index >= skip) + unplaced


def _operation_index(item: dict[str, Any]) -> int | None:
    for element in (item.get("location") or {}).get("fieldPathElements") or []:
        if element.get("fieldName") == "operations" and element.get("index") is not None:
            return int(element["index"])
    return None


def secret_name() -> str:
    """The Secrets Manager name of the Google Ads credentials: ``<prefix>/platforms/google``, a JSON
    object with ``developer_token``, ``client_id``, ``client_secret``, ``refresh_token``,
    ``customer_id`` and, optionally, ``login_customer_id`` (a manager account), ``base_url``,
    ``token_url`` (other addresses, e.g. the local fake) and ``version``."""
    from forecourt.config import settings

    return f"{settings().secret_prefix}/platforms/google"


REQUIRED = ("developer_token", "client_id", "client_secret", "refresh_token", "customer_id")


def from_secret() -> GoogleAdsApi:
    """The ``GoogleAdsApi`` the credentials in Secrets Manager describe; raises LookupError naming
    the secret when there is none, ValueError when it lacks a field."""
    from forecourt import aws

    client = aws.client("secretsmanager")
    try:
        text = client.get_secret_value(SecretId=secret_name())["SecretString"]
    except client.exceptions.ResourceNotFoundException:
        raise LookupError(
            f"no Google Ads credentials: create the secret {secret_name()!r} with "
            + json.dumps(dict.fromkeys(REQUIRED, "…"), ensure_ascii=False)
        ) from None
    given = json.loads(text)
    missing = [name for name in REQUIRED if not given.get(name)]
    if missing:
        raise ValueError(f"secret {secret_name()!r} lacks {', '.join(missing)}")
    return GoogleAdsApi(
        customer_id=str(given["customer_id"]),
        developer_token=str(given["developer_token"]),
        client_id=str(given["client_id"]),
        client_secret=str(given["client_secret"]),
        refresh_token=str(given["refresh_token"]),
        login_customer_id=str(given["login_customer_id"]) if given.get("login_customer_id") else None,
        base_url=str(given.get("base_url") or API_URL),
        token_url=str(given.get("token_url") or TOKEN_URL),
        version=str(given.get("version") or API_VERSION),
    )
