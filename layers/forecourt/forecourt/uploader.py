"""Sending a dealer file to the lake's raw zone and waiting for its upload report (what a dealer's
presigned upload does on AWS; used by ``forecourt ingest`` and the demo)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from forecourt import aws, lake
from forecourt.config import settings
from forecourt.ingest import UploadReport


class UploadTimeout(TimeoutError):
    """The upload's report did not appear in time (is the pump running?)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def put_file(
    path: Path, dealer_id: str, *, feed: str | None = None, arrival: date | None = None
) -> tuple[str, str]:
    """Put ``path`` under raw/ for ``dealer_id``; returns (key, upload_id).

    Sending the same bytes again under the same key is a no-op: the existing version is reused, so
    the upload (and every row it produced) stays the same."""
    conf = settings()
    s3 = aws.client("s3")
    key = lake.raw_key(dealer_id, arrival or datetime.now(UTC).date(), path.name)
    checksum = file_sha256(path)
    try:
        head: dict[str, Any] | None = s3.head_object(Bucket=conf.lake_bucket, Key=key)
    except s3.exceptions.ClientError:
        head = None
    if (
        head
        and head.get("Metadata", {}).get("sha256") == checksum
        and head.get("Metadata", {}).get("feed", "") == (feed or "")
    ):
        version = head.get("VersionId") or head["ETag"].strip('"')
        return key, lake.upload_id(conf.lake_bucket, key, version)
    metadata = {"sha256": checksum, **({"feed": feed} if feed else {})}
    with path.open("rb") as body:
        answer = s3.put_object(Bucket=conf.lake_bucket, Key=key, Body=body, Metadata=metadata)
    version = answer.get("VersionId") or answer["ETag"].strip('"')
    return key, lake.upload_id(conf.lake_bucket, key, version)


def wait_report(dealer_id: str, upload: str, timeout: float = 300.0) -> UploadReport:
    """The upload's report once ingest has written its manifest; raises UploadTimeout."""
    conf = settings()
    s3 = aws.client("s3")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket=conf.lake_bucket, Key=lake.manifest_key(dealer_id, upload))[
                "Body"
            ].read()
            return UploadReport.model_validate(json.loads(body))
        except s3.exceptions.NoSuchKey:
            time.sleep(0.5)
    raise UploadTimeout(
        f"no report for upload {upload} after {timeout:.0f} s; is the local stack's pump running?"
    )


def wait_reports(
    uploads: list[tuple[str, str]], timeout: float = 600.0, on_report: Callable[[], None] | None = None
) -> list[UploadReport]:
    """Reports of many (dealer_id, upload_id) at once, in the order given; one listing a second
    instead of a request per upload; raises UploadTimeout."""
    conf = settings()
    s3 = aws.client("s3")
    wanted = {lake.manifest_key(dealer, upload) for dealer, upload in uploads}
    found: dict[str, UploadReport] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(wanted):
        if time.monotonic() > deadline:
            raise UploadTimeout(f"{len(wanted) - len(found)} upload reports missing after {timeout:.0f} s")
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=conf.lake_bucket, Prefix="manifests/dealer="
        ):
            for obj in page.get("Contents", []):
                if obj["Key"] in wanted and obj["Key"] not in found:
                    body = s3.get_object(Bucket=conf.lake_bucket, Key=obj["Key"])["Body"].read()
                    found[obj["Key"]] = UploadReport.model_validate(json.loads(body))
                    if on_report:
                        on_report()
        if len(found) < len(wanted):
            time.sleep(1.0)
    return [found[lake.manifest_key(dealer, upload)] for dealer, upload in uploads]
