"""The event pump: plays S3 notifications + EventBridge, the SQS event-source mappings and (later) the
scheduler, calling the real Lambda handlers in-process (ARCHITECTURE §8).

- notifier: new object versions under raw/ → an EventBridge "Object Created" event on the ingest queue;
- ingest workers: SQS batches → functions/ingest/app.handler; items it reports failed are made
  visible again after a short backoff (redelivery), and the queue's redrive policy moves poison
  messages to the dead-letter queue;
- committer: one thread, so commits to a table are serialized (FIFO message groups on AWS).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from forecourt import aws
from forecourt.intake import event_for
from forecourt.local.resources import REPO_ROOT

log = logging.getLogger("forecourt.pump")
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """Just enough of the Lambda context for Powertools."""

    function_name: str
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


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
    """Runs the notifier, ingest workers and committer threads until stopped."""

    bucket: str
    ingest_queue: str
    commit_queue: str
    seen_versions: set[str] = field(default_factory=set)
    ingest_workers: int = 2
    poll_seconds: float = 0.3
    retry_seconds: int = 2
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _busy: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        ingest = load_handler("ingest")
        commit = load_handler("commit")
        self._threads = [threading.Thread(target=self._notify_loop, name="notifier", daemon=True)]
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
                args=(self.commit_queue, commit, "commit", 10),
                name="committer",
                daemon=True,
            )
        )
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def scan_raw(self) -> int:
        """Send an event for every raw/ object version not seen before; returns how many."""
        s3, sqs = aws.client("s3"), aws.client("sqs")
        sent = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix="raw/"):
            for version in page.get("Versions", []):
                marker = f"{version['Key']}\x00{version.get('VersionId')}"
                if marker in self.seen_versions:
                    continue
                event = event_for(
                    self.bucket, version["Key"], version.get("VersionId"), version.get("Size", 0)
                )
                sqs.send_message(QueueUrl=self.ingest_queue, MessageBody=json.dumps(event))
                self.seen_versions.add(marker)
                sent += 1
        return sent

    def _notify_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_raw()
            except Exception:  # the notifier must survive a transient error
                log.exception("raw/ scan failed")
            self._stop.wait(self.poll_seconds)

    def _consume_loop(self, queue_url: str, handler: Handler, function: str, batch: int) -> None:
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
                result = handler(sqs_event(messages, arn), LambdaContext(function))
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
                else:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        finally:
            with self._lock:
                self._busy -= 1


def queue_depth(queue_url: str) -> int:
    """Messages visible plus in flight on a queue."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def state_path(state_dir: Path) -> Path:
    return state_dir / "pump.json"
