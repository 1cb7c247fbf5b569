"""The event pump: plays the SQS event-source mappings (and, later, the
scheduler, calling the real Lambda handlers in-process (ARCHITECTURE §8).

- S3 notifications and EventBridge are moto's own: the bucket's EventBridge notifications go through
  the template's rule to the ingest queue (see ``resources.enable_notifications``);
- ingest workers: SQS batches → functions/ingest/app.handler; items it reports failed are made
  visible again after a short backoff (redelivery), and the queue's redrive policy moves poison
  messages to the dead-letter queue;
- committer: one thread, so commits to a table are serialized (FIFO message groups on AWS; moto's
  FIFO queue does not hide a message group from two consumers receiving at the same moment);
- route_lead workers: realtime queue batches → functions/route_lead/app.handler, like ingest.
- delivery workers: DeliveryQueue batches → functions/deliver/app.handler, with the function's own
  timeout (template.yaml) as the context's remaining time.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache, partial
from types import ModuleType
from typing import Any

from forecourt import aws
from forecourt.local.resources import REPO_ROOT

log = logging.getLogger("forecourt.pump")
COMMIT_GATHER = 200
"""Commit messages the committer gathers before one invocation. A FIFO queue hides the rest of a
message group while some of it is in flight, so a receive after the first adds other tables only:
one invocation commits up to ten uploads of a table, in one Iceberg commit."""
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """Just enough of the Lambda context for Powertools."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_ms: int = 300_000
    """The function's Timeout: the remaining time counts down from it."""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.timeout_ms - int((time.monotonic() - self._started) * 1000))


@cache
def template_functions() -> dict[str, tuple[str, dict[str, Any]]]:
    """template.yaml's functions by code directory (``functions/<name>/`` → name): logical id and
    properties."""
    from forecourt.local.resources import load_template

    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, resource in load_template().get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            props = dict(resource.get("Properties") or {})
            found[str(props.get("CodeUri", "")).strip("/").removeprefix("functions/")] = (logical_id, props)
    return found


def _function_properties(function: str) -> dict[str, Any]:
    """The properties of the function whose code is functions/<function>/ (empty when none is)."""
    return template_functions().get(function, ("", {}))[1]


def function_timeout_ms(function: str) -> int:
    """The Timeout template.yaml gives the function whose code is functions/<function>/ (300 s when
    it declares none)."""
    return int(_function_properties(function).get("Timeout", 300)) * 1000


def function_memory_mb(function: str) -> int:
    """The MemorySize template.yaml gives the function (1,024 MB when it declares none)."""
    return int(_function_properties(function).get("MemorySize", 1024))


def load_handler(function: str) -> Handler:
    """The ``handler`` of functions/<function>/app.py, loaded as Lambda would (by file)."""
    path = REPO_ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"forecourt_function_{function}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = module.handler
    return handler


_WARM: dict[str, Handler] = {}


def warm(function: str) -> Handler:
    """The handler of ``function`` in this process, loaded the first time: a warm Lambda container."""
    if function not in _WARM:
        _WARM[function] = load_handler(function)
    return _WARM[function]


def invoke_warm(function: str, event: dict[str, Any]) -> Any:
    """Run a handler in this (worker) process, loading it once: a warm Lambda container."""
    context = LambdaContext(
        function, memory_limit_in_mb=function_memory_mb(function), timeout_ms=function_timeout_ms(function)
    )
    return warm(function)(event, context)


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event-source mapping would pass for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


@dataclass
class Pump:
    """Runs the ingest workers and the committer until stopped."""

    ingest_queue: str
    commit_queue: str
    ingest_workers: int = 2
    webhook_workers: int = 2
    realtime_queue: str = ""
    """The realtime queue route_lead consumes (no route_lead worker when empty)."""
    route_workers: int = 1
    retry_seconds: int = 2
    delivery_queue: str = ""
    """DeliveryQueue's URL; empty: no delivery workers."""
    delivery_workers: int = 2
    _pools: list[ProcessPoolExecutor] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _busy: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _webhook_turns: Turns = field(default_factory=lambda: Turns(1))

    def start(self) -> None:
        # Handlers run in worker processes, as Lambda runs them in their own containers: they get the
        # machine's cores and never contend with the moto server for its interpreter lock.
        spawn = multiprocessing.get_context("spawn")
        # file ingest and commits yield the cores to the real-time functions (a Lambda has its own)
        self._pools = [
            ProcessPoolExecutor(self.ingest_workers, spawn, initializer=_lower_priority),
            ProcessPoolExecutor(1, spawn, initializer=_lower_priority),  # one committer: commits never race
            ProcessPoolExecutor(max_workers=self.webhook_workers, mp_context=spawn),
        ]
        self._webhook_turns = Turns(self.webhook_workers)
        ingest = partial(self._run_in, self._pools[0], "ingest")
        commit = partial(self._run_in, self._pools[1], "commit")
        self._threads = []
        for i in range(self.ingest_workers):
            self._threads.append(
                threading.Thread(
                    target=self._consume_loop,
                    args=(self.ingest_queue, ingest, "ingest", 5),
                    name=f"ingest-{i}",
                    daemon=True,
                )
            )
        self._threads.append(
            threading.Thread(
                target=self._consume_loop,
                args=(self.commit_queue, commit, "commit", 10, COMMIT_GATHER),
                name="committer",
                daemon=True,
            )
        )
        self._threads += self._start_route_lead(spawn)
        self._start_delivery(spawn)
        for thread in self._threads:
            thread.start()

    def _start_route_lead(self, spawn: Any) -> list[threading.Thread]:
        """route_lead: RealtimeQueue batches → functions/route_lead (a warm worker process each)."""
        if not self.realtime_queue:
            return []
        pool = ProcessPoolExecutor(max_workers=self.route_workers, mp_context=spawn)
        self._pools.append(pool)
        route = partial(self._run_in, pool, "route_lead")
        return [
            threading.Thread(
                target=self._consume_loop,
                args=(self.realtime_queue, route, "route_lead", 10),
                name=f"route_lead-{i}",
                daemon=True,
            )
            for i in range(self.route_workers)
        ]

    @property
    def queues(self) -> list[str]:
        """The queues the pump consumes (the stack is idle when they are all empty)."""
        return [
            q for q in (self.ingest_queue, self.commit_queue, self.realtime_queue, self.delivery_queue) if q
        ]

    def _start_delivery(self, spawn: Any) -> None:
        """Delivery workers: DeliveryQueue → the deliver handler, in processes of their own (a slow
        dealer endpoint holds a worker as it holds a Lambda)."""
        if not self.delivery_queue:
            return
        pool = ProcessPoolExecutor(max_workers=self.delivery_workers, mp_context=spawn)
        self._pools.append(pool)
        deliver = partial(self._run_in, pool, "deliver")
        for i in range(self.delivery_workers):
            self._threads.append(
                threading.Thread(
                    target=self._consume_loop,
                    args=(self.delivery_queue, deliver, "deliver", 5),
                    name=f"deliver-{i}",
                    daemon=True,
                )
            )

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def invoke_webhook(self, event: dict[str, Any]) -> dict[str, Any]:
        """Answer one HTTP API event with the webhook handler (a warm worker, as a warm Lambda), in
        its turn; raises TimeoutError when it runs longer than ``WEBHOOK_WAIT_S``."""
        answer: dict[str, Any] = run_in_turn(
            self._pools[2], self._webhook_turns, WEBHOOK_WAIT_S, invoke_warm, "webhook", event
        )
        return answer

    @staticmethod
    def _run_in(pool: ProcessPoolExecutor, function: str, event: dict[str, Any], _context: Any) -> Any:
        return pool.submit(invoke_warm, function, event).result()

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def _consume_loop(
        self, queue_url: str, handler: Handler, function: str, batch: int, gather: int = 0
    ) -> None:
        """Receive batches and invoke the handler; with ``gather``, keep receiving (other message
        groups of a FIFO queue) up to that many messages first, so that one invocation commits many
        uploads per table — what several concurrent Lambda batches achieve on AWS."""
        sqs = aws.client("sqs")
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        while not self._stop.is_set():
            try:
                answer = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=batch, WaitTimeSeconds=1, AttributeNames=["All"]
                )
            except Exception:
                log.exception("receive from %s failed", function)
                self._stop.wait(1)
                continue
            messages = answer.get("Messages", [])
            while messages and len(messages) < gather:
                more = sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=batch, WaitTimeSeconds=0, AttributeNames=["All"]
                ).get("Messages", [])
                if not more:
                    break
                messages += more
            if messages:
                self._invoke(sqs, queue_url, arn, handler, function, messages)

    def _invoke(
        self,
        sqs: Any,
        queue_url: str,
        arn: str,
        handler: Handler,
        function: str,
        messages: list[dict[str, Any]],
    ) -> None:
        with self._lock:
            self._busy += 1
        try:
            try:
                began = time.monotonic()
                result = handler(sqs_event(messages, arn), LambdaContext(function))
                log.debug("%s: %d messages in %.3f s", function, len(messages), time.monotonic() - began)
                failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            except Exception:
                log.exception("%s handler raised; the whole batch will be redelivered", function)
                failed = {m["MessageId"] for m in messages}
            for message in messages:
                if message["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=self.retry_seconds,
                    )
            done = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(done), 10):  # SQS deletes at most 10 messages a request
                answer = sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
                for failure in answer.get("Failed", []):  # redelivered later: handlers are idempotent
                    log.warning("%s: could not delete a message: %s", function, failure.get("Message"))
        finally:
            with self._lock:
                self._busy -= 1


WEBHOOK_WAIT_S = 60.0
"""How long the local API waits for the webhook handler once a worker runs it (a cold worker
imports the handler first; the function's own Timeout is 10 s)."""


class Turns:
    """``n`` turns handed out first come, first served (``with turns:``): a released turn goes to
    the longest waiter, never to a newcomer (``threading.Semaphore`` lets newcomers barge in, and
    under the load test a few requests waited past their senders' timeouts)."""

    def __init__(self, n: int) -> None:
        self._lock = threading.Lock()
        self._free = n
        self._waiting: deque[threading.Event] = deque()

    def __enter__(self) -> Turns:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return self
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()
        return self

    def __exit__(self, *_: object) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


def run_in_turn(pool: Executor, turns: Turns, timeout: float, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` run in ``pool`` once one of its workers is free (``turns`` holds one per
    worker), waiting at most ``timeout`` seconds from then: time queued behind other requests is not
    the function's (on AWS each request has a Lambda of its own), and a burst of senders larger than
    the pool waits in order instead of failing. Raises TimeoutError (the work itself is not stopped)."""
    with turns:
        return pool.submit(fn, *args).result(timeout=timeout)


BATCH_NICENESS = 5
"""How much lower the ingest and commit workers run than the real-time ones (``os.nice``)."""


def _lower_priority() -> None:
    """Run this worker process at a lower CPU priority (where the platform has one)."""
    if hasattr(os, "nice"):
        os.nice(BATCH_NICENESS)


def queue_depth(queue_url: str) -> int:
    """Messages visible, in flight and delayed on a queue."""
    counts = (
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    )
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(counts))[
        "Attributes"
    ]
    return sum(int(attributes.get(name, 0)) for name in counts)
