"""The scheduler and Lambda's asynchronous invocation, for the local stack (ARCHITECTURE §8).

On AWS, EventBridge Scheduler invokes ``ResolveFunction`` asynchronously with the schedule's input;
Lambda retries a failed run ``MaximumRetryAttempts`` times, then sends its record to the function's
``OnFailure`` destination, and after a success sends the record of the invocation to ``OnSuccess``
(``EnrichFunction``). ``invoke_async`` does the same from template.yaml's ``EventInvokeConfig``,
calling the real handlers in this process, with the records in Lambda's documented destination format
(version 1.0: requestContext, requestPayload, responseContext, responsePayload).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from forecourt.local.pump import invoke_warm, template_functions, warm

log = logging.getLogger("forecourt.scheduler")
MAX_CHAIN = 8
"""Destinations followed at most, one after the other (a template loop would never end)."""


@dataclass(frozen=True)
class Invocation:
    """One asynchronous invocation as Lambda would have run it."""

    function: str
    """The function's code directory under functions/ (``resolve``)."""
    attempts: int
    result: Any = None
    error: str | None = None
    """``ErrorType: message`` of the last attempt when every attempt failed."""
    sent_to: str | None = None
    """Where the record went: a function's directory, a queue's logical id, or None."""

    @property
    def succeeded(self) -> bool:
        return self.error is None


def _target(destination: Any) -> str:
    """The logical id a destination's ``!GetAtt Id.Arn`` / ``!Ref Id`` names."""
    if isinstance(destination, dict):
        value = destination.get("Fn::GetAtt", destination.get("Ref"))
        if isinstance(value, list):
            return str(value[0])
        return str(value).split(".")[0]
    return str(destination)


def schedule_input() -> dict[str, Any]:
    """The input ResolveFunction's schedule passes (template.yaml)."""
    from forecourt.local.resources import load_template

    events = load_template()["Resources"]["ResolveFunction"]["Properties"]["Events"]
    schedule = next(e for e in events.values() if e.get("Type") == "ScheduleV2")
    given: dict[str, Any] = json.loads(schedule["Properties"].get("Input", "{}"))
    return given


@cache
def _log_stream(path: Path) -> TextIO:
    """An open, appending stream for the handlers' logs (kept open: a handler's logger keeps the
    stream it was created with)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8", buffering=1)


def invoke_async(function: str, event: dict[str, Any], log: Path | None = None) -> list[Invocation]:
    """Invoke ``functions/<function>`` as Lambda's asynchronous invocation would, then follow its
    destinations; returns every invocation made, in order. With ``log``, what the handlers log (their
    structured logs, as CloudWatch would get them) goes to that file, not to standard output."""
    return _invoke_chain(function, event, _log_stream(log) if log else None)


def _invoke(function: str, event: dict[str, Any], stream: TextIO | None) -> Any:
    """One attempt, the handlers' structured log records (Powertools loggers) written to ``stream``
    when given: such a logger writes to the stream it was created with, so the handler is loaded with
    standard output pointing at ``stream`` and every Powertools handler is re-pointed there for the
    call (not standard output itself, which the command line's progress display uses meanwhile)."""
    if stream is None:
        return invoke_warm(function, event)
    from aws_lambda_powertools.logging.formatter import BasePowertoolsFormatter

    with contextlib.redirect_stdout(stream):
        warm(function)
    moved = [
        (handler, sys.stdout if handler.stream is stream else handler.stream)
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for handler in getattr(logger, "handlers", [])
        if isinstance(handler, logging.StreamHandler)
        and isinstance(handler.formatter, BasePowertoolsFormatter)
    ]
    try:
        for handler, _ in moved:
            handler.setStream(stream)
        return invoke_warm(function, event)
    finally:
        for handler, before in moved:
            handler.setStream(before)


def _invoke_chain(function: str, event: dict[str, Any], stream: TextIO | None) -> list[Invocation]:
    done: list[Invocation] = []
    while function and len(done) < MAX_CHAIN:
        if function not in template_functions():
            raise KeyError(f"template.yaml declares no function with CodeUri functions/{function}/")
        logical_id, props = template_functions()[function]
        config = props.get("EventInvokeConfig") or {}
        attempts, result, error = 0, None, None
        for attempts in range(1, int(config.get("MaximumRetryAttempts", 2)) + 2):
            try:
                result, error = _invoke(function, event, stream), None
                break
            except Exception as exc:  # Lambda records any failure of the handler
                error = f"{type(exc).__name__}: {exc}"
                log.warning("%s attempt %d failed: %s", function, attempts, traceback.format_exc())
        condition = "Success" if error is None else "RetriesExhausted"
        outcome = "OnSuccess" if error is None else "OnFailure"
        destination = (config.get("DestinationConfig") or {}).get(outcome)
        record = _record(logical_id, event, condition, attempts, result, error)
        sent_to = _send(destination, record) if destination else None
        done.append(Invocation(function, attempts, result, error, sent_to))
        if not (destination and destination.get("Type") == "Lambda"):
            break
        function, event = sent_to or "", record
    return done


def _record(
    logical_id: str, event: dict[str, Any], condition: str, attempts: int, result: Any, error: str | None
) -> dict[str, Any]:
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    payload = result
    if error is not None:
        response["functionError"] = "Unhandled"
        kind, _, message = error.partition(": ")
        payload = {"errorType": kind, "errorMessage": message}
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{logical_id}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": response,
        "responsePayload": payload,
    }


def _send(destination: dict[str, Any], record: dict[str, Any]) -> str:
    """Deliver ``record`` to a Lambda or SQS destination; returns the function directory or queue id."""
    target = _target(destination.get("Destination"))
    if destination.get("Type") == "Lambda":
        by_id = {logical_id: name for name, (logical_id, _) in template_functions().items()}
        return by_id[target]
    if destination.get("Type") == "SQS":
        from forecourt import aws
        from forecourt.local.resources import local_name

        sqs = aws.client("sqs")
        url = sqs.get_queue_url(QueueName=local_name(target))["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
        return target
    raise ValueError(f"destination type {destination.get('Type')!r} is not played locally")
