"""The local HTTP API's server under many senders at once (found by the load test, issue 8)."""

from __future__ import annotations

import json
import socket
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from forecourt.local.http import ApiServer


def test_senders_who_connect_while_the_server_is_busy_wait_their_turn_instead_of_being_dropped() -> None:
    """64 senders connect before the server accepts anyone (its thread busy, as under load): every
    connection is queued and every request answered (socketserver's default backlog of 5 dropped
    all but six)."""

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 202, "body": json.dumps({"path": event["rawPath"]})}

    server = ApiServer(invoke)
    connections = []
    try:
        for _ in range(64):
            connection = socket.socket()
            connection.settimeout(0.5)
            connection.connect(server.server_address[:2])  # raises TimeoutError when the backlog is full
            connections.append(connection)
    except OSError:
        server.server_close()
        raise
    finally:
        for connection in connections:
            connection.close()
    server.start()
    try:

        def post(i: int) -> int:
            request = urllib.request.Request(f"{server.url}/v1/leads", data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)

        with ThreadPoolExecutor(64) as pool:
            answered = list(pool.map(post, range(64)))
    finally:
        server.stop()
    assert answered == [202] * 64
