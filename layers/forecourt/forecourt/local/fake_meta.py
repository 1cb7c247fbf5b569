"""A local Meta Marketing API for tests and the demo: customer-file custom audiences over HTTP on
127.0.0.1, checking each request against Meta's documented contract and keeping every audience's
members, so that a test can assert the platform ends up with exactly the consented people.

Endpoints (``FakeMeta.url`` + path; ``vNN.0`` is any Graph API version):

- ``POST /vNN.0/act_<ad account>/customaudiences``: create (``name``, ``subtype=CUSTOM``,
  ``customer_file_source``); answers ``{"id": …}``.
- ``POST`` / ``DELETE /vNN.0/<audience id>/users``: add / remove members; ``POST
  /vNN.0/<audience id>/usersreplace``: replace all members (the session's batches together are the
  new membership, applied with the last batch).

Every request carries ``access_token`` (else error 190) and, for members, ``payload`` (JSON:
``schema``, a list of known keys without repeats, and ``data``, at most 10,000 rows each as long as
the schema) and ``session`` (JSON: a positive integer ``session_id``, ``batch_seq`` from 1 with no
gap, ``last_batch_flag``; a batch sent again under the same session and sequence is acknowledged
and not applied twice; a batch after the last one is refused). Form-encoded or JSON bodies. A value
that is not 64 lowercase hex characters (a key Meta wants hashed), or an empty row, counts as an
invalid entry (``num_invalid_entries``, the request still succeeds), as Meta does.

Errors answer 400 ``{"error": {"message", "type", "code", "error_subcode"?}}``. ``throttle(times)``
makes the next requests fail with code 80003 (the custom-audience rate limit).

``POST /vNN.0/<dataset id>/events``: Conversions API events, checked and kept by ``fake_capi``
(``datasets``; ``clock`` is the time the fake checks ``event_time`` against). When
``dataset_ids`` names the datasets that exist, any other answers error 100 subcode 33 ("object does
not exist", as Meta answers a wrong or deleted dataset) for the whole request.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from forecourt.local import fake_capi

MAX_ROWS = 10_000
KEYS = frozenset(
    {
        "EMAIL",
        "PHONE",
        "FN",
        "LN",
        "ZIP",
        "CT",
        "ST",
        "COUNTRY",
        "DOBY",
        "DOBM",
        "DOBD",
        "GEN",
        "MADID",
        "EXTERN_ID",
        "FI",
    }
)
UNHASHED = frozenset({"MADID", "EXTERN_ID"})
_HEX = re.compile(r"^[0-9a-f]{64}$")
_CREATE = re.compile(r"^/v\d+\.\d+/act_(\d+)/customaudiences/?$")
_USERS = re.compile(r"^/v\d+\.\d+/(\d+)/(users|usersreplace)/?$")
_AUDIENCE = re.compile(r"^/v\d+\.\d+/(\d+)/?$")


class MetaError(Exception):
    def __init__(self, code: int, message: str, subcode: int | None = None, kind: str = "OAuthException"):
        super().__init__(message)
        self.code, self.message, self.subcode, self.kind = code, message, subcode, kind

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


@dataclass
class Session:
    operation: str
    """users_add, users_remove or usersreplace."""
    batches: dict[int, tuple[tuple[tuple[str, str], ...], ...]] = field(default_factory=dict)
    closed: bool = False


@dataclass
class Audience:
    audience_id: str
    ad_account: str
    name: str
    members: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    """Each member as its (key, value) pairs, empty values left out."""
    sessions: dict[int, Session] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One request the fake answered (bodies hold hashes only)."""

    method: str
    path: str
    status: int
    fields: dict[str, Any]


class FakeMeta:
    """The fake Graph API; a context manager that serves on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, access_token: str = "test-token") -> None:  # noqa: S107 (a test token)
        self.access_token = access_token
        self.audiences: dict[str, Audience] = {}
        self.requests: list[Request] = []
        self._throttle = 0
        self._lock = threading.Lock()
        self._next_id = 23850000000000000
        self._server: ThreadingHTTPServer | None = None
        self.datasets: dict[str, fake_capi.Dataset] = {}
        """Conversions API events received per dataset (``fake_capi``)."""
        self.clock: Callable[[], float] = time.time
        self.dataset_ids: set[str] | None = None
        """The datasets that exist (None: any id is one)."""

    # --- server ------------------------------------------------------------------------------------

    def __enter__(self) -> FakeMeta:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_DELETE(self) -> None:
                fake._serve(self, "DELETE")

            def do_GET(self) -> None:
                fake._serve_lists(self)

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
        assert self._server is not None, "use FakeMeta as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def throttle(self, times: int) -> None:
        """Answer the next ``times`` requests with the rate-limit error (code 80003)."""
        with self._lock:
            self._throttle += times

    def members(self, audience_id: str) -> set[tuple[tuple[str, str], ...]]:
        with self._lock:
            return set(self.audiences[audience_id].members)

    def lists(self) -> list[dict[str, Any]]:
        """Each audience's id, name and member count (``GET /_fake/lists``; no member in it)."""
        with self._lock:
            return [
                {"id": a.audience_id, "name": a.name, "members": len(a.members)}
                for a in self.audiences.values()
            ]

    def saved(self) -> dict[str, Any]:
        """The audiences and their members, for ``restore`` (the local stack keeps them across restarts)."""
        with self._lock:
            return {
                "next_id": self._next_id,
                "audiences": [
                    {
                        "id": a.audience_id,
                        "ad_account": a.ad_account,
                        "name": a.name,
                        "members": sorted([list(pair) for pair in m] for m in a.members),
                    }
                    for a in self.audiences.values()
                ],
            }

    def restore(self, saved: dict[str, Any]) -> None:
        with self._lock:
            self._next_id = max(self._next_id, int(saved.get("next_id") or 0))
            for entry in saved.get("audiences") or []:
                members = {tuple((str(k), str(v)) for k, v in member) for member in entry["members"]}
                self.audiences[entry["id"]] = Audience(
                    entry["id"], entry["ad_account"], entry["name"], members
                )

    # --- requests ----------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = handler.path.split("?", 1)[0]
        status, answer, fields = 200, {}, {}
        try:
            fields = _fields(raw, handler.headers.get("Content-Type") or "", handler.path)
            with self._lock:
                answer = self._answer(method, path, fields)
        except MetaError as error:
            status, answer = 400, error.body()
        body = json.dumps(answer).encode()
        with self._lock:
            self.requests.append(Request(method, path, status, fields))
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _serve_lists(self, handler: BaseHTTPRequestHandler) -> None:
        found = handler.path.split("?", 1)[0] == "/_fake/lists"
        body = json.dumps(self.lists() if found else {"error": {"message": "not found"}}).encode()
        handler.send_response(200 if found else 404)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _answer(self, method: str, path: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        if fields.get("access_token") != self.access_token:
            raise MetaError(190, "Invalid OAuth access token - Cannot parse access token")
        if self._throttle:
            self._throttle -= 1
            raise MetaError(80003, "There have been too many calls to this ad-account. Wait and try again.")
        events = fake_capi.EVENTS_PATH.match(path)
        if events and method == "POST":
            if self.dataset_ids is not None and events.group(1) not in self.dataset_ids:
                raise MetaError(
                    100,
                    f"Unsupported post request. Object with ID '{events.group(1)}' does not exist, cannot be "
                    "loaded due to missing permissions, or does not support this operation",
                    33,
                    "GraphMethodException",
                )
            try:
                return fake_capi.receive(self.datasets, events.group(1), fields, self.clock())
            except fake_capi.InvalidEvent as error:
                raise MetaError(100, str(error), kind="OAuthException") from None
        created = _CREATE.match(path)
        if created and method == "POST":
            return self._create(created.group(1), fields)
        whole = _AUDIENCE.match(path)
        if whole and method == "DELETE":
            if self.audiences.pop(whole.group(1), None) is None:
                raise MetaError(100, "Unsupported request. Object does not exist", 33, "GraphMethodException")
            return {"success": True}
        users = _USERS.match(path)
        if not users:
            raise MetaError(100, f"Unknown path components: {path}", kind="GraphMethodException")
        audience = self.audiences.get(users.group(1))
        if audience is None:
            raise MetaError(100, "Unsupported request. Object does not exist", 33, "GraphMethodException")
        if users.group(2) == "usersreplace":
            if method != "POST":
                raise MetaError(100, "usersreplace takes POST")
            operation = "usersreplace"
        else:
            operation = "users_add" if method == "POST" else "users_remove"
        return self._members(audience, operation, fields)

    def _create(self, ad_account: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        if not fields.get("name"):
            raise MetaError(100, "(#100) The parameter name is required")
        if fields.get("subtype") != "CUSTOM":
            raise MetaError(100, "(#100) subtype must be CUSTOM for a customer file audience")
        if fields.get("customer_file_source") not in (
            "USER_PROVIDED_ONLY",
            "PARTNER_PROVIDED_ONLY",
            "BOTH_USER_AND_PARTNER_PROVIDED",
        ):
            raise MetaError(100, "(#100) customer_file_source is required for a customer file audience")
        self._next_id += 1
        audience_id = str(self._next_id)
        self.audiences[audience_id] = Audience(audience_id, ad_account, str(fields["name"]))
        return {"id": audience_id}

    def _members(self, audience: Audience, operation: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        schema, data = _payload(_json_field(fields, "payload"))
        session_id, seq, last = _session(_json_field(fields, "session"))
        rows, invalid = _rows(schema, data)
        current = audience.sessions.get(session_id)
        if current is None:
            if seq != 1:
                raise MetaError(100, f"(#100) session {session_id} must start with batch_seq 1, not {seq}")
            current = audience.sessions[session_id] = Session(operation)
        if current.operation != operation:
            raise MetaError(100, f"(#100) session {session_id} is a {current.operation} session")
        answer = {
            "audience_id": audience.audience_id,
            "session_id": session_id,
            "num_received": len(data),
            "num_invalid_entries": invalid,
            "invalid_entry_samples": {},
        }
        if seq in current.batches:  # the same batch again: acknowledged, not applied twice
            return answer
        if current.closed:
            raise MetaError(100, f"(#100) session {session_id} already received its last batch")
        if seq != len(current.batches) + 1:
            raise MetaError(100, f"(#100) session {session_id} expects batch_seq {len(current.batches) + 1}")
        current.batches[seq] = tuple(rows)
        if operation == "users_add":
            audience.members |= set(rows)
        elif operation == "users_remove":
            audience.members -= set(rows)
        if last:
            current.closed = True
            if operation == "usersreplace":
                audience.members = {row for batch in current.batches.values() for row in batch}
        return answer


Member = tuple[tuple[str, str], ...]


def _payload(payload: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    schema = payload.get("schema")
    if isinstance(schema, str):
        schema = [schema]
    if not isinstance(schema, list) or not schema or len(set(schema)) != len(schema):
        raise MetaError(100, "(#100) payload.schema must list keys without repeats")
    unknown = sorted(set(schema) - KEYS)
    if unknown:
        raise MetaError(100, f"(#100) unknown schema keys {unknown}")
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        raise MetaError(100, "(#100) payload.data must hold at least one row")
    if len(data) > MAX_ROWS:
        raise MetaError(100, f"(#100) at most {MAX_ROWS} users a request; got {len(data)}")
    return schema, data


def _session(session: Mapping[str, Any]) -> tuple[int, int, bool]:
    session_id, seq, last = (session.get(k) for k in ("session_id", "batch_seq", "last_batch_flag"))
    if not isinstance(session_id, int) or isinstance(session_id, bool) or session_id <= 0:
        raise MetaError(100, "(#100) session.session_id must be a positive integer")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise MetaError(100, "(#100) session.batch_seq must be an integer from 1")
    if not isinstance(last, bool):
        raise MetaError(100, "(#100) session.last_batch_flag must be true or false")
    return session_id, seq, last


def _rows(schema: list[str], data: list[Any]) -> tuple[list[Member], int]:
    """The valid rows as members (their non-empty keys), and how many rows were invalid."""
    rows: list[Member] = []
    invalid = 0
    for row in data:
        if not isinstance(row, list) or len(row) != len(schema):
            invalid += 1
            continue
        pairs = tuple((k, str(v)) for k, v in zip(schema, row, strict=True) if v not in ("", None))
        if not pairs or any(k not in UNHASHED and not _HEX.match(v) for k, v in pairs):
            invalid += 1
            continue
        rows.append(pairs)
    return rows, invalid


def _fields(raw: bytes, content_type: str, target: str) -> dict[str, Any]:
    """The request's parameters: query string, then a form-encoded or JSON body."""
    fields: dict[str, Any] = {k: v[-1] for k, v in parse_qs(target.partition("?")[2]).items()}
    if raw:
        if content_type.startswith("application/json"):
            try:
                body = json.loads(raw)
            except ValueError:
                raise MetaError(100, "(#100) the body is not JSON") from None
            if not isinstance(body, dict):
                raise MetaError(100, "(#100) the body must be a JSON object")
            fields.update(body)
        else:
            fields.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()})
    return fields


def _json_field(fields: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = fields.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MetaError(100, f"(#100) {name} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MetaError(100, f"(#100) the parameter {name} is required")
    return value
