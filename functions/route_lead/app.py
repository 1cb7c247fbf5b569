"""route_lead function: SQS (the realtime queue the webhook fills) → routed leads and recorded records.

Wiring only: each lead is routed by ``forecourt.lead_routing.route_message`` (decide, queue for
delivery or for OEM staff, remember in the identity index); CRM events and rejected bodies need no routing.
One bad message never fails its neighbours (partial batch response); the batch's rows then go to the
lake together (``forecourt.realtime.record_batch``: leads, lead_events, quarantine, uploads,
lead_routes)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import lead_routing, realtime

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
_LOGGED = ("lead_id", "dealer_id", "chosen_dealer_id", "rule", "action", "duplicate_of", "is_test")


def record_handler(record: SQSRecord) -> realtime.Recorded:
    """Route the lead of one realtime message (events and rejections pass through to be recorded)."""
    message = realtime.RealtimeMessage.model_validate_json(record.body)
    metrics.add_metric(name=f"RealtimeRecords_{message.kind}", unit=MetricUnit.Count, value=1)
    if message.kind != "lead":
        return realtime.Recorded(record.message_id, message)
    if realtime.names_erased(message, _erased()):
        # the person was erased while the lead waited in the queue: neither kept nor routed
        metrics.add_metric(name="LeadsSuppressed", unit=MetricUnit.Count, value=1)
        return realtime.Recorded(record.message_id, realtime.suppressed(message))
    row = lead_routing.route_message(message)
    logger.info("lead routed", extra={name: row[name] for name in _LOGGED})  # no reason: it holds the zip
    metrics.add_metric(name="LeadsRouted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"LeadsRouted_{row['rule']}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"LeadActions_{row['action']}", unit=MetricUnit.Count, value=1)
    return realtime.Recorded(record.message_id, message, row)


_erased_now: list[Any] = []


def _erased() -> Any:
    """The erased list, read once per batch (``handler`` clears it)."""
    from forecourt.privacy import suppression

    if not _erased_now:
        _erased_now.append(suppression.erased_list())
    return _erased_now[0]


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _erased_now.clear()
    with processor(records=event["Records"], handler=record_handler, lambda_context=context):
        outcomes = processor.process()
    realtime.record_batch([recorded for status, recorded, _ in outcomes if status == "success"])
    return processor.response()
