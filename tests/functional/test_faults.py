"""Fault injection (issue 8): throttled S3 and DynamoDB, SQS redelivering and reordering messages, a
Lambda killed between its steps, a compaction crashed between its steps. After recovery the lake's
tables hold rows in = curated + quarantined, nothing twice, and every lead reached its dealer's CRM
exactly once.

A crash in the middle of an audience sync (after the platform took a batch, before the ledger said
so) is ``test_audience_sync``'s: Meta and Google each resume it without doubling a member."""

from __future__ import annotations

import functools
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import LocalAws

HEADER = (
    "source_key,requested_at,first_name,last_name,email,phone,zip,vehicle_year,vehicle_make,vehicle_model\n"
)
ARRIVAL = date(2026, 11, 9)


# --- faults ---------------------------------------------------------------------------------------


class _Body:
    """The raw body of an answer made up in place of the service's (botocore reads ``stream``)."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.content


def _throttled(service: str, url: str, n: int) -> Any:
    """What S3 (503 SlowDown) or DynamoDB (400 ProvisionedThroughputExceeded / Throttling) answer a
    client that sends too fast."""
    from botocore.awsrequest import AWSResponse

    if service == "s3":
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        return AWSResponse(url, 503, {"Content-Type": "application/xml"}, _Body(body))
    code = "ProvisionedThroughputExceededException" if n % 2 else "ThrottlingException"
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "slow down"})
    return AWSResponse(url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Body(body.encode()))


class Throttle:
    """botocore ``before-send`` hooks on the package's S3 and DynamoDB clients (``forecourt.aws``):
    the first of every ``period`` requests a thread sends is answered with a throttling error
    without reaching moto (``when`` narrows it to some requests: then every one of them is)."""

    def __init__(self, period: int = 3, when: Callable[[Any], bool] | None = None) -> None:
        self.period, self.when = period, when
        self.injected: Counter[str] = Counter()
        self._sent = threading.local()
        self._lock = threading.Lock()

    def answer(self, service: str, request: Any, **_: Any) -> Any:
        if self.when is not None:
            if not self.when(request):
                return None
        else:
            n = getattr(self._sent, "n", 0)
            self._sent.n = n + 1
            if n % self.period:
                return None
        with self._lock:
            self.injected[service] += 1
            return _throttled(service, request.url, self.injected[service])


@pytest.fixture
def throttled(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Throttle]]:
    """Start throttling (``throttled(period, when)``); botocore's backoff sleeps are recorded in
    ``throttle.sleeps`` instead of slept."""
    import botocore.endpoint
    from forecourt import aws

    sleeps: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=sleeps.append))
    hooks: list[tuple[Any, str, Any]] = []

    def start(period: int = 3, when: Callable[[Any], bool] | None = None) -> Throttle:
        throttle = Throttle(period, when)
        throttle.sleeps = sleeps  # type: ignore[attr-defined]
        for service in ("s3", "dynamodb"):
            events = aws.client(service).meta.events
            hook = functools.partial(throttle.answer, service)
            events.register_first(f"before-send.{service}", hook)
            hooks.append((events, f"before-send.{service}", hook))
        return throttle

    yield start
    for events, name, hook in hooks:
        events.unregister(name, hook)


# --- helpers --------------------------------------------------------------------------------------


def leads_csv(path: Path, rows: int, bad: int, prefix: str) -> bytes:
    lines = [HEADER]
    for i in range(rows):
        lines.append(
            f"{prefix}{i},2026-11-08 09:{i:02d},Ann,Lee,ann{i}@example.com,(312) 555-{i:04d},60601,2024,chevy,Tahoe\n"
        )
    lines += [f"{prefix}X{i},2026-11-08 10:00,Bob,Ray,,,60601,2024,Ford,F-150\n" for i in range(bad)]
    path.write_text("".join(lines))
    return path.read_bytes()


def put_raw(dealer_id: str, name: str, body: bytes) -> tuple[str, str, str]:
    """Store a raw file as a dealer's upload would; (key, version, upload id)."""
    from forecourt import aws, lake
    from forecourt.config import settings

    bucket = settings().lake_bucket
    key = lake.raw_key(dealer_id, ARRIVAL, name)
    version = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
    return key, version, lake.upload_id(bucket, key, version)


def ingest_message(key: str, version: str, message_id: str | None = None) -> dict[str, Any]:
    from forecourt import intake
    from forecourt.config import settings

    event = intake.event_for(settings().lake_bucket, key, version)
    return {"MessageId": message_id or f"m-{key}", "ReceiptHandle": "r", "Body": json.dumps(event)}


def ingest(local_aws: LocalAws, messages: list[dict[str, Any]]) -> list[str]:
    """Invoke the ingest function on a batch; the message ids it reported failed (all of them when
    it raised: Lambda then gives the whole batch back to the queue)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
    from forecourt.local.pump import LambdaContext, sqs_event

    try:
        result = local_aws.ingest_handler(sqs_event(messages, "arn:ingest"), LambdaContext("ingest"))
    except BatchProcessingError:
        return [m["MessageId"] for m in messages]
    return [f["itemIdentifier"] for f in result["batchItemFailures"]]


def query(sql: str) -> list[tuple[Any, ...]]:
    from forecourt import analytics

    return [tuple(row) for row in analytics.run_query(sql).rows]


def assert_upload_adds_up(upload: str, rows_in: int, curated: int, quarantined: int) -> None:
    """The lake's own tables: the upload's one ``uploads`` row adds up and matches the rows of
    ``leads`` and ``quarantine``, each record once."""
    assert query(
        f"SELECT rows_in, rows_curated, rows_quarantined FROM uploads WHERE upload_id = '{upload}'"
    ) == [(rows_in, curated, quarantined)]
    assert query(f"SELECT count(*), count(DISTINCT record_id) FROM leads WHERE upload_id = '{upload}'") == [
        (curated, curated)
    ]
    assert query(f"SELECT count(*) FROM quarantine WHERE upload_id = '{upload}'") == [(quarantined,)]


def table_files(table: str, upload: str) -> set[str]:
    """The table's data files holding rows of ``upload`` (a file's upload_id range may span it
    without: route_lead's files hold one upload per webhook request)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from forecourt import aws, catalog

    scan = catalog.load(table).scan(row_filter=f"upload_id == '{upload}'")
    fs = aws.s3_filesystem()

    def holds(path: str) -> bool:
        ids = pq.read_table(path.removeprefix("s3://"), columns=["upload_id"], filesystem=fs)["upload_id"]
        return bool(pc.any(pc.equal(ids, upload)).as_py())

    return {task.file.file_path for task in scan.plan_files() if holds(task.file.file_path)}


def stored_files(table: str, upload: str) -> set[str]:
    """Every data file of ``upload`` in the lake bucket, in the table or not."""
    from forecourt import aws
    from forecourt.config import settings

    bucket = settings().lake_bucket
    pages = (
        aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"tables/{table}/")
    )
    return {
        f"s3://{bucket}/{o['Key']}"
        for page in pages
        for o in page.get("Contents", [])
        if o["Key"].rsplit("/", 1)[-1].startswith(f"{upload}-")
    }


def commit_messages(local_aws: LocalAws) -> list[dict[str, Any]]:
    """Take every message off the commit queue (each as SQS gave it, to be handed to the committer)."""
    from forecourt import aws

    taken = []
    while batch := local_aws.sqs_batch("CommitQueue"):
        for message in batch:
            aws.client("sqs").delete_message(
                QueueUrl=local_aws.resources.queues["CommitQueue"], ReceiptHandle=message["ReceiptHandle"]
            )
        taken += batch
    return taken


def commit(local_aws: LocalAws, messages: list[dict[str, Any]]) -> None:
    from forecourt.local.pump import LambdaContext, sqs_event

    local_aws.commit_handler(sqs_event(messages, "arn:commits.fifo"), LambdaContext("commit"))


# --- the realtime path ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm() -> Iterator[Any]:
    from forecourt.local.crm import DealerCrm

    with DealerCrm() as server:
        yield server


@pytest.fixture(scope="module")
def sender(local_aws: LocalAws) -> tuple[str, str]:
    from forecourt import senders

    name = f"faults-{uuid.uuid4().hex[:6]}"
    _, secret = senders.add_sender(name, "lead_provider", [], True)
    return name, secret


def crm_dealer(crm: Any) -> str:
    """A new dealer whose leads go to the fake CRM as ADF over HTTP."""
    from forecourt import lead_routing, registry

    dealer_id = f"F{uuid.uuid4().hex[:8]}"
    delivery = registry.Delivery(method="adf_http", endpoint=crm.adf_url(dealer_id))
    registry.put_dealer(
        registry.Dealer(dealer_id=dealer_id, name="Faulty Motors", zip="60601", delivery=delivery)
    )
    lead_routing.forget_dealers()
    return dealer_id


def post_lead(sender: tuple[str, str], dealer_id: str) -> str:
    """POST one JSON lead for ``dealer_id`` through the webhook function; its lead id."""
    from forecourt import signing
    from forecourt.local.http import api_event
    from forecourt.local.pump import LambdaContext, load_handler

    tag = uuid.uuid4().hex[:8]
    lead = {
        "lead_id": f"FT-{tag}",
        "dealer_id": dealer_id,
        "created_at": "2026-11-08T14:05:00-06:00",
        "source": "OEM Website",
        "customer": {
            "first_name": "Ann",
            "last_name": "Lee",
            "zip": "60601",
            "email": f"ann.{tag}@example.com",
        },
        "vehicle": {"year": "2026", "make": "Chevrolet", "model": "Equinox"},
    }
    body = json.dumps(lead).encode()
    headers = {
        "Content-Type": "application/json",
        "Forecourt-Sender": sender[0],
        "Forecourt-Signature": signing.sign([sender[1]], body, int(time.time())),
    }
    answer = load_handler("webhook")(api_event("POST", "/v1/leads", headers, body), LambdaContext("webhook"))
    assert answer["statusCode"] == 202, answer
    return str(json.loads(answer["body"])["lead_id"])


def take(local_aws: LocalAws, queue: str, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Receive every message of ``queue`` and keep those ``wanted`` (by body) in flight; the others
    (other tests') are deleted."""
    from forecourt import aws

    kept: list[dict[str, Any]] = []
    while batch := local_aws.sqs_batch(queue):
        for message in batch:
            if wanted(json.loads(message["Body"])):
                kept.append(message)
            else:
                aws.client("sqs").delete_message(
                    QueueUrl=local_aws.resources.queues[queue], ReceiptHandle=message["ReceiptHandle"]
                )
    return kept


def route(local_aws: LocalAws, messages: list[dict[str, Any]]) -> None:
    from forecourt.local.pump import LambdaContext, load_handler, sqs_event

    event = sqs_event(messages, local_aws.resources.queue_arns["RealtimeQueue"])
    assert load_handler("route_lead")(event, LambdaContext("route_lead")) == {"batchItemFailures": []}


def deliver(local_aws: LocalAws, messages: list[dict[str, Any]]) -> dict[str, Any]:
    from forecourt.local.pump import LambdaContext, load_handler, sqs_event

    event = sqs_event(messages, local_aws.resources.queue_arns["DeliveryQueue"])
    result: dict[str, Any] = load_handler("deliver")(event, LambdaContext("deliver", timeout_ms=60_000))
    return result


def lead_flow(
    local_aws: LocalAws, sender: tuple[str, str], dealer_id: str, leads: int
) -> tuple[list[str], Any]:
    """Post ``leads`` leads for ``dealer_id``; (their ids, the realtime messages they made, in flight)."""
    lead_ids = [post_lead(sender, dealer_id) for _ in range(leads)]
    return lead_ids, take(local_aws, "RealtimeQueue", lambda body: body.get("lead_id") in lead_ids)


def assert_delivered_once(crm: Any, dealer_id: str, lead_ids: list[str]) -> None:
    """The dealer's CRM accepted each lead exactly once (no second receipt, not even a duplicate
    it would have to drop itself), and the lake says so: one delivered attempt per lead."""
    from forecourt import lead_routing

    receipts = [r for r in crm.received(dealer_id) if r.status == 200]
    assert sorted(r.lead_id for r in receipts) == sorted(lead_ids)
    assert not any(r.duplicate for r in receipts)
    deliveries = ", ".join(f"'{lead_routing.delivery_id(lead, dealer_id)}'" for lead in lead_ids)
    delivered = query(
        f"SELECT delivery_id, count(*) FROM deliveries WHERE delivery_id IN ({deliveries}) "
        "AND status = 'delivered' GROUP BY delivery_id"
    )
    assert sorted(n for _, n in delivered) == [1] * len(lead_ids)
    routes = ", ".join(f"'{lead}'" for lead in lead_ids)
    assert query(
        f"SELECT count(*), count(DISTINCT lead_id) FROM lead_routes WHERE lead_id IN ({routes})"
    ) == [(len(lead_ids), len(lead_ids))]
    assert query(f"SELECT count(*), count(DISTINCT record_id) FROM leads WHERE record_id IN ({routes})") == [
        (len(lead_ids), len(lead_ids))
    ]


# --- 1. throttling --------------------------------------------------------------------------------


def test_throttled_s3_and_dynamodb_are_waited_out_and_every_count_holds(
    local_aws: LocalAws, registered_dealers: Any, throttled: Any, crm: Any, sender: Any, tmp_path: Path
) -> None:
    throttle = throttled(period=3)  # a third of every thread's S3 and DynamoDB requests
    uploads = []
    for n, (rows, bad) in enumerate([(12, 2), (7, 0)]):
        key, version, upload = put_raw(
            "D100", f"throttled-{n}.csv", leads_csv(tmp_path / f"{n}.csv", rows, bad, f"TH{n}-")
        )
        assert ingest(local_aws, [ingest_message(key, version)]) == []
        uploads.append((upload, rows + bad, rows, bad))
    dealer_id = crm_dealer(crm)
    lead_ids, realtime = lead_flow(local_aws, sender, dealer_id, 3)
    route(local_aws, realtime)
    deliveries = take(local_aws, "DeliveryQueue", lambda body: body["lead_id"] in lead_ids)
    assert deliver(local_aws, deliveries) == {"batchItemFailures": []}
    local_aws.drain_commits()

    assert throttle.injected["s3"] >= 10 and throttle.injected["dynamodb"] >= 5, throttle.injected
    assert len(throttle.sleeps) == sum(throttle.injected.values())  # each waited out by a retry
    assert all(0 <= s <= 20 for s in throttle.sleeps)
    for upload, rows_in, curated, quarantined in uploads:
        assert_upload_adds_up(upload, rows_in, curated, quarantined)
    assert_delivered_once(crm, dealer_id, lead_ids)


def test_a_request_throttled_past_every_retry_fails_its_message_and_the_redelivery_completes_it(
    local_aws: LocalAws, registered_dealers: Any, throttled: Any, tmp_path: Path
) -> None:
    from forecourt import aws

    key, version, upload = put_raw("D200", "throttled-out.csv", leads_csv(tmp_path / "t.csv", 9, 1, "TO-"))
    throttle = throttled(when=lambda request: "/manifests/" in request.url and request.method == "PUT")
    message = ingest_message(key, version)
    assert ingest(local_aws, [message]) == [message["MessageId"]]
    assert throttle.injected["s3"] == aws.RETRIES["total_max_attempts"]  # every attempt, then gave up
    assert table_files("leads", upload) == set()  # nothing committed: no commit request went out
    throttle.when = lambda request: False  # the throttling is over; SQS delivers the message again
    assert ingest(local_aws, [message]) == []
    local_aws.drain_commits()
    assert_upload_adds_up(upload, 10, 9, 1)


def test_data_file_and_iceberg_writes_throttled_by_s3_are_retried_by_arrow_too(
    local_aws: LocalAws, registered_dealers: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The data files and Iceberg metadata go through Arrow's S3 filesystem, not botocore: the S3
    server itself answers 503 SlowDown to the first three attempts of the first data file and the
    first metadata file written (Arrow's default of 3 attempts would give up; each retry waits)."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.core.exceptions import _RESTError

    class SlowDown(_RESTError):
        code = 503

    authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
    attempts: Counter[str] = Counter()
    lock = threading.Lock()

    def throttling(self: Any, *args: Any, **kwargs: Any) -> Any:
        path = getattr(self, "path", "")
        kind = next((k for k in ("/data/", "/metadata/") if k in path), None)
        if getattr(self, "method", "") == "PUT" and "/tables/" in path and kind:
            with lock:
                if path in attempts or not any(kind in seen for seen in attempts):
                    attempts[path] += 1
                    if attempts[path] <= 3:
                        raise SlowDown("SlowDown", "Please reduce your request rate.")
        return authorize(self, *args, **kwargs)

    key, version, upload = put_raw("D300", "slowed.csv", leads_csv(tmp_path / "s.csv", 7, 1, "SD-"))
    monkeypatch.setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", throttling)
    message = ingest_message(key, version)
    assert ingest(local_aws, [message]) == []
    local_aws.drain_commits()
    monkeypatch.undo()
    assert sorted(next(k for k in ("data", "metadata") if f"/{k}/" in path) for path in attempts) == [
        "data",
        "metadata",
    ], attempts
    assert all(n == 4 for n in attempts.values()), attempts  # three refused, the fourth written
    assert_upload_adds_up(upload, 8, 7, 1)


# --- 2. redelivery and reordering -----------------------------------------------------------------


def test_messages_delivered_twice_and_out_of_order_change_nothing(
    local_aws: LocalAws, registered_dealers: Any, crm: Any, sender: Any, tmp_path: Path
) -> None:
    shuffle = random.Random(8).shuffle
    files = [(5, 1), (3, 0), (4, 2)]
    messages, uploads = [], []
    for n, (rows, bad) in enumerate(files):
        key, version, upload = put_raw(
            "D300", f"twice-{n}.csv", leads_csv(tmp_path / f"{n}.csv", rows, bad, f"RD{n}-")
        )
        messages.append(ingest_message(key, version))
        uploads.append((upload, rows + bad, rows, bad))
    batch = messages + messages[:2]  # two delivered twice in the batch, one of them again later
    shuffle(batch)
    assert ingest(local_aws, batch) == []
    assert ingest(local_aws, [messages[1]]) == []
    # the commit requests (two or three per table and upload) twice over, in any order
    requests = commit_messages(local_aws)
    replayed = requests + requests[::2]
    shuffle(replayed)
    commit(local_aws, replayed[: len(replayed) // 2])
    commit(local_aws, replayed[len(replayed) // 2 :])
    for upload, rows_in, curated, quarantined in uploads:
        assert_upload_adds_up(upload, rows_in, curated, quarantined)

    # webhook leads: route_lead gets a message twice in one batch, then the batch again
    dealer_id = crm_dealer(crm)
    lead_ids, realtime = lead_flow(local_aws, sender, dealer_id, 3)
    twice = realtime + realtime[:1]
    shuffle(twice)
    route(local_aws, twice)
    route(local_aws, realtime[::-1])
    deliveries = take(local_aws, "DeliveryQueue", lambda body: body["lead_id"] in lead_ids)
    assert len(deliveries) == 7  # 3 leads, routed twice and one of them three times
    shuffle(deliveries)
    assert deliver(local_aws, deliveries[:4]) == {"batchItemFailures": []}
    assert deliver(local_aws, deliveries[3:]) == {"batchItemFailures": []}  # one of them again
    local_aws.drain_commits()
    assert_delivered_once(crm, dealer_id, lead_ids)


def test_a_request_redelivered_in_another_batch_replaces_its_rows_instead_of_doubling_them(
    local_aws: LocalAws, registered_dealers: Any, crm: Any, sender: Any
) -> None:
    """route_lead recorded a batch, then died before SQS heard: the same message comes back with
    others, in a batch of another composition."""
    lead_ids, realtime = lead_flow(local_aws, sender, crm_dealer(crm), 3)
    route(local_aws, realtime[:2])
    local_aws.drain_commits()
    route(local_aws, realtime[1:])  # the second lead again, with the third
    route(local_aws, [realtime[1]])  # and once more on its own
    local_aws.drain_commits()
    listed = ", ".join(f"'{lead}'" for lead in lead_ids)
    assert query(f"SELECT count(*), count(DISTINCT record_id) FROM leads WHERE record_id IN ({listed})") == [
        (3, 3)
    ]
    assert query(
        f"SELECT count(*), count(DISTINCT lead_id) FROM lead_routes WHERE lead_id IN ({listed})"
    ) == [(3, 3)]
    # one uploads row per request, adding up, under the upload id of its rows
    rows = query(
        "SELECT u.rows_in, u.rows_curated, u.rows_quarantined, count(*) FROM uploads u JOIN leads l "
        f"ON l.upload_id = u.upload_id WHERE l.record_id IN ({listed}) GROUP BY 1, 2, 3"
    )
    assert rows == [(1, 1, 0, 3)]
    take(local_aws, "DeliveryQueue", lambda body: body["lead_id"] in lead_ids)  # not this test's subject


def test_a_commit_batch_retried_after_its_route_lead_requests_were_applied_does_not_double_them(
    local_aws: LocalAws, registered_dealers: Any, crm: Any, sender: Any
) -> None:
    """The committer applied route_lead's requests, then failed on another request of its batch:
    SQS gives it the whole batch again."""
    lead_ids, realtime = lead_flow(local_aws, sender, crm_dealer(crm), 2)
    route(local_aws, realtime)
    requests = commit_messages(local_aws)
    commit(local_aws, requests)
    commit(local_aws, requests)  # the batch again
    listed = ", ".join(f"'{lead}'" for lead in lead_ids)
    assert query(f"SELECT count(*), count(DISTINCT record_id) FROM leads WHERE record_id IN ({listed})") == [
        (2, 2)
    ]
    assert query(f"SELECT count(*) FROM lead_routes WHERE lead_id IN ({listed})") == [(2,)]
    take(local_aws, "DeliveryQueue", lambda body: body["lead_id"] in lead_ids)  # not this test's subject


# --- 3. a Lambda killed between its steps ---------------------------------------------------------


@pytest.mark.parametrize(
    "killed", ["before_the_manifest", "before_the_commit_request", "after_the_commit_request"]
)
def test_an_ingest_killed_between_its_steps_is_committed_once_when_sqs_redelivers_it(
    local_aws: LocalAws, registered_dealers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed: str
) -> None:
    from forecourt import aws, commits, uploader

    key, version, upload = put_raw(
        "D100", f"killed-{killed}.csv", leads_csv(tmp_path / "k.csv", 6, 2, f"K{killed[:6]}-")
    )
    real_put, real_send = aws.client("s3").put_object, commits.send

    def put_object(**kwargs: Any) -> Any:
        if "/manifests/" in f"/{kwargs['Key']}" and kwargs["Key"].endswith(f"{upload}.json"):
            raise TimeoutError("Task timed out")  # the invocation ends here
        return real_put(**kwargs)

    def send(requests: Any) -> None:
        if killed == "after_the_commit_request":
            real_send(requests)
        raise TimeoutError("Task timed out")

    with monkeypatch.context() as patch:
        if killed == "before_the_manifest":
            patch.setattr(aws.client("s3"), "put_object", put_object)
        else:
            patch.setattr(commits, "send", send)
        message = ingest_message(key, version)
        assert ingest(local_aws, [message]) == [message["MessageId"]]
    local_aws.drain_commits()
    first_attempt = stored_files("leads", upload)
    assert len(first_attempt) == 1
    assert table_files("leads", upload) == (first_attempt if killed == "after_the_commit_request" else set())

    assert ingest(local_aws, [message]) == []  # SQS delivers it again
    local_aws.drain_commits()
    report = uploader.wait_report("D100", upload, timeout=5)
    assert table_files("leads", upload) == {f"s3://{f}" for f in report.files["leads"]}
    assert not table_files("leads", upload) & first_attempt  # the killed attempt's file is an orphan
    assert_upload_adds_up(upload, 8, 6, 2)


# --- 4. a compaction crashed between its steps ----------------------------------------------------


def _events(upload: str, day: date) -> list[dict[str, Any]]:
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return [
        {
            "record_id": f"{upload}-{i}",
            "upload_id": upload,
            "dealer_id": f"D{i % 2}",
            "feed": "crm-events",
            "source_system": "test-crm",
            "received_at": at + timedelta(minutes=i),
            "source_line": i,
            "event_type": "contacted",
            "occurred_at": at - timedelta(hours=i),
        }
        for i in range(3)
    ]


def test_a_commit_request_redriven_after_its_upload_was_replayed_does_not_bring_older_rows_back(
    local_aws: LocalAws,
) -> None:
    """An attempt's commit request failed into the dead-letter queue; the upload was replayed and
    committed; then the operator redrove the queue. Also both in one batch, the newer first."""
    from forecourt import commits

    for n, together in enumerate((False, True)):
        day = date(2032, 2, 3 + n)
        upload = f"redriven-{n}"
        older = commits.write_records("lead_events", _events(upload, day)[:1], upload, day)
        newer = commits.write_records("lead_events", _events(upload, day), upload, day)
        assert older.written_at and newer.written_at and older.written_at < newer.written_at
        if together:
            commits.apply([newer, older])
        else:
            commits.apply([newer])
            commits.apply([older])  # the redrive
        assert query(f"SELECT count(*) FROM lead_events WHERE upload_id = '{upload}'") == [(3,)]
        assert table_files("lead_events", upload) == set(newer.files)
        assert commits.landed(newer) and not commits.landed(older)
    # a request applied again (the committer died before SQS heard) is not superseded by itself
    commits.apply([newer])
    assert query(f"SELECT count(*) FROM lead_events WHERE upload_id = '{upload}'") == [(3,)]


def _partition_files(day: date) -> set[str]:
    from forecourt import catalog

    return {
        t.file.file_path
        for t in catalog.load("lead_events").scan().plan_files()
        if f"received_day={day.isoformat()}/" in t.file.file_path
    }


def _small_files(local_aws: LocalAws, day: date, tag: str) -> set[str]:
    from forecourt import commits

    for n in range(3):  # one commit each: three small files, and a history to expire
        commits.append_records("lead_events", _events(f"{tag}-{n}", day), f"{tag}-{n}", day)
        local_aws.drain_commits()
    return _partition_files(day)


def _compact(local_aws: LocalAws, day: date, wait: Callable[[list[Any]], None], expire_days: int = 30) -> Any:
    from forecourt import compact

    options = compact.CompactionOptions(
        tables=["lead_events"], days=[day], min_age_minutes=0, expire_days=expire_days
    )
    return compact.run(datetime.now(UTC), options, wait)


def test_a_compaction_killed_before_its_commit_request_is_redone_by_the_next_run(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecourt import commits, compact

    day = date(2032, 2, 1)
    small = _small_files(local_aws, day, "cf-a")
    before = compact.fingerprint("lead_events", small)
    with monkeypatch.context() as patch:
        patch.setattr(commits, "send", lambda requests: (_ for _ in ()).throw(TimeoutError("Task timed out")))
        with pytest.raises(TimeoutError):
            _compact(local_aws, day, lambda pending: None)
    assert _partition_files(day) == small  # rewritten, not committed: the table is untouched

    _compact(local_aws, day, lambda pending: local_aws.drain_commits())
    (compacted,) = _partition_files(day)
    assert compact.fingerprint("lead_events", [compacted]) == before  # same rows, each once


def test_a_committer_killed_between_the_compaction_and_the_expiry_finishes_both_on_redelivery(
    local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecourt import aws, catalog, compact

    day = date(2032, 2, 2)
    small = _small_files(local_aws, day, "cf-b")
    before = compact.fingerprint("lead_events", small)
    real_expire = catalog.expire_history
    kills: list[str] = []

    def expire_history(table: str, older_than: datetime | None = None) -> int:
        if not kills:
            kills.append(table)
            raise TimeoutError("Task timed out")  # the compaction is committed, the expiry is not
        return real_expire(table, older_than)

    def wait(pending: list[Any]) -> None:
        messages = commit_messages(local_aws)
        with pytest.raises(TimeoutError):
            commit(local_aws, messages)
        assert _partition_files(day) != small
        commit(local_aws, messages)  # the FIFO queue gives the failed batch again, whole

    monkeypatch.setattr(catalog, "expire_history", expire_history)
    _compact(local_aws, day, wait, expire_days=0)
    assert kills == ["lead_events"]
    (compacted,) = _partition_files(day)
    assert compact.fingerprint("lead_events", [compacted]) == before
    assert len(catalog.load("lead_events").snapshots()) == 1  # the history was expired after all
    fs = aws.s3_filesystem()  # and the small files compacted away are gone
    assert all(info.size is None for info in fs.get_file_info([p[5:] for p in small]))
