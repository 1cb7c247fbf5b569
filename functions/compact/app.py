"""Compact function: on its schedule, each table's small data files rewritten into large sorted ones
and old snapshots expired (ARCHITECTURE §6 ``compact``; ``forecourt.compact``).

The schedule's input is the run's options (``CompactionOptions``: ``tables``, ``days``,
``target_mb``, ``min_age_minutes``, ``expire_days``; all optional). The commits go through the commit
queue, serialized with ingest's; the function waits for them and returns what each partition's
compaction did. A run that runs out of time leaves the remaining partitions to the next run.

Logs and returns counts only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import commits, compact

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    options = compact.CompactionOptions.model_validate(event or {})
    results = compact.run(
        datetime.now(UTC),
        options,
        lambda pending: commits.wait_within(pending, context),
        lambda: context.get_remaining_time_in_millis() / 1000,
    )
    summary = compact.summarize(results)
    logger.info("compacted", extra=summary)
    return summary
