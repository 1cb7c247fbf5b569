"""Each ad platform as the audience sync sees it (``sync``): how a member is written, how a batch is
sent, how an operation ends, what a dry run writes. The sync itself (plans, ledger, resume,
backoff) is the same for every platform.

- Meta (``MetaTarget``): one row of the multi-key schema per member; an operation is a session
  (``session_id`` in the ledger) of batches ``batch_seq`` 1…n; it is applied when the last batch is
  acknowledged.
- Google (``GoogleTarget``): one UserData per member (hashed e-mail, hashed phone, and the address
  when first and last name, country and zip are all known); an operation is an OfflineUserDataJob
  (its resource name in the ledger) taking the batches, then run; it is applied when the job's
  status is SUCCESS, which may take hours: the sync waits a while, then leaves it in flight and the
  next run polls it again. Creates and removes go in separate jobs, as Google requires; a replace is
  one job that starts with ``removeAll``. A resumed job takes the batches not yet acknowledged (a
  create or remove sent twice to one job changes nothing); a replace whose first batch may not have
  arrived starts a new job, since ``removeAll`` must be a job's first operation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.audiences import google_ads_api, meta_api

Row = Any
"""One member as a platform takes it: a Meta schema row (list of hashes), a Google UserData."""

GOOGLE_CONSENT = {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
"""The consent a Google job declares for its members: every member sent passed the consent gate
(EEA people only with both consents; nobody who opted out of sale or sharing, or sent GPC)."""


class Stopped(RuntimeError):
    """The platform refused for good (not a rate limit); ``gone``: the list no longer exists there."""

    def __init__(self, message: str, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


class Target(Protocol):
    name: str
    label: str
    batch_rows: int
    refresh_days: int | None
    rate_limited: tuple[type[Exception], ...]

    def rows(self, prepared: pa.Table) -> list[Row]:
        """Each row of ``people.prepare``'s table as the platform takes a member."""

    def empty(self, row: Row) -> bool:
        """Whether the row holds no identifier (the person has no records left)."""

    def ensure_list(self, ledger: dict[str, Any], save: Callable[[], None]) -> None:
        """Make the platform's list when the ledger has none (and save its id)."""

    def open(self, audience: str, target: str, operation: str, started_at: str) -> dict[str, Any]:
        """A new operation's state, kept in the ledger."""

    def send(
        self,
        ledger: dict[str, Any],
        operation: str,
        state: dict[str, Any],
        seq: int,
        batch: list[Row],
        last: bool,
        total: int,
        save: Callable[[], None],
    ) -> tuple[int, int]:
        """Send batch ``seq``; (members received, members refused). Raises ``rate_limited`` or Stopped."""

    def clear(self, ledger: dict[str, Any], state: dict[str, Any], save: Callable[[], None]) -> None:
        """Leave the platform's list without any member (nobody is left in it)."""

    def close(
        self,
        ledger: dict[str, Any],
        operation: str,
        state: dict[str, Any],
        wait: float,
        sleep: Callable[[float], None],
        save: Callable[[], None],
    ) -> bool:
        """After the last batch: whether the operation is applied (False: still processing)."""

    def request(
        self,
        audience: str,
        operation: str,
        state: dict[str, Any],
        seq: int,
        batch: list[Row],
        last: bool,
        total: int,
    ) -> list[tuple[str, dict[str, Any]]]:
        """Dry run: the requests batch ``seq`` makes, as (file stem, request) pairs."""


def _stable_id(*parts: str) -> int:
    from forecourt.lake import stable_hash

    return int(stable_hash(*parts)[:15], 16) + 1


class MetaTarget:
    name = "meta"
    label = "Meta"
    batch_rows = 10_000
    refresh_days: int | None = None
    """Meta keeps members until they are removed."""
    rate_limited: tuple[type[Exception], ...] = (meta_api.RateLimited,)

    def __init__(self, api: meta_api.MetaApi | None) -> None:
        self.api = api

    def rows(self, prepared: pa.Table) -> list[Row]:
        from forecourt.audiences import meta

        hashed = meta.identifiers(prepared)
        columns = [pc.fill_null(hashed[key], "").to_pylist() for key in meta.SCHEMA]
        return [list(row) for row in zip(*columns, strict=True)]

    def empty(self, row: Row) -> bool:
        return not any(row)

    def ensure_list(self, ledger: dict[str, Any], save: Callable[[], None]) -> None:
        if ledger.get("audience_id") is None:
            assert self.api is not None
            ledger["audience_id"] = self.api.create_audience(
                f"Forecourt {ledger['audience']}", "Forecourt audience list (queries/audiences/segments.json)"
            )
            save()

    def open(self, audience: str, target: str, operation: str, started_at: str) -> dict[str, Any]:
        # a positive 60-bit session id per operation of one sync (``started_at`` tells two syncs of
        # the same snapshot apart); a resumed sync sends its batches again under the same session
        return {"session_id": _stable_id(self.name, audience, target, operation, started_at), "done": 0}

    def send(
        self,
        ledger: dict[str, Any],
        operation: str,
        state: dict[str, Any],
        seq: int,
        batch: list[Row],
        last: bool,
        total: int,
        save: Callable[[], None],
    ) -> tuple[int, int]:
        from forecourt.audiences import meta

        assert self.api is not None
        fields = meta_api.request_fields(list(meta.SCHEMA), batch, state["session_id"], seq, last, total)
        try:
            answer = self.api.send(ledger["audience_id"], operation, fields)
        except meta_api.RateLimited:
            raise
        except meta_api.MetaError as error:
            if not error.object_gone and error.code == 100 and "session" in str(error).lower():
                # Meta no longer knows the session (it expired: 90 minutes for a replace, or its
                # first batches never arrived): the operation starts over under a new session
                state.update(session_id=_stable_id(str(state["session_id"]), "again"), done=0)
                save()
                raise Stopped(
                    f"{error}; the next run sends the operation again under a new session"
                ) from None
            raise Stopped(str(error), gone=error.object_gone) from None
        return int(answer.get("num_received") or 0), int(answer.get("num_invalid_entries") or 0)

    def close(
        self,
        ledger: dict[str, Any],
        operation: str,
        state: dict[str, Any],
        wait: float,
        sleep: Callable[[float], None],
        save: Callable[[], None],
    ) -> bool:
        return True  # Meta applies each acknowledged batch

    def clear(self, ledger: dict[str, Any], state: dict[str, Any], save: Callable[[], None]) -> None:
        # /usersreplace needs at least one row: the audience is deleted, and made again when the
        # list has members again
        assert self.api is not None
        if ledger.get("audience_id") is not None:
            try:
                self.api.delete_audience(ledger["audience_id"])
            except meta_api.RateLimited:
                raise
            except meta_api.MetaError as error:
                if not error.object_gone:
                    raise Stopped(str(error)) from None
            ledger["audience_id"] = None
            save()

    def request(
        self,
        audience: str,
        operation: str,
        state: dict[str, Any],
        seq: int,
        batch: list[Row],
        last: bool,
        total: int,
    ) -> list[tuple[str, dict[str, Any]]]:
        from forecourt.audiences import meta

        if operation == "clear":
            return [
                ("clear-0001", {"method": "DELETE", "path": f"/<audience id of {audience}>", "fields": {}})
            ]
        fields = meta_api.request_fields(list(meta.SCHEMA), batch, state["session_id"], seq, last, total)
        method, edge = meta_api.OPERATIONS[operation]
        body = {"payload": json.loads(fields["payload"]), "session": json.loads(fields["session"])}
        return [
            (
                f"{operation}-{seq:04d}",
                {"method": method, "path": f"/<audience id of {audience}>/{edge}", "fields": body},
            )
        ]


class GoogleTarget:
    name = "google"
    label = "Google Ads"
    batch_rows = 10_000
    """Users a request: at most 3 identifiers each (e-mail, phone, address), so at most 30,000
    identifiers, well under Google's 100,000, and the size Google recommends."""
    rate_limited: tuple[type[Exception], ...] = (google_ads_api.RateLimited,)
    poll_seconds = 5.0
    max_poll_seconds = 60.0
    refresh_days: int | None = 180
    """Google drops a member 540 days after their last upload (``membershipLifeSpan``): members
    staying in a list are uploaded again when its last whole upload is this old."""

    def __init__(self, api: google_ads_api.GoogleAdsApi | None) -> None:
        self.api = api

    def rows(self, prepared: pa.Table) -> list[Row]:
        from forecourt.audiences import google

        hashed = google.identifiers(prepared).to_pylist()
        return [_user_data(row) for row in hashed]

    def empty(self, row: Row) -> bool:
        return not row["userIdentifiers"]

    def ensure_list(self, ledger: dict[str, Any], save: Callable[[], None]) -> None:
        if ledger.get("audience_id") is None:
            assert self.api is not None
            ledger["audience_id"] = self._call(lambda api: _new_user_list(api, ledger["audience"]))
            save()

    def open(self, audience: str, target: str, operation: str, started_at: str) -> dict[str, Any]:
        return {"job": None, "done": 0, "ran": False}

    def send(
        self,
        ledger: dict[str, Any],
        operation: str,
        state: dict[str, Any],
        seq: int,
        batch: list[Row],
        last: bool,
        total: int,
        save: Callable[[], None],
    ) -> tuple[int, int]:
        if state["job"] is None or (seq == 1 and operation == "replace"):
            # a replace's first batch carries removeAll, which must open its job: a resent first
            # batch goes to a new job (the old one, never run, changes nothing)
            state["job"] = self._call(lambda api: api.create_job(ledger["audience_id"], GOOGLE_CONSENT))
            save()
        body = _operations(operation, batch, seq)
        answer = self._call(lambda api: api.add_operations(state["job"], body), state, save)
        refused = google_ads_api.partial_failures(
            answer, skip=1 if operation == "replace" and seq == 1 else 0
        )
        return len(batch) - refused, refused

    def clear(self, ledger: dict[str, Any], state: dict[str, Any], save: Callable[[], None]) -> None:
        if ledger.get("audience_id") is None:
            return  # no list on Google, nobody on it
        state["job"] = self._call(lambda api: api.create_job(ledger["audience_id"], GOOGLE_CONSENT))
        save()
        body = {"operations": [{"removeAll": True}], "enablePartialFailure": True}
        self._call(lambda api: api.add_operations(state["job"], body), state, save)

    def close(
        self,
        ledger: dict[str, Any],
        operation: str,
        state: dict[str, Any],
        wait: float,
        sleep: Callable[[float], None],
        save: Callable[[], None],
    ) -> bool:
        if state["job"] is None:
            return True  # nothing was sent
        if not state["ran"]:
            state["ran"] = True
            save()
        status, reason = self._call(lambda api: api.job_status(state["job"]), state, save)
        if status == "PENDING":
            self._call(lambda api: api.run_job(state["job"]), state, save)
            status, reason = self._call(lambda api: api.job_status(state["job"]), state, save)
        started, pause = time.monotonic(), self.poll_seconds
        while status not in google_ads_api.JOB_DONE:
            if time.monotonic() - started >= wait:
                return False
            sleep(pause)
            pause = min(self.max_poll_seconds, pause * 2)
            status, reason = self._call(lambda api: api.job_status(state["job"]), state, save)
        if status == "FAILED":
            state.update(job=None, done=0, ran=False)
            save()
            raise Stopped(
                f"Google's job failed ({reason or 'no reason given'}); the next run sends the operation again"
            )
        return True

    def request(
        self,
        audience: str,
        operation: str,
        state: dict[str, Any],
        seq: int,
        batch: list[Row],
        last: bool,
        total: int,
    ) -> list[tuple[str, dict[str, Any]]]:
        job = f"customers/<customer id>/offlineUserDataJobs/<job of {audience} {operation}>"
        body = (
            {"operations": [{"removeAll": True}], "enablePartialFailure": True}
            if operation == "clear"
            else _operations(operation, batch, seq)
        )
        add = {"method": "POST", "path": f"{job}:addOperations", "body": body}
        if seq > 1:
            return [(f"{operation}-{seq:04d}", add)]
        create = {
            "method": "POST",
            "path": "customers/<customer id>/offlineUserDataJobs:create",
            "body": {
                "job": {
                    "type": "CUSTOMER_MATCH_USER_LIST",
                    "customerMatchUserListMetadata": {
                        "userList": f"<user list of {audience}>",
                        "consent": GOOGLE_CONSENT,
                    },
                }
            },
        }
        return [(f"{operation}-0000-job", create), (f"{operation}-{seq:04d}", add)]

    def _call(
        self,
        call: Callable[[google_ads_api.GoogleAdsApi], Any],
        state: dict[str, Any] | None = None,
        save: Callable[[], None] | None = None,
    ) -> Any:
        """``call``; with an operation's ``state``, a job Google no longer knows or that no longer
        takes operations (expired, failed, run) starts the operation over in a new job next run."""
        assert self.api is not None
        try:
            return call(self.api)
        except google_ads_api.RateLimited:
            raise
        except google_ads_api.GoogleAdsError as error:
            if state is not None and save is not None and error.job_gone and not error.list_gone:
                state.update(job=None, done=0, ran=False)
                save()
                raise Stopped(f"{error}; the next run sends the operation again in a new job") from None
            raise Stopped(str(error), gone=error.list_gone) from None


def _new_user_list(api: google_ads_api.GoogleAdsApi, audience: str) -> str:
    """A new user list for ``audience``; named ``Forecourt <audience>``, or with the time after it
    when that name is taken (names are unique in an account: a list closed or removed in the Google
    Ads UI keeps its name)."""
    description = "Forecourt audience list (queries/audiences/segments.json)"
    try:
        return api.create_user_list(f"Forecourt {audience}", description)
    except google_ads_api.GoogleAdsError as error:
        if not error.has("NAME_ALREADY_USED"):
            raise
    return api.create_user_list(
        f"Forecourt {audience} {time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}", description
    )


def _operations(operation: str, batch: list[Row], seq: int) -> dict[str, Any]:
    kind = "remove" if operation == "remove" else "create"
    return google_ads_api.job_operations(kind, batch, remove_all=operation == "replace" and seq == 1)


def _user_data(row: dict[str, Any]) -> dict[str, Any]:
    """One member's UserData: its hashed e-mail and phone, and its address when Google can match it
    (first and last name, country and zip all known)."""
    identifiers: list[dict[str, Any]] = []
    if row["hashed_email"]:
        identifiers.append({"hashedEmail": row["hashed_email"]})
    if row["hashed_phone_number"]:
        identifiers.append({"hashedPhoneNumber": row["hashed_phone_number"]})
    address = ("hashed_first_name", "hashed_last_name", "country_code", "postal_code")
    if all(row[key] for key in address):
        identifiers.append(
            {
                "addressInfo": {
                    "hashedFirstName": row["hashed_first_name"],
                    "hashedLastName": row["hashed_last_name"],
                    "countryCode": row["country_code"],
                    "postalCode": row["postal_code"],
                }
            }
        )
    return {"userIdentifiers": identifiers}


def for_api(api: Any, platform: str | None = None) -> Target:
    """The target of ``api`` (a MetaApi or GoogleAdsApi), or of ``platform`` for a dry run."""
    if isinstance(api, google_ads_api.GoogleAdsApi) or (api is None and platform == "google"):
        return GoogleTarget(api)
    if isinstance(api, meta_api.MetaApi) or (api is None and platform in (None, "meta")):
        return MetaTarget(api)
    raise ValueError(f"no audience target for {platform or type(api).__name__}")


def write_request(directory: Path, audience: str, stem: str, request: dict[str, Any]) -> None:
    """One dry-run request as a JSON file under ``directory`` (no credential in it)."""
    path = directory / audience.replace("/", "__") / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(request, indent=1) + "\n", encoding="utf-8")


PLATFORMS = ("meta", "google")


def connected(platforms: tuple[str, ...] = PLATFORMS) -> dict[str, Any]:
    """Platform → its API client, for each of ``platforms`` whose credentials are in Secrets
    Manager (a platform without a secret is left out; a secret lacking a field raises ValueError)."""
    found: dict[str, Any] = {}
    for platform in platforms:
        module = google_ads_api if platform == "google" else meta_api
        try:
            found[platform] = module.from_secret()
        except LookupError:
            continue
    return found
