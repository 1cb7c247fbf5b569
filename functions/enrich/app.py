"""Enrich function: after each resolve (its on-success destination) or on demand, tags, lead scores and
each dealer's outbound files of what changed (ARCHITECTURE §6 ``enrich``; ``forecourt enrich run``'s job).

As of now, or of the ``as_of`` (ISO 8601) of the event, or of the schedule's input that resolve ran
with when the event is Lambda's destination record of that run. Waits until the committer has
applied its ``lead_tags`` and ``enriched_leads`` commits: those rows are what the next run compares
with, so a run that returns has recorded what it exported. Logs and returns counts and file keys only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import commits
from forecourt.enrich import job

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    now = datetime.now(UTC).replace(microsecond=0)
    # invoked by resolve's on-success destination, the event is Lambda's record of that invocation
    destination = "requestContext" in event
    resolved = (event.get("responsePayload") or {}) if destination else {}
    requested = (event.get("requestPayload") or {}) if destination else event
    done = job.run(now, job.moment(requested.get("as_of"), now))
    commits.wait_within(done.requests, context)
    summary = {
        "as_of": done.as_of.isoformat(),
        "after_resolve_at": resolved.get("resolved_at"),
        "records_read": done.activity,
        "tags": done.tags,
        "leads_enriched": done.leads,
        "leads_exported_per_dealer": done.exported,
        "files": done.files,
    }
    logger.info(
        "enriched", extra={k: v for k, v in summary.items() if k != "files"} | {"files": len(done.files)}
    )
    return summary
