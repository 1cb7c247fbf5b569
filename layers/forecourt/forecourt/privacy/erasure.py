"""Erasure and opt-out (ARCHITECTURE §6 ``erasure``; issue 6): a person asked to be forgotten, or
not to have their data shared, and the request must reach everywhere their data lives.

An **erasure** (in this order, each step recorded in the request's ledger):

1. *find*: the records whose e-mail or phone columns carry a given identifier (the seeds), the
   persons ``person_links`` links them to (and ids merged into those), and every record of those
   persons; ``--person`` starts from the person ids;
2. *suppress*: the identifiers given, and every e-mail and phone on the person's records that no
   other person's record carries (a household phone shared with someone else is not suppressed:
   that would drop the other person's next leads at ingest), go on the suppression list — the
   audience build and sync keep them back, and ingest quarantines their next rows (``suppressed``);
3. *audiences*: every platform list whose last synced (or in-flight) snapshot holds the person is
   marked for a full replace on its next sync (its ledger's ``replace_pending``): once the person's
   records are gone their hashes cannot be rebuilt for a removal, and a replace leaves the
   platform with exactly the list without them;
4. *tables*: their rows are deleted from every curated, derived and operational table that holds
   them (``TABLES``; quarantine rows by their raw text), through the commit queue (never racing
   another commit), then old snapshots are expired and the data files only they held deleted, so
   time travel cannot reach the rows; the ledger records what was left afterwards (zero);
5. *objects* (``erasure_objects``): raw files rewritten without them, outbound files, upload
   manifests, identity index items, idempotency records, query results and local state removed.

An **opt-out** of sharing is steps 1-3 only, with reason ``opt_out``: the dealer's own records
stay, the person leaves every audience (the sync holds suppressed members back and removes them).

Nothing here logs or keeps an identifier: the ledger (``erasure_ledger``: JSON in the lake bucket
and the ``erasures`` table) holds counts, step results and the request id, a keyed hash. Running a
request again is idempotent: it finds nothing left and says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from forecourt.privacy.erasure_ledger import Ledger, request_id, save_ledger

PEOPLE_TABLES = ("leads", "visits", "sales")
"""The curated tables whose rows name a person (e-mail and phone columns; ``person_links``)."""
EMAIL_COLUMNS = ("email", "alternate_email")
PHONE_COLUMNS = ("phone", "mobile_phone", "alternate_phone")


@dataclass(frozen=True)
class ErasureRequest:
    """One request: normalized e-mails, E.164 phones and/or person ids."""

    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    persons: tuple[str, ...] = ()
    opt_out: bool = False
    source: str = ""
    """The request's ticket id (never an identifier)."""

    @property
    def reason(self) -> str:
        return "opt_out" if self.opt_out else "erasure"


@dataclass
class Found:
    """The person's footprint in the lake."""

    persons: list[str]
    records: dict[str, list[str]]
    """Dataset → record ids."""
    sales_lines: dict[str, list[int]]
    """Upload id → source lines of the person's sales (their ``sales_finance`` rows)."""
    quarantined: dict[str, list[int]]
    """Upload id → source lines of quarantine rows whose raw text names an identifier."""
    emails: list[str]
    phones: list[str]
    shared: int = 0
    """Identifiers on the person's records that other persons' records carry too (not suppressed)."""
    uploads: list[str] = field(default_factory=list)
    """Upload ids of every version of the person's records and of their quarantine rows."""
    shared_keys: list[str] = field(default_factory=list)
    """Identity index keys (``email#``/``phone#`` SHA-256) of identifiers they share with others."""
    lines: dict[str, list[int]] = field(default_factory=dict)
    """Upload id → source lines (records, XML elements) of the person's records and quarantine rows:
    what their raw files are rewritten without."""

    @property
    def record_ids(self) -> list[str]:
        return sorted({r for ids in self.records.values() for r in ids})


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(_literal(v) for v in sorted(set(values))) + ")"


def _query(sql: str) -> pa.Table:
    from forecourt import analytics

    return analytics.run_query(sql).to_arrow()


def _records_matching(emails: list[str], phones: list[str]) -> dict[str, list[str]]:
    """Dataset → record ids whose e-mail or phone columns hold one of these values."""
    found: dict[str, list[str]] = {}
    for dataset in PEOPLE_TABLES:
        terms = [f"{c} IN {_in_list(emails)}" for c in EMAIL_COLUMNS if emails]
        terms += [f"{c} IN {_in_list(phones)}" for c in PHONE_COLUMNS if phones]
        if terms:
            rows = _query(f"SELECT DISTINCT record_id FROM {dataset} WHERE " + " OR ".join(terms))
            found[dataset] = rows["record_id"].to_pylist()
    return found


def _persons_of(record_ids: list[str], persons: list[str]) -> list[str]:
    """The persons linked to these records, those given, and the ids merged into any of them."""
    found = set(persons)
    if record_ids:
        linked = _query(
            f"SELECT DISTINCT person_id FROM person_links WHERE record_id IN {_in_list(record_ids)}"
        )
        found |= set(linked["person_id"].to_pylist())
    if found:
        merged = _query(f"SELECT DISTINCT person_id FROM persons WHERE merged_into IN {_in_list(found)}")
        found |= set(merged["person_id"].to_pylist())
    return sorted(p for p in found if p)


def find(request: ErasureRequest) -> Found:
    """The person's footprint (see the module, step 1). Reads the lake; writes nothing."""
    seeds = _records_matching(list(request.emails), list(request.phones))
    persons = _persons_of(sorted({r for ids in seeds.values() for r in ids}), list(request.persons))
    linked: dict[str, set[str]] = {dataset: set(ids) for dataset, ids in seeds.items()}
    if persons:
        links = _query(
            f"SELECT DISTINCT dataset, record_id FROM person_links WHERE person_id IN {_in_list(persons)}"
        )
        for dataset, record in zip(links["dataset"].to_pylist(), links["record_id"].to_pylist(), strict=True):
            linked.setdefault(dataset, set()).add(record)
    records = {dataset: sorted(ids) for dataset, ids in linked.items() if ids}
    emails, phones = set(request.emails), set(request.phones)
    lines: dict[str, set[int]] = {}
    sales_lines: dict[str, set[int]] = {}
    for dataset, ids in records.items():
        columns = ", ".join(("upload_id", "source_line", *EMAIL_COLUMNS, *PHONE_COLUMNS))
        rows = _query(f"SELECT {columns} FROM {dataset} WHERE record_id IN {_in_list(ids)}")
        emails |= _values(rows, EMAIL_COLUMNS)
        phones |= _values(rows, PHONE_COLUMNS)
        for upload, line in zip(rows["upload_id"].to_pylist(), rows["source_line"].to_pylist(), strict=True):
            lines.setdefault(upload, set()).add(line)
            if dataset == "sales":
                sales_lines.setdefault(upload, set()).add(line)
    own_emails, own_phones, shared = _not_shared(sorted(emails), sorted(phones), records, request)
    quarantined = _quarantined(own_emails, own_phones)  # not a shared household phone's other rows
    for upload, quarantine_lines in quarantined.items():
        lines.setdefault(upload, set()).update(quarantine_lines)
    return Found(
        persons=persons,
        records=records,
        sales_lines={upload: sorted(found) for upload, found in sales_lines.items()},
        quarantined=quarantined,
        emails=own_emails,
        phones=own_phones,
        shared=shared,
        uploads=sorted(lines),
        lines={upload: sorted(found) for upload, found in lines.items()},
        shared_keys=sorted(
            [f"email#{hashlib.sha256(e.encode()).hexdigest()}" for e in emails - set(own_emails)]
            + [f"phone#{hashlib.sha256(p.encode()).hexdigest()}" for p in phones - set(own_phones)]
        ),
    )


def _values(rows: pa.Table, columns: Iterable[str]) -> set[str]:
    return {value for column in columns for value in rows[column].to_pylist() if value}


def _not_shared(
    emails: list[str], phones: list[str], records: dict[str, list[str]], request: ErasureRequest
) -> tuple[list[str], list[str], int]:
    """The identifiers to suppress: those given, and those found on the person's records that no
    record outside them carries; with how many were left out as shared."""
    ours = {r for ids in records.values() for r in ids}
    elsewhere = _records_matching(emails, phones)
    others = {r for ids in elsewhere.values() for r in ids} - ours
    if not others:
        return emails, phones, 0
    shared: set[str] = set()
    for dataset in PEOPLE_TABLES:
        columns = ", ".join((*EMAIL_COLUMNS, *PHONE_COLUMNS))
        rows = _query(f"SELECT {columns} FROM {dataset} WHERE record_id IN {_in_list(others)}")
        shared |= _values(rows, (*EMAIL_COLUMNS, *PHONE_COLUMNS))
    keep_emails = [e for e in emails if e not in shared or e in request.emails]
    keep_phones = [p for p in phones if p not in shared or p in request.phones]
    return keep_emails, keep_phones, len(emails) + len(phones) - len(keep_emails) - len(keep_phones)


def text_pattern(emails: Iterable[str], phones: Iterable[str]) -> str | None:
    """A case-insensitive RE2 pattern that finds any of these e-mails, or any of these phones
    written with separators (``(312) 555-0100``, ``312.555.0100``, ``+1 312 555 0100``), in raw
    text; None without identifiers."""
    import phonenumbers

    # an e-mail only where it stands alone: erasing ann@example.org leaves joann@example.org
    parts = [rf"(?:^|[^a-z0-9._%+-]){re.escape(e)}(?:$|[^a-z0-9._-])" for e in sorted(set(emails))]
    # a phone only where its digits stand alone, its country code optional: erasing 312 555 0100
    # leaves 1312 555 01009 (another number) alone, but finds +1 (312) 555-0100 and 13125550100
    for phone in sorted(set(phones)):
        try:
            parsed = phonenumbers.parse(phone, None)
            national, country = str(parsed.national_number), rf"(?:\+?{parsed.country_code})?"
        except phonenumbers.NumberParseException:
            national, country = re.sub(r"\D", "", phone), ""
        digits = r"[^0-9]{0,3}".join(national)
        parts.append(rf"(?:^|[^0-9]){country}[^0-9]{{0,3}}{digits}(?:$|[^0-9])")
    return "(?i)(" + "|".join(parts) + ")" if parts else None


def _quarantined(emails: list[str], phones: list[str]) -> dict[str, list[int]]:
    pattern = text_pattern(emails, phones)
    if pattern is None:
        return {}
    rows = _query(
        "SELECT DISTINCT upload_id, source_line FROM quarantine "
        f"WHERE raw_record IS NOT NULL AND regexp_like(raw_record, {_literal(pattern)})"
    )
    found: dict[str, set[int]] = {}
    for upload, line in zip(rows["upload_id"].to_pylist(), rows["source_line"].to_pylist(), strict=True):
        found.setdefault(upload, set())
        if line is not None:
            found[upload].add(line)
    return {u: sorted(lines) for u, lines in found.items()}


Conditions = list[dict[str, list[Any]]]


def table_conditions(found: Found) -> dict[str, Conditions]:
    """Table → the rows of the person to delete (``catalog.erase_filter``'s conditions); tables
    with nothing of theirs are left out."""
    records, persons = found.record_ids, list(found.persons)
    leads = list(found.records.get("leads", []))
    by: dict[str, Conditions] = {
        **{dataset: [{"record_id": list(ids)}] for dataset, ids in found.records.items()},
        "sales_finance": [
            {"upload_id": [u], "source_line": list(lines)} for u, lines in found.sales_lines.items()
        ],
        # a CRM's event names the lead by our id, or by the CRM's own key within the dealer
        "lead_events": [{"lead_id": leads}, *_crm_keys(leads)],
        "lead_routes": [{"lead_id": leads}],
        "deliveries": [{"lead_id": leads}],
        "person_links": [{"record_id": records}, {"person_id": persons}],
        "persons": [{"person_id": persons}, {"merged_into": persons}],
        "enriched_leads": [{"record_id": records}, {"person_id": persons}],
        "lead_tags": [{"record_id": records}, {"person_id": persons}],
        "audience_members": [{"person_id": persons}],
        "identity_splits": [{"person_id": persons}, {"left_id": records}, {"right_id": records}],
        "quarantine": [
            {"upload_id": [u], "source_line": list(lines)} for u, lines in found.quarantined.items()
        ],
    }
    cleaned = {table: [c for c in conds if all(c.values())] for table, conds in by.items()}
    return {table: conds for table, conds in cleaned.items() if conds}


def _crm_keys(leads: list[str]) -> Conditions:
    """Per dealer, the source keys of ``leads`` as a CRM's events name them (``crm_lead_id``)."""
    if not leads:
        return []
    rows = _query(f"SELECT DISTINCT dealer_id, source_key FROM leads WHERE record_id IN {_in_list(leads)}")
    keys: dict[str, list[str]] = {}
    for dealer, key in zip(rows["dealer_id"].to_pylist(), rows["source_key"].to_pylist(), strict=True):
        if dealer and key:
            keys.setdefault(dealer, []).append(key)
    return [{"dealer_id": [dealer], "crm_lead_id": sorted(found)} for dealer, found in sorted(keys.items())]


def remaining(table: str, conditions: Conditions) -> int:
    """Rows of ``table`` still matching ``conditions`` (through the query engine)."""
    terms = []
    for condition in conditions:
        parts = []
        for column, values in sorted(condition.items()):
            listed = ", ".join(str(int(v)) if isinstance(v, int) else _literal(str(v)) for v in values)
            parts.append(f"{column} IN ({listed})")
        terms.append("(" + " AND ".join(parts) + ")")
    if not terms:
        return 0
    rows = _query(f"SELECT count(*) AS n FROM {table} WHERE " + " OR ".join(terms))
    return int(rows["n"][0].as_py())


def mark_audiences(persons: list[str], request: str) -> list[str]:
    """Flag every platform list whose synced or in-flight snapshot holds one of ``persons`` for a
    full replace on its next sync (``replace_pending``); returns the lists flagged."""
    from forecourt.audiences import sync

    if not persons:
        return []
    rows = _query(
        f"SELECT DISTINCT audience, upload_id FROM audience_members WHERE person_id IN {_in_list(persons)}"
    )
    held = set(zip(rows["audience"].to_pylist(), rows["upload_id"].to_pylist(), strict=True))
    from forecourt.audiences.targets import PLATFORMS

    flagged = []
    for platform in PLATFORMS:
        for audience, ledger in sorted(sync.ledgers(platform).items()):
            flight = ledger.get("in_flight") or {}
            snapshots = {ledger.get("synced_snapshot"), flight.get("snapshot")}
            if any((audience, snapshot) in held for snapshot in snapshots):
                pending = set(ledger.get("replace_pending") or [])
                ledger["replace_pending"] = sorted(pending | {request})
                sync.save_ledger(ledger)
                flagged.append(f"{platform}:{audience}")
    return flagged


def run(
    request: ErasureRequest,
    now: datetime,
    wait: Callable[[list[Any]], None],
) -> Ledger:
    """Carry out ``request`` (see the module) and write its ledger; ``wait`` blocks until the commit
    requests it is given have landed (the committer applies them). Raises ValueError when the
    request names nothing."""
    from forecourt import commits
    from forecourt.privacy import erasure_objects, suppression

    if not (request.emails or request.phones or request.persons):
        raise ValueError("nothing to erase: give an e-mail, a phone or a person id")
    secret = suppression.key(create=True)
    assert secret is not None
    ledger = Ledger(request_id(request, secret), request.reason, request.source, now.isoformat())
    found = find(request)
    quarantined = sum(len(lines) for lines in found.quarantined.values())
    ledger.step("find", "lake", "done", persons=len(found.persons), records=len(found.record_ids),
                quarantined=quarantined, uploads=len(found.uploads))  # fmt: skip
    if found.emails or found.phones:
        added = suppression.add(
            pa.array(found.emails, pa.string()), pa.array(found.phones, pa.string()), request.reason,
            request.source or ledger.request_id, now,
        )  # fmt: skip
        wait([added.request])
        ledger.step("suppress", "suppressions", "added", emails=added.entries["email"],
                    phones=added.entries["phone"], shared_not_suppressed=found.shared)  # fmt: skip
    else:
        ledger.step("suppress", "suppressions", "nothing to add")
    if request.opt_out:
        ledger.step("audiences", "every platform list", "held back from the next sync (suppressed)",
                    persons=len(found.persons))  # fmt: skip
    else:
        flagged = mark_audiences(found.persons, ledger.request_id)
        ledger.step("audiences", "every platform list", "full replace on the next sync", lists=len(flagged))
        _erase_tables(found, ledger, wait, commits)
        erasure_objects.erase(found, ledger)
        from forecourt.conversions import ledger as conversions_ledger

        forgotten = conversions_ledger.forget(set(found.record_ids))  # it names leads by record id
        ledger.step("conversions", "ledger/conversions/", "their leads' entries removed", entries=forgotten)
    finished = datetime.now(now.tzinfo).replace(microsecond=0)
    ledger.finished_at = finished.isoformat()
    wait([save_ledger(ledger, finished)])
    return ledger


def _erase_tables(found: Found, ledger: Ledger, wait: Callable[[list[Any]], None], commits: Any) -> None:
    conditions = table_conditions(found)
    before = {table: remaining(table, conds) for table, conds in conditions.items()}
    requests = [
        commits.CommitRequest(table=table, upload_id=ledger.request_id, files=[], erase=conds)
        for table, conds in sorted(conditions.items())
    ]
    if requests:
        commits.send(requests)
        wait(requests)
    for table, conds in sorted(conditions.items()):
        left = remaining(table, conds)
        ledger.step("delete", table, "deleted; older snapshots expired" if not left else "rows left",
                    rows_before=before[table], rows_left=left)  # fmt: skip


REQUEST_PREFIX = "privacy/requests/"
"""Where a request object is dropped in the lake bucket (the erasure function's trigger)."""


def parse_request(body: bytes, default_country: str = "US") -> ErasureRequest:
    """An ``ErasureRequest`` from a JSON request object (``{"source", "emails", "phones", "persons",
    "opt_out", "country"}``), its e-mails and phones normalized as the lake stores them. Raises
    ValueError naming an invalid value by its position (never the value)."""
    from forecourt.audiences import people

    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a request is a JSON object")
    source = str(data.get("source") or "")
    if not source or "@" in source or sum(ch.isdigit() for ch in source) >= 7:
        raise ValueError("source must name the request (a ticket id), never an e-mail or phone")
    emails = [str(e) for e in data.get("emails") or []]
    phones = [str(p) for p in data.get("phones") or []]
    given = pa.table({"email": emails + [None] * len(phones), "phone": [None] * len(emails) + phones},
                     schema=pa.schema([("email", pa.string()), ("phone", pa.string())]))  # fmt: skip
    prepared = people.prepare(given, default_country=str(data.get("country") or default_country))
    labels = [f"emails[{i}]" for i in range(len(emails))] + [f"phones[{i}]" for i in range(len(phones))]
    bad = [label for label, issues in zip(labels, prepared["issues"].to_pylist(), strict=True)
           if issues and any(i.split(":")[0] in ("email", "phone") for i in issues.split(","))]  # fmt: skip
    if bad:
        raise ValueError("not a valid e-mail or phone: " + ", ".join(bad))
    return ErasureRequest(
        emails=tuple(sorted({e for e in prepared["email"].to_pylist() if e})),
        phones=tuple(sorted({p for p in prepared["phone"].to_pylist() if p})),
        persons=tuple(sorted({str(p) for p in data.get("persons") or [] if p})),
        opt_out=bool(data.get("opt_out")),
        source=source,
    )


def run_request_object(bucket: str, key: str, now: datetime, wait: Callable[[list[Any]], None]) -> Ledger:
    """Carry out the request object ``key`` (``parse_request``), then delete it, every version: it
    names the person. Raises ValueError for an invalid request (the object is kept for a person to
    see)."""
    from forecourt import aws, lake

    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    ledger = run(parse_request(body), now, wait)
    aws.client("s3").delete_object(Bucket=bucket, Key=key)
    lake.delete_versions(bucket, key, keep=None)
    return ledger
