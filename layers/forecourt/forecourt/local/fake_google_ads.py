"""A local Google Ads API (REST) for tests and the demo: OAuth2 token exchange, Customer Match user
lists and OfflineUserDataJobs over HTTP on 127.0.0.1, checking each request against Google's
documented contract and keeping every list's members, so that a test can assert the platform ends
up with exactly the consented people.

Endpoints (``FakeGoogleAds.url`` + path; ``vNN`` is any API version):

- ``POST /token``: the refresh-token grant (``client_id``, ``client_secret``, ``refresh_token``
  must be the fake's); answers an access token valid for an hour.
- ``POST /vNN/customers/<id>/userLists:mutate``: create CRM-based lists (``crmBasedUserList`` with
  ``uploadKeyType`` CONTACT_INFO).
- ``POST /vNN/customers/<id>/offlineUserDataJobs:create``: a CUSTOMER_MATCH_USER_LIST job naming an
  existing list of this customer, with ``consent`` (``adUserData``, ``adPersonalization``).
- ``POST /vNN/customers/<id>/offlineUserDataJobs/<job>:addOperations``: only while the job is
  PENDING; at most 100,000 user identifiers a request and 20 a user; ``create`` / ``remove`` /
  ``removeAll`` operations, a job never mixing creates and removes (CONFLICTING_OPERATION),
  ``removeAll`` only as the job's first operation; each identifier exactly one of ``hashedEmail``,
  ``hashedPhoneNumber`` (64 lowercase hex) or ``addressInfo`` (hashed first and last name,
  ``countryCode`` two capital letters, ``postalCode``, unhashed); ``enablePartialFailure``: invalid
  operations are skipped and reported in ``partialFailureError`` by index, else the request fails.
- ``POST …/offlineUserDataJobs/<job>:run``: PENDING → RUNNING; the job applies its operations and
  turns SUCCESS after ``polls_to_finish`` status queries (0: at once).
- ``POST /vNN/customers/<id>/googleAds:search``: ``offline_user_data_job`` status by resource name.
- Anything else under ``customers/<id>``: ``FakeGoogleAds.methods[suffix]`` (``":uploadClickConversions"``)
  when registered, a function ``(fake, customer id, body) -> answer``.

Every API request needs ``Authorization: Bearer <token from /token>`` (else 401 UNAUTHENTICATED)
and ``developer-token`` (else 401 with ``authenticationError``). ``throttle(times)`` answers the
next requests with 429 RESOURCE_EXHAUSTED. Members are kept as the set of a user's identifiers.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

MAX_IDENTIFIERS = 100_000
MAX_PER_USER = 20
_HEX = re.compile(r"^[0-9a-f]{64}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CUSTOMER = re.compile(r"^/v\d+/customers/(\d+)(.*)$")
_JOB = re.compile(r"^/offlineUserDataJobs/(\d+):(addOperations|run)$")
_SEARCH_JOB = re.compile(r"offline_user_data_job\.resource_name\s*=\s*'([^']+)'")
Member = frozenset[tuple[str, ...]]
Handler = Callable[["FakeGoogleAds", str, dict[str, Any]], dict[str, Any]]


class ApiError(Exception):
    def __init__(self, status: int, rpc: str, message: str, codes: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status, self.rpc, self.message, self.codes = status, rpc, message, codes or []

    def body(self) -> dict[str, Any]:
        errors = [{"errorCode": code, "message": self.message} for code in self.codes]
        details = (
            [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                    "errors": errors,
                    "requestId": secrets.token_hex(8),
                }
            ]
            if errors
            else []
        )
        return {
            "error": {"code": self.status, "message": self.message, "status": self.rpc, "details": details}
        }


def _bad(code: dict[str, str], message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message, [code])


@dataclass
class UserList:
    resource_name: str
    name: str
    members: set[Member] = field(default_factory=set)


@dataclass
class Job:
    resource_name: str
    user_list: str
    consent: dict[str, str]
    status: str = "PENDING"
    kind: str | None = None
    """create or remove, once the job has an operation of either."""
    operations: list[tuple[str, Member | None]] = field(default_factory=list)
    polls: int = 0


@dataclass(frozen=True)
class Request:
    """One request the fake answered (bodies hold hashes only)."""

    path: str
    status: int
    body: dict[str, Any]


class FakeGoogleAds:
    """The fake API; a context manager that serves on 127.0.0.1 (an ephemeral port)."""

    client_id = "fake-client"
    client_secret = "fake-secret"  # noqa: S105 (a test credential)
    refresh_token = "fake-refresh"  # noqa: S105
    developer_token = "fake-developer-token"  # noqa: S105

    def __init__(self, customer_id: str = "1234567890", polls_to_finish: int = 0) -> None:
        self.customer_id = customer_id
        self.polls_to_finish = polls_to_finish
        self.user_lists: dict[str, UserList] = {}
        self.jobs: dict[str, Job] = {}
        self.requests: list[Request] = []
        self.methods: dict[str, Handler] = {}
        self._tokens: set[str] = set()
        self._throttle = 0
        self._next_id = 8_100_000_000
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- server ------------------------------------------------------------------------------------

    def __enter__(self) -> FakeGoogleAds:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            def do_GET(self) -> None:
                found = self.path.split("?", 1)[0] == "/_fake/lists"
                body = json.dumps(fake.lists() if found else {"error": {"message": "not found"}}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeGoogleAds as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def credentials(self) -> dict[str, str]:
        """The secret's fields that reach this fake (what ``google_ads_api.from_secret`` reads)."""
        return {
            "developer_token": self.developer_token,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "customer_id": self.customer_id,
            "base_url": self.url,
            "token_url": f"{self.url}/token",
        }

    def throttle(self, times: int) -> None:
        """Answer the next ``times`` API requests with 429 RESOURCE_EXHAUSTED."""
        with self._lock:
            self._throttle += times

    def members(self, user_list: str) -> set[Member]:
        with self._lock:
            return set(self.user_lists[user_list].members)

    def lists(self) -> list[dict[str, Any]]:
        """Each user list's resource name, name and member count (``GET /_fake/lists``)."""
        with self._lock:
            return [
                {"id": u.resource_name, "name": u.name, "members": len(u.members)}
                for u in self.user_lists.values()
            ]

    def saved(self) -> dict[str, Any]:
        """The user lists and their members, for ``restore`` (jobs not yet run are not kept)."""
        with self._lock:
            return {
                "next_id": self._next_id,
                "user_lists": [
                    {
                        "id": u.resource_name,
                        "name": u.name,
                        "members": sorted(sorted(list(i) for i in m) for m in u.members),
                    }
                    for u in self.user_lists.values()
                ],
            }

    def restore(self, saved: dict[str, Any]) -> None:
        with self._lock:
            self._next_id = max(self._next_id, int(saved.get("next_id") or 0))
            for entry in saved.get("user_lists") or []:
                members = {frozenset(tuple(i) for i in member) for member in entry["members"]}
                self.user_lists[entry["id"]] = UserList(entry["id"], entry["name"], members)

    def new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    # --- requests ----------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = handler.path.split("?", 1)[0]
        status, answer, body = 200, {}, {}
        try:
            if path == "/token":
                answer = self._token(raw)
            else:
                body = _json(raw)
                with self._lock:
                    answer = self._answer(handler, path, body)
        except ApiError as error:
            status, answer = error.status, error.body()
        encoded = json.dumps(answer).encode()
        with self._lock:
            self.requests.append(Request(path, status, body))
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(encoded)))
        handler.end_headers()
        handler.wfile.write(encoded)

    def _token(self, raw: bytes) -> dict[str, Any]:
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        expected = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }
        if any(form.get(k) != v for k, v in expected.items()):
            raise ApiError(400, "invalid_grant", "Bad Request")
        token = "ya29.fake-" + secrets.token_hex(12)
        with self._lock:
            self._tokens.add(token)
        return {
            "access_token": token,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/adwords",
        }

    def _answer(self, handler: BaseHTTPRequestHandler, path: str, body: dict[str, Any]) -> dict[str, Any]:
        auth = handler.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self._tokens:
            raise ApiError(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        if handler.headers.get("developer-token") != self.developer_token:
            raise ApiError(
                401,
                "UNAUTHENTICATED",
                "The developer token is not valid.",
                [{"authenticationError": "DEVELOPER_TOKEN_INVALID"}],
            )
        if self._throttle:
            self._throttle -= 1
            raise ApiError(
                429,
                "RESOURCE_EXHAUSTED",
                "Too many requests. Retry in 30 seconds.",
                [{"quotaError": "RESOURCE_EXHAUSTED"}],
            )
        matched = _CUSTOMER.match(path)
        if not matched:
            raise ApiError(404, "NOT_FOUND", f"no method at {path}")
        customer, rest = matched.groups()
        if customer != self.customer_id:
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                [{"authorizationError": "USER_PERMISSION_DENIED"}],
            )
        if rest == "/userLists:mutate":
            return self._create_lists(customer, body)
        if rest == "/offlineUserDataJobs:create":
            return self._create_job(customer, body)
        job = _JOB.match(rest)
        if job:
            found = self.jobs.get(f"customers/{customer}/offlineUserDataJobs/{job.group(1)}")
            if found is None:
                raise _bad({"mutateError": "RESOURCE_NOT_FOUND"}, "The offline user data job does not exist.")
            return self._add(found, body) if job.group(2) == "addOperations" else self._run(found)
        if rest == "/googleAds:search":
            return self._search(body)
        if rest in self.methods:
            return self.methods[rest](self, customer, body)
        raise ApiError(404, "NOT_FOUND", f"no method {rest}")

    def _create_lists(self, customer: str, body: dict[str, Any]) -> dict[str, Any]:
        results = []
        for operation in body.get("operations") or []:
            create = operation.get("create") or {}
            crm = create.get("crmBasedUserList") or {}
            if not create.get("name"):
                raise _bad({"userListError": "NAME_REQUIRED"}, "A user list needs a name.")
            if crm.get("uploadKeyType") != "CONTACT_INFO":
                raise _bad(
                    {"userListError": "INVALID_UPLOAD_KEY_TYPE"},
                    "Customer Match by contact info needs uploadKeyType CONTACT_INFO.",
                )
            span = create.get("membershipLifeSpan")
            if span is not None and not 0 <= int(span) <= 540:
                raise _bad({"rangeError": "TOO_HIGH"}, "membershipLifeSpan is at most 540 days.")
            if any(existing.name == create["name"] for existing in self.user_lists.values()):
                raise _bad(
                    {"userListError": "NAME_ALREADY_USED"}, "A user list with this name already exists."
                )
            name = f"customers/{customer}/userLists/{self.new_id()}"
            self.user_lists[name] = UserList(name, str(create["name"]))
            results.append({"resourceName": name})
        if not results:
            raise _bad({"requestError": "OPERATIONS_REQUIRED"}, "At least one operation is required.")
        return {"results": results}

    def _create_job(self, customer: str, body: dict[str, Any]) -> dict[str, Any]:
        job = body.get("job") or {}
        meta = job.get("customerMatchUserListMetadata") or {}
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST":
            raise _bad(
                {"offlineUserDataJobError": "INVALID_USER_LIST_TYPE"},
                "Only CUSTOMER_MATCH_USER_LIST jobs here.",
            )
        if meta.get("userList") not in self.user_lists:
            raise _bad(
                {"offlineUserDataJobError": "INVALID_USER_LIST_ID"},
                "The user list ID provided for the job is invalid.",
            )
        consent = meta.get("consent") or {}
        statuses = {"GRANTED", "DENIED", "UNSPECIFIED", "UNKNOWN"}
        if set(consent) != {"adUserData", "adPersonalization"} or not set(consent.values()) <= statuses:
            raise _bad({"fieldError": "REQUIRED"}, "consent needs adUserData and adPersonalization.")
        name = f"customers/{customer}/offlineUserDataJobs/{self.new_id()}"
        self.jobs[name] = Job(name, str(meta["userList"]), dict(consent))
        return {"resourceName": name}

    def _add(self, job: Job, body: dict[str, Any]) -> dict[str, Any]:
        if job.status != "PENDING":
            raise _bad(
                {"offlineUserDataJobError": "INVALID_JOB_STATUS"},
                f"The job is {job.status}; operations can be added only while it is PENDING.",
            )
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            raise _bad({"requestError": "OPERATIONS_REQUIRED"}, "At least one operation is required.")
        users = [op.get("create") or op.get("remove") or {} for op in operations if isinstance(op, dict)]
        total = sum(len(user.get("userIdentifiers") or []) for user in users)
        if total > MAX_IDENTIFIERS or any(
            len(user.get("userIdentifiers") or []) > MAX_PER_USER for user in users
        ):
            raise _bad(
                {"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"},
                "Maximum number of user identifiers allowed per request is 100,000 and per operation is 20.",
            )
        partial = bool(body.get("enablePartialFailure"))
        accepted: list[tuple[str, Member | None]] = []
        failures: list[dict[str, Any]] = []
        kind = job.kind
        for index, operation in enumerate(operations):
            try:
                entry = _operation(operation, first=not job.operations and index == 0)
                if entry[0] != "removeAll":
                    if kind is not None and kind != entry[0]:
                        raise _bad(
                            {"offlineUserDataJobError": "CONFLICTING_OPERATION"},
                            "Mixing creation and removal of offline data in the same job is not allowed.",
                        )
                    kind = entry[0]
                accepted.append(entry)
            except ApiError as error:
                if not partial:
                    raise
                failures.append(
                    {
                        "errorCode": error.codes[0],
                        "message": error.message,
                        "location": {"fieldPathElements": [{"fieldName": "operations", "index": index}]},
                    }
                )
        job.kind = kind
        job.operations.extend(accepted)
        if not failures:
            return {}
        details = [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": failures,
            }
        ]
        return {
            "partialFailureError": {
                "code": 3,
                "message": f"{len(failures)} operations failed",
                "details": details,
            }
        }

    def _run(self, job: Job) -> dict[str, Any]:
        if job.status != "PENDING":
            raise _bad(
                {"offlineUserDataJobError": "INVALID_JOB_STATUS"}, f"The job is {job.status}, not PENDING."
            )
        job.status = "RUNNING"
        if self.polls_to_finish == 0:
            self._finish(job)
        return {"name": f"operations/{job.resource_name.rsplit('/', 1)[1]}"}

    def _finish(self, job: Job) -> None:
        members = self.user_lists[job.user_list].members
        for kind, member in job.operations:
            if kind == "removeAll":
                members.clear()
            elif kind == "create" and member is not None:
                members.add(member)
            elif member is not None:
                members.discard(member)
        job.status = "SUCCESS"

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        matched = _SEARCH_JOB.search(str(body.get("query") or ""))
        if not matched:
            raise _bad(
                {"queryError": "UNEXPECTED_END_OF_QUERY"},
                "The fake answers offline_user_data_job status queries only.",
            )
        job = self.jobs.get(matched.group(1))
        if job is None:
            return {"results": []}
        if job.status == "RUNNING":
            job.polls += 1
            if job.polls >= self.polls_to_finish:
                self._finish(job)
        return {
            "results": [{"offlineUserDataJob": {"resourceName": job.resource_name, "status": job.status}}]
        }


def _operation(operation: Any, first: bool) -> tuple[str, Member | None]:
    if not isinstance(operation, dict) or len(operation) != 1:
        raise _bad(
            {"requestError": "INVALID_INPUT"}, "Each operation is exactly one of create, remove, removeAll."
        )
    kind, value = next(iter(operation.items()))
    if kind == "removeAll":
        if value is not True:
            raise _bad({"requestError": "INVALID_INPUT"}, "removeAll must be true.")
        if not first:
            raise _bad(
                {"offlineUserDataJobError": "INVALID_OPERATION_ORDER"},
                "removeAll must be the job's first operation.",
            )
        return "removeAll", None
    if kind not in ("create", "remove"):
        raise _bad({"requestError": "INVALID_INPUT"}, f"unknown operation {kind}")
    identifiers = value.get("userIdentifiers") if isinstance(value, dict) else None
    if not isinstance(identifiers, list) or not identifiers:
        raise _bad(
            {"offlineUserDataJobError": "MISSING_USER_IDENTIFIER"}, "A user needs at least one identifier."
        )
    return kind, frozenset(_identifier(item) for item in identifiers)


def _identifier(item: Any) -> tuple[str, ...]:
    if not isinstance(item, dict) or len(item) != 1:
        raise _bad(
            {"requestError": "INVALID_INPUT"},
            "A user identifier is exactly one of hashedEmail, hashedPhoneNumber, addressInfo.",
        )
    key, value = next(iter(item.items()))
    if key in ("hashedEmail", "hashedPhoneNumber"):
        if not isinstance(value, str) or not _HEX.match(value):
            raise _bad(
                {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
                f"{key} is not a SHA-256 lowercase hex digest.",
            )
        return key, value
    if key != "addressInfo" or not isinstance(value, dict):
        raise _bad({"requestError": "INVALID_INPUT"}, f"unknown user identifier {key}")
    names = [value.get("hashedFirstName"), value.get("hashedLastName")]
    if not all(isinstance(n, str) and _HEX.match(n) for n in names):
        raise _bad(
            {"offlineUserDataJobError": "INVALID_SHA256_FORMAT"},
            "addressInfo needs hashed first and last names.",
        )
    country, postal = value.get("countryCode"), value.get("postalCode")
    if not isinstance(country, str) or not _COUNTRY.match(country):
        raise _bad(
            {"offlineUserDataJobError": "INVALID_COUNTRY_CODE"}, "countryCode is a two-letter ISO code."
        )
    if not isinstance(postal, str) or not postal or _HEX.match(postal):
        raise _bad({"offlineUserDataJobError": "INVALID_ADDRESS_INFO"}, "postalCode is sent unhashed.")
    return "addressInfo", str(names[0]), str(names[1]), country, postal


def _json(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "The body must be a JSON object.")
    return body
