"""The suppression list (ARCHITECTURE §6 ``privacy``; issue 6): e-mails and phones never to be sent
to an advertising platform again, kept without the identifiers themselves.

Each entry is a keyed hash: HMAC-SHA256, lowercase hex, of ``email:<address>`` or ``phone:<E.164>``,
normalized exactly as the lake stores them (``normalize_column``), under a key kept in Secrets
Manager (``<secret prefix>/suppression-key``, made on the first ``add``). A plain SHA-256 of an
e-mail can be reversed by hashing candidate addresses; without the key the list cannot be, so it
may be kept, and copied into backups, after everything else about the person is gone. The key
must never rotate: a new key would make every entry unrecognizable.

Entries live in the ``suppressions`` table, one commit per ``add`` (its batch id is derived from
its content, so adding the same entries again replaces them instead of doubling them). The audience
build asks ``suppressed_persons`` which persons have an e-mail or phone on the list; the consent
gate keeps them back as ``suppressed``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from forecourt.config import settings

KINDS = ("email", "phone")
REASONS = ("erasure", "do_not_contact", "opt_out")
"""Why an entry is on the list: an erasure request, a request never to be contacted (or advertised
to) again, an opt-out recorded outside the feeds."""


def key_name() -> str:
    """The Secrets Manager name of the list's key: ``<prefix>/suppression-key``."""
    return f"{settings().secret_prefix}/suppression-key"


def key(*, create: bool = False) -> bytes | None:
    """The list's key; None when it does not exist (then nothing was ever suppressed) and ``create``
    is false; made when ``create`` is true."""
    from forecourt import rotating_secret

    if create:
        rotating_secret.create(
            key_name(),
            "Forecourt: keys the suppression list's hashes; never rotate it (the list would be lost)",
        )
    try:
        return rotating_secret.values(key_name())[0].encode("utf-8")
    except rotating_secret.SecretMissing:
        return None


def keyed_hashes(kind: str, values: pa.Array | pa.ChunkedArray, secret: bytes) -> pa.Array:
    """HMAC-SHA256 hex of ``<kind>:<value>`` for each normalized value; null and empty stay null.
    Each distinct value is hashed once (``hashing.hex_digests``)."""
    from forecourt.audiences.hashing import hex_digests

    prefix = f"{kind}:".encode()
    return hex_digests(values, lambda value: hmac.new(secret, prefix + value, hashlib.sha256).hexdigest())


@dataclass(frozen=True)
class Added:
    """What one ``add`` put on the list."""

    batch: str
    entries: dict[str, int]
    """Kind → entries (distinct identifiers) added."""
    request: object


def add(emails: pa.Array, phones: pa.Array, reason: str, source: str, now: datetime) -> Added:
    """Put the (normalized) ``emails`` and ``phones`` on the list and queue the commit; makes the
    key when there is none. Raises ValueError for an unknown reason or nothing to add."""
    from forecourt import commits
    from forecourt.lake import stable_hash

    if reason not in REASONS:
        raise ValueError(f"unknown reason {reason!r}; one of {', '.join(REASONS)}")
    secret = key(create=True)
    assert secret is not None  # made above
    parts, counts = [], {}
    for kind, values in (("email", emails), ("phone", phones)):
        hashed = pc.unique(keyed_hashes(kind, values, secret).drop_null())
        counts[kind] = len(hashed)
        parts.append(
            pa.table({"identifier_hash": hashed, "identifier": pa.repeat(pa.scalar(kind), len(hashed))})
        )
    found = pa.concat_tables(parts).sort_by("identifier_hash")
    if not found.num_rows:
        raise ValueError("no e-mail or phone to suppress")
    batch = "suppress-" + stable_hash(reason, source, *found["identifier_hash"].to_pylist())[:24]
    n = found.num_rows
    ts = pa.timestamp("us", tz="UTC")
    rows = found.append_column("upload_id", pa.repeat(pa.scalar(batch), n))
    rows = rows.append_column("reason", pa.repeat(pa.scalar(reason), n))
    rows = rows.append_column("source", pa.repeat(pa.scalar(source), n))
    rows = rows.append_column("added_at", pa.repeat(pa.scalar(now, ts), n))
    rows = rows.append_column("received_at", pa.repeat(pa.scalar(now, ts), n))
    request = commits.write_table("suppressions", rows, batch, now.date())
    commits.send([request])
    if reason == "erasure":
        add_erased(found["identifier_hash"].combine_chunks())
    return Added(batch=batch, entries=counts, request=request)


ERASED_KEY = "suppression/erased.parquet"
"""The keyed hashes of every erased identifier, one sorted column, in the lake bucket: what ingest
checks each upload against (one GET, no catalog), rewritten by each erasure."""
_ERASED_ATTEMPTS = 8


@dataclass(frozen=True)
class ErasedList:
    """The erased identifiers as ingest checks them: the key and the list's keyed hashes."""

    secret: bytes
    hashes: pa.Array

    def matches(self, kind: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """True where a (normalized) value of ``kind`` is on the list; null never is."""
        hashed = keyed_hashes(kind, values, self.secret)
        return pc.fill_null(pc.is_in(hashed, value_set=self.hashes), False)


_erased_cache: dict[str, tuple[str, pa.Array]] = {}
"""Bucket → (ETag, hashes) of the list last read: a warm ingest asks S3 only whether it changed."""


def _read_erased() -> tuple[pa.Array, str | None]:
    """The list's hashes and its ETag (None when there is no list yet): a conditional GET, the
    body read only when the list changed since this process last read it."""
    import io

    import pyarrow.parquet as pq
    from botocore.exceptions import ClientError

    from forecourt import aws

    s3, bucket = aws.client("s3"), settings().lake_bucket
    cached = _erased_cache.get(bucket)
    condition = {"IfNoneMatch": cached[0]} if cached else {}
    try:
        answer = s3.get_object(Bucket=bucket, Key=ERASED_KEY, **condition)
    except s3.exceptions.NoSuchKey:
        _erased_cache.pop(bucket, None)
        return pa.array([], pa.string()), None
    except ClientError as exc:
        if cached and exc.response.get("Error", {}).get("Code") in ("304", "NotModified"):
            return cached[1], cached[0]
        raise
    hashes = pq.read_table(io.BytesIO(answer["Body"].read()))["identifier_hash"].combine_chunks()
    _erased_cache[bucket] = (str(answer["ETag"]), hashes)
    return hashes, str(answer["ETag"])


def add_erased(hashes: pa.Array) -> int:
    """Add keyed hashes to the erased list (a conditional write: two erasures at once both land);
    returns the list's size."""
    import io

    import pyarrow.parquet as pq
    from botocore.exceptions import ClientError

    from forecourt import aws

    s3 = aws.client("s3")
    for _ in range(_ERASED_ATTEMPTS):
        current, etag = _read_erased()
        merged = pc.unique(pa.concat_arrays([current, hashes.cast(pa.string())])).sort()
        body = io.BytesIO()
        pq.write_table(pa.table({"identifier_hash": merged}), body, compression="zstd")
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            s3.put_object(Bucket=settings().lake_bucket, Key=ERASED_KEY, Body=body.getvalue(), **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                continue
            raise
        return len(merged)
    raise RuntimeError("the erased list kept changing under us; run the erasure again")


def erased_list() -> ErasedList | None:
    """The erased identifiers, for ingest: None when nothing was ever erased (then no row is hashed).
    One GET of the list; the key is read only when the list is not empty."""
    hashes, _ = _read_erased()
    if not len(hashes):
        return None
    secret = key()
    return ErasedList(secret, hashes) if secret is not None else None


COLUMNS = {
    "email": ("email", "alternate_email"),
    "phone": ("phone", "mobile_phone", "home_phone", "alternate_phone"),
}
"""The columns of a person's records that ``suppressed_persons`` checks, by kind (those present)."""


def suppressed_persons(records: pa.Table) -> pa.Array:
    """The ``person_id`` of every record of ``records`` (``person_id`` and any of ``COLUMNS``, as the
    lake normalizes them) with an e-mail or phone on the list, unique and sorted."""
    from forecourt import analytics

    none = pa.array([], pa.string())
    secret = key()
    if secret is None or not records.num_rows:
        return none
    listed = analytics.run_query("SELECT DISTINCT identifier_hash FROM suppressions").to_arrow()
    if not listed.num_rows:
        return none
    on_list = listed["identifier_hash"].combine_chunks()
    hit = pa.array([False] * records.num_rows, pa.bool_())
    for kind, names in COLUMNS.items():
        for name in names:
            if name in records.column_names:
                hashed = keyed_hashes(kind, records[name], secret)
                hit = pc.or_(hit, pc.fill_null(pc.is_in(hashed, value_set=on_list), False))
    return pc.unique(records["person_id"].filter(hit)).sort()
