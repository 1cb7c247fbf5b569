"""The webhook's domain (ARCHITECTURE §6): a lead posted over HTTPS is authenticated, checked,
stored, curated and queued for routing — and answered with a precise status.

``POST /v1/leads`` takes one lead, as ADF XML (``application/xml``, ``text/xml``) or as a JSON
object in the ``jsonl-leads`` shape (``application/json``). In order:

1. size (413) and media type (415);
2. the sender: header ``Forecourt-Sender`` names a registered sender (401), whose current or
   previous secret signed the request (``forecourt.signing``; 401 with the exact reason);
3. the body parses as one lead (400 with line and column);
4. the dealer the lead names (ADF ``vendor/id``, JSON ``dealer_id``) is registered (422) and the
   sender may post for it; a lead naming no dealer is routed, which only ``--all`` senders may ask
   for (403);
5. idempotency: the ``Idempotency-Key`` header, else the ADF prospect ``<id>`` with its source,
   else the SHA-256 of the body, scoped to the sender. The same key and body answer again what
   they answered first; the same key with another body is a 409;
6. storage first: the raw body goes to ``raw/webhooks/dealer=<id>/dt=<day>/`` (``oem`` when no
   dealer is named) before any answer; then the curated lead (or its quarantine rows) goes on the
   realtime queue, and route_lead writes it to the ``leads`` (or ``quarantine``) table with its
   batch (``forecourt.realtime``): the same rows and ``record_id`` the ingest path makes of the
   stored body — one normalizer, two entry points;
7. the lead's minimum contract: 422 naming each failed field and why (the lead is kept in
   quarantine); otherwise 202 with ``lead_id`` (the lead's ``record_id``).

Errors are RFC 9457 problem documents whose ``reason`` is one of ``ProblemReason``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from forecourt import aws, lake, realtime, registry, senders, signing
from forecourt.config import settings
from forecourt.curate import UploadMeta
from forecourt.formats import FileUnreadable, open_source
from forecourt.ingest import curate_document
from forecourt.reasons import QuarantineReason
from forecourt.registry import Dealer

IDEMPOTENCY_HEADER = "idempotency-key"
_MEDIA_TYPES = {"application/json": "json", "application/xml": "adf", "text/xml": "adf"}
_FEEDS = {"json": ("jsonl-leads", "json"), "adf": ("adf", "xml")}
"""Media kind → (feed profile, raw file extension)."""


class ProblemReason(StrEnum):
    """Why the webhook refused a request (the ``reason`` member of every problem document)."""

    PAYLOAD_TOO_LARGE = "payload_too_large"
    """413: the body is over the size limit (``FORECOURT_WEBHOOK_MAX_BYTES``)."""
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    """415: the Content-Type is not application/json, application/xml or text/xml."""
    MISSING_SENDER = "missing_sender"
    """401: no ``Forecourt-Sender`` header."""
    UNKNOWN_SENDER = "unknown_sender"
    """401: the sender named is not registered."""
    MISSING_SIGNATURE = "missing_signature"
    """401: no ``Forecourt-Signature`` header."""
    MALFORMED_SIGNATURE = "malformed_signature"
    """401: the signature header is not ``t=<unix seconds>,v1=<hex>``."""
    STALE_TIMESTAMP = "stale_timestamp"
    """401: the signed timestamp is more than five minutes from our clock."""
    BAD_SIGNATURE = "bad_signature"
    """401: no ``v1`` matches a valid secret of the sender for this body and timestamp."""
    MALFORMED_BODY = "malformed_body"
    """400: the body is not one ADF prospect or one JSON object."""
    DEALER_NOT_ALLOWED = "dealer_not_allowed"
    """403: the sender is not registered for the dealer the lead names."""
    DEALER_REQUIRED = "dealer_required"
    """403: the lead names no dealer and the sender may post only for some dealers."""
    UNKNOWN_DEALER = "unknown_dealer"
    """422: the dealer the lead names is not registered (404 when it is the URL's dealer)."""
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    """409: the idempotency key was used before with a different body."""
    REQUEST_IN_PROGRESS = "request_in_progress"
    """409: a request with this idempotency key is being processed; retry shortly."""
    LEAD_CONTRACT = "lead_contract"
    """422: the lead lacks its minimum content (see ``errors``); it is kept in quarantine."""
    EVENT_CONTRACT = "event_contract"
    """422: the CRM event lacks its minimum content (see ``errors``); it is kept in quarantine."""
    UPLOAD_REQUEST = "upload_request"
    """422: an upload-URL request without a usable ``file_name`` or with an unknown ``feed``."""
    PICKUP_REQUEST = "pickup_request"
    """422: a pickup listing with a malformed ``since``, ``after`` or ``limit``."""


class Problem(Exception):
    """A refusal, answered as an RFC 9457 problem document."""

    def __init__(
        self, status: int, reason: ProblemReason, detail: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail, self.errors = status, reason, detail, errors

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": f"urn:forecourt:problem:{self.reason.value}",
            "title": self.reason.value.replace("_", " "),
            "status": self.status,
            "detail": self.detail,
            "reason": self.reason.value,
        }
        if self.errors is not None:
            doc["errors"] = self.errors
        return doc


@dataclass(frozen=True)
class Inbound:
    """One HTTP request as the webhook sees it."""

    body: bytes
    headers: Mapping[str, str]
    """Header names in lower case."""
    received: datetime
    """When it arrived (UTC): the signature window and the raw key's day."""


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def receive_lead(inbound: Inbound) -> Answer:
    """Handle ``POST /v1/leads``; raises Problem for every refusal (see the module docstring)."""
    kind, sender = _checked(inbound)
    feed, extension = _FEEDS[kind]
    named = _named_dealer(inbound.body, kind)
    dealer = _allowed_dealer(sender, named)
    lead_dealer = dealer.dealer_id if named else lake.OEM_DEALER_ID
    from forecourt.privacy import suppression

    curated = curate_document(
        inbound.body,
        f"lead.{extension}",
        dealer,
        feed,
        UploadMeta("webhook", lead_dealer, "webhook", inbound.received),
        erased=suppression.erased_list(),  # an erased person's lead is neither kept nor routed
    )
    key = _idempotency_key(inbound, sender, curated.rows, "lead")
    return _accept(_claim(inbound, sender, key, lead_dealer, feed, extension, curated, "lead"))


def receive_event(inbound: Inbound, dealer_id: str) -> Answer:
    """Handle ``POST /v1/dealers/{dealer_id}/events``: a CRM reports a lead's stage (``contacted``,
    ``appointment_set``, ``shown``, ``sold`` with ``value``, ``lost``) or a showroom or service visit,
    as one JSON object of the ``lead-events`` feed. Stored first in ``raw/events/``, then recorded
    by route_lead in ``lead_events``; 202 with ``event_id`` (its ``record_id``), 422 naming the
    fields it lacks."""
    kind, sender = _checked(inbound)
    if kind != "json":
        raise Problem(415, ProblemReason.UNSUPPORTED_MEDIA_TYPE, "events are JSON: send application/json")
    dealer = _path_dealer(sender, dealer_id)
    _one_record(inbound.body, "json")
    curated = curate_document(
        inbound.body,
        "event.json",
        dealer,
        "lead-events",
        UploadMeta("webhook", dealer_id, "webhook", inbound.received),
    )
    key = _idempotency_key(inbound, sender, curated.rows, "event")
    return _accept(_claim(inbound, sender, key, dealer_id, "lead-events", "json", curated, "event"))


def upload_url(inbound: Inbound, dealer_id: str, *, expires_in: int | None = None) -> Answer:
    """Handle ``POST /v1/dealers/{dealer_id}/uploads``: a short-lived presigned PUT URL for one file
    into that dealer's raw prefix (dealers have no AWS identities). Body: ``{"file_name": "…",
    "feed": "…"}`` (feed optional: detected from content otherwise)."""
    kind, sender = _checked(inbound)
    if kind != "json":
        raise Problem(415, ProblemReason.UNSUPPORTED_MEDIA_TYPE, "send application/json")
    _path_dealer(sender, dealer_id)
    try:
        request = json.loads(inbound.body or b"{}")
    except ValueError as exc:
        raise _malformed(f"the body is not JSON: {exc}") from exc
    name = request.get("file_name") if isinstance(request, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise Problem(
            422,
            ProblemReason.UPLOAD_REQUEST,
            "file_name (1–200 characters) is required",
            [{"field": "file_name", "reason": "missing_required_field", "message": "give the file's name"}],
        )
    feed = request.get("feed")
    if feed is not None:
        from forecourt import feeds

        if feed not in feeds.load_all():
            raise Problem(
                422,
                ProblemReason.UPLOAD_REQUEST,
                f"unknown feed {feed!r}",
                [
                    {
                        "field": "feed",
                        "reason": "unknown_feed",
                        "message": f"known: {', '.join(sorted(feeds.load_all()))}",
                    }
                ],
            )
    conf = settings()
    seconds = expires_in or conf.upload_url_seconds
    key = lake.raw_key(dealer_id, inbound.received.astimezone(UTC).date(), name.strip())
    params: dict[str, Any] = {"Bucket": conf.lake_bucket, "Key": key}
    headers: dict[str, str] = {}
    if feed:
        params["Metadata"] = {"feed": feed}
        headers["x-amz-meta-feed"] = feed
    url = _presigner().generate_presigned_url("put_object", Params=params, ExpiresIn=seconds)
    expires = datetime.fromtimestamp(inbound.received.timestamp() + seconds, UTC)
    return Answer(
        201,
        {"method": "PUT", "url": url, "headers": headers, "key": key, "expires_at": expires.isoformat()},
    )


PICKUP_PAGE = 100
"""Files in one pickup answer unless ``limit`` asks for fewer (at most ``PICKUP_PAGE_MAX``)."""
PICKUP_PAGE_MAX = 1000
PICKUP_SCAN_MAX = 10_000
"""Keys one answer looks at (with ``since``, most may be older): past it, ``next_after`` goes on."""


def pickup_signed_text(dealer_id: str, query: str) -> bytes:
    """What a sender signs for ``GET /v1/dealers/{dealer_id}/outbound?<query>`` (a GET has no body):
    the method, the route's path and the query string exactly as sent, so that a signature is good
    for this dealer's listing with these parameters only (and, like every signature, for 5 minutes)."""
    return f"GET /v1/dealers/{dealer_id}/outbound?{query}".encode()


def outbound_files(inbound: Inbound, dealer_id: str, query: str, *, expires_in: int | None = None) -> Answer:
    """Handle ``GET /v1/dealers/{dealer_id}/outbound``: the dealer's own outbound files (leads
    delivered as ADF files, enriched-leads CSVs) under ``outbound/dealer=<id>/``, in key order, each
    with a short-lived presigned GET URL for exactly that key. ``query`` is the raw query string:
    ``since=<YYYY-MM-DD>`` (files of that day's partitions and later), ``after=<key>`` (the
    ``next_after`` of the previous page), ``limit=<1…1000>``. Signed over ``pickup_signed_text``.
    ``next_after`` is null once the prefix is read to its end."""
    from urllib.parse import parse_qs

    if len(inbound.body) > 0:
        raise _pickup_problem("body", "a pickup listing takes no body")
    sender = authenticate(inbound, signed=pickup_signed_text(dealer_id, query))
    _path_dealer(sender, dealer_id)
    prefix = lake.outbound_dealer_prefix(dealer_id)
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=10)
    except ValueError as exc:
        raise _pickup_problem("query", f"the query string does not parse: {exc}") from exc
    unknown = sorted(set(params) - {"since", "after", "limit"})
    if unknown or any(len(values) > 1 for values in params.values()):
        raise _pickup_problem("query", f"give since, after and limit at most once each (not {unknown})")
    since: date | None = None
    if "since" in params:
        try:
            since = date.fromisoformat(params["since"][0])
        except ValueError as exc:
            raise _pickup_problem("since", "since is a day, YYYY-MM-DD") from exc
    start = prefix
    if "after" in params:
        start = params["after"][0]
        # the cursor is a key from the user: it must be under this dealer's own prefix
        if not start.startswith(prefix) or len(start) > 1024:
            raise _pickup_problem("after", f"after is a key of a previous page, under {prefix}")
    limit = PICKUP_PAGE
    if "limit" in params:
        text = params["limit"][0]
        if not text.isdigit() or not 1 <= int(text) <= PICKUP_PAGE_MAX:
            raise _pickup_problem("limit", f"limit is a whole number from 1 to {PICKUP_PAGE_MAX}")
        limit = int(text)
    conf = settings()
    seconds = expires_in or conf.pickup_url_seconds
    expires = datetime.fromtimestamp(inbound.received.timestamp() + seconds, UTC).isoformat()
    presigner = _presigner()
    files: list[dict[str, Any]] = []
    last, more = start, False
    pages = (
        aws.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(
            Bucket=conf.lake_bucket,
            Prefix=prefix,
            StartAfter=start,
            PaginationConfig={"PageSize": PICKUP_PAGE_MAX, "MaxItems": PICKUP_SCAN_MAX},
        )
    )
    for item in (item for page in pages for item in page.get("Contents", [])):
        key = item["Key"]
        if not key.startswith(prefix):  # S3 listed under the prefix; never hand out another key
            raise RuntimeError(f"listing under {prefix} returned {key}")
        if len(files) == limit:
            more = True
            break
        last = key
        kind, day = _outbound_kind(key.removeprefix(prefix))
        if since is not None and (day is None or day < since):
            continue
        files.append(
            {
                "key": key,
                "name": key.rpartition("/")[2],
                "kind": kind,
                "day": day.isoformat() if day else None,
                "size": item["Size"],
                "last_modified": item["LastModified"].astimezone(UTC).isoformat(),
                "url": presigner.generate_presigned_url(
                    "get_object", Params={"Bucket": conf.lake_bucket, "Key": key}, ExpiresIn=seconds
                ),
                "expires_at": expires,
            }
        )
    else:
        # the scan stopped at its bound (not at the end of the prefix): the caller goes on from there
        more = last != start and _more_after(conf.lake_bucket, prefix, last)
    return Answer(200, {"dealer_id": dealer_id, "files": files, "next_after": last if more else None})


def _outbound_kind(rest: str) -> tuple[str, date | None]:
    """(kind, day) of a key below ``outbound/dealer=<id>/``: ``lead`` for a lead delivered as a file
    (``dt=<day>/<delivery id>.xml``, the day the lead was received), ``enriched_leads`` for an
    enrichment CSV (``enriched-leads/<day>/…``), ``other`` otherwise."""
    first, _, remainder = rest.partition("/")
    kind, day_text = "other", ""
    if first.startswith("dt="):
        kind, day_text = "lead", first[3:]
    elif first == "enriched-leads":
        kind, day_text = "enriched_leads", remainder.partition("/")[0]
    try:
        return kind, date.fromisoformat(day_text)
    except ValueError:
        return kind, None


def _more_after(bucket: str, prefix: str, key: str) -> bool:
    listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=key, MaxKeys=1)
    return bool(listed.get("Contents"))


def _pickup_problem(name: str, message: str) -> Problem:
    return Problem(
        422, ProblemReason.PICKUP_REQUEST, message, [{"field": name, "reason": "invalid", "message": message}]
    )


def _presigner() -> Any:
    """An S3 client that presigns with SigV4 (botocore's default for presigned URLs may be SigV2,
    which S3 refuses on buckets made since 2020); its signature covers the method, the key and the
    signed headers, so the URL writes that one dealer's key and nothing else."""
    import boto3
    from botocore.config import Config

    conf = settings()
    return boto3.session.Session().client(
        "s3", region_name=conf.region, endpoint_url=conf.endpoint_url, config=Config(signature_version="s3v4")
    )


def _checked(inbound: Inbound) -> tuple[str, senders.Sender]:
    """Size, media type and sender checks every route shares; the media kind and the sender."""
    conf = settings()
    if len(inbound.body) > conf.webhook_max_bytes:
        raise Problem(
            413,
            ProblemReason.PAYLOAD_TOO_LARGE,
            f"the body is {len(inbound.body):,} bytes; the limit is {conf.webhook_max_bytes:,}",
        )
    kind = media_kind(inbound.headers.get("content-type"))
    return kind, authenticate(inbound)


def _path_dealer(sender: senders.Sender, dealer_id: str) -> Dealer:
    dealer = registry.get_dealer(dealer_id) if dealer_id != lake.OEM_DEALER_ID else None
    if dealer is None:
        raise Problem(404, ProblemReason.UNKNOWN_DEALER, f"dealer {dealer_id!r} is not registered")
    if not sender.may_post_for(dealer_id):
        raise Problem(
            403,
            ProblemReason.DEALER_NOT_ALLOWED,
            f"sender {sender.name!r} may not post for dealer {dealer_id!r}",
        )
    return dealer


def _claim(
    inbound: Inbound,
    sender: senders.Sender,
    key: str,
    dealer_id: str,
    feed: str,
    extension: str,
    curated: Any,
    what: str,
) -> dict[str, Any]:
    row = curated.rows.to_pylist()[0] if curated.rows.num_rows else None
    suppressed = any(q.reason == QuarantineReason.SUPPRESSED for q in curated.quarantined)
    return {
        "key": key,
        "body_sha256": hashlib.sha256(inbound.body).hexdigest(),
        # an erased person's body is not kept, not even raw (the quarantine row is blank too)
        "body": "" if suppressed else base64.b64encode(inbound.body).decode(),
        "suppressed": suppressed,
        "what": what,
        "sender": sender.name,
        "dealer_id": dealer_id,
        "day": inbound.received.astimezone(UTC).date().isoformat(),
        "received_at": inbound.received.astimezone(UTC).isoformat(),
        "feed": feed,
        "extension": extension,
        "record": json.loads(json.dumps(row, default=_json_value)) if row else None,
        "dataset": curated.feed.dataset,
        "quarantined": [
            {
                "source_line": q.source_line,
                "reason": q.reason.value,
                "field": q.field,
                "message": q.message,
                "raw_record": q.raw_record,
            }
            for q in curated.quarantined
        ],
    }


def _accept(claim: dict[str, Any]) -> Answer:
    try:
        result = accept_once()(claim=claim)
    except Exception as exc:
        _raise_idempotency_problem(exc)
        raise
    return Answer(result["status"], result["body"])


def _json_value(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact: 38450.00 stays 38450.00
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _raise_idempotency_problem(exc: Exception) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    if isinstance(exc, IdempotencyValidationError):
        raise Problem(
            409,
            ProblemReason.IDEMPOTENCY_CONFLICT,
            "this idempotency key was used before with a different body; use a new key for a new lead",
        ) from exc
    if isinstance(exc, IdempotencyAlreadyInProgressError):
        raise Problem(
            409, ProblemReason.REQUEST_IN_PROGRESS, "a request with this key is being processed; retry"
        ) from exc


@cache
def idempotency_config() -> Any:
    """Powertools' IdempotencyConfig for webhook answers (the handler registers its Lambda context
    on it, so an in-progress record expires with the invocation)."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body_sha256",
        expires_after_seconds=settings().idempotency_hours * 3600,
        raise_on_no_idempotency_key=True,
    )


@cache
def accept_once() -> Callable[..., dict[str, Any]]:
    """``accept`` behind Powertools idempotency (DynamoDB): the first answer per key is kept for
    ``FORECOURT_IDEMPOTENCY_HOURS`` and given again; a different body under the same key raises."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    persistence = DynamoDBPersistenceLayer(
        table_name=settings().idempotency_table, boto3_client=aws.client("dynamodb")
    )
    return idempotent_function(
        data_keyword_argument="claim", persistence_store=persistence, config=idempotency_config()
    )(accept)


def accept(claim: dict[str, Any]) -> dict[str, Any]:
    """Store the raw body, then queue the record for route_lead (leads are routed; every record,
    rejected ones included, is written to the lake with its batch) and answer: 202 for a lead or an
    event, 422 naming the fields a record lacks (it is kept: quarantined with its reasons)."""
    conf = settings()
    body = base64.b64decode(claim["body"])
    name = f"{claim['sender']}-{hashlib.sha256(claim['key'].encode()).hexdigest()[:24]}.{claim['extension']}"
    source = "webhooks" if claim["what"] == "lead" else "events"
    key = lake.raw_key(claim["dealer_id"], date.fromisoformat(claim["day"]), name, source=source)
    raw = None
    if not claim.get("suppressed"):
        stored = aws.client("s3").put_object(
            Bucket=conf.lake_bucket,
            Key=key,
            Body=body,
            ContentType="application/xml" if claim["extension"] == "xml" else "application/json",
            Metadata={"feed": claim["feed"], "sender": claim["sender"]},
        )
        raw = {"bucket": conf.lake_bucket, "key": key, "version": stored.get("VersionId")}
    record = claim["record"]
    kind = "rejected" if record is None else claim["what"]
    message = realtime.RealtimeMessage.model_validate(
        {
            "kind": kind,
            "lead_id": record["record_id"] if kind == "lead" else None,
            "dealer_id": claim["dealer_id"],
            "sender": claim["sender"],
            "received_at": claim["received_at"],
            "raw": raw,
            "feed": claim["feed"],
            "dataset": claim["dataset"],
            "record": record,
            "quarantined": claim["quarantined"],
        }
    )
    aws.client("sqs").send_message(QueueUrl=conf.realtime_queue_url, MessageBody=message.model_dump_json())
    if claim.get("suppressed"):
        # the person was erased: nothing of the lead is kept or routed (the count still adds up:
        # one record in, one quarantined, blank); the sender is told it will not be processed
        body_out = {"lead_id": None, "status": "suppressed", "received_at": claim["received_at"]}
        return {"status": 202, "body": body_out}
    if record is None:
        reason = ProblemReason.LEAD_CONTRACT if claim["what"] == "lead" else ProblemReason.EVENT_CONTRACT
        errors = [{k: q[k] for k in ("field", "reason", "message")} for q in claim["quarantined"]]
        problem = Problem(
            422,
            reason,
            f"the {claim['what']} lacks its minimum content: " + "; ".join(e["message"] for e in errors),
            errors,
        )
        return {"status": 422, "body": problem.document()}
    if kind == "event":
        event_id = record["record_id"]
        return {
            "status": 202,
            "body": {"event_id": event_id, "status": "accepted", "received_at": claim["received_at"]},
        }
    return {
        "status": 202,
        "body": {
            "lead_id": record["record_id"],
            "status": "accepted",
            "dealer_id": None if claim["dealer_id"] == lake.OEM_DEALER_ID else claim["dealer_id"],
            "received_at": claim["received_at"],
        },
    }


def media_kind(content_type: str | None) -> str:
    """``json`` or ``adf`` from a Content-Type header (parameters such as charset ignored)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in _MEDIA_TYPES:
        raise Problem(
            415,
            ProblemReason.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {media or '(none)'!r} is not accepted; send application/json, "
            "application/xml or text/xml",
        )
    return _MEDIA_TYPES[media]


def authenticate(inbound: Inbound, *, signed: bytes | None = None) -> senders.Sender:
    """The registered sender whose secret signed this request (its body, or ``signed`` for a request
    without one); raises Problem (401)."""
    name = inbound.headers.get(signing.SENDER_HEADER.lower(), "").strip()
    if not name:
        raise Problem(
            401, ProblemReason.MISSING_SENDER, f"the {signing.SENDER_HEADER} header names no sender"
        )
    sender = senders.get_sender(name)
    if sender is None:
        raise Problem(401, ProblemReason.UNKNOWN_SENDER, f"sender {name!r} is not registered")
    try:
        signing.verify(
            inbound.headers.get(signing.SIGNATURE_HEADER.lower()),
            inbound.body if signed is None else signed,
            senders.secrets_for(name),
            now=inbound.received.timestamp(),
        )
    except signing.SignatureError as exc:
        raise Problem(401, ProblemReason(exc.reason.value), str(exc)) from exc
    return sender


def _one_record(body: bytes, kind: str) -> Any:
    """The raw fields of the body's single record; raises Problem (400) unless the body is exactly
    one ADF prospect or one JSON object."""
    name = f"record.{_FEEDS[kind][1]}"
    try:
        source = open_source(io.BytesIO(body), name, max_bytes=max(len(body), 1))
        expected = "adf" if kind == "adf" else "jsonl"
        if source.format != expected:
            raise _malformed(f"the body is not {kind.upper()} (it reads as {source.format})")
        batches = list(source.records())
    except FileUnreadable as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line else ""
        raise _malformed(f"{exc.message}{where}") from exc
    rejected = [r for b in batches for r in b.rejected]
    if rejected:
        raise _malformed(f"line {rejected[0].source_line}: {rejected[0].message}")
    records = sum(b.columns.num_rows for b in batches)
    if records != 1:
        raise _malformed(f"send one record per request; this body holds {records}")
    return batches[0].columns


def _named_dealer(body: bytes, kind: str) -> str | None:
    """The dealer the lead names (ADF ``vendor/id``, JSON ``dealer_id``); raises Problem (400) when
    the body is not exactly one lead."""
    columns = _one_record(body, kind)
    field_name = "vendor.id" if kind == "adf" else "dealer_id"
    if field_name not in columns.column_names:
        return None
    value = columns.column(field_name)[0].as_py()
    return value.strip() if isinstance(value, str) and value.strip() else None


def _malformed(detail: str) -> Problem:
    return Problem(400, ProblemReason.MALFORMED_BODY, detail)


def _allowed_dealer(sender: senders.Sender, named: str | None) -> Dealer:
    """The dealer whose locale curates the lead (the OEM pseudo dealer when none is named)."""
    if named is None:
        if not sender.may_post_for(None):
            raise Problem(
                403,
                ProblemReason.DEALER_REQUIRED,
                f"the lead names no dealer (ADF vendor/id or JSON dealer_id) and sender {sender.name!r} "
                "may post only for its own dealers",
            )
        return registry.OEM
    dealer = registry.get_dealer(named)
    if dealer is None or named == lake.OEM_DEALER_ID:
        raise Problem(
            422,
            ProblemReason.UNKNOWN_DEALER,
            f"dealer {named!r} is not registered",
            [{"field": "dealer_id", "reason": "unknown_dealer", "message": "no such dealer"}],
        )
    if not sender.may_post_for(named):
        raise Problem(
            403, ProblemReason.DEALER_NOT_ALLOWED, f"sender {sender.name!r} may not post for dealer {named!r}"
        )
    return dealer


def _idempotency_key(inbound: Inbound, sender: senders.Sender, rows: Any, what: str) -> str:
    """The header's key, else the record's own id (ADF prospect id with its source, event id), else
    the body's hash — scoped to the sender and the kind of record."""
    header = inbound.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if header:
        return f"{sender.name}:{what}:key:{header}"
    if rows.num_rows and "source_key" in rows.column_names:
        source_key = rows.column("source_key")[0].as_py()
        system = rows.column("lead_source_raw")[0].as_py() if "lead_source_raw" in rows.column_names else None
        if source_key:
            return f"{sender.name}:{what}:id:{system or ''}:{source_key}"
    return f"{sender.name}:{what}:sha256:{hashlib.sha256(inbound.body).hexdigest()}"
