"""The local stack's moto server: moto's SQS sped up without changing its answers, and the activity
clock that keeps checkpoints out of the way of real work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from forecourt.local.server import MotoServer


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    running = MotoServer().start()
    yield running
    running.stop()


def client(server: MotoServer, service: str) -> Any:
    host, port = server.get_host_and_port()
    return boto3.client(
        service,
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def test_messages_past_the_retention_period_are_still_dropped(
    server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = client(server, "sqs")
    url = sqs.create_queue(QueueName="retention", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    for body in ("first", "second"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "2"
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"]
    assert got[0]["Body"] == "first"

    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []


def test_a_fifo_queue_still_deduplicates_and_holds_a_group_in_flight(server: MotoServer) -> None:
    sqs = client(server, "sqs")
    url = sqs.create_queue(
        QueueName="commits.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for body in ("a", "a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="leads")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)["Messages"]
    assert [m["Body"] for m in first] == ["a", "b"]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []


def test_queue_polls_are_not_activity_but_other_requests_are(server: MotoServer) -> None:
    sqs, s3 = client(server, "sqs"), client(server, "s3")
    url = sqs.create_queue(QueueName="polled")["QueueUrl"]
    s3.create_bucket(Bucket="activity")
    before = server.last_request
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert server.last_request == before
    s3.put_object(Bucket="activity", Key="k", Body=b"x")
    assert server.last_request > before


def test_reads_are_not_changes_but_writes_are(server: MotoServer) -> None:
    s3, glue, dynamodb = client(server, "s3"), client(server, "glue"), client(server, "dynamodb")
    s3.create_bucket(Bucket="changes")
    s3.put_object(Bucket="changes", Key="k", Body=b"x")
    before = server.last_change
    s3.get_object(Bucket="changes", Key="k")
    s3.head_object(Bucket="changes", Key="k")
    s3.list_objects_v2(Bucket="changes")
    glue.get_databases()
    dynamodb.list_tables()
    assert server.last_change == before and server.last_request > before
    glue.create_database(DatabaseInput={"Name": "changes"})
    assert server.last_change > before


@pytest.mark.parametrize(
    "content_type",
    [None, "application/x-www-form-urlencoded", "application/octet-stream", "text/csv"],
    ids=["urllib-default", "curl-data-binary", "octet-stream", "csv"],
)
def test_a_file_put_to_a_presigned_url_keeps_its_bytes_whatever_its_content_type(
    server: MotoServer, content_type: str | None
) -> None:
    """urllib and ``curl --data-binary`` label a PUT body as a form; S3 stores the bytes all the
    same, and so must the local stack (moto stored an empty object: ingest said empty_file)."""
    import urllib.request

    s3 = client(server, "s3")
    s3.create_bucket(Bucket="presigned")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "presigned", "Key": "leads.csv"})
    data = b'"LeadID","FirstName"\r\n"1","Ann"\r\n'
    headers = {"Content-Type": content_type} if content_type else {}
    put = urllib.request.Request(url, data=data, method="PUT", headers=headers)
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
    assert s3.get_object(Bucket="presigned", Key="leads.csv")["Body"].read() == data
