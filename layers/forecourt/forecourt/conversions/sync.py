"""Conversions sync: the lead stages not sent yet, to Meta (CAPI CRM events) or Google Ads (click
conversions / enhanced conversions for leads), each stage of each lead once.

A run reads the platform's stages that first occurred since ``since`` (default: Meta's 7 days, Google's
90), drops the conversions its ledger already holds (``ledger``; before the gate, so a steady run
reads the records of new conversions' people only), keeps back what the consent gate keeps back
(``stages.prepare``) and what the platform cannot take (``no_identifiers``, ``in_future``; Meta:
``too_old``; Google: ``no_conversion_action``), and sends the rest sorted by dealer and time in
requests of at most 1,000 (Meta) or 2,000 (Google) conversions. After each acknowledged request the
ledger records its conversions; a run that dies between the platform's answer and that write sends
the request again next time, under the same deterministic ids (Meta's ``event_id``, Google's
``orderId``), which the platform deduplicates (Google answers ORDER_ID_ALREADY_IN_USE, recorded as
``already_recorded``). Rate limits are retried with exponential backoff (2, 4, 8… s); any other
refusal of a whole request stops the run (``SyncStopped``) with what was acknowledged recorded.
Meta refuses a whole request for one bad event (error 100): the request is split in halves down to
that event, which alone is recorded as refused (``send_bisecting``); an error about the request
itself (subcode 33: the dataset does not exist) is never split and stops the run.

``dry_run`` writes each request as it would be sent (without credentials) and changes nothing.
Nothing logged, returned or kept names a person or holds a hash of an identifier.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from forecourt.conversions import google_uploads, meta_capi
from forecourt.conversions.ledger import Ledger, save_run, shard_key
from forecourt.conversions.stages import STAGES

if TYPE_CHECKING:
    from forecourt.audiences.google_ads_api import GoogleAdsApi
    from forecourt.audiences.meta_api import MetaError

PLATFORMS = ("meta", "google")
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 300.0
UPLOAD_METHOD = ":uploadClickConversions"


class SyncStopped(RuntimeError):
    """The platform refused a whole request, or rate limits outlasted the retries; what was
    acknowledged is in the ledger and the next run sends the rest."""


@dataclass
class ConversionSync:
    """What one run did for one platform (counts of conversions, never a person)."""

    platform: str
    since: datetime
    considered: int = 0
    """Lead stages read (from ``since`` on)."""
    excluded: dict[str, int] = field(default_factory=dict)
    """Kept back, per reason."""
    already_sent: int = 0
    """In the ledger from an earlier run."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Sent, per outcome: accepted, already_recorded, refused:<CODE>, retry:<CODE>."""
    batches: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list)
    """Per request, the platform's person-free answer (trace or job id, counts, error codes)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Dry run only: every request as it would be sent."""

    def summary(self) -> dict[str, Any]:
        return {"platform": self.platform, "since": self.since.isoformat(), "considered": self.considered,
                "excluded": self.excluded, "already_sent": self.already_sent, "outcomes": self.outcomes,
                "batches": self.batches}  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One conversion to send: its ledger shard, id, lead and stage, and the platform's form of it."""

    shard: str
    conversion_id: str
    lead_id: str
    stage: str
    body: dict[str, Any]


def run_meta(
    now: datetime,
    dataset: meta_capi.Dataset | None,
    *,
    since: datetime | None = None,
    dry_run: Path | None = None,
    batch_size: int = meta_capi.MAX_EVENTS,
    sleep: Callable[[float], None] = time.sleep,
) -> ConversionSync:
    """Send the new lead stages to Meta's ``dataset`` (see the module); ``dataset`` may be None for
    a dry run."""
    from forecourt.audiences.meta_api import MetaError, RateLimited

    def item(row: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        late = meta_capi.sendable(row["occurred_at"], now)
        if late:
            return None, late
        event = meta_capi.event(row)
        return event, None if event else "no_identifiers"

    def send_whole(batch: list[Item]) -> dict[str, Any]:
        assert dataset is not None
        answer = dataset.send(_meta_body(batch, dataset))
        return {"events_received": answer.get("events_received"), "fbtrace_id": answer.get("fbtrace_id")}

    def send(batch: list[Item]) -> tuple[list[str], dict[str, Any]]:
        return send_bisecting(send_whole, batch)

    def written(batch: list[Item]) -> dict[str, Any]:
        path = dataset.path if dataset else f"/{meta_capi.API_VERSION}/<dataset id>/events"
        return {"method": "POST", "path": path, "body": _meta_body(batch, dataset)}

    return _run("meta", now, since or now - meta_capi.MAX_AGE, item, send, written, (RateLimited, MetaError),
                dry_run, batch_size, sleep)  # fmt: skip


EVENT_NAMED = re.compile(r"\bdata\[\d+\]")
"""A message that names an event of the request (``data[<index>]``)."""
EVENT_SUBCODES = range(2_804_000, 2_805_000)
"""Meta's Conversions API subcodes for an event it cannot take (e.g. 2804030, reported with the
event's index)."""


def event_level(error: MetaError) -> bool:
    """Whether Meta's error 100 is about one event of the request (it names the event, or its
    subcode is an event's) rather than about the request (subcode 33: the dataset does not exist or
    the token cannot reach it; a bad ``test_event_code``)."""
    if error.code != 100 or error.object_gone:
        return False
    return bool(EVENT_NAMED.search(str(error))) or error.subcode in EVENT_SUBCODES


def send_bisecting(
    send_whole: Callable[[list[Item]], dict[str, Any]], batch: list[Item]
) -> tuple[list[str], dict[str, Any]]:
    """Send ``batch`` whole to Meta; when Meta refuses it as invalid (error 100: one bad event fails
    the whole request, and would fail every run after), send each half again, down to the event
    that is refused alone for itself (``refused:100``, recorded, never sent again: ``event_level``)
    — the others go through. Raised, so that the run stops and records nothing of the batch: rate
    limits, the token, subcode 33 (the dataset does not exist: never split, every event would fail
    alone) and an event that fails alone with an error about the request rather than about it
    (refusing it would discard a good conversion for good)."""
    from forecourt.audiences.meta_api import MetaError, RateLimited

    try:
        return ["accepted"] * len(batch), send_whole(batch)
    except RateLimited:
        raise
    except MetaError as error:
        if error.code != 100 or error.object_gone:
            raise
        if len(batch) == 1:
            if not event_level(error):
                raise
            return [f"refused:{error.code}"], {"refused": 1}
    middle = len(batch) // 2
    left, left_answer = send_bisecting(send_whole, batch[:middle])
    right, right_answer = send_bisecting(send_whole, batch[middle:])
    return left + right, {"split": [left_answer, right_answer]}


def _meta_body(batch: list[Item], dataset: meta_capi.Dataset | None) -> dict[str, Any]:
    return meta_capi.request_body([i.body for i in batch], dataset.test_event_code if dataset else None)


def run_google(
    now: datetime,
    api: GoogleAdsApi | None,
    actions: dict[str, str],
    *,
    since: datetime | None = None,
    dry_run: Path | None = None,
    batch_size: int = google_uploads.MAX_CONVERSIONS,
    sleep: Callable[[float], None] = time.sleep,
) -> ConversionSync:
    """Upload the new lead stages to Google Ads through ``api`` (a ``GoogleAdsApi``; None for a dry
    run), one conversion action per stage (``actions``; see the module)."""
    from forecourt.audiences.google_ads_api import GoogleAdsError, RateLimited

    def item(row: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        if row["occurred_at"] > now:
            return None, "in_future"  # a CRM clock ahead of ours: sent when its time has come
        action = actions.get(row["stage"])
        if not action:
            return None, "no_conversion_action"
        conversion = google_uploads.click_conversion(row, action)
        return conversion, None if conversion else "no_identifiers"

    def send(batch: list[Item]) -> tuple[list[str], dict[str, Any]]:
        assert api is not None
        answer = api.post(UPLOAD_METHOD, google_uploads.upload_body([i.body for i in batch]))
        outcomes = google_uploads.outcomes(answer, len(batch))
        refused = sorted({o for o in outcomes if o != "accepted"})
        return outcomes, {"job_id": answer.get("jobId"), "errors": refused}

    def written(batch: list[Item]) -> dict[str, Any]:
        customer = api.customer if api is not None else "customers/<customer id>"
        version = api.version if api is not None else "<version>"
        path = f"/{version}/{customer}{UPLOAD_METHOD}"
        return {"method": "POST", "path": path, "body": google_uploads.upload_body([i.body for i in batch])}

    return _run("google", now, since or now - google_uploads.MAX_AGE, item, send, written,
                (RateLimited, GoogleAdsError), dry_run, batch_size, sleep)  # fmt: skip


def run_connected(
    platform: str,
    now: datetime,
    *,
    since: datetime | None = None,
    dry_run: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ConversionSync:
    """``run_meta`` or ``run_google`` with the credentials and configuration in Secrets Manager
    (``meta_capi.from_secret``; ``google_ads_api.from_secret`` and its ``conversion_actions``).
    Raises LookupError when the platform is not connected, ValueError for a malformed secret; a dry
    run needs neither (placeholders stand for what only they know)."""
    if platform == "meta":
        try:
            dataset = meta_capi.from_secret()
        except LookupError:
            if dry_run is None:
                raise
            dataset = None
        return run_meta(now, dataset, since=since, dry_run=dry_run, sleep=sleep)
    if platform != "google":
        raise ValueError(f"unknown platform {platform!r}: {', '.join(PLATFORMS)}")
    from forecourt.audiences import google_ads_api

    try:
        api: GoogleAdsApi | None = google_ads_api.from_secret()
        actions = google_uploads.actions_from_secret()
    except LookupError:
        if dry_run is None:
            raise
        api = None
        actions = {stage: f"customers/<customer id>/conversionActions/<{stage}>" for stage in STAGES}
    return run_google(now, api, actions, since=since, dry_run=dry_run, sleep=sleep)


def run_all(now: datetime, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Every connected platform synced (the scheduled job): platform → its ``summary()``, or "not
    connected". A platform that stops does not stop the other; then SyncStopped names it."""
    done: dict[str, Any] = {}
    stopped: list[str] = []
    for platform in PLATFORMS:
        try:
            done[platform] = run_connected(platform, now, sleep=sleep).summary()
        except LookupError:
            done[platform] = "not connected"
        except SyncStopped as error:
            stopped.append(str(error))
    if stopped:
        raise SyncStopped("; ".join(stopped))
    return done


def _run(
    platform: str,
    now: datetime,
    since: datetime,
    item: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, str | None]],
    send: Callable[[list[Item]], tuple[list[str], dict[str, Any]]],
    written: Callable[[list[Item]], dict[str, Any]],
    errors: tuple[type[Exception], type[Exception]],
    dry_run: Path | None,
    batch_size: int,
    sleep: Callable[[float], None],
) -> ConversionSync:
    from forecourt.conversions import stages

    report = ConversionSync(platform=platform, since=since)
    rows = stages.for_platform(stages.read(since), platform)
    report.considered = rows.num_rows
    ledger = Ledger(platform)
    fresh = _not_in(ledger, platform, rows)  # before the gate: a steady run reads few people records
    report.already_sent = rows.num_rows - fresh.num_rows
    prepared = stages.prepare(fresh)
    report.excluded = dict(prepared.excluded)
    pending: list[Item] = []
    for row in prepared.conversions.to_pylist():
        built, reason = item(row)
        if built is None:
            why = reason or "no_identifiers"
            report.excluded[why] = report.excluded.get(why, 0) + 1
            continue
        shard = shard_key(platform, row["dealer_id"], row["conversion_id"])
        pending.append(Item(shard, row["conversion_id"], row["lead_id"], row["stage"], built))
    batches = [pending[i : i + batch_size] for i in range(0, len(pending), batch_size)]
    if dry_run is not None:
        for seq, batch in enumerate(batches, start=1):
            report.requests.append(_write(dry_run / platform / f"request-{seq:04d}.json", written(batch)))
            report.batches += 1
        return report
    save_run(platform, now, {**report.summary(), "status": "running", "started_at": now.isoformat()})
    try:
        for batch in batches:
            outcomes, answer = _with_backoff(platform, send, batch, errors, sleep)
            report.batches += 1
            report.answers.append(answer)
            touched = set()
            for sent, outcome in zip(batch, outcomes, strict=True):
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
                if not outcome.startswith("retry:"):  # a retry is sent again by the next run
                    entry = {"lead_id": sent.lead_id, "stage": sent.stage, "outcome": outcome,
                             "run": now.isoformat(), "sent_at": _clock().isoformat()}  # fmt: skip
                    ledger.record(sent.shard, sent.conversion_id, entry)
                    touched.add(sent.shard)
            ledger.save(touched)
    except SyncStopped as stopped:
        save_run(platform, now, {**report.summary(), "status": "stopped", "error": str(stopped),
                                 "answers": report.answers, "started_at": now.isoformat()})  # fmt: skip
        raise
    save_run(platform, now, {**report.summary(), "status": "finished", "answers": report.answers,
                             "started_at": now.isoformat()})  # fmt: skip
    return report


def _not_in(ledger: Ledger, platform: str, rows: pa.Table) -> pa.Table:
    """The ``rows`` (``stages.read``) whose conversion the ledger does not hold (shards loaded)."""
    from forecourt.conversions.stages import conversion_id

    ids = [
        conversion_id(lead, stage)
        for lead, stage in zip(rows["lead_id"].to_pylist(), rows["stage"].to_pylist(), strict=True)
    ]
    keys = [
        (shard_key(platform, dealer, cid), cid)
        for dealer, cid in zip(rows["dealer_id"].to_pylist(), ids, strict=True)
    ]
    ledger.load({shard for shard, _ in keys})
    return rows.filter(pa.array([not ledger.sent(shard, cid) for shard, cid in keys], pa.bool_()))


def _clock() -> datetime:
    from datetime import UTC

    return datetime.now(UTC).replace(microsecond=0)


def _with_backoff(
    platform: str,
    send: Callable[[list[Item]], tuple[list[str], dict[str, Any]]],
    batch: list[Item],
    errors: tuple[type[Exception], type[Exception]],
    sleep: Callable[[float], None],
) -> tuple[list[str], dict[str, Any]]:
    rate_limited, refused = errors
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return send(batch)
        except rate_limited as error:
            if attempt == MAX_ATTEMPTS:
                raise SyncStopped(
                    f"{platform}: still rate limited after {MAX_ATTEMPTS} attempts ({error}); "
                    "the next run sends the rest"
                ) from None
            sleep(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1)))
        except refused as error:
            raise SyncStopped(f"{platform}: {error}; the next run sends the rest") from None
    raise AssertionError("unreachable")


def _write(target: Path, request: dict[str, Any]) -> dict[str, Any]:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(request, indent=1) + "\n", encoding="utf-8")
    return request
