"""Audiences function: after each enrich (its on-success destination) or on demand, every segment's
lists as a dated ``audience_members`` snapshot, each member marked with why it may not leave for an
ad platform (ARCHITECTURE §6 ``audiences``; ``forecourt audiences build``'s job); then, for each
platform connected (the secrets ``<prefix>/platforms/meta`` and ``<prefix>/platforms/google``), the
lists synced to it (``forecourt audiences sync``'s job); then the lead stages not sent yet go to
every platform connected for conversions (``forecourt conversions sync``'s job). A sync that stops
part-way fails the invocation (the failure destination and its alarm see it) after the snapshot
landed; the retry, or the next run, resumes it from its ledger.

As of now, or of the ``as_of`` (ISO 8601) of the event, or of the ``as_of`` enrich ran with when the
event is Lambda's destination record of that run. Waits until the committer has applied the
snapshot. Logs and returns counts only: no person id, no identifier.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import commits
from forecourt.audiences import build
from forecourt.enrich.job import moment

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    event = event or {}
    now = datetime.now(UTC).replace(microsecond=0)
    # invoked by enrich's on-success destination, the event is Lambda's record of that invocation
    destination = "requestContext" in event
    enriched = (event.get("responsePayload") or {}) if destination else event
    done = build.run(now, moment(enriched.get("as_of"), now))
    commits.wait_within(done.requests, context)
    lists = [
        {"audience": c.audience, "kind": c.kind, "members": c.members, "eligible": c.eligible,
         "excluded": c.excluded}
        for c in done.lists
    ]  # fmt: skip
    logger.info(
        "audiences built",
        extra={"snapshot": done.snapshot, "lists": len(lists), "members": sum(c.members for c in done.lists),
               "eligible": sum(c.eligible for c in done.lists)},
    )  # fmt: skip
    from forecourt.audiences.sync import SyncStopped
    from forecourt.conversions.sync import SyncStopped as ConversionsStopped

    stopped: list[str] = []
    summary = {"as_of": done.as_of.isoformat(), "snapshot": done.snapshot, "lists": lists}
    # a list that stops does not hold back the conversions (Meta takes them for 7 days only)
    for name, step in (("sync", _sync), ("conversions", _conversions)):
        try:
            summary[name] = step(now, context)
        except (SyncStopped, ConversionsStopped) as error:
            stopped.append(str(error))
    if stopped:
        raise SyncStopped("; ".join(stopped))
    return summary


def _sync(now: datetime, context: LambdaContext) -> dict[str, Any]:
    """Sync every connected platform and record what was sent in ``syncs``; a platform that stops
    does not stop the others, then the invocation fails naming it."""
    from forecourt.audiences import sync, targets

    apis = targets.connected()
    summary: dict[str, Any] = {p: "not connected" for p in targets.PLATFORMS if p not in apis}
    stopped: list[str] = []
    reports: list[sync.ListSync] = []
    for platform, api in apis.items():
        try:
            # no waiting for Google to apply a job inside the 15 minutes: the next run polls it
            synced = sync.run(now, api, platform=platform, wait=0)
        except sync.SyncStopped as error:
            stopped.append(str(error))
            continue
        sent = sum(sum(r.operations.values()) for r in synced)
        pending = sum(r.pending for r in synced)
        logger.info(
            "audiences synced",
            extra={
                "platform": platform,
                "lists": len(synced),
                "members_sent": sent,
                "lists_pending": pending,
            },
        )
        summary[platform] = {r.audience: r.operations for r in synced}
        reports += synced
    commits.wait_within(sync.record(reports, now), context)
    if stopped:
        raise sync.SyncStopped("; ".join(stopped))
    return summary


def _conversions(now: datetime, context: LambdaContext) -> dict[str, Any]:
    from forecourt.conversions import sync

    done = sync.run_all(now)
    for platform, summary in done.items():
        if isinstance(summary, dict):
            logger.info("conversions sent", extra={"platform": platform, "outcomes": summary["outcomes"],
                                                   "excluded": summary["excluded"]})  # fmt: skip
    return done
