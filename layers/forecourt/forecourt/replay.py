"""Ingesting raw objects that are already in the lake again: one upload (after a feed profile was
fixed, or a file that failed), or every file of a dealer over a range of arrival dates (a backfill
after a fix that changes how files are read).

A replay puts the object's own "Object Created" event on the ingest queue, exactly as S3 and
EventBridge did when it arrived, so the real ingest function handles it (on AWS and in the local
pump alike). The upload id hashes bucket, key and version, and each commit first removes the rows of
its upload: a replay of the same version replaces the upload's rows, it never adds to them. Objects
an erasure rewrote are not replayed (ingest would skip them: their rows are in the lake already).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from forecourt import aws, intake, lake
from forecourt.config import settings
from forecourt.ingest import UploadReport

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
FILES_PREFIX = f"{lake.RAW_PREFIX}files/"


class ReplayRefused(ValueError):
    """The object named cannot be replayed (unknown upload, not a raw file, rewritten by an erasure)."""


@dataclass(frozen=True)
class RawObjectRef:
    """One raw object version to ingest again, and when its manifest was last written (or None)."""

    key: str
    version: str | None
    dealer_id: str
    upload_id: str
    manifest_written: datetime | None


def find(reference: str, *, dealer_id: str | None = None) -> RawObjectRef:
    """The raw object an upload id (its version, as first ingested), a key or an ``s3://`` URI (its
    current version) names; ``dealer_id`` narrows the search for an upload id. Raises ReplayRefused."""
    bucket = settings().lake_bucket
    if _UPLOAD_ID.match(reference):
        return _by_upload(reference, dealer_id)
    key = reference.removeprefix(f"s3://{bucket}/")
    if not key.startswith(FILES_PREFIX):
        raise ReplayRefused(
            f"{reference}: give an upload id (`forecourt uploads`) or a key under {FILES_PREFIX} "
            "(webhook bodies under raw/webhooks/ reach the lake through the realtime queue)"
        )
    s3 = aws.client("s3")
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        raise ReplayRefused(f"{key}: no such object in {bucket}") from exc
    return _ref(key, head)


def between(dealer_id: str, first: date, last: date) -> Iterator[RawObjectRef]:
    """Every file of ``dealer_id`` that arrived from ``first`` to ``last`` (the raw key's dt=), in
    key order, current versions; objects an erasure rewrote are left out."""
    from forecourt.privacy.erasure_objects import ERASED_METADATA

    s3 = aws.client("s3")
    bucket = settings().lake_bucket
    day = first
    while day <= last:
        prefix = lake.raw_key(dealer_id, day, "x").removesuffix("x")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                head = s3.head_object(Bucket=bucket, Key=obj["Key"])
                if ERASED_METADATA not in head.get("Metadata", {}):
                    yield _ref(obj["Key"], head)
        day += timedelta(days=1)


def send(ref: RawObjectRef, ingest_queue_url: str) -> None:
    """Queue the object's "Object Created" event for ingest (what S3 → EventBridge sent on arrival)."""
    event = intake.event_for(settings().lake_bucket, ref.key, ref.version)
    aws.client("sqs").send_message(QueueUrl=ingest_queue_url, MessageBody=json.dumps(event))


def wait(refs: list[RawObjectRef], timeout: float = 300.0) -> dict[str, UploadReport]:
    """The upload reports of ``refs`` once ingest has written each manifest again (newer than when
    the replay was sent), by upload id; those not written within ``timeout`` are missing."""
    s3 = aws.client("s3")
    bucket = settings().lake_bucket
    waiting = {ref.upload_id: ref for ref in refs}
    reports: dict[str, UploadReport] = {}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for upload, ref in list(waiting.items()):
            key = lake.manifest_key(ref.dealer_id, upload)
            try:
                head = s3.head_object(Bucket=bucket, Key=key)
            except s3.exceptions.ClientError:
                continue
            if ref.manifest_written is None or head["LastModified"] > ref.manifest_written:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                reports[upload] = UploadReport.model_validate(json.loads(body))
                del waiting[upload]
        if waiting:
            time.sleep(0.5)
    return reports


def _by_upload(upload: str, dealer_id: str | None) -> RawObjectRef:
    """An upload's object from its manifest (which names its key and version)."""
    s3 = aws.client("s3")
    bucket = settings().lake_bucket
    dealers = [dealer_id] if dealer_id else _manifest_dealers()
    for dealer in dealers:
        key = lake.manifest_key(dealer, upload)
        try:
            manifest = s3.get_object(Bucket=bucket, Key=key)
        except s3.exceptions.NoSuchKey:
            continue
        report = json.loads(manifest["Body"].read())
        if not str(report["object_key"]).startswith(FILES_PREFIX):
            raise ReplayRefused(f"upload {upload} is {report['object_key']}, not a file under {FILES_PREFIX}")
        _refuse_erased(s3, bucket, str(report["object_key"]))
        return RawObjectRef(
            report["object_key"], report.get("object_version"), dealer, upload, manifest["LastModified"]
        )
    where = f"dealer {dealer_id}'s uploads" if dealer_id else "any dealer's uploads"
    raise ReplayRefused(f"no upload {upload} in {where} (manifests/)")


def _refuse_erased(s3: Any, bucket: str, key: str) -> None:
    """An erasure rewrote the object (and deleted its older versions, the manifest's among them):
    refuse as ``_ref`` does instead of sending ingest a version that no longer exists."""
    from forecourt.privacy.erasure_objects import ERASED_METADATA

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        return  # gone or unreadable: ingest reports it
    if ERASED_METADATA in head.get("Metadata", {}):
        raise ReplayRefused(f"{key} was rewritten by an erasure: its rows are in the lake already")


def _manifest_dealers() -> list[str]:
    s3 = aws.client("s3")
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=settings().lake_bucket, Prefix="manifests/dealer=", Delimiter="/"
    ):
        found += [
            p["Prefix"].removeprefix("manifests/dealer=").rstrip("/") for p in page.get("CommonPrefixes", [])
        ]
    return found


def _ref(key: str, head: dict[str, Any]) -> RawObjectRef:
    from forecourt.privacy.erasure_objects import ERASED_METADATA

    if ERASED_METADATA in head.get("Metadata", {}):
        raise ReplayRefused(f"{key} was rewritten by an erasure: its rows are in the lake already")
    raw = lake.parse_raw_key(key)
    version = head.get("VersionId") or head.get("ETag", "").strip('"')
    upload = lake.upload_id(settings().lake_bucket, key, version)
    s3 = aws.client("s3")
    try:
        written = s3.head_object(Bucket=settings().lake_bucket, Key=lake.manifest_key(raw.dealer_id, upload))
    except s3.exceptions.ClientError:
        written = None
    return RawObjectRef(key, version, raw.dealer_id, upload, written["LastModified"] if written else None)
