"""Ingest function: SQS (fed by EventBridge "Object Created" on raw/) → curated data files + manifest.

Wiring only: each record's work is ``forecourt.intake``; one bad message never fails its neighbours
(partial batch response)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import intake

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """Ingest the raw object named by one EventBridge event."""
    bucket, key, version = intake.parse_event(json.loads(record.body))
    report = intake.ingest_s3_object(bucket, key, version)
    if report is None:  # rewritten by an erasure: its rows are in the lake already
        logger.info("object rewritten by an erasure: not ingested again")
        metrics.add_metric(name="ErasureRewritesSkipped", unit=MetricUnit.Count, value=1)
        return {"status": "erasure_rewrite"}
    logger.info(
        "upload ingested",
        extra={
            "upload_id": report.upload_id,
            "dealer_id": report.dealer_id,
            "feed": report.feed,
            "status": report.status,
            "rows_in": report.rows_in,
            "rows_curated": report.rows_curated,
            "rows_quarantined": report.rows_quarantined,
            "duration_ms": report.duration_ms,
        },
    )
    metrics.add_metric(name="RowsIn", unit=MetricUnit.Count, value=report.rows_in)
    metrics.add_metric(name="RowsCurated", unit=MetricUnit.Count, value=report.rows_curated)
    metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=report.rows_quarantined)
    return report.model_dump(mode="json", include={"upload_id", "status", "rows_in"})


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
