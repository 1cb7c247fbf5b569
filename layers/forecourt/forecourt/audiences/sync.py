"""Audience sync to the ad platforms — Meta custom audiences and Google Ads Customer Match
(ARCHITECTURE §6 ``audiences``, second half; issue 6). What differs per platform (how a member is
written, how a batch is sent, when an operation counts as applied) is in ``targets``.

Per list, a run brings the platform from the last snapshot it synced to the newest one
(``audience_members``, members whose ``excluded`` is null): the members that left are removed, then
the new ones added, in batches of at most 10,000 members (Meta: ``/users`` DELETE then POST, one
session per operation; Google: one OfflineUserDataJob per operation, run once its batches are in);
``full`` replaces the whole list instead (Meta ``/usersreplace``, Google a job starting with
``removeAll``). A list never synced is added whole. Each member is written from the person's latest
known e-mail, phone, names, zip and country, hashed as the platform documents.

The ledger (``ledger/audiences/<platform>/<list>.json`` in the lake bucket) is written before the
first request and after every acknowledged batch: the platform's list id, the snapshot last synced,
the sync in flight (its target snapshot, and per operation its session id or job and batches done)
and the history of finished syncs with their counts and the platform's answers. A run that stops (a
crash, rate limits that outlast the retries, an error) leaves the sync in flight; the next run
finishes it first, from the first batch not acknowledged, under the same session id and batch
sequence or into the same job (the plan is derived again from the two snapshots, so the same
members land in the same batches), then moves on to the newest snapshot. At most the batch in
flight is sent twice, and both platforms take a batch they already have without applying it twice.
A Google job still processing when the run has waited ``wait`` seconds stays in flight: the next
run polls it again (Google says a job may take hours).

The suppression list is checked again at send time: members suppressed since their snapshot was
built are held back (not added, and removed if Meta has them); the ledger keeps who was held back,
so a resumed sync plans the same batches.

Rate limits (Meta 80003, Google RESOURCE_EXHAUSTED) are retried with exponential backoff. Nothing
logged or kept holds an identifier or a hash; the ledger holds counts and person-free answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.audiences.targets import Row, Stopped, Target, for_api, write_request

LEDGER_PREFIX = "ledger/audiences/"
MAX_ATTEMPTS = 6
BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 300.0
WAIT_SECONDS = 60.0


class SyncStopped(RuntimeError):
    """The sync stopped part-way (rate limited past the retries, or the platform refused); the
    ledger keeps it in flight and the next run resumes it."""


@dataclass
class ListSync:
    """What a run did for one list."""

    audience: str
    snapshot: str
    platform: str = "meta"
    operations: dict[str, int] = field(default_factory=dict)
    """Operation (add, remove, replace) → members sent."""
    batches: int = 0
    received: int = 0
    invalid: int = 0
    resumed: bool = False
    pending: bool = False
    """The platform is still applying it (a Google job running): the next run finishes it."""
    full: bool = False
    started_at: str = ""
    held_back: int = 0
    """Members of the snapshot kept back at send time (suppressed since it was built)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Dry run only: every request (method, path, body)."""


def ledger_key(audience: str, platform: str = "meta") -> str:
    return f"{LEDGER_PREFIX}{platform}/{audience.replace('/', '__')}.json"


def new_ledger(audience: str, platform: str = "meta") -> dict[str, Any]:
    """The ledger of a list never synced."""
    return {
        "audience": audience,
        "platform": platform,
        "audience_id": None,
        "synced_snapshot": None,
        "in_flight": None,
        "history": [],
    }


ETAG = "_etag"
"""Where a loaded ledger keeps its object's ETag (not saved): ``save_ledger`` writes only over the
version it read, so a second sync on the same list (the CLI while the function runs) stops instead
of overwriting the other's progress."""


def load_ledger(audience: str, platform: str = "meta") -> dict[str, Any]:
    """The list's ledger (``new_ledger`` when it has none)."""
    from forecourt import aws
    from forecourt.config import settings

    s3 = aws.client("s3")
    try:
        got = s3.get_object(Bucket=settings().lake_bucket, Key=ledger_key(audience, platform))
    except s3.exceptions.NoSuchKey:
        return new_ledger(audience, platform)
    return dict(json.loads(got["Body"].read())) | {ETAG: got["ETag"]}


def ledgers(platform: str = "meta") -> dict[str, dict[str, Any]]:
    """Every list's ledger on ``platform``, by list (a list gone from the newest snapshot still has
    one: it is emptied)."""
    from forecourt import aws
    from forecourt.config import settings

    s3 = aws.client("s3")
    bucket = settings().lake_bucket
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{LEDGER_PREFIX}{platform}/")
    found = []
    for key in (item["Key"] for page in pages for item in page.get("Contents", [])):
        got = s3.get_object(Bucket=bucket, Key=key)
        found.append(dict(json.loads(got["Body"].read())) | {ETAG: got["ETag"]})
    return {ledger["audience"]: ledger for ledger in found}


def save_ledger(ledger: dict[str, Any]) -> None:
    """Write ``ledger`` over the version it was read from (a new one only where there is none);
    raises SyncStopped when another sync wrote it since."""
    from botocore.exceptions import ClientError

    from forecourt import aws
    from forecourt.config import settings

    body = json.dumps({k: v for k, v in ledger.items() if k != ETAG}, indent=1, sort_keys=True).encode()
    condition = {"IfMatch": ledger[ETAG]} if ledger.get(ETAG) else {"IfNoneMatch": "*"}
    try:
        answer = aws.client("s3").put_object(
            Bucket=settings().lake_bucket, Key=ledger_key(ledger["audience"], ledger["platform"]), Body=body,
            **condition,
        )  # fmt: skip
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
        raise SyncStopped(
            f"{ledger['platform']} {ledger['audience']}: another sync wrote this list's ledger meanwhile; "
            "this one stops, the other goes on"
        ) from None
    ledger[ETAG] = answer["ETag"]


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
    if full and previous:
        return [("clear", [])]  # nobody left: a replace cannot carry an empty list
    if previous is None:
        return [("add", target)] if target else []
    before, after = set(previous), set(target)
    steps = [("remove", sorted(before - after)), ("add", sorted(after - before))]
    return [(operation, people) for operation, people in steps if people]


def rows_for(
    person_ids: list[str], target: Target, records: pa.Table | None = None, default_country: str = "US"
) -> list[Row]:
    """Each person's member row for ``target`` (in the order given), hashed; a row without
    identifiers for a person without records. ``records``: the people records to use
    (``build.people_records`` of at least these persons), read when not given."""
    from forecourt.audiences import people
    from forecourt.audiences.build import people_records

    if not person_ids:
        return []
    if records is None:
        records = people_records(pa.array(person_ids, pa.string()))
    ordered = records.sort_by([("person_id", "ascending"), ("received_at", "ascending")])
    fields = ["email", "phone", "first_name", "last_name", "zip", "country"]
    latest = ordered.group_by("person_id", use_threads=False).aggregate([(f, "last") for f in fields])
    latest = latest.rename_columns(["person_id", *fields])
    written = target.rows(people.prepare(latest.select(fields), default_country=default_country))
    at = pc.index_in(pa.array(person_ids, pa.string()), value_set=latest["person_id"].combine_chunks())
    none = target.rows(people.prepare(pa.table({f: pa.nulls(1, pa.string()) for f in fields})))[0]
    return [none if index is None else written[index] for index in at.to_pylist()]


def run(
    now: datetime,
    api: Any,
    *,
    platform: str | None = None,
    full: bool = False,
    dry_run: Path | None = None,
    batch_rows: int | None = None,
    wait: float = WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ListSync]:
    """Sync every list of the newest snapshot to ``api``'s platform (a ``MetaApi`` or
    ``GoogleAdsApi``), finishing any sync in flight first; ``dry_run`` writes each request to that
    directory instead of sending it (``api`` may then be None, with ``platform`` naming it) and
    leaves the ledger alone. A list that stops part-way keeps its sync in flight in its ledger; the
    other lists go on, and then SyncStopped names every list that stopped. ``wait``: seconds to
    wait for a platform still applying an operation before leaving it for the next run."""
    target = for_api(api, platform)
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
    known: dict[str, Row] = {}

    def rows(persons: list[str]) -> list[Row]:
        """Each person's row: the newest snapshot's people are hashed once for every list (the
        first time any list sends), others (members who left) when a list needs them."""
        if not known and everyone:
            known.update(zip(everyone, rows_for(everyone, target, records()), strict=True))
        missing = [p for p in persons if p not in known]
        if missing:
            known.update(zip(missing, rows_for(missing, target), strict=True))
        return [known[p] for p in persons]

    sending = _Sending(
        target,
        newest,
        members,
        held_now,
        rows,
        now,
        full,
        dry_run,
        batch_rows or target.batch_rows,
        wait,
        sleep,
    )
    done: list[ListSync] = []
    stopped: list[str] = []
    stored = ledgers(target.name)
    for audience in sorted(set(target_lists) | set(stored)):
        try:
            done.extend(sending.one_list(stored.get(audience) or new_ledger(audience, target.name)))
        except SyncStopped as error:
            stopped.append(str(error))
    if stopped:
        raise SyncStopped("; ".join(stopped))
    return done


@dataclass
class _Sending:
    """One run's settings, shared by every list."""

    target: Target
    newest: str
    members: Callable[[str], dict[str, list[str]]]
    held_now: set[str]
    rows: Callable[[list[str]], list[Row]]
    now: datetime
    full: bool
    dry_run: Path | None
    batch_rows: int
    wait: float
    sleep: Callable[[float], None]

    def one_list(self, ledger: dict[str, Any]) -> list[ListSync]:
        """Bring one list to ``newest``, finishing its sync in flight first (see the module)."""
        audience, newest, target = ledger["audience"], self.newest, self.target
        done: list[ListSync] = []

        def save() -> None:
            if self.dry_run is None:
                save_ledger(ledger)

        def effective(snapshot: str, held: list[str]) -> list[str]:
            """The snapshot's members of this list less those held back (suppressed since it was built)."""
            out = set(held)
            return [person for person in self.members(snapshot).get(audience, []) if person not in out]

        while True:
            flight = ledger.get("in_flight")
            held = sorted(self.held_now.intersection(self.members(newest).get(audience, [])))
            in_sync = ledger.get("synced_snapshot") == newest and ledger.get("synced_held_back", []) == held
            # an erasure took a member's records away: only a replace can take them off the platform
            in_sync = in_sync and not ledger.get("replace_pending")
            if flight is None and in_sync and not self.full and not self._refresh_due(ledger):
                return done or [ListSync(audience=audience, snapshot=newest, platform=target.name)]
            snapshot = flight["snapshot"] if flight else newest
            held = flight.get("held_back", []) if flight else held
            previous = ledger.get("synced_snapshot")
            had = effective(previous, ledger.get("synced_held_back", [])) if previous else None
            steps, mode, refresh = self._steps(ledger, flight, had, effective(snapshot, held))
            report = ListSync(
                audience=audience,
                snapshot=snapshot,
                platform=target.name,
                resumed=flight is not None,
                full=mode,
                held_back=len(held),
            )
            if flight is None:
                started = self.now.isoformat()
                flight = {
                    "snapshot": snapshot,
                    "full": mode,
                    "refresh": refresh,
                    "started_at": started,
                    "held_back": held,
                    "operations": {op: target.open(audience, snapshot, op, started) for op, _ in steps},
                }
                if self.dry_run is None:
                    ledger["in_flight"] = flight
                    save()
                    if any(op != "clear" for op, _ in steps):
                        self._attempt(ledger, lambda: target.ensure_list(ledger, save))
            report.started_at = flight["started_at"]
            for operation, persons in steps:
                report.operations[operation] = len(persons)
                state = flight["operations"][operation]
                if not state.get("applied") and not self._operation(
                    ledger, operation, persons, state, report, save
                ):
                    report.pending = True
                    done.append(report)
                    return done
            done.append(report)
            if self.dry_run is not None:
                return done
            ledger["history"].append(
                {
                    "snapshot": snapshot,
                    "full": mode,
                    "started_at": flight["started_at"],
                    "finished_at": self.now.isoformat(),
                    "operations": report.operations,
                    "batches": report.batches,
                    "received": report.received,
                    "invalid": report.invalid,
                    "resumed": report.resumed,
                }
            )
            if mode or refresh or previous is None:
                ledger["refreshed_at"] = flight["started_at"]  # every member uploaded
            if mode:
                ledger.pop("replace_pending", None)
            ledger["synced_snapshot"], ledger["synced_held_back"], ledger["in_flight"] = snapshot, held, None
            save()
            if snapshot == newest:
                return done

    def _steps(
        self, ledger: dict[str, Any], flight: dict[str, Any] | None, had: list[str] | None, members: list[str]
    ) -> tuple[list[tuple[str, list[str]]], bool, bool]:
        """The operations from ``had`` (None: never synced) to ``members``, and whether they are a
        full replace, or a refresh; a sync in flight plans exactly what it planned when it began."""
        mode = bool(flight["full"]) if flight else self.full or bool(ledger.get("replace_pending"))
        refresh = bool(flight.get("refresh")) if flight else not mode and self._refresh_due(ledger)
        steps = plan(had, members, mode)
        if refresh:
            # the platform forgets members not uploaded for a while (Google: 540 days): the members
            # who stay are added again with the new ones
            steps = [step for step in steps if step[0] == "remove"] + ([("add", members)] if members else [])
        elif flight is None and not mode and any(op == "remove" for op, _ in steps):
            # a member who left and has no records any more (merged, erased) cannot be removed by
            # hashes: send the list whole instead, which leaves the platform with exactly the target
            removed = next(people for op, people in steps if op == "remove")
            if any(self.target.empty(row) for row in self.rows(removed)):
                mode = True
                steps = plan(had, members, mode)
        return steps, mode, refresh

    def _refresh_due(self, ledger: dict[str, Any]) -> bool:
        """Whether the list's members must all be uploaded again (``Target.refresh_days``)."""
        days = self.target.refresh_days
        if days is None or ledger.get("synced_snapshot") is None:
            return False
        first = ledger["history"][0]["started_at"] if ledger.get("history") else None
        last = ledger.get("refreshed_at") or first  # a list's first sync uploads every member
        return last is None or self.now - datetime.fromisoformat(last) >= timedelta(days=days)

    def _operation(
        self,
        ledger: dict[str, Any],
        operation: str,
        persons: list[str],
        state: dict[str, Any],
        report: ListSync,
        save: Callable[[], None],
    ) -> bool:
        """Send one operation's batches not yet acknowledged, then end it; whether the platform has
        applied it (False: still processing, the next run polls again). A dry run writes the
        requests instead."""
        target, audience = self.target, ledger["audience"]
        if operation == "clear":
            if self.dry_run is not None:
                self._write(audience, operation, state, 1, [], report)
                return True
            if state["done"] == 0:
                self._attempt(ledger, partial(target.clear, ledger, state, save))
                state["done"] = 1
                report.batches += 1
                save()
            return self._close(ledger, operation, state, save)
        # every member is sent, one without any identifier left too (the platform counts it
        # invalid): batch boundaries stay where they were if someone's records go between a crash
        # and the resume, so a resumed batch number always carries the same members
        sent = self.rows(persons)
        batches = [sent[i : i + self.batch_rows] for i in range(0, len(sent), self.batch_rows)]
        for seq in range(state["done"] + 1, len(batches) + 1):
            batch, last = batches[seq - 1], seq == len(batches)
            report.batches += 1
            if self.dry_run is not None:
                self._write(audience, operation, state, seq, batch, report, last, len(sent))
                continue
            received, invalid = self._attempt(
                ledger, partial(target.send, ledger, operation, state, seq, batch, last, len(sent), save)
            )
            report.received += received
            report.invalid += invalid
            state["done"] = seq
            save()
        return True if self.dry_run is not None else self._close(ledger, operation, state, save)

    def _write(
        self, audience: str, operation: str, state: dict[str, Any], seq: int, batch: list[Row],
        report: ListSync, last: bool = True, total: int = 0,
    ) -> None:  # fmt: skip
        """Dry run: the requests of batch ``seq``, written under ``dry_run`` and kept in ``report``."""
        assert self.dry_run is not None
        for stem, request in self.target.request(audience, operation, state, seq, batch, last, total):
            write_request(self.dry_run / self.target.name, audience, stem, request)
            report.requests.append(request)

    def _close(
        self, ledger: dict[str, Any], operation: str, state: dict[str, Any], save: Callable[[], None]
    ) -> bool:
        """End an operation whose batches are in; whether the platform has applied it."""
        closing = partial(self.target.close, ledger, operation, state, self.wait, self.sleep, save)
        if not self._attempt(ledger, closing):
            return False
        state["applied"] = True
        save()
        return True

    def _attempt(self, ledger: dict[str, Any], call: Callable[[], Any]) -> Any:
        """``call`` with retries and backoff on rate limits; SyncStopped when it cannot go on."""
        name, label = ledger["audience"], self.target.label
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return call()
            except self.target.rate_limited as error:
                if attempt == MAX_ATTEMPTS:
                    raise SyncStopped(
                        f"{label} {name}: still rate limited after {MAX_ATTEMPTS} attempts ({error}); "
                        "the next run resumes"
                    ) from None
                self.sleep(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1)))
            except Stopped as error:
                if error.gone:
                    # deleted on the platform: forget it; the next run makes it again and sends the list whole
                    ledger.update(audience_id=None, synced_snapshot=None, in_flight=None)
                    save_ledger(ledger)
                    raise SyncStopped(
                        f"{label} {name}: the list no longer exists on {label}; the next run creates "
                        "it again and sends the list whole"
                    ) from None
                raise SyncStopped(f"{label} {name}: {error}; the next run resumes") from None
        raise AssertionError("unreachable")


def record(reports: list[ListSync], now: datetime) -> list[Any]:
    """Queue the ``syncs`` rows of what ``reports`` sent (lists already in sync are left out), with
    the snapshot's members kept back per reason; returns the commit requests (none for nothing)."""
    from forecourt import analytics, commits
    from forecourt.audiences import consent
    from forecourt.audiences.build import NO_RECORDS
    from forecourt.lake import stable_hash

    sent = [r for r in reports if r.operations or r.pending]
    if not sent:
        return []
    snapshots = sorted({r.snapshot for r in sent})
    counted = analytics.run_query(
        "SELECT upload_id, audience, excluded, count(*) AS n FROM audience_members "
        "WHERE excluded IS NOT NULL AND upload_id IN (" + ", ".join(_literal(s) for s in snapshots) + ") "
        "GROUP BY 1, 2, 3"
    ).to_arrow()
    excluded = {(r["upload_id"], r["audience"], r["excluded"]): r["n"] for r in counted.to_pylist()}
    reasons = [r for r in consent.REASONS if r != "no_person"] + [NO_RECORDS]
    run_id = stable_hash("syncs", *sorted({r.platform for r in sent}), now.isoformat())
    rows = [
        {"upload_id": run_id, "platform": r.platform, "audience": r.audience, "snapshot": r.snapshot,
         "status": "applying" if r.pending else "synced", "full": r.full, "resumed": r.resumed,
         "started_at": datetime.fromisoformat(r.started_at) if r.started_at else now,
         "finished_at": None if r.pending else now,
         "added": r.operations.get("add", 0), "removed": r.operations.get("remove", 0),
         "replaced": r.operations.get("replace", 0), "batches": r.batches, "received": r.received,
         "invalid": r.invalid, "held_back": r.held_back, "received_at": now}
        | {f"excluded_{reason}": excluded.get((r.snapshot, r.audience, reason), 0) for reason in reasons}
        for r in sent
    ]  # fmt: skip
    request = commits.write_records("syncs", rows, run_id, now.date())
    commits.send([request])
    return [request]


def _suppressed_now(everyone: list[str], records: Callable[[], pa.Table]) -> set[str]:
    """The persons of ``everyone`` (with these ``records``) on the suppression list now: a snapshot
    built before a suppression must not send (or keep) that person."""
    from forecourt.privacy import suppression

    if not everyone or suppression.key() is None:
        return set()
    return set(suppression.suppressed_persons(records()).to_pylist())
