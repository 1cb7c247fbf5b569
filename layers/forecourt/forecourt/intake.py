"""The AWS edge of ingest: read a raw object from S3, ingest it, write its manifest, queue its commits."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from forecourt import aws, commits, lake, registry
from forecourt.config import settings
from forecourt.ingest import RawObject, UploadReport, ingest_object


def parse_event(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """(bucket, key, version) of an EventBridge "Object Created" event (the SQS message body);
    raises ValueError for anything else."""
    if body.get("detail-type") != "Object Created" or body.get("source") != "aws.s3":
        raise ValueError(f"not an S3 Object Created event: {body.get('source')} / {body.get('detail-type')}")
    detail = body["detail"]
    return detail["bucket"]["name"], detail["object"]["key"], detail["object"].get("version-id")


def ingest_s3_object(bucket: str, key: str, version: str | None) -> UploadReport | None:
    """Ingest one raw object version: data files, manifest, then the commit requests for every table
    the upload touches (an empty file list still replaces what an earlier attempt committed).
    None for an object an erasure rewrote (``privacy.erasure_objects``): its rows are in the lake
    already, less the erased person's, and ingesting it again would add a new upload of them."""
    from forecourt.privacy.erasure_objects import ERASED_METADATA

    conf = settings()
    s3 = aws.client("s3")
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version and version != "null":
        kwargs["VersionId"] = version
    answer = s3.get_object(**kwargs)
    if ERASED_METADATA in answer.get("Metadata", {}):
        answer["Body"].close()
        return None
    version = answer.get("VersionId") or version or answer.get("ETag", "").strip('"')
    raw = lake.parse_raw_key(key)
    dealer = registry.get_dealer(raw.dealer_id)
    received = lake.received_at(raw.arrival_date, answer.get("LastModified"))
    upload = lake.upload_id(bucket, key, version)
    obj = RawObject(
        bucket,
        key,
        version,
        answer.get("ContentLength"),
        answer.get("LastModified"),
        feed_hint=answer.get("Metadata", {}).get("feed"),
    )
    with tempfile.TemporaryDirectory(prefix="forecourt-") as spool:
        report = ingest_object(
            answer["Body"],
            obj,
            dealer,
            raw.dealer_id,
            received,
            upload,
            spool_writer_factory(spool, upload, received),
            max_bytes=conf.max_file_bytes,
            batch_rows=conf.batch_rows,
        )
        report.files = {
            table: [_upload_spooled(spool, path) for path in paths] for table, paths in report.files.items()
        }
    s3.put_object(
        Bucket=conf.lake_bucket,
        Key=lake.manifest_key(raw.dealer_id, upload),
        Body=report.model_dump_json(indent=2).encode(),
        ContentType="application/json",
    )
    written = datetime.now(UTC)  # this attempt's: a redriven request of an earlier one is superseded
    commits.send(
        commits.CommitRequest(
            table=table, upload_id=upload, files=[f"s3://{f}" for f in files], written_at=written
        )
        for table, files in sorted(report.files.items())
    )
    return report


def spool_writer_factory(
    spool: str, upload: str, received: datetime
) -> Callable[[str, pa.Schema], lake.DataFileWriter]:
    """Writers that stream each table's data files to local disk (Lambda's /tmp): memory stays
    bounded, and each file then reaches S3 in one request (multipart only when large)."""
    from pyarrow.fs import LocalFileSystem

    conf = settings()

    def make(table: str, schema: pa.Schema) -> lake.DataFileWriter:
        return lake.DataFileWriter(
            filesystem=LocalFileSystem(),
            bucket=spool,
            table=table,
            schema=schema,
            upload=upload,
            partition_day=received.astimezone(UTC).date(),
            row_group_rows=conf.row_group_rows,
            file_rows=conf.file_rows,
        )

    return make


def _upload_spooled(spool: str, path: str) -> str:
    """Copy a spooled data file to the same key in the lake bucket; returns ``bucket/key``."""
    bucket = settings().lake_bucket
    key = str(Path(path).relative_to(spool))
    aws.client("s3").upload_file(path, bucket, key)
    return f"{bucket}/{key}"


def event_for(bucket: str, key: str, version: str | None, size: int = 0) -> dict[str, Any]:
    """The EventBridge "Object Created" event S3 sends for an object (the local pump plays S3 with it)."""
    return {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "version-id": version},
            "reason": "PutObject",
        },
    }
