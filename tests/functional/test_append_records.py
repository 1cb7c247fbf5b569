"""Small record batches of the real-time functions reach a lake table through the committer."""

from __future__ import annotations

from datetime import UTC, date, datetime

from conftest import LocalAws


def test_a_batch_is_committed_once_even_when_written_twice(local_aws: LocalAws) -> None:
    from forecourt import catalog, commits

    at = datetime(2026, 11, 2, 15, tzinfo=UTC)
    rows = [
        {"upload_id": "rt-batch-1", "dealer_id": "D1", "object_key": "k", "received_at": at}
        | {"reason_code": "x", "message": m}
        for m in ("first", "second")
    ]
    for _ in range(2):  # a redelivered batch replaces its rows
        request = commits.append_records("quarantine", rows, "rt-batch-1", date(2026, 11, 2))
        assert len(request.files) == 1
        local_aws.drain_commits()
    found = catalog.load("quarantine").scan(row_filter="upload_id == 'rt-batch-1'").to_arrow()
    assert sorted(found.column("message").to_pylist()) == ["first", "second"]
