"""Shared fixtures: a moto server on loopback with every template resource, and a driver that pushes
files through the real handlers exactly as the local pump does."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
logging.getLogger("werkzeug").setLevel(logging.WARNING)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Forecourt")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "forecourt-test")


@dataclass
class LocalAws:
    """A running moto server with the template's resources and the handlers wired to it."""

    endpoint: str
    resources: Any
    ingest_handler: Any
    commit_handler: Any

    def sqs_batch(self, queue: str, max_messages: int = 10) -> list[dict[str, Any]]:
        from forecourt import aws

        answer = aws.client("sqs").receive_message(
            QueueUrl=self.resources.queues[queue], MaxNumberOfMessages=max_messages, AttributeNames=["All"]
        )
        return answer.get("Messages", [])

    def take_messages(self, queue: str) -> list[dict[str, Any]]:
        """Every message waiting in ``queue``, parsed, and deleted from it (what a test's posts
        queued, so the worker's next tests do not read them)."""
        import json

        from forecourt import aws

        taken = []
        while batch := self.sqs_batch(queue):
            for message in batch:
                taken.append(json.loads(message["Body"]))
                aws.client("sqs").delete_message(
                    QueueUrl=self.resources.queues[queue], ReceiptHandle=message["ReceiptHandle"]
                )
        return taken

    def run_ingest(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Invoke the ingest handler on received SQS messages; delete the successful ones."""
        from forecourt import aws
        from forecourt.local.pump import LambdaContext, sqs_event

        result = self.ingest_handler(
            sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:ingest"), LambdaContext("ingest")
        )
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                aws.client("sqs").delete_message(
                    QueueUrl=self.resources.queues["IngestQueue"], ReceiptHandle=m["ReceiptHandle"]
                )
        return result

    def run_realtime(self) -> list[dict[str, Any]]:
        """Run route_lead on every realtime message (as its poller would: delete what succeeded),
        then commit what it wrote; returns the messages' bodies."""
        from forecourt import aws
        from forecourt.local.pump import LambdaContext, load_handler, sqs_event

        route_lead, bodies = load_handler("route_lead"), []
        while batch := self.sqs_batch("RealtimeQueue"):
            event = sqs_event(batch, self.resources.queue_arns["RealtimeQueue"])
            result = route_lead(event, LambdaContext("route_lead"))
            assert result["batchItemFailures"] == [], result
            for message in batch:
                bodies.append(json.loads(message["Body"]))
                aws.client("sqs").delete_message(
                    QueueUrl=self.resources.queues["RealtimeQueue"], ReceiptHandle=message["ReceiptHandle"]
                )
        self.drain_commits()
        return bodies

    def drain_commits(self) -> int:
        """Run the commit handler until the commit queue is empty; returns messages committed."""
        from forecourt import aws
        from forecourt.local.pump import LambdaContext, sqs_event

        done = 0
        while messages := self.sqs_batch("CommitQueue"):
            self.commit_handler(
                sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:commits.fifo"),
                LambdaContext("commit"),
            )
            for m in messages:
                aws.client("sqs").delete_message(
                    QueueUrl=self.resources.queues["CommitQueue"], ReceiptHandle=m["ReceiptHandle"]
                )
            done += len(messages)
        return done

    def ingest_file(
        self,
        path: Path,
        dealer_id: str,
        *,
        feed: str | None = None,
        arrival: date = date(2026, 11, 2),
        name: str | None = None,
    ) -> Any:
        """Put a file in raw/ and push it through ingest and commit; returns the upload report."""
        from forecourt import aws, intake, lake
        from forecourt.config import settings
        from forecourt.local.pump import LambdaContext, sqs_event
        from forecourt.uploader import wait_report

        bucket = settings().lake_bucket
        key = lake.raw_key(dealer_id, arrival, name or path.name)
        metadata = {"feed": feed} if feed else {}
        answer = aws.client("s3").put_object(
            Bucket=bucket, Key=key, Body=path.read_bytes(), Metadata=metadata
        )
        event = intake.event_for(bucket, key, answer.get("VersionId"))
        message = {"MessageId": "m-" + key, "ReceiptHandle": "r", "Body": json.dumps(event)}
        result = self.ingest_handler(
            sqs_event([message], "arn:aws:sqs:us-east-1:000000000000:ingest"), LambdaContext("ingest")
        )
        assert result["batchItemFailures"] == [], result
        self.drain_commits()
        upload = lake.upload_id(bucket, key, answer.get("VersionId"))
        return wait_report(dealer_id, upload, timeout=5)


@pytest.fixture(scope="session")
def local_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAws]:
    from forecourt import catalog
    from forecourt.local.pump import load_handler
    from forecourt.local.server import start_moto

    server, endpoint, made = start_moto()
    catalog.migrate()
    yield LocalAws(endpoint, made, load_handler("ingest"), load_handler("commit"))
    server.stop()


@pytest.fixture(scope="session")
def registered_dealers(local_aws: LocalAws) -> dict[str, Any]:
    """A few dealers in the registry, on different feeds, time zones and countries."""
    from forecourt import registry

    dealers = {
        "D100": registry.Dealer(
            dealer_id="D100", name="Lakeside Chevrolet", timezone="America/Chicago", zip="60601"
        ),
        "D200": registry.Dealer(
            dealer_id="D200", name="Harbor Toyota", timezone="America/Los_Angeles", zip="90731"
        ),
        "D300": registry.Dealer(
            dealer_id="D300", name="Summit Ford", timezone="America/New_York", zip="10001"
        ),
    }
    for dealer in dealers.values():
        registry.put_dealer(dealer)
    return dealers


@pytest.fixture
def stack_home(
    local_aws: Any, registered_dealers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The session's moto server presented as a running local stack (a ``stack.json`` in a temporary
    FORECOURT_HOME, as ``forecourt local up`` writes it), for CLI verbs run in-process."""
    from forecourt import senders
    from forecourt.local.server import environment

    info = {
        "pid": os.getpid(),
        "endpoint": local_aws.endpoint,
        "resources": local_aws.resources.to_json(),
        "env": environment(local_aws.endpoint, local_aws.resources),
        "started_at": time.time(),
    }
    (tmp_path / "stack.json").write_text(json.dumps(info))
    monkeypatch.setenv("FORECOURT_HOME", str(tmp_path))
    senders.clear_cache()
    return tmp_path


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A stack without the OEM fallback queue: a lead nobody can take stays in the delivery queue."""
    from forecourt.config import settings

    monkeypatch.setenv("FORECOURT_FALLBACK_QUEUE_URL", "")
    settings.cache_clear()
    yield
    monkeypatch.delenv("FORECOURT_FALLBACK_QUEUE_URL")
    settings.cache_clear()


@contextlib.contextmanager
def committer(local_aws: LocalAws) -> Iterator[None]:
    """The commit function running beside the jobs, as its queue's event source mapping would run it
    (the only committer meanwhile: moto does not detect racing commits)."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.2):
            local_aws.drain_commits()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()
