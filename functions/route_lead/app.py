"""route_lead function: SQS (the realtime queue the webhook fills) → a routing decision per lead.

Wiring only: each record's work is ``forecourt.lead_routing.route_message`` (decide, remember in the
identity index, queue for delivery or for OEM staff); one bad message never fails its neighbours
(partial batch response); the batch's decisions then go to the ``lead_routes`` table together."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import lead_routing

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
_LOGGED = ("lead_id", "dealer_id", "chosen_dealer_id", "rule", "action", "duplicate_of", "is_test")


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """Route the lead of one realtime message; returns its lead_routes row."""
    row = lead_routing.route_message(record.body)
    logger.info("lead routed", extra={name: row[name] for name in _LOGGED})  # no reason: it holds the zip
    metrics.add_metric(name="LeadsRouted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"LeadsRouted_{row['rule']}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"LeadActions_{row['action']}", unit=MetricUnit.Count, value=1)
    return row


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with processor(records=event["Records"], handler=record_handler, lambda_context=context):
        outcomes = processor.process()
    routed = [(record["messageId"], row) for status, row, record in outcomes if status == "success"]
    lead_routing.record_routes([row for _, row in routed], [message_id for message_id, _ in routed])
    return processor.response()
