"""The scheduled jobs through their Lambda handlers: the schedule invokes resolve, which waits for its
commits and hands over to enrich (its on-success destination); a failed run ends in the failure
queue with Lambda's record of it, and nothing personal."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import LocalAws, committer

LEADS = """lead_id,requested_at,lead_source,first_name,last_name,email,mobile_phone,street,city,state,zip,vehicle_year,vehicle_make,vehicle_model
SCH-1,2026-10-30T09:05:00-05:00,Dealer Website,Katherine,Achterberg,k.achterberg@gmail.com,(312) 555-0191,12 Dearborn St,Chicago,IL,60601,2026,Chevrolet,Traverse
"""
MORE_LEADS = """lead_id,requested_at,lead_source,first_name,last_name,email,mobile_phone,street,city,state,zip,vehicle_year,vehicle_make,vehicle_model
SCH-2,2026-11-01T10:00:00-05:00,OEM Website,Kate,Achterberg,k.achterberg@gmail.com,(312) 555-0191,12 Dearborn St,Chicago,IL,60601,2026,Chevrolet,Blazer
"""
AS_OF = "2026-11-03T06:00:00+00:00"


def _query(sql: str) -> list[dict[str, Any]]:
    from forecourt import analytics

    return analytics.run_query(sql).to_arrow().to_pylist()


def _failures(local_aws: LocalAws) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in local_aws.sqs_batch("JobsFailureQueue")]


def test_the_schedule_resolves_then_enrich_follows_through_the_handlers(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path, tmp_path: Path
) -> None:
    from forecourt.local import scheduler

    for name, text, dealer in (("sch_d100.csv", LEADS, "D100"), ("sch_d200.csv", MORE_LEADS, "D200")):
        (tmp_path / name).write_text(text)
        assert local_aws.ingest_file(tmp_path / name, dealer, feed="generic-leads").rows_curated == 1

    with committer(local_aws):
        runs = scheduler.invoke_async("resolve", {**scheduler.schedule_input(), "as_of": AS_OF})

    assert [(r.function, r.attempts, r.error, r.sent_to) for r in runs] == [
        ("resolve", 1, None, "enrich"),
        ("enrich", 1, None, "audiences"),
        ("audiences", 1, None, None),
    ]
    resolved, enriched, built = runs[0].result, runs[1].result, runs[2].result
    assert built["as_of"] == AS_OF and re.fullmatch(r"\d{8}T\d{6}Z", built["snapshot"])  # built now
    assert built["sync"] == {"meta": "not connected", "google": "not connected"}
    assert built["conversions"] == {"meta": "not connected", "google": "not connected"}
    # resolve returned only when its rows were in the tables: enrich read them
    leads = {r["lead_id"]: r for r in _query("SELECT * FROM enriched_leads WHERE lead_id LIKE 'SCH-%'")}
    assert set(leads) == {"SCH-1", "SCH-2"}
    assert leads["SCH-1"]["person_id"] == leads["SCH-2"]["person_id"]  # Katherine is Kate
    links = _query("SELECT count(*) AS n FROM person_links")
    assert resolved["records"] == links[0]["n"] and resolved["persons"] >= 1
    assert enriched["as_of"] == AS_OF and enriched["after_resolve_at"] == resolved["resolved_at"]
    assert (
        enriched["leads_exported_per_dealer"]["D100"] >= 1
        and enriched["leads_exported_per_dealer"]["D200"] >= 1
    )
    assert any(key.startswith("outbound/dealer=D200/enriched-leads/") for key in enriched["files"])
    multi = _query(f"SELECT tag FROM lead_tags WHERE person_id = '{leads['SCH-1']['person_id']}'")
    assert "multi_dealer_shopper" in {t["tag"] for t in multi}
    # what a run logs and returns holds counts, never a name, e-mail or phone
    said = json.dumps([r.result for r in runs])
    assert not any(pii in said for pii in ("Achterberg", "achterberg@", "555-0191", "5550191"))

    with committer(local_aws):
        again = scheduler.invoke_async("resolve", {"full": False, "as_of": AS_OF})
    assert [r.error for r in again] == [None, None, None]
    assert again[0].result["person_ids_new"] == 0
    assert again[1].result["leads_exported_per_dealer"] == {}  # nothing changed: nothing exported
    assert _failures(local_aws) == []


def test_a_run_that_fails_twice_lands_in_the_failure_queue_and_enrich_does_not_run(
    local_aws: LocalAws, stack_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecourt.identity import job
    from forecourt.local import scheduler

    calls: list[Any] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise RuntimeError("the catalog is unreachable")

    monkeypatch.setattr(job, "run", broken)

    runs = scheduler.invoke_async("resolve", {"full": True})

    assert [(r.function, r.attempts, r.sent_to) for r in runs] == [("resolve", 2, "JobsFailureQueue")]
    assert runs[0].error == "RuntimeError: the catalog is unreachable" and len(calls) == 2
    (record,) = _failures(local_aws)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["functionArn"].endswith(":function:ResolveFunction:$LATEST")
    assert record["requestPayload"] == {"full": True}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"] == {
        "errorType": "RuntimeError",
        "errorMessage": "the catalog is unreachable",
    }
    from forecourt import aws

    for message in local_aws.sqs_batch("JobsFailureQueue"):  # leave the queue empty for other tests
        aws.client("sqs").delete_message(
            QueueUrl=local_aws.resources.queues["JobsFailureQueue"], ReceiptHandle=message["ReceiptHandle"]
        )


def test_waiting_for_commits_that_nobody_applies_times_out_naming_the_table(
    local_aws: LocalAws, stack_home: Path
) -> None:
    from datetime import UTC, date, datetime

    from forecourt import commits

    moment = datetime(2026, 11, 3, tzinfo=UTC)
    person = {"upload_id": "wait-test", "person_id": "P-wait-test", "created_at": moment, "records": 1}
    person |= {"dealers": 1, "received_at": moment}
    request = commits.write_records("persons", [person], "wait-test", date(2026, 11, 3))
    assert not commits.landed(request)
    with pytest.raises(TimeoutError, match=r"persons \(upload wait-test\); is the commit function running"):
        commits.wait_landed([request], lambda: 0.0)

    commits.send([request])
    local_aws.drain_commits()
    assert commits.landed(request)
    commits.wait_landed([request], lambda: 0.0)  # landed: returns at once

    # an upload replaced by no rows has landed once its earlier rows are gone
    emptied = commits.CommitRequest(table="persons", upload_id="wait-test", files=[])
    assert not commits.landed(emptied)
    commits.send([emptied])
    local_aws.drain_commits()
    assert commits.landed(emptied)
    assert _query("SELECT person_id FROM persons WHERE person_id = 'P-wait-test'") == []


@pytest.mark.slow  # ~30 s: the schedule twice more through the CLI (the handlers' path is tested above)
def test_run_schedule_fires_the_schedule_from_the_command_line(
    local_aws: LocalAws, registered_dealers: dict[str, Any], stack_home: Path
) -> None:
    from click.testing import CliRunner
    from forecourt.cli import main

    with committer(local_aws):
        answer = CliRunner().invoke(main, ["local", "run-schedule", "--as-of", "2026-11-03", "--json"])

    assert answer.exit_code == 0, answer.output
    runs = json.loads(answer.stdout)
    assert [(r["function"], r["error"], r["sent_to"]) for r in runs] == [
        ("resolve", None, "enrich"),
        ("enrich", None, "audiences"),
        ("audiences", None, None),
    ]
    assert runs[1]["result"]["as_of"] == "2026-11-03T00:00:00+00:00"
    assert (stack_home / "jobs.log").read_text().count('"message":"resolved"') == 1  # the handlers' logs

    with committer(local_aws):
        table = CliRunner().invoke(main, ["local", "run-schedule"])
    assert table.exit_code == 0, table.output
    assert "succeeded" in table.output and "leads_exported_per_dealer" in table.output

    wrong = CliRunner().invoke(main, ["local", "run-schedule", "--as-of", "yesterday"])
    assert wrong.exit_code == 1 and "is not an ISO 8601 date" in wrong.output
