"""The ingest and commit handlers against moto: real files in, Iceberg rows out."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

import pytest

HEADER = (
    "source_key,requested_at,first_name,last_name,email,phone,zip,vehicle_year,vehicle_make,vehicle_model\n"
)


def leads_csv(path: Path, rows: int, *, bad: int = 0, prefix: str = "L") -> Path:
    """A generic-leads file with ``rows`` good leads and ``bad`` leads without any contact."""
    lines = [HEADER]
    for i in range(rows):
        lines.append(
            f"{prefix}{i},2026-11-01 09:{i % 60:02d},Ann,Lee,ann{i}@example.com,(312) 555-{i % 10000:04d},60601,2024,chevy,Tahoe\n"
        )
    for i in range(bad):
        lines.append(f"{prefix}X{i},2026-11-01 10:00,Bob,Ray,,,60601,2024,Ford,F-150\n")
    path.write_text("".join(lines))
    return path


def count(sql: str) -> int:
    from forecourt import analytics

    return int(analytics.run_query(sql).rows[0][0])


def test_a_file_lands_in_leads_with_counts_that_add_up(local_aws, registered_dealers, tmp_path):
    report = local_aws.ingest_file(leads_csv(tmp_path / "web.csv", 40, bad=3), "D100")
    assert report.feed == "generic-leads" and report.feed_detected
    assert (report.rows_in, report.rows_curated, report.rows_quarantined) == (43, 40, 3)
    assert report.quarantine_reasons == {"missing_one_of": 3}
    assert count(f"SELECT count(*) FROM leads WHERE upload_id = '{report.upload_id}'") == 40
    assert count(f"SELECT count(*) FROM quarantine WHERE upload_id = '{report.upload_id}'") == 3
    row = count(
        f"SELECT rows_in - rows_curated - rows_quarantined FROM uploads WHERE upload_id = '{report.upload_id}'"
    )
    assert row == 0


def test_values_are_normalized_in_the_curated_table(local_aws, registered_dealers, tmp_path):
    from forecourt import analytics

    report = local_aws.ingest_file(leads_csv(tmp_path / "norm.csv", 1, prefix="N"), "D100")
    result = analytics.run_query(
        f"SELECT phone, vehicle_make, country, requested_at FROM leads WHERE upload_id = '{report.upload_id}'"
    )
    phone, make, country, requested = result.rows[0]
    assert (phone, make, country) == ("+13125550000", "Chevrolet", "US")
    # 09:00 in Chicago (the dealer's zone, CST in November) is 15:00 UTC
    assert requested.astimezone().utctimetuple()[3] == 15


def test_processing_the_same_object_twice_changes_nothing(local_aws, registered_dealers, tmp_path):
    from forecourt.local.pump import LambdaContext, sqs_event

    report = local_aws.ingest_file(leads_csv(tmp_path / "twice.csv", 25, prefix="T"), "D200")
    event = {"MessageId": "again", "ReceiptHandle": "r", "Body": json.dumps(_event_for(report))}
    local_aws.ingest_handler(sqs_event([event], "arn"), LambdaContext("ingest"))
    local_aws.drain_commits()
    assert count(f"SELECT count(*) FROM leads WHERE upload_id = '{report.upload_id}'") == 25
    assert count(f"SELECT count(*) FROM uploads WHERE upload_id = '{report.upload_id}'") == 1


def _event_for(report):
    from forecourt import intake

    return intake.event_for(report.bucket, report.object_key, report.object_version)


def test_a_file_from_an_unregistered_dealer_is_quarantined_whole(local_aws, registered_dealers, tmp_path):
    report = local_aws.ingest_file(leads_csv(tmp_path / "stranger.csv", 5), "D999")
    assert report.status == "rejected"
    assert report.quarantine_reasons == {"unknown_dealer": 1}
    assert (report.rows_in, report.rows_curated, report.rows_quarantined) == (1, 0, 1)
    assert count(f"SELECT count(*) FROM leads WHERE upload_id = '{report.upload_id}'") == 0


def test_one_bad_message_never_fails_its_neighbours(local_aws, registered_dealers, tmp_path):
    from forecourt import aws, intake, lake
    from forecourt.config import settings
    from forecourt.local.pump import LambdaContext, sqs_event

    bucket = settings().lake_bucket
    key = lake.raw_key("D300", date(2026, 11, 2), "neighbour.csv")
    answer = aws.client("s3").put_object(
        Bucket=bucket, Key=key, Body=leads_csv(tmp_path / "n.csv", 3, prefix="B").read_bytes()
    )
    good = {
        "MessageId": "good",
        "ReceiptHandle": "r1",
        "Body": json.dumps(intake.event_for(bucket, key, answer["VersionId"])),
    }
    garbage = {"MessageId": "garbage", "ReceiptHandle": "r2", "Body": "{not json"}
    missing = {
        "MessageId": "missing",
        "ReceiptHandle": "r3",
        "Body": json.dumps(intake.event_for(bucket, "raw/files/dealer=D300/dt=2026-11-02/gone.csv", None)),
    }
    result = local_aws.ingest_handler(sqs_event([good, garbage, missing], "arn"), LambdaContext("ingest"))
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["garbage", "missing"]
    local_aws.drain_commits()
    upload = lake.upload_id(bucket, key, answer["VersionId"])
    assert count(f"SELECT count(*) FROM leads WHERE upload_id = '{upload}'") == 3


def test_twenty_concurrent_uploads_neither_fail_nor_lose_a_row(local_aws, registered_dealers, tmp_path):
    """moto's Glue does not detect racing commits; serialized commits must still keep every row."""
    from forecourt import aws, intake, lake
    from forecourt.config import settings
    from forecourt.local.pump import LambdaContext, sqs_event

    bucket = settings().lake_bucket
    events = []
    for i in range(20):
        key = lake.raw_key("D300", date(2026, 11, 3), f"burst-{i}.csv")
        body = leads_csv(tmp_path / f"burst-{i}.csv", 30 + i, bad=1, prefix=f"C{i}-").read_bytes()
        answer = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        events.append(
            {
                "MessageId": f"c{i}",
                "ReceiptHandle": "r",
                "Body": json.dumps(intake.event_for(bucket, key, answer["VersionId"])),
            }
        )
    failures: list[object] = []

    def invoke(message: dict) -> None:
        result = local_aws.ingest_handler(sqs_event([message], "arn"), LambdaContext("ingest"))
        failures.extend(result["batchItemFailures"])

    threads = [threading.Thread(target=invoke, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    local_aws.drain_commits()
    expected = sum(30 + i for i in range(20))
    assert count("SELECT count(*) FROM leads WHERE dealer_id = 'D300' AND source_key LIKE 'C%'") == expected
    assert (
        count("SELECT count(*) FROM quarantine WHERE dealer_id = 'D300' AND object_key LIKE '%/burst-%'")
        == 20
    )
    assert (
        count(
            "SELECT sum(rows_in) - sum(rows_curated) - sum(rows_quarantined) FROM uploads WHERE object_key LIKE '%/burst-%'"
        )
        == 0
    )
    assert count("SELECT count(*) FROM uploads WHERE object_key LIKE '%/burst-%'") == 20


@pytest.mark.parametrize("junk", [b"", b"\x00\x01\x02\x03" * 100])
def test_an_unreadable_file_is_quarantined_whole_with_its_reason(
    local_aws, registered_dealers, tmp_path, junk
):
    path = tmp_path / "junk.csv"
    path.write_bytes(junk)
    report = local_aws.ingest_file(path, "D100", name=f"junk-{len(junk)}.csv")
    assert report.status == "rejected"
    assert report.rows_quarantined == 1 and report.rows_curated == 0
    assert set(report.quarantine_reasons) <= {"empty_file", "unreadable_file"}
