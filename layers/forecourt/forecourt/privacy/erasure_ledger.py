"""The erasure ledger (``privacy.erasure``): the proof that a request reached everywhere — every
step of every run with its target, result and counts, as JSON in the lake bucket
(``ledger/erasures/<request id>/<started at>.json``) and as rows of the ``erasures`` table. It holds
no identifier and no person id: the request id is a keyed hash of what the request names."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecourt.privacy.erasure import ErasureRequest

LEDGER_PREFIX = "ledger/erasures/"


def request_id(request: ErasureRequest, secret: bytes) -> str:
    """The request's id: a keyed hash of what it names (the same request gets the same id)."""
    names = sorted([f"email:{e}" for e in request.emails] + [f"phone:{p}" for p in request.phones]
                   + [f"person:{p}" for p in request.persons])  # fmt: skip
    digest = hmac.new(secret, "\n".join([request.reason, *names]).encode(), hashlib.sha256).hexdigest()
    return f"{request.reason.replace('_', '-')}-{digest[:24]}"


@dataclass
class Ledger:
    """The proof of one request: every step with its target, result and counts."""

    request_id: str
    mode: str
    source: str
    started_at: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    finished_at: str | None = None

    def step(self, step: str, target: str, result: str, **counts: int) -> None:
        self.steps.append({"step": step, "target": target, "result": result, **counts})

    def as_dict(self) -> dict[str, Any]:
        names = ("request_id", "mode", "source", "started_at", "finished_at", "steps")
        return {name: getattr(self, name) for name in names}


def save_ledger(ledger: Ledger, now: datetime) -> Any:
    """Write the ledger: as JSON (``ledger/erasures/<request id>/<started at>.json``: a request run
    again keeps each run's) and as rows of the ``erasures`` table; returns that commit's request."""
    from forecourt import aws, commits
    from forecourt.config import settings
    from forecourt.lake import stable_hash

    # distinct in its first 16 characters: Iceberg keeps string bounds that long, and a commit is
    # found landed by its upload id's files (``commits.landed``)
    run = f"{stable_hash(ledger.request_id, ledger.started_at)[:16]}-{ledger.request_id}"
    key = f"{LEDGER_PREFIX}{ledger.request_id}/{ledger.started_at.replace(':', '')}.json"
    body = json.dumps(ledger.as_dict(), indent=1, sort_keys=True).encode()
    aws.client("s3").put_object(Bucket=settings().lake_bucket, Key=key, Body=body)
    started = datetime.fromisoformat(ledger.started_at)
    rows = []
    for number, step in enumerate(ledger.steps, 1):
        counts = {k: v for k, v in step.items() if k not in ("step", "target", "result")}
        rows.append(
            {
                "upload_id": run,
                "request_id": ledger.request_id,
                "mode": ledger.mode,
                "source": ledger.source,
                "step_number": number,
                "step": step["step"],
                "target": step["target"],
                "result": step["result"],
                "counts": json.dumps(counts, sort_keys=True) if counts else None,
                "rows_left": counts.get("rows_left"),
                "started_at": started,
                "received_at": now,
            }
        )
    return commits.append_records("erasures", rows, run, now.date())
