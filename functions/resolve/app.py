"""Resolve function: on its schedule, One-ID over the lake's records (ARCHITECTURE §6 ``resolve``).

Incremental (``forecourt identity run``'s job): records new or changed since the last run are compared
with everyone, and only the persons they reach are resolved again; the schedule's input
``{"full": true}`` resolves everything (after changing the resolution settings); an ``as_of`` in it is
for enrich, which receives this input in Lambda's record of the run. The function waits
until the committer has applied its ``persons`` and ``person_links`` commits, so that when it returns
(and Lambda's on-success destination starts ``enrich``) the lake holds this run's persons.

Logs and returns counts only: no record, name or key leaves in them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from forecourt import commits
from forecourt.identity import job

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    full = str((event or {}).get("full", False)).lower() == "true"  # true or "true", not "false"
    started = datetime.now(UTC).replace(microsecond=0)
    done = job.run(started, full=full)
    commits.wait_within(done.requests, context)
    summary = {
        "resolved_at": started.isoformat(),
        "mode": done.mode,
        "records": done.records,
        "records_new_or_changed": done.changed,
        "records_resolved": done.resolved,
        "persons": done.persons,
        "persons_with_several_records": done.multi_record_persons,
        "persons_at_several_dealers": done.cross_dealer_persons,
        "person_ids_kept": done.kept,
        "person_ids_new": done.new,
        "person_ids_merged": done.merged,
        "identity_index_keys_published": done.published,
    }
    logger.info("resolved", extra=summary)
    return summary
