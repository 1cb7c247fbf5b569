"""Erasure beyond the tables (``erasure`` step 5): the S3 objects, DynamoDB items and local files
that hold the person, each step recorded in the request's ledger.

- Raw files of the person's uploads are rewritten without their records — a CSV record (however
  many lines it spans), a JSON line, an ADF ``<prospect>`` — found by source line (the lake's
  ``source_line`` of each of their records and quarantine rows) or by naming one of their
  identifiers; the rewrite carries the metadata ``forecourt-erasure`` (ingest skips it), and every
  other version of the object is deleted (the lake bucket is versioned: a noncurrent version would
  still hold them). A file that cannot be rewritten (a zip) and names them is deleted whole.
- Outbound files of their dealers (``outbound/dealer=…/``) are rewritten the same way (records naming
  an identifier, a record id or a person id of theirs); files a dealer already took are beyond us.
- Upload manifests hold counts only: checked, kept.
- The identity index: their keys' items (``email#``/``phone#`` and ``resolved#``) deleted, their
  leads taken out of the items of keys they share with someone else.
- Idempotency records and in-flight delivery state (small, expiring tables): items naming them
  deleted.
- The local state folder (``forecourt local``'s home, locally only): files naming them deleted.
- Queued messages are not taken out of their queues (SQS cannot delete by content, and receiving
  every message would break the consumers' at-least-once delivery): a message in flight lands, if
  at all, after the erasure — and ingest then quarantines it as ``suppressed``; the ledger records
  the longest retention, after which running the request again finds anything that slipped by.
  Athena query results expire by the results bucket's lifecycle (30 days) on the same terms.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from forecourt import aws, lake
from forecourt.config import settings

if TYPE_CHECKING:
    from forecourt.privacy.erasure import Found
    from forecourt.privacy.erasure_ledger import Ledger

ERASED_METADATA = "forecourt-erasure"
"""User metadata on an object rewritten by an erasure (its request id): ingest does not ingest it."""
_PROSPECT = re.compile(rb"<prospect\b.*?</prospect\s*>\s*", re.IGNORECASE | re.DOTALL)


def erase(found: Found, ledger: Ledger) -> None:
    """Remove the person from every object and item outside the tables; each step in ``ledger``."""
    from forecourt.privacy.erasure import text_pattern

    identifiers = text_pattern(found.emails, found.phones)
    names = re.compile(identifiers.removeprefix("(?i)"), re.IGNORECASE) if identifiers else None
    uploads = _uploads(found.uploads)
    _raw_files(uploads, found, names, ledger)
    ids = [*found.record_ids, *found.persons]
    every = "|".join(filter(None, [identifiers and identifiers.removeprefix("(?i)"), *map(re.escape, ids)]))
    outbound_names = re.compile(every, re.IGNORECASE) if every else None
    _outbound_files(outbound_names, ledger)
    ledger.step("manifests", "manifests/", "kept: counts only, no identifier", uploads=len(uploads))
    _identity_index(found, ledger)
    for table in (settings().idempotency_table, settings().delivery_state_table):
        _items_naming(table, outbound_names, ledger)
    _local_state(outbound_names, ledger)
    _queues(ledger)


def _uploads(upload_ids: list[str]) -> list[dict[str, Any]]:
    from forecourt import analytics

    if not upload_ids:
        return []
    listed = ", ".join("'" + u.replace("'", "''") + "'" for u in upload_ids)
    columns = "upload_id, dealer_id, bucket, object_key, format, compression, encoding, delimiter"
    sql = f"SELECT DISTINCT {columns} FROM uploads WHERE upload_id IN ({listed})"
    return list(analytics.run_query(sql).to_arrow().to_pylist())


def _raw_files(
    uploads: list[dict[str, Any]], found: Found, names: re.Pattern[str] | None, ledger: Ledger
) -> None:
    rewritten = deleted = versions = 0
    for (bucket, key), group in _by_object(uploads).items():
        if key.endswith("/") or key.startswith(_WEBHOOK_BODIES):
            # a webhook request's body (one record a body), or a day's folder of them (the upload of
            # a batch before each request was its own): every body naming them goes, with all its
            # versions
            gone, purged = _webhook_bodies(bucket, key, names)
            deleted += gone
            versions += purged
            continue
        lines = {line for upload in group for line in found.lines.get(upload["upload_id"], [])}
        outcome, purged = rewrite_object(bucket, key, group[0], lines, names, ledger.request_id)
        rewritten += outcome == "rewritten"
        deleted += outcome == "deleted"
        versions += purged
    counts = {"objects": len(_by_object(uploads)), "rewritten": rewritten, "deleted": deleted}
    ledger.step("raw", "raw/", "rewritten without them, marked not to ingest", **counts,
                old_versions_deleted=versions)  # fmt: skip


_WEBHOOK_BODIES = (f"{lake.RAW_PREFIX}webhooks/", f"{lake.RAW_PREFIX}events/")


def _webhook_bodies(bucket: str, folder: str, names: re.Pattern[str] | None) -> tuple[int, int]:
    """Delete every object under ``folder`` (a key: that body) whose body names them; (objects
    deleted, versions deleted)."""
    if names is None:
        return 0, 0
    s3 = aws.client("s3")
    deleted = versions = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            if names.search(body.decode("utf-8", errors="replace")):
                s3.delete_object(Bucket=bucket, Key=item["Key"])
                deleted += 1
                versions += lake.delete_versions(bucket, item["Key"], keep=None)
    return deleted, versions


def _by_object(uploads: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    objects: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for upload in uploads:
        if upload.get("object_key", "").startswith("raw/"):
            objects.setdefault((upload["bucket"], upload["object_key"]), []).append(upload)
    return objects


def rewrite_object(
    bucket: str,
    key: str,
    upload: dict[str, Any],
    lines: set[int],
    names: re.Pattern[str] | None,
    request: str,
) -> tuple[str, int]:
    """Rewrite one object without the person's records (see the module); returns what happened
    (rewritten, deleted, unchanged, gone) and how many other versions were deleted."""
    s3 = aws.client("s3")
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return "gone", lake.delete_versions(bucket, key, keep=None)
    body = answer["Body"].read()
    zipped = body[:2] == b"\x1f\x8b"
    content = gzip.decompress(body) if zipped else body
    kept = without_records(content, upload, lines, names)
    if kept is None:
        s3.delete_object(Bucket=bucket, Key=key)
        return "deleted", lake.delete_versions(bucket, key, keep=None)
    if kept == content:
        return "unchanged", lake.delete_versions(bucket, key, keep=answer.get("VersionId"))
    metadata = {**answer.get("Metadata", {}), ERASED_METADATA: request}
    put = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=gzip.compress(kept, mtime=0) if zipped else kept,
        Metadata=metadata,
        ContentType=answer.get("ContentType") or "application/octet-stream",
    )
    return "rewritten", lake.delete_versions(bucket, key, keep=put.get("VersionId"))


def without_records(
    content: bytes, upload: dict[str, Any], lines: set[int], names: re.Pattern[str] | None
) -> bytes | None:
    """``content`` without the records at ``lines`` or naming an identifier; None when it cannot
    be rewritten (not text) but names one."""
    form = upload.get("format") or _guess(upload.get("object_key", ""))
    if content[:2] == b"PK":  # a zip: each member rewritten the same way
        return _without_in_zip(content, upload, lines, names)
    encoding = upload.get("encoding") or "utf-8"
    try:
        text = content.decode(encoding, errors="surrogateescape")
    except LookupError:
        encoding, text = "utf-8", content.decode("utf-8", errors="surrogateescape")
    if form == "adf":
        return _without_prospects(content, lines, names, encoding)
    if form == "csv":
        kept = _without_csv_records(text, upload.get("delimiter") or ",", lines, names)
    else:  # JSON lines and anything line-based
        kept = "".join(
            _blank(line) if n in lines or (names and names.search(line)) else line
            for n, line in enumerate(_physical_lines(text), 1)
        )  # fmt: skip
    return kept.encode(encoding, errors="surrogateescape")


def _without_in_zip(
    content: bytes, upload: dict[str, Any], lines: set[int], names: re.Pattern[str] | None
) -> bytes | None:
    """A zip with every member rewritten without the records (the lines are those of the member
    ingest reads: a zip upload holds one file); None when a member cannot be read."""
    import io
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = [(info, archive.read(info)) for info in archive.infolist()]
    except (zipfile.BadZipFile, OSError, RuntimeError):
        return None if names and names.search(content.decode("latin-1")) else content
    rewritten = [(info, without_records(data, {**upload, "object_key": info.filename}, lines, names))
                 for info, data in members]  # fmt: skip
    if any(data is None for _, data in rewritten):
        return None
    if all(new == old for (_, new), (_, old) in zip(rewritten, members, strict=True)):
        return content
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as kept:
        for info, data in rewritten:
            kept.writestr(info, data or b"")
    return out.getvalue()


def _guess(key: str) -> str:
    name = key.lower().removesuffix(".gz")
    return (
        "adf" if name.endswith((".xml", ".adf")) else "jsonl" if name.endswith((".jsonl", ".json")) else "csv"
    )


def _without_csv_records(text: str, delimiter: str, lines: set[int], names: re.Pattern[str] | None) -> str:
    """Whole CSV records (a quoted cell may span lines) blanked by starting line or content; the
    first record (the header) always kept."""
    physical = _physical_lines(text)
    reader = csv.reader(iter(physical), delimiter=delimiter[:1] or ",", quotechar='"', strict=False)
    kept, start = [], 1
    for _ in reader:
        end = reader.line_num
        record = "".join(physical[start - 1 : end])
        if start == 1 or (start not in lines and not (names and names.search(record))):
            kept.append(record)
        else:  # blank lines in its place: the records after it keep their line numbers
            kept.extend(_blank(line) for line in physical[start - 1 : end])
        start = end + 1
    kept.append("".join(physical[start - 1 :]))  # anything after the last record
    return "".join(kept)


def _blank(line: str) -> str:
    """A line emptied, its line ending kept (readers skip blank lines; later records keep their
    line numbers, which the lake's ``source_line`` and a later erasure rely on)."""
    return line[len(line.rstrip("\r\n")) :]


def _physical_lines(text: str) -> list[str]:
    """The lines as the readers count them (``formats.delimited``: CR, LF or CRLF ends a line)."""
    from forecourt.formats.delimited import _LINE

    return [match.group(0) for match in _LINE.finditer(text)]


def _without_prospects(
    content: bytes, lines: set[int], names: re.Pattern[str] | None, encoding: str
) -> bytes:
    """ADF without the ``<prospect>`` elements starting on these lines (``formats.adf``'s source
    line: the line of the start tag) or naming an identifier."""

    def drop(match: re.Match[bytes]) -> bytes:
        line = content.count(b"\n", 0, match.start()) + 1
        text = match.group(0).decode(encoding, errors="replace")
        erased = line in lines or (names and names.search(text))
        return b"\n" * match.group(0).count(b"\n") if erased else match.group(0)  # line numbers kept

    return _PROSPECT.sub(drop, content)


def _outbound_files(names: re.Pattern[str] | None, ledger: Ledger) -> None:
    """Every dealer's outbound files (a lead reaches the dealer it was routed to, and enrichment
    exports go under the lead's dealer: not only the dealers that uploaded their records)."""
    s3, bucket = aws.client("s3"), settings().lake_bucket
    seen = changed = 0
    dealers: set[str] = set()
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=lake.OUTBOUND_PREFIX)
    for item in (item for page in pages for item in page.get("Contents", [])) if names else []:
        seen += 1
        upload = {"object_key": item["Key"], "format": _guess(item["Key"])}
        outcome, _ = rewrite_object(bucket, item["Key"], upload, set(), names, ledger.request_id)
        if outcome in ("rewritten", "deleted"):
            changed += 1
            dealers.add(item["Key"].removeprefix(lake.OUTBOUND_PREFIX).split("/", 1)[0])
    ledger.step("outbound", "outbound/", "rewritten without them", dealers=len(dealers), objects=seen,
                rewritten=changed)  # fmt: skip


def _identity_index(found: Found, ledger: Ledger) -> None:
    """Their keys' items deleted; their leads out of the items of keys shared with others."""
    import hashlib

    from forecourt.identity_index import RESOLVED

    dynamodb, table = aws.client("dynamodb"), settings().identity_index_table
    own = [f"email#{hashlib.sha256(e.encode()).hexdigest()}" for e in found.emails]
    own += [f"phone#{hashlib.sha256(p.encode()).hexdigest()}" for p in found.phones]
    deleted = 0
    for key in [*own, *(RESOLVED + k for k in own)]:
        answer = dynamodb.delete_item(TableName=table, Key={"key": {"S": key}}, ReturnValues="ALL_OLD")
        deleted += "Attributes" in answer
    trimmed = 0
    leads = set(found.records.get("leads", []))
    for key in found.shared_keys:
        item = dynamodb.get_item(TableName=table, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
        entries = item["leads"]["L"] if item and "leads" in item else []
        left = [e for e in entries if e.get("M", {}).get("lead_id", {}).get("S") not in leads]
        if item and len(left) != len(entries):
            dynamodb.put_item(TableName=table, Item={**item, "leads": {"L": left}})
            trimmed += 1
    ledger.step(
        "identity_index", table, "their keys deleted", items_deleted=deleted, shared_items_trimmed=trimmed
    )


def _items_naming(table: str, names: re.Pattern[str] | None, ledger: Ledger) -> None:
    """Delete the items of a small, expiring table whose content names them."""
    dynamodb = aws.client("dynamodb")
    try:
        key_names = [
            k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
    except dynamodb.exceptions.ResourceNotFoundException:
        ledger.step("items", table, "no such table")
        return
    deleted = 0
    for page in dynamodb.get_paginator("scan").paginate(TableName=table) if names else []:
        for item in page["Items"]:
            if names is not None and names.search(json.dumps(item, ensure_ascii=False)):
                dynamodb.delete_item(TableName=table, Key={k: item[k] for k in key_names})
                deleted += 1
    ledger.step("items", table, "items naming them deleted", items_deleted=deleted)


def _local_state(names: re.Pattern[str] | None, ledger: Ledger) -> None:
    """Locally only: delete the files of the local stack's state folder that name them."""
    from forecourt.local import stack

    home = stack.home()
    if not settings().endpoint_url or not home.is_dir() or names is None:
        ledger.step("local_state", "local state folder", "not local")
        return
    deleted = 0
    # state.json holds the stack itself (tables, secrets — the suppression key among them): the next
    # checkpoint writes it again from the stack, which no longer holds them
    kept = {"stack.json", "state.json", "platforms.json"}
    for path in (p for p in home.rglob("*") if p.is_file() and p.name not in kept and p.suffix != ".tmp"):
        try:
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
        except (OSError, EOFError):  # a file being written (a checkpoint's .tmp), or gone meanwhile
            continue
        if names.search(data.decode("utf-8", errors="replace")):
            path.unlink(missing_ok=True)
            deleted += 1
    ledger.step("local_state", "local state folder", "files naming them deleted", files_deleted=deleted)


def _queues(ledger: Ledger) -> None:
    conf = settings()
    urls = [u for u in (conf.commit_queue_url, conf.realtime_queue_url, conf.delivery_queue_url) if u]
    sqs = aws.client("sqs")
    days = 0
    for url in urls:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])
        days = max(days, -(-int(attributes["Attributes"]["MessageRetentionPeriod"]) // 86_400))
    rerun = datetime.fromisoformat(ledger.started_at) + timedelta(days=max(days, 30))
    result = f"not purged (see erasure_objects); run again after {rerun.date()}"
    ledger.step("queues", "queues and Athena results", result, queues=len(urls), retention_days=days)
