"""Compaction (issue 7): a partition's small files become one sorted file in one commit through the
commit queue, without losing or doubling a row, beside ingest commits, replays and reruns.

Each test works in a partition (a day of ``received_at``) of ``lead_events`` that no other test uses:
compaction rewrites whole partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from conftest import LocalAws, committer

TABLE = "lead_events"


def _rows(upload: str, day: date, dealers: list[str], start: int) -> list[dict[str, Any]]:
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return [
        {
            "record_id": f"{upload}-{i}",
            "upload_id": upload,
            "dealer_id": dealer,
            "feed": "crm-events",
            "source_system": "test-crm",
            "received_at": at + timedelta(minutes=i),
            "source_line": i,
            "event_type": "contacted",
            "occurred_at": at - timedelta(hours=(start + i) % 7),
        }
        for i, dealer in enumerate(dealers)
    ]


def _ingest(local_aws: LocalAws, upload: str, day: date, dealers: list[str], start: int = 0) -> Any:
    """An upload's rows as one small data file, committed as ingest commits them."""
    from forecourt import commits

    request = commits.append_records(TABLE, _rows(upload, day, dealers, start), upload, day)
    local_aws.drain_commits()
    return request


def _files(day: date) -> set[str]:
    from forecourt import catalog

    snapshot_files = {t.file.file_path for t in catalog.load(TABLE).scan().plan_files()}
    return {path for path in snapshot_files if f"received_day={day.isoformat()}/" in path}


def _partition(day: date) -> Any:
    from forecourt import catalog

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    expression = (
        f"received_at >= '{start.isoformat()}' AND received_at < '{(start + timedelta(days=1)).isoformat()}'"
    )
    return catalog.load(TABLE).scan(row_filter=expression).to_arrow()


def _options(day: date, **more: Any) -> Any:
    from forecourt.compact import CompactionOptions

    return CompactionOptions(tables=[TABLE], days=[day], min_age_minutes=0, **more)


def _run(local_aws: LocalAws, day: date, **more: Any) -> Any:
    from forecourt import commits, compact

    def wait(pending: list[Any]) -> None:
        local_aws.drain_commits()
        assert all(commits.landed(request) for request in pending)

    return compact.run(datetime.now(UTC), _options(day, **more), wait)


def test_small_files_become_one_sorted_file_with_every_row_once_and_a_rerun_changes_nothing(
    local_aws: LocalAws,
) -> None:
    from forecourt import catalog, compact

    day = date(2031, 1, 5)
    for n, dealers in enumerate([["D9", "D1", "D5"], ["D1", "D3"], ["D7", "D2", "D1", "D4"]]):
        _ingest(local_aws, f"cmp-a-{n}", day, dealers, start=n)
    small = _files(day)
    before = compact.fingerprint(TABLE, small)
    assert (before.rows, len(small)) == (9, 3)

    [result] = _run(local_aws, day)

    [group] = result.groups
    assert (group["files_in"], group["files_out"], group["rows"], group["outcome"]) == (3, 1, 9, "applied")
    [big] = _files(day)
    assert compact.fingerprint(TABLE, [big]) == before
    rows = _partition(day).sort_by([("record_id", "ascending")])
    assert rows.num_rows == 9
    import pyarrow.parquet as pq
    from forecourt import aws

    written = pq.read_table(big.removeprefix("s3://"), filesystem=aws.s3_filesystem())
    keys = list(zip(written["dealer_id"].to_pylist(), written["occurred_at"].to_pylist(), strict=True))
    assert keys == sorted(keys)  # dealer, then event time
    snapshot = catalog.load(TABLE).current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary["forecourt.compaction"] == group["compaction_id"]

    [again] = _run(local_aws, day)  # a rerun: one file is left alone
    assert again.groups == []
    current = catalog.load(TABLE).current_snapshot()
    assert current is not None and current.snapshot_id == snapshot.snapshot_id


def test_an_upload_committed_during_the_compaction_is_kept(local_aws: LocalAws) -> None:
    from forecourt import commits, compact

    day = date(2031, 1, 6)
    for n in range(3):
        _ingest(local_aws, f"cmp-b-{n}", day, ["D1", "D2"], start=n)
    before = compact.fingerprint(TABLE, _files(day))
    [group] = compact.plan(TABLE, _options(day), datetime.now(UTC))
    request = compact.rewrite(group, _options(day))  # the job writes while ingest commits…
    late = _ingest(local_aws, "cmp-b-late", day, ["D3", "D1", "D4"])
    commits.send([request])  # …then the compaction commit comes through the same queue
    local_aws.drain_commits()

    assert compact.outcome(request) == "applied"
    assert _files(day) == set(request.files) | set(late.files)
    assert compact.fingerprint(TABLE, request.files) == before
    assert _partition(day).num_rows == 6 + 3


def test_an_upload_replayed_after_compaction_replaces_its_rows(local_aws: LocalAws) -> None:
    from forecourt import compact

    day = date(2031, 1, 7)
    for n in range(3):
        _ingest(local_aws, f"cmp-c-{n}", day, ["D1", "D2", "D3"], start=n)
    before = compact.fingerprint(TABLE, _files(day))
    _run(local_aws, day)
    assert len(_files(day)) == 1

    _ingest(local_aws, "cmp-c-1", day, ["D1", "D2", "D3"], start=1)  # the same upload again

    assert compact.fingerprint(TABLE, _files(day)) == before
    assert _partition(day).num_rows == 9


def test_a_compaction_whose_files_were_rewritten_meanwhile_changes_nothing(local_aws: LocalAws) -> None:
    from forecourt import aws, commits, compact

    day = date(2031, 1, 8)
    for n in range(3):
        _ingest(local_aws, f"cmp-d-{n}", day, ["D1", "D2"], start=n)
    [group] = compact.plan(TABLE, _options(day), datetime.now(UTC))
    request = compact.rewrite(group, _options(day))
    _ingest(local_aws, "cmp-d-0", day, ["D5"])  # a replay rewrites the partition first: one row now
    files = _files(day)
    commits.send([request])
    local_aws.drain_commits()

    assert compact.outcome(request) == "stale"
    assert _files(day) == files
    assert _partition(day).num_rows == 1 + 2 + 2
    fs = aws.s3_filesystem()  # the files it wrote are gone
    assert all(info.size is None for info in fs.get_file_info([p[5:] for p in request.files]))


def test_a_compaction_redelivered_after_later_commits_keeps_its_outcome_and_its_files(
    local_aws: LocalAws,
) -> None:
    """The committer applied a compaction, then died before SQS heard; a replay rewrote the
    compacted file meanwhile. The redelivered request must not take itself for stale and delete the
    files it wrote (snapshots between the two commits still reference them)."""
    from forecourt import aws, commits, compact

    day = date(2031, 1, 10)
    for n in range(3):
        _ingest(local_aws, f"cmp-e-{n}", day, ["D1", "D2"], start=n)
    [group] = compact.plan(TABLE, _options(day), datetime.now(UTC))
    request = compact.rewrite(group, _options(day))
    commits.send([request])
    local_aws.drain_commits()
    assert compact.outcome(request) == "applied"
    _ingest(local_aws, "cmp-e-1", day, ["D7"])  # a replay rewrites the compacted file
    rows = _partition(day).num_rows

    assert compact.apply(request) == "applied"  # the redelivery, as the committer gets it

    fs = aws.s3_filesystem()
    assert all(info.size for info in fs.get_file_info([p[5:] for p in request.files]))
    assert compact.outcome(request) == "applied"
    assert _partition(day).num_rows == rows == 2 + 1 + 2


def test_data_files_no_snapshot_references_are_swept_once_no_request_can_still_name_them(
    local_aws: LocalAws,
) -> None:
    """An attempt killed between writing its files and committing them leaves them in data/: the
    run deletes them once older than a commit request can wait (4 days queued, 14 dead-lettered)."""
    from forecourt import aws, commits, compact

    day = date(2031, 1, 11)
    committed = _ingest(local_aws, "cmp-o-1", day, ["D1", "D2"])
    orphan = commits.write_records(TABLE, _rows("cmp-o-2", day, ["D3"], 0), "cmp-o-2", day)  # never committed
    fs = aws.s3_filesystem()

    def there(paths: list[str]) -> list[bool]:
        return [info.size is not None for info in fs.get_file_info([p[5:] for p in paths])]

    def wait(pending: list[Any]) -> None:
        local_aws.drain_commits()
        assert all(commits.landed(request) for request in pending)

    options = _options(day, expire_days=10_000)
    today = compact.summarize(compact.run(datetime.now(UTC), options, wait))
    assert today["orphan_files_deleted"] == 0 and all(there(orphan.files))  # it may still be committed
    later = compact.summarize(compact.run(datetime.now(UTC) + timedelta(days=31), options, wait))
    assert later["orphan_files_deleted"] >= 1
    assert not any(there(orphan.files)) and all(there(committed.files))
    assert _partition(day).num_rows == 2


def test_the_scheduled_function_compacts_and_expires_the_files_compacted_away(local_aws: LocalAws) -> None:
    from forecourt import aws, catalog, compact
    from forecourt.local.pump import LambdaContext, load_handler

    day = date(2031, 1, 9)
    for n in range(2):
        _ingest(local_aws, f"cmp-e-{n}", day, ["D1", "D2"], start=n)
    small = _files(day)
    before = compact.fingerprint(TABLE, small)
    event = {"tables": [TABLE], "days": [day.isoformat()], "min_age_minutes": 0, "expire_days": 0}

    with committer(local_aws):  # the commit function, beside the job, as on AWS
        summary = load_handler("compact")(event, LambdaContext("compact"))

    assert summary | {"bytes_in": 0, "bytes_out": 0} == {
        "partitions_compacted": 1,
        "partitions_stale": 0,
        "partitions_left": 0,
        "files_in": 2,
        "files_out": 1,
        "bytes_in": 0,
        "bytes_out": 0,
        "rows": 4,
        "tables_expired": [TABLE],
        "orphan_files_deleted": 0,  # none 30 days old
    }
    assert len(catalog.load(TABLE).snapshots()) == 1
    fs = aws.s3_filesystem()
    assert all(info.size is None for info in fs.get_file_info([p[5:] for p in small]))
    assert compact.fingerprint(TABLE, _files(day)) == before


def test_an_upload_committed_after_a_compaction_has_landed_though_the_compacted_file_spans_its_id(
    local_aws: LocalAws,
) -> None:
    """A compacted file holds many uploads: its upload_id bounds cover most ids, so the table's
    metadata alone cannot tell that a later upload landed (jobs and erasures wait on it)."""
    from forecourt import commits

    day = date(2031, 3, 3)
    for upload in ["cmp-l-aaaa", "cmp-l-mmmm", "cmp-l-zzzz"]:
        _ingest(local_aws, upload, day, ["D1", "D2"])
    _run(local_aws, day)
    assert len(_files(day)) == 1

    later = _ingest(local_aws, "cmp-l-pppp", date(2031, 3, 4), ["D1"])

    assert commits.landed(later)
    replayed = commits.append_records(
        TABLE, _rows("cmp-l-pppp", date(2031, 3, 4), ["D2"], 0), "cmp-l-pppp", date(2031, 3, 4)
    )
    assert not commits.landed(replayed)  # queued, not applied yet: the record still names the first files
    local_aws.drain_commits()
    assert commits.landed(replayed) and not commits.landed(later)
