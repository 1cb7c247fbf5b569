"""Audience sync to Meta custom audiences (ARCHITECTURE §6 ``audiences``, second half; issue 6).

Per list, a run brings the platform from the last snapshot it synced to the newest one
(``audience_members``, members whose ``excluded`` is null): the members that left are removed and
the new ones added (``/users`` DELETE, then POST), each as sessions of batches of at most 10,000
rows; ``full`` sends the whole list with ``/usersreplace`` instead. A list never synced is added
whole. Each member is one row of Meta's multi-key schema (``meta.identifiers``) from the person's
latest known e-mail, phone, names, zip and country.

The ledger (``ledger/audiences/meta/<list>.json`` in the lake bucket) is written before the first
request and after every acknowledged batch: the platform's audience id, the snapshot last synced,
the sync in flight (its target snapshot, and per operation its session id and batches done) and the
history of finished syncs with their counts and Meta's answers. A run that stops (a crash, rate
limits that outlast the retries, an error) leaves the sync in flight; the next run finishes it
first, from the first batch not acknowledged, under the same session id and batch sequence (the
plan is derived again from the two snapshots, so the same members land in the same batches), then
moves on to the newest snapshot. At most the batch in flight is sent twice, and Meta acknowledges a
batch it already has without applying it again.

The suppression list is checked again at send time: members suppressed since their snapshot was
built are held back (not added, and removed if Meta has them); the ledger keeps who was held back,
so a resumed sync plans the same batches.

Rate limits (``RateLimited``) are retried with exponential backoff. Nothing logged or kept holds an
identifier or a hash; the ledger holds counts and person-free answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.audiences.meta_api import MetaApi, RateLimited, request_fields

PLATFORM = "meta"
LEDGER_PREFIX = "ledger/audiences/"
BATCH_ROWS = 10_000
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 300.0


class SyncStopped(RuntimeError):
    """The sync stopped part-way (rate limited past the retries, or the platform refused); the
    ledger keeps it in flight and the next run resumes it."""


@dataclass
class ListSync:
    """What a run did for one list."""

    audience: str
    snapshot: str
    operations: dict[str, int] = field(default_factory=dict)
    """Operation (add, remove, replace) → members sent."""
    batches: int = 0
    received: int = 0
    invalid: int = 0
    resumed: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Dry run only: the request of every batch (method, path, fields)."""


def ledger_key(audience: str) -> str:
    return f"{LEDGER_PREFIX}{PLATFORM}/{audience.replace('/', '__')}.json"


def new_ledger(audience: str) -> dict[str, Any]:
    """The ledger of a list never synced."""
    return {"audience": audience, "platform": PLATFORM, "audience_id": None, "synced_snapshot": None,
            "in_flight": None, "history": []}  # fmt: skip


def load_ledger(audience: str) -> dict[str, Any]:
    """The list's ledger (``new_ledger`` when it has none)."""
    from forecourt import aws
    from forecourt.config import settings

    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=settings().lake_bucket, Key=ledger_key(audience))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return new_ledger(audience)
    return dict(json.loads(body))


def ledgers() -> dict[str, dict[str, Any]]:
    """Every list's ledger, by list (a list gone from the newest snapshot still has one: it is
    emptied)."""
    from forecourt import aws
    from forecourt.config import settings

    s3 = aws.client("s3")
    bucket = settings().lake_bucket
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{LEDGER_PREFIX}{PLATFORM}/")
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    found = [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys]
    return {ledger["audience"]: ledger for ledger in found}


def save_ledger(ledger: dict[str, Any]) -> None:
    from forecourt import aws
    from forecourt.config import settings

    body = json.dumps(ledger, indent=1, sort_keys=True).encode()
    aws.client("s3").put_object(Bucket=settings().lake_bucket, Key=ledger_key(ledger["audience"]), Body=body)


def snapshots() -> list[str]:
    """Every snapshot id, oldest first."""
    from forecourt import analytics

    rows = analytics.run_query("SELECT DISTINCT upload_id FROM audience_members").to_arrow()
    return sorted(rows["upload_id"].to_pylist())


def eligible(snapshot: str) -> dict[str, list[str]]:
    """List → the sorted person ids that may leave, in ``snapshot``."""
    from forecourt import analytics

    rows = analytics.run_query(
        "SELECT audience, person_id FROM audience_members WHERE excluded IS NULL AND upload_id = "
        + _literal(snapshot)
    ).to_arrow()
    ordered = rows.sort_by([("audience", "ascending"), ("person_id", "ascending")])
    lists = ordered.group_by("audience", use_threads=False).aggregate([("person_id", "list")])
    return dict(zip(lists["audience"].to_pylist(), lists["person_id_list"].to_pylist(), strict=True))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def plan(previous: list[str] | None, target: list[str], full: bool) -> list[tuple[str, list[str]]]:
    """The operations that take the platform from ``previous`` members (None: never synced) to
    ``target``: [(operation, sorted person ids)], operations without members left out."""
    if full and target:
        return [("replace", target)]
    if previous is None:
        return [("add", target)] if target else []
    before, after = set(previous), set(target)
    steps = [("remove", sorted(before - after)), ("add", sorted(after - before))]
    return [(operation, people) for operation, people in steps if people]


def session_id(audience: str, snapshot: str, operation: str, started_at: str) -> int:
    """A positive 60-bit session id for one operation of one sync (``started_at`` tells two syncs of
    the same snapshot apart); kept in the ledger, so a resumed sync sends its batches again under
    the session Meta already knows."""
    from forecourt.lake import stable_hash

    return int(stable_hash(PLATFORM, audience, snapshot, operation, started_at)[:15], 16) + 1


def rows_for(
    person_ids: list[str], records: pa.Table | None = None, default_country: str = "US"
) -> list[list[str]]:
    """One row of Meta's schema per person (in the order given), hashed; "" for a missing key.
    ``records``: the people records to use (``build.people_records`` of at least these persons),
    read when not given."""
    from forecourt.audiences import meta, people
    from forecourt.audiences.build import people_records

    if not person_ids:
        return []
    if records is None:
        records = people_records(pa.array(person_ids, pa.string()))
    ordered = records.sort_by([("person_id", "ascending"), ("received_at", "ascending")])
    fields = ["email", "phone", "first_name", "last_name", "zip", "country"]
    latest = ordered.group_by("person_id", use_threads=False).aggregate([(f, "last") for f in fields])
    latest = latest.rename_columns(["person_id", *fields])
    hashed = meta.identifiers(people.prepare(latest.select(fields), default_country=default_country))
    at = pc.index_in(pa.array(person_ids, pa.string()), value_set=latest["person_id"].combine_chunks())
    columns = [pc.fill_null(hashed[key].take(at), "").to_pylist() for key in meta.SCHEMA]
    return [list(row) for row in zip(*columns, strict=True)]


def run(
    now: datetime,
    api: MetaApi | None,
    *,
    full: bool = False,
    dry_run: Path | None = None,
    batch_rows: int = BATCH_ROWS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ListSync]:
    """Sync every list of the newest snapshot (and finish any sync in flight first); ``dry_run``
    writes each request to that directory instead of sending it (``api`` may then be None) and
    leaves the ledger alone. A list that stops part-way keeps its sync in flight in its ledger; the
    other lists go on, and then SyncStopped names every list that stopped."""
    every = snapshots()
    if not every:
        return []
    newest = every[-1]
    target_lists = eligible(newest)
    cache: dict[str, dict[str, list[str]]] = {newest: target_lists}

    def members(snapshot: str) -> dict[str, list[str]]:
        if snapshot not in cache:
            cache[snapshot] = eligible(snapshot)
        return cache[snapshot]

    everyone = sorted({person for people in target_lists.values() for person in people})
    read: list[pa.Table] = []

    def records() -> pa.Table:
        """The newest snapshot's people records, read once, when first needed."""
        from forecourt.audiences.build import people_records

        if not read:
            read.append(people_records(pa.array(everyone, pa.string())))
        return read[0]

    held_now = _suppressed_now(everyone, records)
    known: dict[str, list[str]] = {}

    def rows(persons: list[str]) -> list[list[str]]:
        """Meta's row of each person: the newest snapshot's people are hashed once for every list
        (the first time any list sends), others (members who left) when a list needs them."""
        if not known and everyone:
            known.update(zip(everyone, rows_for(everyone, records()), strict=True))
        missing = [p for p in persons if p not in known]
        if missing:
            known.update(zip(missing, rows_for(missing), strict=True))
        return [known[p] for p in persons]

    done: list[ListSync] = []
    stopped: list[str] = []
    stored = ledgers()
    for audience in sorted(set(target_lists) | set(stored)):
        ledger = stored.get(audience) or new_ledger(audience)
        try:
            done.extend(
                _sync_list(
                    ledger, newest, members, held_now, rows, now, api, full, dry_run, batch_rows, sleep
                )
            )
        except SyncStopped as error:
            stopped.append(str(error))
    if stopped:
        raise SyncStopped("; ".join(stopped))
    return done


def _sync_list(
    ledger: dict[str, Any],
    newest: str,
    members: Callable[[str], dict[str, list[str]]],
    held_now: set[str],
    rows: Callable[[list[str]], list[list[str]]],
    now: datetime,
    api: MetaApi | None,
    full: bool,
    dry_run: Path | None,
    batch_rows: int,
    sleep: Callable[[float], None],
) -> list[ListSync]:
    """Bring one list to ``newest``, finishing its sync in flight first (see the module)."""
    from forecourt.audiences import meta

    audience = ledger["audience"]
    done: list[ListSync] = []

    def effective(snapshot: str, held: list[str]) -> list[str]:
        """The snapshot's members of this list less those held back (suppressed since it was built)."""
        out = set(held)
        return [person for person in members(snapshot).get(audience, []) if person not in out]

    while True:
        flight = ledger.get("in_flight")
        held = sorted(held_now.intersection(members(newest).get(audience, [])))
        in_sync = ledger.get("synced_snapshot") == newest and ledger.get("synced_held_back", []) == held
        # an erasure took a member's records away: only a replace can take them off the platform
        in_sync = in_sync and not ledger.get("replace_pending")
        if flight is None and in_sync and not full:
            return done or [ListSync(audience=audience, snapshot=newest)]  # already in sync
        target = flight["snapshot"] if flight else newest
        mode = bool(flight["full"]) if flight else full or bool(ledger.get("replace_pending"))
        held = flight.get("held_back", []) if flight else held
        previous = ledger.get("synced_snapshot")
        had = effective(previous, ledger.get("synced_held_back", [])) if previous else None
        steps = plan(had, effective(target, held), mode)
        if flight is None and not mode and any(op == "remove" for op, _ in steps):
            # a member who left and has no records any more (merged, erased) cannot be removed by
            # hashes: send the list whole instead, which leaves Meta with exactly the target
            removed = next(people for op, people in steps if op == "remove")
            if any(not any(row) for row in rows(removed)):
                mode = True
                steps = plan(had, effective(target, held), mode)
        report = ListSync(audience=audience, snapshot=target, resumed=flight is not None)
        if flight is None:
            started = now.isoformat()
            flight = {"snapshot": target, "full": mode, "started_at": started, "held_back": held,
                      "operations": {op: {"session_id": session_id(audience, target, op, started), "done": 0}
                                     for op, _ in steps}}  # fmt: skip
            if dry_run is None:
                ledger["in_flight"] = flight
                save_ledger(ledger)
                _ensure_audience(ledger, api)
        for operation, persons in steps:
            state = flight["operations"][operation]
            sent = rows(persons)
            batches = [sent[i : i + batch_rows] for i in range(0, len(sent), batch_rows)]
            report.operations[operation] = len(persons)
            for seq in range(state["done"] + 1, len(batches) + 1):
                fields = request_fields(
                    list(meta.SCHEMA),
                    batches[seq - 1],
                    state["session_id"],
                    seq,
                    seq == len(batches),
                    len(sent),
                )
                report.batches += 1
                if dry_run is not None:
                    report.requests.append(_written(dry_run, audience, operation, seq, fields))
                    continue
                assert api is not None
                answer = _send(api, ledger, operation, fields, sleep)
                report.received += int(answer.get("num_received") or 0)
                report.invalid += int(answer.get("num_invalid_entries") or 0)
                state["done"] = seq
                save_ledger(ledger)
        done.append(report)
        if dry_run is not None:
            return done
        ledger["history"].append(
            {"snapshot": target, "full": mode, "started_at": flight["started_at"],
             "finished_at": now.isoformat(), "operations": report.operations, "batches": report.batches,
             "received": report.received, "invalid": report.invalid, "resumed": report.resumed}
        )  # fmt: skip
        ledger["synced_snapshot"], ledger["synced_held_back"], ledger["in_flight"] = target, held, None
        if mode:
            ledger.pop("replace_pending", None)
        save_ledger(ledger)
        if target == newest:
            return done


def _suppressed_now(everyone: list[str], records: Callable[[], pa.Table]) -> set[str]:
    """The persons of ``everyone`` (with these ``records``) on the suppression list now: a snapshot
    built before a suppression must not send (or keep) that person."""
    from forecourt.privacy import suppression

    if not everyone or suppression.key() is None:
        return set()
    return set(suppression.suppressed_persons(records()).to_pylist())


def _ensure_audience(ledger: dict[str, Any], api: MetaApi | None) -> None:
    if ledger.get("audience_id") is None:
        assert api is not None
        ledger["audience_id"] = api.create_audience(
            f"Forecourt {ledger['audience']}", "Forecourt audience list (queries/audiences/segments.json)"
        )
        save_ledger(ledger)


def _send(
    api: MetaApi,
    ledger: dict[str, Any],
    operation: str,
    fields: dict[str, str],
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    from forecourt.audiences.meta_api import MetaError

    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return api.send(ledger["audience_id"], operation, fields)
        except RateLimited as error:
            if attempt == MAX_ATTEMPTS:
                raise SyncStopped(
                    f"{ledger['audience']}: still rate limited after {MAX_ATTEMPTS} attempts ({error}); "
                    "the next run resumes"
                ) from None
            sleep(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1)))
        except MetaError as error:
            if error.object_gone:
                # deleted on Meta: forget it; the next run makes a new audience and sends the list whole
                ledger.update(audience_id=None, synced_snapshot=None, in_flight=None)
                save_ledger(ledger)
                raise SyncStopped(
                    f"{ledger['audience']}: the audience no longer exists on Meta; the next run creates "
                    "it again and sends the list whole"
                ) from None
            raise SyncStopped(f"{ledger['audience']}: {error}; the next run resumes") from None
    raise AssertionError("unreachable")


def _written(
    directory: Path, audience: str, operation: str, seq: int, fields: dict[str, str]
) -> dict[str, Any]:
    """Write one request as it would be sent (the token left out) under ``directory``."""
    from forecourt.audiences.meta_api import OPERATIONS

    method, edge = OPERATIONS[operation]
    body = {"payload": json.loads(fields["payload"]), "session": json.loads(fields["session"])}
    request = {"method": method, "path": f"/<audience id of {audience}>/{edge}", "fields": body}
    target = directory / audience.replace("/", "__") / f"{operation}-{seq:04d}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(request, indent=1) + "\n", encoding="utf-8")
    return request
