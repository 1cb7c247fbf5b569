"""Commit function: FIFO SQS (message group = table) → one atomic Iceberg commit per table per batch.

A failed commit fails the whole batch (FIFO order must hold within a table), so it is retried as a
unit and the replace-by-upload_id commit stays idempotent."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import commits

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    requests = [commits.CommitRequest.model_validate_json(r["body"]) for r in event["Records"]]
    commits.apply(requests)
    logger.info("committed", extra={"requests": len(requests), "tables": sorted({r.table for r in requests})})
    return {"batchItemFailures": []}
