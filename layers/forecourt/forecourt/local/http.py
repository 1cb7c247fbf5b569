"""The local HTTP API: what API Gateway does for the webhook function, on 127.0.0.1.

Each request becomes an HTTP API (payload format 2.0) event, the real webhook handler answers it,
and its answer goes back as the HTTP response. Used by the local stack, the tests and the demo.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("forecourt.http")

ROUTES = (
    ("POST", "/v1/leads"),
    ("POST", "/v1/dealers/{dealer_id}/events"),
    ("POST", "/v1/dealers/{dealer_id}/uploads"),
    ("GET", "/v1/dealers/{dealer_id}/outbound"),
)
"""The routes template.yaml declares on WebhookApi (method, path)."""
MAX_BODY_BYTES = 10 * 2**20
"""API Gateway's own payload limit; the webhook applies its smaller one itself."""
_TEXT_TYPES = ("application/json", "application/xml", "text/", "application/problem+json")

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


def api_event(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    route_key: str | None = None,
    received_ms: int | None = None,
    query: str = "",
) -> dict[str, Any]:
    """The HTTP API payload-2.0 event API Gateway sends for one request (text bodies as text,
    others base64, as API Gateway does)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    content_type = lowered.get("content-type", "")
    text = content_type.startswith(_TEXT_TYPES)
    try:
        body_text = body.decode("utf-8") if text else None
    except UnicodeDecodeError:
        body_text = None
    now_ms = received_ms if received_ms is not None else int(time.time() * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "body": body_text if body_text is not None else base64.b64encode(body).decode(),
        "isBase64Encoded": body_text is None,
    }
    if query:
        # API Gateway joins a repeated parameter's values with commas
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        event["queryStringParameters"] = {
            name: ",".join(v for n, v in pairs if n == name) for name in dict(pairs)
        }
    return event


def _route_key(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The route matching a request and its path parameters (``{name}`` matches one segment)."""
    parts = path.strip("/").split("/")
    for route_method, route_path in ROUTES:
        pattern = route_path.strip("/").split("/")
        if method != route_method or len(pattern) != len(parts):
            continue
        params = {p[1:-1]: v for p, v in zip(pattern, parts, strict=True) if p.startswith("{")}
        if all(p == v for p, v in zip(pattern, parts, strict=True) if not p.startswith("{")) and all(
            params.values()
        ):
            return f"{route_method} {route_path}", params
    return None


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self._answer("POST")

    def do_GET(self) -> None:
        self._answer("GET")

    def _answer(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"message": "Request Entity Too Large"})
            return
        body = self.rfile.read(length)
        route = _route_key(method, path)
        if route is None:
            self._send(404, {"message": "Not Found"})
            return
        event = api_event(method, path, dict(self.headers.items()), body, route_key=route[0], query=query)
        if route[1]:
            event["pathParameters"] = route[1]
        try:
            answer = self.server.invoke(event)
        except Exception:
            log.exception("webhook handler failed")
            self._send(500, {"message": "Internal Server Error"})
            return
        self._send_answer(answer)

    def _send_answer(self, answer: dict[str, Any]) -> None:
        body = answer.get("body") or ""
        data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode("utf-8")
        self.send_response(int(answer.get("statusCode", 200)))
        for name, value in (answer.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        self._send_answer(
            {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
        )

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class ApiServer(ThreadingHTTPServer):
    """The HTTP API on 127.0.0.1 (port 0: any free port), answering through ``invoke``."""

    daemon_threads = True
    request_queue_size = 128
    """The listen backlog (socketserver's default is 5, as werkzeug's is 128): API Gateway takes
    every concurrent sender, and with 5 the kernel dropped the 6th connection that arrived while the
    accepting thread waited for the interpreter lock — the load test's senders saw resets."""

    def __init__(self, invoke: Invoke, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.invoke = invoke
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def post_signed(
    url: str,
    sender: str,
    secret: str,
    body: bytes,
    *,
    content_type: str = "application/json",
    idempotency_key: str | None = None,
    timeout: float = 60,
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to ``url`` (the local API, or any loopback endpoint) as a registered sender
    would: signed now with ``secret`` (``forecourt.signing``). Returns the status and the JSON answer
    (a problem document for a refusal)."""
    import urllib.error
    import urllib.request

    from forecourt import signing

    headers = {
        "Content-Type": content_type,
        signing.SENDER_HEADER: sender,
        signing.SIGNATURE_HEADER: signing.sign([secret], body, int(time.time())),
    }
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (http://127.0.0.1)
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")
