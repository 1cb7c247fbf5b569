"""Operators' verbs against the session's moto server: `forecourt queues redrive` moves a dead-letter
queue's messages back whole (FIFO groups kept), `forecourt uploads replay` queues a raw file's own
event for ingest again and the upload's rows are replaced, not doubled, and `--stack NAME` finds a
deployed stack's resources through CloudFormation."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import DATA, LocalAws
from forecourt import analytics, aws, registry
from forecourt.cli import main

LEADS = DATA / "feeds" / "generic-leads" / "website_leads_20240212.csv"


def forecourt(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def words(text: str) -> str:
    return " ".join(text.split())


def _queue(name: str, *, fifo: bool = False, dead_letters: str | None = None) -> str:
    sqs = aws.client("sqs")
    attributes = {"FifoQueue": "true"} if fifo else {}
    if dead_letters:
        arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})
    return str(
        sqs.create_queue(QueueName=name + (".fifo" if fifo else ""), Attributes=attributes)["QueueUrl"]
    )


@pytest.fixture
def own_queues(stack_home: Path) -> dict[str, str]:
    """Queues of this test only, presented as the stack's (so no other test's messages move)."""
    tag = uuid.uuid4().hex[:8]
    dead = _queue(f"ops-{tag}-dlq")
    fifo_dead = _queue(f"ops-{tag}-commits-dlq", fifo=True)
    queues = {
        "IngestDeadLetterQueue": dead,
        "IngestQueue": _queue(f"ops-{tag}", dead_letters=dead),
        "CommitDeadLetterQueue": fifo_dead,
        "CommitQueue": _queue(f"ops-{tag}-commits", fifo=True, dead_letters=fifo_dead),
        "JobsFailureQueue": _queue(f"ops-{tag}-jobs"),
    }
    info = json.loads((stack_home / "stack.json").read_text())
    info["resources"]["queues"] = queues
    (stack_home / "stack.json").write_text(json.dumps(info))
    return queues


def _drain(url: str) -> list[dict[str, Any]]:
    sqs, found = aws.client("sqs"), []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", []):
        found += batch
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return found


def test_redrive_moves_every_dead_letter_back_with_its_attributes(own_queues: dict[str, str]) -> None:
    sqs = aws.client("sqs")
    for i in range(12):
        sqs.send_message(
            QueueUrl=own_queues["IngestDeadLetterQueue"],
            MessageBody=f'{{"n": {i}}}',
            MessageAttributes={"attempt": {"DataType": "Number", "StringValue": str(i)}},
        )
    listed = json.loads(forecourt("queues", "--json").stdout)
    assert {r["name"]: r["dead_letters_of"] for r in listed}["IngestDeadLetterQueue"] == "IngestQueue"
    answer = forecourt("queues", "redrive", "ingest")
    assert answer.exit_code == 0, answer.output
    assert "moved 12 message(s) from IngestDeadLetterQueue to IngestQueue" in words(answer.output)
    moved = _drain(own_queues["IngestQueue"])
    assert sorted(json.loads(m["Body"])["n"] for m in moved) == list(range(12))
    assert {m["MessageAttributes"]["attempt"]["StringValue"] for m in moved} == {str(i) for i in range(12)}
    assert _drain(own_queues["IngestDeadLetterQueue"]) == []


def test_redrive_of_a_fifo_queue_keeps_each_message_in_its_group(own_queues: dict[str, str]) -> None:
    sqs = aws.client("sqs")
    for table, n in [("leads", 1), ("visits", 2), ("leads", 3)]:
        sqs.send_message(
            QueueUrl=own_queues["CommitDeadLetterQueue"],
            MessageBody=f'{{"table": "{table}", "n": {n}}}',
            MessageGroupId=table,
            MessageDeduplicationId=f"{table}-{n}",
        )
    answer = forecourt("queues", "redrive", "CommitDeadLetterQueue", "--max", "2", "--json")
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)["moved"] == 2
    moved = _drain(own_queues["CommitQueue"])
    assert [(m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["table"]) for m in moved] == [
        ("leads", "leads"),
        ("visits", "visits"),
    ]
    assert len(_drain(own_queues["CommitDeadLetterQueue"])) == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "IngestQueue",
            "IngestQueue is not a dead-letter queue; its dead letters are in IngestDeadLetterQueue",
        ),
        ("JobsFailureQueue", "holds Lambda's records of resolve, enrich, audiences or erasure runs"),
        (
            "nosuch",
            "no dead-letter queue 'nosuch'; the stack's are CommitDeadLetterQueue, IngestDeadLetterQueue",
        ),
    ],
)
def test_redrive_refuses_what_is_not_a_dead_letter_queue(
    own_queues: dict[str, str], name: str, reason: str
) -> None:
    answer = forecourt("queues", "redrive", name)
    assert answer.exit_code == 1 and reason in words(answer.output)


def _ingest_from(queue: str, local_aws: LocalAws, deadline: float) -> None:
    """Play the ingest queue's event source mapping for ``queue`` until a message came (or time ran out)."""
    from forecourt.local.pump import LambdaContext, sqs_event

    while time.monotonic() < deadline:
        messages = (
            aws.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        )
        if messages:
            local_aws.ingest_handler(
                sqs_event(messages, "arn:aws:sqs:us-east-1:000000000000:ingest"), LambdaContext("ingest")
            )
            for message in messages:
                aws.client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            local_aws.drain_commits()
            return
        time.sleep(0.2)


def _rows(upload: str) -> int:
    return int(analytics.run_query(f"SELECT count(*) FROM leads WHERE upload_id = '{upload}'").rows[0][0])


def test_replay_ingests_the_same_version_again_and_replaces_its_rows(
    local_aws: LocalAws, own_queues: dict[str, str]
) -> None:
    dealer_id = f"R{uuid.uuid4().hex[:8]}"
    registry.put_dealer(registry.Dealer(dealer_id=dealer_id, name="Replay Motors", feeds=["generic-leads"]))
    first = local_aws.ingest_file(LEADS, dealer_id, arrival=date(2026, 3, 3))
    assert first.rows_curated > 0 and _rows(first.upload_id) == first.rows_curated

    runner = threading.Thread(
        target=_ingest_from, args=(own_queues["IngestQueue"], local_aws, time.monotonic() + 30), daemon=True
    )
    runner.start()
    answer = forecourt("uploads", "replay", first.upload_id, "--json", "--timeout", "30")
    runner.join()
    assert answer.exit_code == 0, answer.output
    (row,) = json.loads(answer.stdout[answer.stdout.index("[\n") :])  # after the handlers' log lines
    assert (row["upload_id"], row["status"], row["curated"]) == (
        first.upload_id,
        first.status,
        first.rows_curated,
    )
    assert _rows(first.upload_id) == first.rows_curated  # replaced, not doubled

    by_range = forecourt(
        "uploads",
        "replay",
        "--dealer",
        dealer_id,
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-05",
        "--no-wait",
        "--json",
    )
    assert by_range.exit_code == 0, by_range.output
    assert [r["upload_id"] for r in json.loads(by_range.stdout)] == [first.upload_id]
    (event,) = [json.loads(m["Body"]) for m in _drain(own_queues["IngestQueue"])]
    assert event["detail"]["object"]["key"] == first.object_key

    empty = forecourt("uploads", "replay", "--dealer", dealer_id, "--from", "2026-03-04")
    assert empty.exit_code == 1 and f"no files of dealer {dealer_id} arrived in that range" in words(
        empty.output
    )
    webhook = forecourt("uploads", "replay", f"raw/webhooks/dealer={dealer_id}/dt=2026-03-03/k.json")
    assert webhook.exit_code == 1 and "reach the lake through the realtime queue" in words(webhook.output)

    # an erasure rewrote the file (a new version, marked): by upload id too, refused, not sent to fail
    from forecourt.config import settings
    from forecourt.privacy.erasure_objects import ERASED_METADATA

    aws.client("s3").put_object(
        Bucket=settings().lake_bucket, Key=first.object_key, Body=b"x\n", Metadata={ERASED_METADATA: "req"}
    )
    erased = forecourt("uploads", "replay", first.upload_id, "--no-wait")
    assert erased.exit_code == 1 and "was rewritten by an erasure" in words(erased.output)


# --- a deployed stack (--stack NAME): CloudFormation names the resources ----------------------------

STACK_TEMPLATE = {
    "Resources": {
        "DealerRegistryTable": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "dealer_id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "dealer_id", "KeyType": "HASH"}],
            },
        },
        "DeliveryDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
        "DeliveryQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": 5,
                }
            },
        },
    },
    "Outputs": {"WebhookApiUrl": {"Value": "https://api.example/dev"}},
}


@pytest.fixture
def restored_environment(stack_home: Path) -> Iterator[None]:
    """The process environment as it was after the test (``--stack`` points it elsewhere)."""
    from forecourt.local.server import apply_environment

    before = dict(os.environ)
    yield
    os.environ.pop("FORECOURT_STACK", None)
    apply_environment(before)


@pytest.fixture
def deployed(restored_environment: None) -> str:
    """A small CloudFormation stack in moto."""
    name = f"forecourt-{uuid.uuid4().hex[:8]}"
    aws.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(STACK_TEMPLATE))
    return name


def test_uploads_lists_a_dealers_files_and_webhook_requests_only_when_asked(
    local_aws: LocalAws, stack_home: Path
) -> None:
    from datetime import UTC, datetime

    from forecourt import realtime
    from forecourt.config import settings

    dealer_id = f"L{uuid.uuid4().hex[:8]}"
    registry.put_dealer(registry.Dealer(dealer_id=dealer_id, name="Listing Motors", feeds=["generic-leads"]))
    file = local_aws.ingest_file(LEADS, dealer_id, arrival=date(2026, 3, 3))
    key = f"raw/webhooks/dealer={dealer_id}/dt=2026-03-04/lead-1.json"
    rejected = realtime.RealtimeMessage(
        kind="rejected",
        dealer_id=dealer_id,
        received_at=datetime(2026, 3, 4, 9, tzinfo=UTC),
        raw=realtime.RawRef(bucket=settings().lake_bucket, key=key),
        quarantined=[realtime.QuarantinedRecord(reason="missing_contact", message="no e-mail or phone")],
    )
    realtime.record_batch([realtime.Recorded(f"m-{dealer_id}", rejected)])
    local_aws.drain_commits()

    listed = json.loads(forecourt("uploads", "--dealer", dealer_id, "--json").stdout)
    assert [r["upload_id"] for r in listed] == [file.upload_id]
    both = json.loads(forecourt("uploads", "--dealer", dealer_id, "--webhooks", "--json").stdout)
    assert [(r["file"], r["in"], r["quarantined"]) for r in both] == [
        ("lead-1.json", 1, 1),
        (LEADS.name, file.rows_in, file.rows_quarantined),
    ]


def test_a_deployed_stack_is_found_by_name_and_the_same_verbs_work_on_it(deployed: str) -> None:
    local_registry = os.environ["FORECOURT_REGISTRY_TABLE"]
    added = forecourt(
        "--stack", deployed, "dealers", "add", "S100", "--name", "Cloud Ford",
        "--delivery", "adf_http", "--endpoint", "https://crm.cloudford.example/adf",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    table = os.environ["FORECOURT_REGISTRY_TABLE"]
    assert table != local_registry and table.startswith(deployed)
    item = aws.client("dynamodb").get_item(TableName=table, Key={"dealer_id": {"S": "S100"}})["Item"]
    assert item["name"]["S"] == "Cloud Ford"
    local_item = aws.client("dynamodb").get_item(TableName=local_registry, Key={"dealer_id": {"S": "S100"}})
    assert "Item" not in local_item
    loopback = forecourt(
        "--stack",
        deployed,
        "dealers",
        "update",
        "S100",
        "--delivery",
        "adf_http",
        "--endpoint",
        "http://127.0.0.1:9/x",
    )
    assert loopback.exit_code == 1 and "must be https://" in words(
        loopback.output
    )  # only the local stack's CRMs
    listed = json.loads(forecourt("--stack", deployed, "queues", "--json").stdout)
    assert {r["name"]: r["dead_letters_of"] for r in listed}["DeliveryDeadLetterQueue"] == "DeliveryQueue"


def test_an_unknown_stack_is_named_with_what_to_check(restored_environment: None) -> None:
    answer = forecourt("--stack", "no-such-stack", "dealers", "list")
    assert answer.exit_code == 1 and "no stack 'no-such-stack'" in words(answer.output)
    assert "check AWS_PROFILE / AWS_REGION" in words(answer.output)
