"""Turn parsed source records into rows of a dataset: map, normalize, check the minimum contract.

Everything here is column-wise (pyarrow.compute); per-row Python runs only for the rows that go to
quarantine (to write their message) and for the record-id hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from operator import methodcaller
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from forecourt import schemas
from forecourt.feeds import ColumnMap, FeedProfile, fold
from forecourt.formats import RejectedRecord, SourceBatch
from forecourt.normalize import Locale, normalize_column
from forecourt.reasons import QuarantineReason, field_issue

if TYPE_CHECKING:
    from forecourt.privacy.suppression import ErasedList

META_COLUMNS = frozenset(
    {
        "record_id",
        "upload_id",
        "dealer_id",
        "feed",
        "source_system",
        "received_at",
        "source_line",
        "field_issues",
        "extras",
    }
)
MAX_RAW_CHARS = 65_536
NORMALIZE_THREADS = 2
"""Columns normalized at once: pyarrow's kernels run without the GIL, so a second thread nearly
halves the time on two cores (``bench/ingest_bench.py``); one core normalizes one at a time."""


@dataclass(frozen=True)
class UploadMeta:
    """What every row of one upload shares."""

    upload_id: str
    dealer_id: str
    object_key: str
    received_at: datetime


@dataclass
class QuarantineRow:
    """One rejected record, before it becomes a row of the quarantine table."""

    source_line: int | None
    reason: QuarantineReason
    field: str | None
    message: str
    raw_record: str


@dataclass
class CuratedBatch:
    """What one source batch became."""

    tables: dict[str, pa.Table]
    """Per dataset, every row of the batch: the quarantined ones are there too, dropped by ``keep``."""
    keep: pa.Array | None
    """Which rows of ``tables`` are curated; None when all are."""
    quarantined: list[QuarantineRow]
    field_issues: Counter[str]
    rows_in: int

    def curated_tables(self) -> dict[str, pa.Table]:
        """Per dataset, the curated rows only."""
        if self.keep is None:
            return self.tables
        return {name: table.filter(self.keep) for name, table in self.tables.items()}


@dataclass
class Curator:
    """Curates the batches of one upload for one feed profile; remembers schema drift across batches."""

    profile: FeedProfile
    meta: UploadMeta
    locale: Locale
    ignored_columns: set[str] = field(default_factory=set)
    seen_columns: set[str] = field(default_factory=set)
    erased: ErasedList | None = None
    """The erased identifiers (``suppression.erased_list``): a row naming one is quarantined as
    ``suppressed``, its raw record blanked. None: nothing erased, nothing hashed."""
    _constants: dict[tuple[object, pa.DataType], pa.Array] = field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def datasets(self) -> list[schemas.Dataset]:
        return [schemas.get(n) for n in [self.profile.dataset, *self.profile.companions]]

    @property
    def missing_columns(self) -> list[str]:
        """Dataset columns the feed maps that no source field of the file filled (drift, for the upload
        record), named by the feed's first source field for them; aliases never seen are not drift."""
        sources_by_target: dict[str, list[str]] = {}
        for src in self.profile.columns:
            sources_by_target.setdefault(self.profile.column_map(src).to, []).append(src)
        return sorted(
            sources[0]
            for sources in sources_by_target.values()
            if not any(fold(src) in self.seen_columns for src in sources)
        )

    def curate(self, batch: SourceBatch) -> CuratedBatch:
        """Map, normalize and validate one batch; returns curated tables per dataset and quarantined rows."""
        source = batch.columns
        bound = self._bind(source.column_names)
        primary = self.datasets[0]
        rows = source.num_rows
        columns, invalid, issues = self._normalize_all(source, bound)
        summary = self._summary_mask(source)
        reason, reason_field = _contract_failures(primary, columns, invalid, rows)
        suppressed = self._suppressed(columns, rows)
        reject = pc.or_(pc.or_(pc.is_valid(reason), summary), suppressed)
        quarantined = self._quarantine_rows(batch, reject, reason, reason_field, summary, suppressed)
        keep = pc.invert(reject)
        dropped = bool(quarantined)
        # the tables hold every row; the writer drops the quarantined ones as it sorts a row group
        bound_headers = {header for header, _ in bound}
        extras = _extras(source.select([n for n in source.column_names if n not in bound_headers]), keep)
        issue_lists = _issue_lists(issues, rows)
        tables = {
            dataset.name: self._assemble(dataset, columns, batch.source_lines, extras, issue_lists, rows)
            for dataset in self.datasets
        }
        counts = _count_issues(issues, keep)
        quarantined += [_rejected_row(r) for r in batch.rejected]
        rows_in = rows + len(batch.rejected)
        return CuratedBatch(tables, keep if dropped else None, quarantined, counts, rows_in)

    def _bind(self, headers: list[str]) -> list[tuple[str, ColumnMap]]:
        """(source header, mapping) pairs for the headers of this batch; a header with ``also`` columns
        yields one pair per target column."""
        by_fold = self.profile.mapping_by_folded_name()
        bound: list[tuple[str, ColumnMap]] = []
        for header in headers:
            key = fold(header)
            self.seen_columns.add(key)
            if key in by_fold:
                mapping = by_fold[key]
                bound.append((header, mapping))
                bound += [(header, ColumnMap(to=extra)) for extra in mapping.also]
            elif header != "extras":
                self.ignored_columns.add(header)
        return bound

    def _normalize_all(
        self, source: pa.Table, bound: list[tuple[str, ColumnMap]]
    ) -> tuple[dict[str, pa.Array], dict[str, pa.Array], dict[str, pa.Array]]:
        """Normalized value, invalid mask and field-issue mask per target column."""
        by_target: dict[str, list[tuple[str, ColumnMap]]] = {}
        for header, mapping in bound:
            by_target.setdefault(mapping.to, []).append((header, mapping))
        columns: dict[str, pa.Array] = {}
        invalid: dict[str, pa.Array] = {}
        issues: dict[str, pa.Array] = {}
        targets = {c.name: c for d in self.datasets for c in d.columns}
        side_parts: dict[str, pa.Array] = {}
        results = _map_columns(lambda item: self._normalize_one(targets[item[0]], source, item[1]), by_target)
        for (target, _), (values, bad, parts) in zip(by_target.items(), results, strict=True):
            col = targets[target]
            columns[target], invalid[target] = values, bad
            issues[field_issue(target, col.normalize or "value")] = bad
            for part, part_values in parts.items():
                name = f"{target}_{part}" if f"{target}_{part}" in targets else part
                if name in targets:
                    side_parts[name] = part_values
        for name, part_values in side_parts.items():  # a column of its own wins over a split-off part
            columns[name] = pc.coalesce(columns[name], part_values) if name in columns else part_values
        for target, value in self.profile.constants.items():
            columns[target] = _repeat(value, targets[target].arrow_type, source.num_rows)
        if "country" in targets:
            given = columns.get("country", pa.nulls(source.num_rows, pa.string()))
            columns["country"] = pc.coalesce(given, pa.scalar(self.locale.country))
        return columns, invalid, issues

    def _normalize_one(
        self, col: schemas.Column, source: pa.Table, sources: list[tuple[str, ColumnMap]]
    ) -> tuple[pa.Array, pa.Array, dict[str, pa.Array]]:
        values: pa.Array | None = None
        bad: pa.Array | None = None
        parts: dict[str, pa.Array] = {}
        for header, mapping in sources:  # several source fields for one column: first usable wins
            raw = source.column(header).combine_chunks()
            result = normalize_column(
                col.normalize,
                raw,
                col.arrow_type,
                self.locale,
                invert=mapping.invert,
                formats=mapping.formats,
            )
            if values is None or bad is None:
                values, bad, parts = result.values, result.invalid, dict(result.parts)
                continue
            fill = pc.is_null(values)
            values = pc.coalesce(values, result.values)
            bad = pc.and_(bad, pc.invert(pc.is_valid(result.values)))
            for part, part_values in result.parts.items():
                parts[part] = pc.if_else(fill, part_values, parts.get(part, part_values))
        assert values is not None and bad is not None
        return values, bad, parts

    def _summary_mask(self, source: pa.Table) -> pa.Array:
        rows = source.num_rows
        if not self.profile.summary_row_prefixes or not source.num_columns:
            return _repeat(False, pa.bool_(), rows)
        first = pc.utf8_trim_whitespace(source.column(0).combine_chunks())
        mask = _repeat(False, pa.bool_(), rows)
        for prefix in self.profile.summary_row_prefixes:
            mask = pc.or_(mask, pc.fill_null(pc.starts_with(first, prefix), False))
        return mask

    def _assemble(
        self,
        dataset: schemas.Dataset,
        columns: dict[str, pa.Array],
        lines: pa.Array,
        extras: pa.Array,
        issue_lists: pa.Array,
        rows: int,
    ) -> pa.Table:
        meta = self.meta
        fixed: dict[str, pa.Array] = {
            "upload_id": self._constant(meta.upload_id, pa.string(), rows),
            "dealer_id": self._constant(meta.dealer_id, pa.string(), rows),
            "feed": self._constant(self.profile.name, pa.string(), rows),
            "source_system": self._constant(self.profile.source_system, pa.string(), rows),
            "received_at": self._constant(meta.received_at, pa.timestamp("us", tz="UTC"), rows),
            "source_line": lines.cast(pa.int64()),
            "field_issues": issue_lists,
            "extras": extras,
        }
        arrays = []
        for col in dataset.columns:
            if col.name in fixed:
                arrays.append(fixed[col.name])
            elif col.name == "record_id":
                arrays.append(
                    _record_ids(dataset.name, meta.dealer_id, self.profile.source_system, columns, rows)
                )
            elif col.name in columns:
                arrays.append(columns[col.name].cast(col.arrow_type))
            else:
                arrays.append(self._constant(None, col.arrow_type, rows))
        return pa.Table.from_arrays(arrays, schema=dataset.arrow_schema())

    def _constant(self, value: object, type_: pa.DataType, rows: int) -> pa.Array:
        """``value`` on every row; the batches of an upload share one buffer per value (less memory)."""
        shared = self._constants.get((value, type_))
        if shared is None or len(shared) < rows:
            shared = self._constants[(value, type_)] = pa.repeat(pa.scalar(value, type_), rows)
        return shared.slice(0, rows)

    def _suppressed(self, columns: dict[str, pa.Array], rows: int) -> pa.Array:
        """True for the rows whose e-mail or phone columns name an erased identifier."""
        hit = _repeat(False, pa.bool_(), rows)
        if self.erased is None:
            return hit
        for kind, names in SUPPRESSION_COLUMNS.items():
            for name in names:
                if name in columns:
                    hit = pc.or_(hit, self.erased.matches(kind, columns[name]))
        return hit

    def _quarantine_rows(
        self,
        batch: SourceBatch,
        reject: pa.Array,
        reason: pa.Array,
        reason_field: pa.Array,
        summary: pa.Array,
        suppressed: pa.Array,
    ) -> list[QuarantineRow]:
        indices = pc.indices_nonzero(reject)
        if not len(indices):
            return []
        picked = batch.columns.take(indices)
        names = picked.column_names
        values = zip(*(column.to_pylist() for column in picked.columns), strict=True)
        lines = batch.source_lines.take(indices).to_pylist()
        reasons = reason.take(indices).to_pylist()
        fields = reason_field.take(indices).to_pylist()
        summaries = summary.take(indices).to_pylist()
        erased = suppressed.take(indices).to_pylist()
        rows = []
        for record, line, code, fld, is_summary, is_erased in zip(
            values, lines, reasons, fields, summaries, erased, strict=True
        ):
            if is_erased:  # a person who was erased: nothing of the record is kept
                rows.append(QuarantineRow(line, SUPPRESSED, None, _message(SUPPRESSED.value, None), ""))
                continue
            raw = _to_json({k: v for k, v in zip(names, record, strict=True) if v not in (None, "")})
            reason_code, where = (
                (QuarantineReason.REPORT_SUMMARY_ROW.value, None) if is_summary else (code, fld)
            )
            rows.append(
                QuarantineRow(
                    line,
                    QuarantineReason(reason_code),
                    where,
                    _message(reason_code, where),
                    raw[:MAX_RAW_CHARS],
                )
            )
        return rows


_to_json = json.JSONEncoder(ensure_ascii=False).encode
"""``json.dumps(value, ensure_ascii=False)`` without building an encoder per call."""


def _map_columns(function: Callable[[Any], Any], items: dict[str, Any]) -> Iterable[Any]:
    """``function`` over ``items.items()`` in order, on ``NORMALIZE_THREADS`` threads when the
    machine has as many cores."""
    threads = min(NORMALIZE_THREADS, os.cpu_count() or 1)
    if threads < 2 or len(items) < 2:
        return map(function, items.items())
    return _pool(threads).map(function, items.items())


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """One pool per process, kept across batches and invocations."""
    return ThreadPoolExecutor(threads, thread_name_prefix="normalize")


def _contract_failures(
    dataset: schemas.Dataset, columns: dict[str, pa.Array], invalid: dict[str, pa.Array], rows: int
) -> tuple[pa.Array, pa.Array]:
    """Per row: the first contract failure's reason code and field (null where the row passes).

    Both come back dictionary-encoded: the checks are combined as small integers (which check failed
    first, and whether its value was there but unreadable), never as strings per row."""
    checks: list[tuple[pa.Array, pa.Array | None, str, QuarantineReason]] = []
    for name in dataset.contract.required:
        checks.append((_absent(columns, name, rows), invalid.get(name), name, _MISSING))
    for group in dataset.contract.any_of:
        usable = _repeat(False, pa.bool_(), rows)
        for name in group:
            if name in columns:
                usable = pc.or_(usable, pc.is_valid(columns[name]))
        checks.append((pc.invert(usable), None, "|".join(group), QuarantineReason.MISSING_ONE_OF))
    for name, conditions in dataset.contract.required_when.items():
        absent = _absent(columns, name, rows)
        for other, values in conditions.items():
            applies = columns.get(other, pa.nulls(rows, pa.string()))
            applies = pc.fill_null(pc.is_in(applies, value_set=pa.array(values, applies.type)), False)
            checks.append((pc.and_(applies, absent), invalid.get(name), name, _MISSING))
    codes = [*dict.fromkeys([_MISSING.value, _INVALID.value, *(code.value for *_, code in checks)])]
    first = pa.nulls(rows, pa.int16())  # index of the first failing check
    code = pa.nulls(rows, pa.int8())  # index into codes of its reason
    for index, (failed, was_bad, _, reason) in reversed(list(enumerate(checks))):
        this = pa.scalar(codes.index(reason.value), pa.int8())
        if was_bad is not None and reason is _MISSING:
            this = pc.if_else(was_bad, pa.scalar(codes.index(_INVALID.value), pa.int8()), this)
        first = pc.if_else(failed, pa.scalar(index, pa.int16()), first)
        code = pc.if_else(failed, this, code)
    names = pa.array([name for _, _, name, _ in checks] or [""], pa.string())
    return (
        pa.DictionaryArray.from_arrays(code, pa.array(codes, pa.string())),
        pa.DictionaryArray.from_arrays(first, names),
    )


_MISSING = QuarantineReason.MISSING_REQUIRED_FIELD
SUPPRESSED = QuarantineReason.SUPPRESSED
SUPPRESSION_COLUMNS = {
    "email": ("email", "alternate_email"),
    "phone": ("phone", "mobile_phone", "home_phone", "alternate_phone"),
}
"""The columns checked against the erased list, by kind (those a dataset has)."""
_INVALID = QuarantineReason.INVALID_REQUIRED_FIELD


def _absent(columns: dict[str, pa.Array], name: str, rows: int) -> pa.Array:
    return pc.is_null(columns[name]) if name in columns else _repeat(True, pa.bool_(), rows)


def _message(code: str, fld: str | None) -> str:
    if code == QuarantineReason.MISSING_REQUIRED_FIELD:
        return f"required field {fld} is empty or absent"
    if code == QuarantineReason.INVALID_REQUIRED_FIELD:
        return f"required field {fld} has a value that cannot be read"
    if code == QuarantineReason.MISSING_ONE_OF:
        return f"none of {(fld or '').replace('|', ', ')} is usable; at least one is required"
    if code == QuarantineReason.SUPPRESSED:
        return "names a person who was erased (suppression list); the record is not kept"
    return "report totals line, not a record"


def _rejected_row(rejected: RejectedRecord) -> QuarantineRow:
    return QuarantineRow(
        rejected.source_line, rejected.reason, None, rejected.message, rejected.raw[:MAX_RAW_CHARS]
    )


def _record_ids(dataset: str, dealer: str, system: str, columns: dict[str, pa.Array], rows: int) -> pa.Array:
    """Hash of dataset, dealer, source system and source key; of the normalized content without a key.

    The hash input is built column-wise; only the BLAKE2b digest runs per row (about 0.7 µs), and the
    digests are turned into hex in one piece."""
    prefix = f"{dataset}\x00{dealer}\x00{system}\x00"
    keys = columns.get("source_key", pa.nulls(rows, pa.string()))
    keyed = pc.binary_join_element_wise(pa.scalar(prefix + "k\x00"), keys, "")
    if keys.null_count:
        names = sorted(n for n in columns if n not in META_COLUMNS)
        parts = [pc.fill_null(columns[n].cast(pa.string()), "\x01") for n in names]
        content = pc.binary_join_element_wise(pa.scalar(prefix + "c"), *parts, "\x00")
        keyed = pc.coalesce(keyed, content)
    digest = partial(hashlib.blake2b, digest_size=16)
    digests = b"".join(map(methodcaller("digest"), map(digest, keyed.cast(pa.binary()).to_pylist())))
    width = 2 * 16  # hex characters of one digest
    offsets = pc.cumulative_sum(pa.repeat(pa.scalar(width, pa.int32()), rows + 1))
    offsets = pc.subtract(offsets, pa.scalar(width, pa.int32()))
    hexes = digests.hex().encode("ascii")
    return pa.StringArray.from_buffers(rows, offsets.buffers()[1], pa.py_buffer(hexes))


def _extras(unmapped: pa.Table, keep: pa.Array) -> pa.Array:
    """JSON object of the non-empty ``unmapped`` source fields per row (null when there are none, and
    on the rows not kept)."""
    if not unmapped.num_columns:
        return pa.nulls(unmapped.num_rows, pa.string())
    out: list[str | None] = []
    for record, keeping in zip(unmapped.to_pylist(), keep.to_pylist(), strict=True):
        if not keeping:
            out.append(None)
            continue
        kept = {k: v for k, v in record.items() if v not in (None, "")}
        if "extras" in kept and isinstance(kept["extras"], str):
            kept.update(json.loads(kept.pop("extras")))
        out.append(_to_json(kept) if kept else None)
    return pa.array(out, pa.string())


def _issue_lists(issues: dict[str, pa.Array], rows: int) -> pa.Array:
    """Per row, the list of 'field:reason' labels of nulled optional values (built column-wise)."""
    counts = pa.repeat(pa.scalar(0, pa.int32()), rows)
    positions: list[pa.Array] = []
    labels: list[pa.Array] = []
    for label, mask in issues.items():
        hits = pc.indices_nonzero(mask)
        if len(hits):
            counts = pc.add(counts, pc.cast(mask, pa.int32()))
            positions.append(hits)
            labels.append(pa.repeat(pa.scalar(label), len(hits)))
    offsets = (
        pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(counts)])
        if rows
        else pa.array([0], pa.int32())
    )
    if not positions:
        return pa.ListArray.from_arrays(offsets, pa.array([], pa.string()))
    order = pc.array_sort_indices(pa.concat_arrays(positions), order="ascending")
    values = pa.concat_arrays(labels).take(order)
    return pa.ListArray.from_arrays(offsets, values)


def _count_issues(issues: dict[str, pa.Array], keep: pa.Array) -> Counter[str]:
    counts: Counter[str] = Counter()
    for label, mask in issues.items():
        n = pc.sum(pc.and_(mask, keep)).as_py() or 0
        if n:
            counts[label] = n
    return counts


def _repeat(value: object, type_: pa.DataType, rows: int) -> pa.Array:
    """A column holding ``value`` on every row."""
    return pa.repeat(pa.scalar(value, type_), rows)
