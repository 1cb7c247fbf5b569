"""Deliver function: SQS (DeliveryQueue) → each routed lead sent to its dealer's CRM, once.

Wiring only: each message is ``forecourt.delivery_run.DeliveryRun.handle``; a message that must come
back (attempts ran out, no delivery configured, sent elsewhere) is a partial batch failure, so SQS
redelivers it after its visibility timeout and parks it in the DLQ after maxReceiveCount. Every
attempt of the invocation goes to the ``deliveries`` table at the end."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import delivery_run
from forecourt.delivery import DeliveryOutcome

logger = Logger()
metrics = Metrics()
# a batch whose every message must come back is still answered item by item (not raised), so that
# the attempts of the invocation are recorded all the same
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
STATUS_METRICS = {
    "delivered": "Delivered",
    "retry": "DeliveryRetried",
    "failed": "DeliveryFailed",
    "skipped_duplicate": "DeliverySkippedDuplicate",
    "waiting": "DeliveryWaiting",
}


def report(outcome: DeliveryOutcome) -> None:
    """Log an outcome (ids, counts and codes: no personal data) and emit its metrics."""
    logger.info(
        "delivery",
        extra={
            "delivery_id": outcome.delivery_id,
            "dealer_id": outcome.dealer_id,
            "method": outcome.method,
            "status": outcome.status,
            "disposition": outcome.disposition,
            "attempts": outcome.sends,
            "error": outcome.error,
            "latency_ms": outcome.latency_ms,
        },
    )
    metrics.add_metric(name="DeliveryAttempts", unit=MetricUnit.Count, value=outcome.sends)
    metrics.add_metric(name=STATUS_METRICS[outcome.status], unit=MetricUnit.Count, value=1)
    if outcome.latency_ms is not None:
        with single_metric(
            name="DeliveryLatency",
            unit=MetricUnit.Milliseconds,
            value=outcome.latency_ms,
            default_dimensions=metrics.default_dimensions,
        ) as latency:
            latency.add_dimension(name="dealer_id", value=outcome.dealer_id)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = delivery_run.DeliveryRun(
        len(event.get("Records", [])), context.get_remaining_time_in_millis, observe=report
    )

    def record_handler(record: SQSRecord) -> str:
        receives = int(record.attributes.approximate_receive_count or 1)
        return run.handle(record.message_id, record.body, receives).status

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    run.record()
    return response
