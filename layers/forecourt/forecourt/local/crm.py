"""A local dealer CRM for tests and the demo: takes leads over HTTP on 127.0.0.1, checks each one
against its contract, answers as a CRM would, and remembers everything for assertions.

Endpoints (``DealerCrm.url`` + path):

- ``POST /adf/<dealer_id>``: an ADF 1.0 document (``Content-Type`` application/xml, text/xml or
  application/x-adf+xml, else 415), checked by ``receipts.check_adf``.
- ``POST /json/<dealer_id>``: a lead as ``adf_out.to_json_payload`` writes it, signed with the
  dealer's secret (``signing``: ``Forecourt-Signature: t=…,v1=…``, ±300 s). No secret for the dealer,
  a missing, malformed, stale or wrong signature: 401 with the ``SignatureReason`` code; the body
  must name the endpoint's dealer and meet the lead minimum (JSON media type, else 415).

Answers: 200 ``{"status": "accepted", "duplicate": false}`` on the first receipt of a delivery id
at that dealer, ``"duplicate": true`` when it comes again; 400 (401, 411, 413, 415) ``{"status":
"rejected", "reason": …}`` otherwise. Every request to a dealer endpoint is an ``Attempt``; those
not taken by an injected fault are also ``Receipt``s (valid or not).

Failure injection, per dealer, consumed in order by its next requests (either endpoint):
``fail(dealer, status, times, retry_after)`` answers ``status`` (with ``Retry-After`` when given);
``delay(dealer, seconds, times)`` holds the answer back so a client times out, then answers 504 —
or, with ``deliver=True``, receives the lead after all (the "timed out but delivered" case that
delivery ids exist for).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from forecourt.local.receipts import DeliveryLedger, check_adf, check_json_lead
from forecourt.signing import SIGNATURE_HEADER, SignatureError, verify

MAX_BODY_BYTES = 1 << 20
ADF_MEDIA_TYPES = frozenset({"application/xml", "text/xml", "application/x-adf+xml"})
_PATH = re.compile(r"^/(adf|json)/([A-Za-z0-9_.-]{1,64})/?$")

Channel = Literal["adf", "json"]


@dataclass(frozen=True)
class Receipt:
    """One lead request the CRM processed (not taken by an injected fault)."""

    dealer_id: str
    channel: Channel
    delivery_id: str | None
    lead_id: str | None
    body: bytes
    received_at: datetime
    valid: bool
    reason: str | None
    duplicate: bool
    status: int


@dataclass(frozen=True)
class Attempt:
    """One request to a dealer endpoint, faulted or not: the status answered and the fault injected."""

    dealer_id: str
    channel: Channel
    status: int
    fault: str | None
    at: datetime


@dataclass(frozen=True)
class _Fault:
    status: int = 504
    retry_after: float | None = None
    delay_seconds: float = 0.0
    deliver: bool = False

    def describe(self) -> str:
        if self.delay_seconds:
            return f"delay {self.delay_seconds:g} s" + (" then deliver" if self.deliver else "")
        after = f" retry-after {self.retry_after:g} s" if self.retry_after is not None else ""
        return f"status {self.status}{after}"


@dataclass(frozen=True)
class _Verdict:
    """What the CRM makes of a request: status and reason when refused, ids when readable."""

    status: int = 200
    reason: str | None = None
    delivery_id: str | None = None
    lead_id: str | None = None


@dataclass(frozen=True)
class _Answer:
    status: int
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class _CrmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, crm: DealerCrm) -> None:
        super().__init__(("127.0.0.1", 0), _CrmRequestHandler)
        self.crm = crm


class _CrmRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        """Route a lead to the CRM; answer JSON."""
        crm = cast(_CrmServer, self.server).crm
        match = _PATH.match(urlsplit(self.path).path)
        if match is None:
            self.close_connection = True  # the body is left unread
            self._send(_Answer(404, {"status": "rejected", "reason": f"no endpoint {self.path!r}"}))
            return
        channel, dealer_id = cast(Channel, match.group(1)), match.group(2)
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self.close_connection = True
            self._send(crm._refuse(channel, dealer_id, 411, "a Content-Length header is required"))
            return
        if int(length) > crm.max_body_bytes:
            self.close_connection = True
            reason = f"the body is larger than {crm.max_body_bytes} bytes"
            self._send(crm._refuse(channel, dealer_id, 413, reason))
            return
        body = self.rfile.read(int(length))
        headers = {
            "content-type": self.headers.get("Content-Type"),
            "signature": self.headers.get(SIGNATURE_HEADER),
        }
        self._send(crm._answer(channel, dealer_id, headers, body))

    def _send(self, answer: _Answer) -> None:
        data = json.dumps(answer.payload).encode("utf-8")
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timed out) before the answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and the demo read receipts, not access logs."""


class DealerCrm:
    """The local dealer CRM server (see the module docstring); ``with DealerCrm(secrets) as crm:``.

    ``secrets`` maps dealer id → the secret its JSON webhook is signed with; ``clock`` gives the
    receiver's time for the signature window.
    """

    def __init__(
        self,
        secrets: Mapping[str, str | bytes] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self._secrets: dict[str, str | bytes] = dict(secrets or {})
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[str, deque[_Fault]] = {}
        self._receipts: list[Receipt] = []
        self._attempts: list[Attempt] = []
        self._ledger = DeliveryLedger()
        self._stopping = threading.Event()
        self._server: _CrmServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> DealerCrm:
        """Listen on 127.0.0.1 on a free port, serving from a background thread. Raises RuntimeError
        when already started."""
        if self._server is not None:
            raise RuntimeError("the CRM server is already running")
        self._stopping.clear()
        self._server = _CrmServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="dealer-crm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; requests held by a delay are answered at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server, self._thread = None, None

    def __enter__(self) -> DealerCrm:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``. Raises RuntimeError when the server is not running."""
        if self._server is None:
            raise RuntimeError("the CRM server is not running: call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def adf_url(self, dealer_id: str) -> str:
        """Where ADF for ``dealer_id`` is posted."""
        return f"{self.url}/adf/{dealer_id}"

    def json_url(self, dealer_id: str) -> str:
        """Where signed JSON for ``dealer_id`` is posted."""
        return f"{self.url}/json/{dealer_id}"

    def set_secret(self, dealer_id: str, secret: str | bytes) -> None:
        """The secret the dealer's JSON deliveries must be signed with."""
        with self._lock:
            self._secrets[dealer_id] = secret

    def fail(
        self, dealer_id: str, status: int = 500, *, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the dealer's next ``times`` requests with ``status`` (4xx/5xx; 500, 503 and 429 are
        the usual ones) and, when ``retry_after`` is given, a ``Retry-After`` header in whole seconds.
        Raises ValueError for a status that is not an error or ``times`` < 1."""
        if not 400 <= status <= 599 or times < 1:
            raise ValueError(f"fail() needs an error status and times >= 1, not {status}, {times}")
        self._queue(dealer_id, _Fault(status=status, retry_after=retry_after), times)

    def delay(self, dealer_id: str, seconds: float, *, times: int = 1, deliver: bool = False) -> None:
        """Hold the dealer's next ``times`` answers back for ``seconds``, then answer 504 without
        taking the lead (``deliver=False``) or take it as usual (``deliver=True``). Raises ValueError
        for ``seconds`` <= 0 or ``times`` < 1."""
        if seconds <= 0 or times < 1:
            raise ValueError(f"delay() needs seconds > 0 and times >= 1, not {seconds}, {times}")
        self._queue(dealer_id, _Fault(delay_seconds=seconds, deliver=deliver), times)

    def received(self, dealer_id: str | None = None) -> list[Receipt]:
        """Receipts in arrival order (of one dealer, or all)."""
        with self._lock:
            return [r for r in self._receipts if dealer_id is None or r.dealer_id == dealer_id]

    def attempts(self, dealer_id: str | None = None) -> list[Attempt]:
        """Every request to a dealer endpoint in arrival order, faulted ones included."""
        with self._lock:
            return [a for a in self._attempts if dealer_id is None or a.dealer_id == dealer_id]

    def unique_deliveries(self, dealer_id: str | None = None) -> set[str]:
        """Distinct delivery ids accepted (of one dealer, or all)."""
        return self._ledger.delivery_ids(dealer_id)

    def _queue(self, dealer_id: str, fault: _Fault, times: int) -> None:
        with self._lock:
            self._faults.setdefault(dealer_id, deque()).extend([fault] * times)

    def _next_fault(self, dealer_id: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(dealer_id)
            return queue.popleft() if queue else None

    def _answer(
        self, channel: Channel, dealer_id: str, headers: Mapping[str, str | None], body: bytes
    ) -> _Answer:
        """The CRM's answer to one request (``headers``: ``content-type`` and ``signature``),
        injected faults first; records the attempt and, unless faulted, the receipt."""
        fault = self._next_fault(dealer_id)
        if fault is not None and fault.delay_seconds:
            self._stopping.wait(fault.delay_seconds)
        if fault is not None and not fault.deliver:
            extra = (
                {"Retry-After": str(math.ceil(fault.retry_after))} if fault.retry_after is not None else {}
            )
            self._record(Attempt(dealer_id, channel, fault.status, fault.describe(), _now()))
            payload = {"status": "error", "reason": f"injected fault: {fault.describe()}"}
            return _Answer(fault.status, payload, extra)
        verdict = self._verdict(channel, dealer_id, headers, body)
        duplicate = verdict.status == 200 and not self._ledger.first_receipt(dealer_id, verdict.delivery_id)
        receipt = Receipt(
            dealer_id,
            channel,
            verdict.delivery_id,
            verdict.lead_id,
            body,
            _now(),
            verdict.reason is None,
            verdict.reason,
            duplicate,
            verdict.status,
        )
        described = fault.describe() if fault is not None else None
        self._record(Attempt(dealer_id, channel, verdict.status, described, receipt.received_at), receipt)
        if verdict.reason is not None:
            return _Answer(verdict.status, {"status": "rejected", "reason": verdict.reason})
        return _Answer(200, {"status": "accepted", "duplicate": duplicate})

    def _refuse(self, channel: Channel, dealer_id: str, status: int, reason: str) -> _Answer:
        """Answer a request refused before its body was read (411, 413); recorded like any receipt."""
        now = _now()
        receipt = Receipt(dealer_id, channel, None, None, b"", now, False, reason, False, status)
        self._record(Attempt(dealer_id, channel, status, None, now), receipt)
        return _Answer(status, {"status": "rejected", "reason": reason})

    def _record(self, attempt: Attempt, receipt: Receipt | None = None) -> None:
        with self._lock:
            self._attempts.append(attempt)
            if receipt is not None:
                self._receipts.append(receipt)

    def _verdict(
        self, channel: Channel, dealer_id: str, headers: Mapping[str, str | None], body: bytes
    ) -> _Verdict:
        media = _media_type(headers.get("content-type"))
        if channel == "adf":
            if media not in ADF_MEDIA_TYPES:
                return _Verdict(415, f"Content-Type {media!r} is not one of {sorted(ADF_MEDIA_TYPES)}")
            check = check_adf(body)
            return _Verdict(200 if check.valid else 400, check.reason, check.delivery_id, check.lead_id)
        if media != "application/json":
            return _Verdict(415, f"Content-Type {media!r} is not application/json")
        with self._lock:
            secret = self._secrets.get(dealer_id)
        if secret is None:
            return _Verdict(401, f"no secret is registered for dealer {dealer_id!r}")
        try:
            text = secret.decode() if isinstance(secret, bytes) else secret
            verify(headers.get("signature"), body, [text], now=self._clock())
        except SignatureError as exc:
            return _Verdict(401, f"{exc.reason.value}: {exc.message}")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _Verdict(400, f"the body is not JSON: {exc}")
        ids = (
            (payload.get("delivery_id"), payload.get("lead_id"))
            if isinstance(payload, dict)
            else (None, None)
        )
        delivery_id, lead_id = (value if isinstance(value, str) else None for value in ids)
        reason = check_json_lead(payload, dealer_id)
        return _Verdict(200 if reason is None else 400, reason, delivery_id, lead_id)


def _now() -> datetime:
    return datetime.now(UTC)
