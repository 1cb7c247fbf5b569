"""Dead-letter queues: what each holds and moving its messages back to the queue they failed from.

Every consumed queue redrives to a dead-letter queue after 5 receives (template.yaml). Once the
cause is fixed (a dealer's endpoint, a bug deployed away), the messages go back to their source
queue and are processed again; every consumer is idempotent, so a message that did get through
before changes nothing. On AWS a standard queue is moved by SQS itself (``StartMessageMoveTask``,
server-side, oldest first); a FIFO queue (commits), and any queue on the local stack (moto has no
move task), is moved by receive → send → delete, a message deleted only once its copy is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from forecourt import aws
from forecourt.config import settings

_COUNTS = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",
}
_NOT_REDRIVABLE = {
    "JobsFailureQueue": (
        "holds Lambda's records of resolve, enrich, audiences or erasure runs that failed twice, not "
        "messages to send again: read them (`aws sqs receive-message`), fix the cause and run the job "
        "again (`forecourt local run-schedule`, or `forecourt privacy erase` for an erasure), then purge it"
    ),
    "FallbackQueue": "is not a dead-letter queue: OEM staff work its leads by hand",
}


class RedriveRefused(ValueError):
    """The queue named is unknown, is no dead-letter queue, or has no source to go back to."""


@dataclass(frozen=True)
class QueueState:
    """One queue of the stack: its depth and, for a dead-letter queue, where its messages came from."""

    name: str
    url: str
    visible: int
    in_flight: int
    delayed: int
    dead_letters_of: str = ""
    """The logical id of the queue this one is the dead-letter queue of ("" for none)."""


@dataclass
class RedriveResult:
    """What a redrive did: messages moved (or, for a move task, the task started), and failures."""

    source: str
    destination: str
    moved: int = 0
    failed: list[str] = field(default_factory=list)
    """Message ids whose copy could not be sent: left in the dead-letter queue."""
    task_handle: str = ""
    """The SQS message move task, when SQS moves the messages itself (AWS, standard queues)."""


def queue_states(queues: dict[str, str]) -> list[QueueState]:
    """Every queue of ``queues`` (logical id → URL) with its depth and its source when a DLQ."""
    sqs = aws.client("sqs")
    arn_of: dict[str, str] = {}
    attributes_of: dict[str, dict[str, str]] = {}
    for name, url in queues.items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        attributes_of[name] = attributes
        arn_of[attributes["QueueArn"]] = name
    source_of: dict[str, str] = {}
    for name, attributes in attributes_of.items():
        if "RedrivePolicy" in attributes:
            target = arn_of.get(json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"])
            if target:
                source_of[target] = name
    return [
        QueueState(
            name,
            queues[name],
            visible=int(attributes_of[name].get(_COUNTS["visible"], 0)),
            in_flight=int(attributes_of[name].get(_COUNTS["in_flight"], 0)),
            delayed=int(attributes_of[name].get(_COUNTS["delayed"], 0)),
            dead_letters_of=source_of.get(name, ""),
        )
        for name in sorted(queues)
    ]


def resolve(name: str, states: list[QueueState]) -> QueueState:
    """The dead-letter queue ``name`` means: its logical id in any case (``DeliveryDeadLetterQueue``),
    or the stage it belongs to (``delivery``, ``ingest-dlq``); raises RedriveRefused."""
    wanted = (
        "".join(ch for ch in name.lower() if ch.isalnum()).removesuffix("dlq").removesuffix("deadletterqueue")
    )
    dead_letters_first = sorted(states, key=lambda s: (not s.dead_letters_of, s.name))
    for state in dead_letters_first:
        logical = state.name.lower()
        if wanted in (logical, logical.removesuffix("deadletterqueue"), logical.removesuffix("queue")):
            if state.name in _NOT_REDRIVABLE:
                raise RedriveRefused(f"{state.name} {_NOT_REDRIVABLE[state.name]}")
            if not state.dead_letters_of:
                dead_letters = [s for s in states if s.dead_letters_of == state.name]
                hint = f"; its dead letters are in {dead_letters[0].name}" if dead_letters else ""
                raise RedriveRefused(f"{state.name} is not a dead-letter queue{hint}")
            return state
    known = ", ".join(s.name for s in states if s.dead_letters_of)
    raise RedriveRefused(f"no dead-letter queue {name!r}; the stack's are {known}")


def redrive(dlq: QueueState, destination: QueueState, *, max_messages: int | None = None) -> RedriveResult:
    """Move the messages of ``dlq`` to ``destination`` (its source queue, or another queue of the
    same kind): by an SQS move task on AWS for a standard queue, else by receive → send → delete."""
    fifo = dlq.url.endswith(".fifo")
    if fifo != destination.url.endswith(".fifo"):
        raise RedriveRefused(f"{dlq.name} and {destination.name} must both be FIFO or both standard")
    if settings().endpoint_url is None and not fifo and max_messages is None:
        return _move_task(dlq, destination)
    return _move_by_hand(dlq, destination, fifo=fifo, max_messages=max_messages)


def _arn(url: str) -> str:
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def _move_task(dlq: QueueState, destination: QueueState) -> RedriveResult:
    answer = aws.client("sqs").start_message_move_task(
        SourceArn=_arn(dlq.url), DestinationArn=_arn(destination.url)
    )
    return RedriveResult(dlq.name, destination.name, moved=dlq.visible, task_handle=answer["TaskHandle"])


def _move_by_hand(
    dlq: QueueState, destination: QueueState, *, fifo: bool, max_messages: int | None
) -> RedriveResult:
    sqs = aws.client("sqs")
    result = RedriveResult(dlq.name, destination.name)
    limit = dlq.visible if max_messages is None else min(max_messages, dlq.visible)
    while result.moved + len(result.failed) < limit:
        wanted = min(10, limit - result.moved - len(result.failed))
        messages = sqs.receive_message(
            QueueUrl=dlq.url,
            MaxNumberOfMessages=wanted,
            VisibilityTimeout=120,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        entries = [_entry(i, message, fifo=fifo) for i, message in enumerate(messages)]
        sent = sqs.send_message_batch(QueueUrl=destination.url, Entries=entries)
        done = {int(ok["Id"]) for ok in sent.get("Successful", [])}
        result.failed += [messages[int(bad["Id"])]["MessageId"] for bad in sent.get("Failed", [])]
        if done:
            sqs.delete_message_batch(
                QueueUrl=dlq.url,
                Entries=[{"Id": str(i), "ReceiptHandle": messages[i]["ReceiptHandle"]} for i in sorted(done)],
            )
        result.moved += len(done)
    return result


def _entry(index: int, message: dict[str, Any], *, fifo: bool) -> dict[str, Any]:
    """The message as a send entry: its body and attributes; on a FIFO queue its message group, and
    its DLQ message id as the deduplication id (what SQS's own redrive does: a fresh id, so that the
    original's deduplication window cannot swallow the copy)."""
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
    if message.get("MessageAttributes"):
        entry["MessageAttributes"] = message["MessageAttributes"]
    if fifo:
        entry["MessageGroupId"] = message["Attributes"]["MessageGroupId"]
        entry["MessageDeduplicationId"] = message["MessageId"]
    return entry
