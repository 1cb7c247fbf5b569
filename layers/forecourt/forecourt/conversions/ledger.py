"""What was sent to each platform, per lead and stage: JSON objects in the lake bucket.

``ledger/conversions/<platform>/dealer=<id>/fc-<h>.json`` (``h``: the first hex digit of the
conversion id's hash) maps each conversion id to its lead, stage, outcome (``accepted``,
``already_recorded``, ``refused:<CODE>``), the run and the time. A conversion in the ledger is never
sent again. The shard is chosen by what never changes for a conversion (the lead's dealer and the
conversion id, a hash of lead and stage), never by the stage's time: a CRM may correct that time,
or report the stage again later, and a conversion looked up in another shard than the one it was
recorded in would be sent again (Meta deduplicates a repeated ``event_id`` only within 48 hours).
A dealer has at most 16 shards, and a run reads only those of the stages it considers. Shards of
the earlier layout (``<yyyy-mm>.json``, by the month the stage occurred in) are folded into these
the first time a run reads a dealer's ledger.

``ledger/conversions/<platform>/runs/<start>.json``: one per run (not dry runs), written when it
starts and when it ends: counts per outcome and per reason kept back, batches, the platform's
answers (Meta's ``fbtrace_id``, Google's job id and error codes). Nothing here names a person or
holds a hash of an identifier.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

PREFIX = "ledger/conversions/"


MONTH = re.compile(r"/dealer=[^/]+/\d{4}-\d{2}\.json$")
"""A shard of the earlier layout, by the month the stage occurred in (folded in by ``Ledger.load``)."""
SHARD_DIGITS = 1
"""Hex digits of the conversion id that pick a dealer's shard (16 shards a dealer)."""


def shard_key(platform: str, dealer_id: str, conversion_id: str) -> str:
    """The shard that holds ``conversion_id`` (``fc-<hash>``, ``stages.conversion_id``) of a lead of
    ``dealer_id``: fixed for the conversion, whatever time the CRM reports the stage at."""
    digits = conversion_id.removeprefix("fc-")[:SHARD_DIGITS]
    return f"{PREFIX}{platform}/dealer={dealer_id}/fc-{digits}.json"


def run_key(platform: str, started_at: datetime) -> str:
    return f"{PREFIX}{platform}/runs/{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.json"


class Ledger:
    """The shards of one platform a run reads and writes."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.shards: dict[str, dict[str, Any]] = {}
        self._folders: set[str] = set()
        """The dealer folders checked for month shards of the earlier layout."""

    def load(self, keys: set[str]) -> None:
        """Read the shards of ``keys`` not read yet (an absent one is empty), after folding in each
        dealer's month shards of the earlier layout (``_fold_months``)."""
        from forecourt import aws
        from forecourt.config import settings

        s3 = aws.client("s3")
        bucket = settings().lake_bucket
        for folder in sorted({key.rsplit("/", 1)[0] + "/" for key in keys} - self._folders):
            self._folders.add(folder)
            self._fold_months(s3, bucket, folder)
        self._read(s3, bucket, keys)

    def _read(self, s3: Any, bucket: str, keys: set[str]) -> None:
        for key in sorted(keys - set(self.shards)):
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                self.shards[key] = dict(json.loads(body))
            except s3.exceptions.NoSuchKey:
                self.shards[key] = {"platform": self.platform, "conversions": {}}

    def _fold_months(self, s3: Any, bucket: str, folder: str) -> None:
        """Move the entries of a dealer's ``<yyyy-mm>.json`` shards (the layout keyed by the month the
        stage occurred in) into the shards of their conversion ids, then delete those month shards:
        what they hold stays sent. Safe to repeat after a crash (an entry already there is kept)."""
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
        found = [item["Key"] for page in pages for item in page.get("Contents", [])]
        months = [key for key in found if MONTH.search(key)]
        if not months:
            return
        dealer = folder.removesuffix("/").split("/dealer=", 1)[1]
        entries: dict[str, Any] = {}
        for key in months:
            entries.update(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["conversions"])
        targets = {cid: shard_key(self.platform, dealer, cid) for cid in entries}
        self._read(s3, bucket, set(targets.values()))
        for cid, entry in entries.items():
            self.shards[targets[cid]]["conversions"].setdefault(cid, entry)
        self.save(set(targets.values()))
        for key in months:
            s3.delete_object(Bucket=bucket, Key=key)

    def sent(self, key: str, conversion_id: str) -> bool:
        """Whether the conversion is recorded (in the loaded shard ``key``)."""
        return conversion_id in self.shards[key]["conversions"]

    def record(self, key: str, conversion_id: str, entry: dict[str, Any]) -> None:
        self.shards[key]["conversions"][conversion_id] = entry

    def save(self, keys: set[str]) -> None:
        from forecourt import aws
        from forecourt.config import settings

        s3 = aws.client("s3")
        for key in sorted(keys):
            body = json.dumps(self.shards[key], indent=1, sort_keys=True).encode()
            s3.put_object(Bucket=settings().lake_bucket, Key=key, Body=body)


def save_run(platform: str, started_at: datetime, report: dict[str, Any]) -> None:
    from forecourt import aws
    from forecourt.config import settings

    body = json.dumps(report, indent=1, sort_keys=True, default=str).encode()
    aws.client("s3").put_object(Bucket=settings().lake_bucket, Key=run_key(platform, started_at), Body=body)


def entries(platform: str) -> dict[str, dict[str, Any]]:
    """Every recorded conversion of ``platform`` (conversion id → entry), for audits and tests."""
    from forecourt import aws
    from forecourt.config import settings

    s3 = aws.client("s3")
    bucket = settings().lake_bucket
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}{platform}/dealer=")
    found: dict[str, dict[str, Any]] = {}
    for page in pages:
        for item in page.get("Contents", []):
            shard = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            found.update(shard["conversions"])
    return found


def forget(lead_ids: set[str]) -> int:
    """Remove every entry of ``lead_ids`` from every platform's shards (an erasure: the ledger names
    leads by their record id); returns how many entries went. Their stages are gone from the lake
    with them, so nothing is sent again."""
    from forecourt import aws
    from forecourt.config import settings

    s3 = aws.client("s3")
    bucket = settings().lake_bucket
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for item in page.get("Contents", []):
            if "/dealer=" not in item["Key"]:
                continue
            shard = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            kept = {k: v for k, v in shard["conversions"].items() if v.get("lead_id") not in lead_ids}
            if len(kept) != len(shard["conversions"]):
                removed += len(shard["conversions"]) - len(kept)
                shard["conversions"] = kept
                body = json.dumps(shard, indent=1, sort_keys=True).encode()
                s3.put_object(Bucket=bucket, Key=item["Key"], Body=body)
    return removed
