"""Erasure function: a privacy request object dropped under ``privacy/requests/`` in the lake bucket
(EventBridge "Object Created") → ``forecourt.privacy.erasure`` carries it out everywhere, writes its
ledger and deletes the request object. Invoked asynchronously: a failure is retried once, then lands
in the jobs' failure queue (its alarm); running a request again is idempotent.

Logs the request id (a keyed hash) and step counts only: never an identifier.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import commits
from forecourt.privacy import erasure

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    detail = event["detail"]
    now = datetime.now(UTC).replace(microsecond=0)
    ledger = erasure.run_request_object(
        detail["bucket"]["name"],
        detail["object"]["key"],
        now,
        lambda pending: commits.wait_within(pending, context),
    )
    logger.info("privacy request carried out", extra={"request_id": ledger.request_id, "mode": ledger.mode,
                                                     "steps": len(ledger.steps)})  # fmt: skip
    return {"request_id": ledger.request_id, "mode": ledger.mode, "steps": ledger.steps}
