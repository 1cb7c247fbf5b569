"""The local HTTP API's server under many senders at once (found by the load test, issue 8)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from forecourt.local.http import ApiServer
from forecourt.local.pump import Turns, run_in_turn


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


def test_a_burst_larger_than_the_webhook_workers_waits_its_turn_and_only_a_slow_run_times_out() -> None:
    """Eight requests on one worker, each 0.1 s, with 0.3 s allowed per run: queued behind each other
    for up to 0.8 s, all are answered (the local API used to count the queueing against the 60 s and
    answered the load test's burst of 232 senders with 500s); a run longer than its allowance still
    raises TimeoutError."""
    turns = Turns(1)
    with ThreadPoolExecutor(1) as worker, ThreadPoolExecutor(8) as senders:
        answers = list(
            senders.map(lambda i: run_in_turn(worker, turns, 0.3, lambda: time.sleep(0.1) or i), range(8))
        )
        assert answers == list(range(8))
        with pytest.raises(TimeoutError):
            run_in_turn(worker, turns, 0.05, time.sleep, 0.3)


def test_turns_go_to_the_longest_waiter_first() -> None:
    turns, order, lock = Turns(1), [], threading.Lock()
    turns.__enter__()  # held: everyone below queues

    def wait(i: int) -> None:
        with turns, lock:
            order.append(i)

    waiters = []
    for i in range(6):
        waiters.append(threading.Thread(target=wait, args=(i,)))
        waiters[-1].start()
        time.sleep(0.02)  # arrive in order
    turns.__exit__(None, None, None)
    for thread in waiters:
        thread.join(timeout=5)
    assert order == list(range(6))
