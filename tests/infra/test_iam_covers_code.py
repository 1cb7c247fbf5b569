"""Each function's role allows everything its code does (ARCHITECTURE §9, the other direction of
``test_iam_role_matrix``): a lead's way through every handler of ``functions/`` against the local
stack, every AWS request recorded inside moto's server (boto3's, and the S3 requests of pyarrow's
filesystem and pyiceberg's FileIO alike) and credited to the function running; then each request's
permission (IAM action, resource ARN, ``s3:prefix``) evaluated against that function's policies from
template.yaml with moto's IAM policy evaluator.

moto's evaluator knows the condition operator StringEquals only (and ignores the others); this test
adds StringLike (IAM's ``*`` and ``?`` wildcards) to it for the duration, so that the ``s3:prefix``
conditions of the roles' ListBucket statements are evaluated, and asks it statement by statement
(moto answers "denied" for an Allow statement whose condition does not hold): a request is allowed
when one Allow statement of the role permits it. The functions' roles have no Deny statement (the
test checks it). Presigned URLs are signed by the webhook's role without a request to moto: what
they may do is ``test_iam_role_matrix``'s."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aws_calls import ACCOUNT, REGION, Need, Recorder, recording
from iam_policies import Resources, role_policies
from moto.iam import policy_conditions
from moto.iam.access_control import IAMPolicyStatement, PermissionResult

FUNCTIONS = ("ingest", "commit", "webhook", "route_lead", "deliver", "resolve", "enrich", "audiences",
             "erasure", "compact")  # fmt: skip
AS_OF = "2032-03-05T06:00:00+00:00"
DAY = date(2032, 3, 4)
"""The day of this test's own rows (compaction rewrites whole partitions: no other test uses it)."""


def _invoke(recorder: Recorder, function: str, event: dict[str, Any]) -> Any:
    """Run a function's handler as Lambda would (its timeout from template.yaml), crediting it with
    the requests made meanwhile."""
    from forecourt.local.pump import LambdaContext, function_timeout_ms, warm

    context = LambdaContext(function, timeout_ms=function_timeout_ms(function))
    with recorder.acting_as(function):
        return warm(function)(event, context)


def _take(local_aws: Any, queue: str, wanted: Any) -> list[dict[str, Any]]:
    """The messages of ``queue`` that are ``wanted`` (by body), in flight; others' are deleted."""
    from forecourt import aws

    kept: list[dict[str, Any]] = []
    while batch := local_aws.sqs_batch(queue):
        for message in batch:
            if wanted(json.loads(message["Body"])):
                kept.append(message)
            aws.client("sqs").delete_message(
                QueueUrl=local_aws.resources.queues[queue], ReceiptHandle=message["ReceiptHandle"]
            )
    return kept


def _webhook(recorder: Recorder, sender: tuple[str, str], method: str, path: str, body: bytes,
             query: str = "", status: int | None = None) -> dict[str, Any]:  # fmt: skip
    from forecourt import signing, webhook
    from forecourt.local.http import api_event

    dealer = path.split("/")[3] if path.startswith("/v1/dealers/") else None
    signed = webhook.pickup_signed_text(dealer or "", query) if method == "GET" else body
    headers = {
        "Content-Type": "application/json",
        "Forecourt-Sender": sender[0],
        "Forecourt-Signature": signing.sign([sender[1]], signed, int(time.time())),
    }
    route = path.replace(f"/{dealer}/", "/{dealer_id}/") if dealer else path
    event = api_event(method, path, headers, body, route_key=f"{method} {route}", query=query)
    if dealer:
        event["pathParameters"] = {"dealer_id": dealer}
    answer: dict[str, Any] = _invoke(recorder, "webhook", event)
    assert answer["statusCode"] == status if status else answer["statusCode"] in (200, 201, 202), answer
    return answer


def _event(record_id: str, minute: int) -> dict[str, Any]:
    at = datetime(DAY.year, DAY.month, DAY.day, 9, minute, tzinfo=UTC)
    return {"record_id": record_id, "upload_id": record_id, "dealer_id": "D100", "feed": "crm-events",
            "source_system": "test-crm", "received_at": at, "source_line": 1, "event_type": "contacted",
            "occurred_at": at}  # fmt: skip


def _lead_flows(local_aws: Any, recorder: Recorder, tmp: Any) -> None:
    """A dealer's upload, a lead and a CRM event by webhook, routed and delivered as a file the
    dealer picks up; a privacy request erasing the lead's person."""
    from forecourt import aws, commits, intake, lake, lead_routing, registry, senders
    from forecourt.config import settings
    from forecourt.local.pump import sqs_event
    from forecourt.privacy import erasure

    dealer_id, tag = f"IAM{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    registry.put_dealer(registry.Dealer(dealer_id=dealer_id, name="Policy Motors", zip="60601",
                                        delivery=registry.Delivery(method="file")))  # fmt: skip
    lead_routing.forget_dealers()  # a route_lead warmed by an earlier test would not know the dealer yet
    sender = (f"iam-{tag}", senders.add_sender(f"iam-{tag}", "dealer_crm", [dealer_id])[1])
    email = f"pat.{tag}@example.com"

    header = "lead_id,requested_at,lead_source,first_name,last_name,email,mobile_phone,zip,vehicle_year,vehicle_make,vehicle_model\n"
    for n in range(2):
        row = f"IAM-{tag}-{n},2026-11-08T10:00:00-05:00,Dealer Website,Pat,Quill,{email},,60601,2026,Chevrolet,Equinox\n"
        path = tmp / f"iam_{n}.csv"
        path.write_text(header + row)
        bucket, key = settings().lake_bucket, lake.raw_key(dealer_id, DAY, path.name)
        answer = aws.client("s3").put_object(Bucket=bucket, Key=key, Body=path.read_bytes(),
                                              Metadata={"feed": "generic-leads"})  # fmt: skip
        event = intake.event_for(bucket, key, answer.get("VersionId"))
        message = {"MessageId": f"m-{n}", "ReceiptHandle": "r", "Body": json.dumps(event)}
        _invoke(recorder, "ingest", sqs_event([message], local_aws.resources.queue_arns["IngestQueue"]))
        local_aws.drain_commits()

    lead = {"lead_id": f"IAM-{tag}", "dealer_id": dealer_id, "created_at": "2026-11-08T14:05:00-06:00",
            "customer": {"first_name": "Pat", "last_name": "Quill", "email": email, "zip": "60601"},
            "vehicle": {"year": "2026", "make": "Chevrolet", "model": "Equinox"}}  # fmt: skip
    _webhook(recorder, sender, "POST", "/v1/leads", json.dumps(lead).encode())
    unreachable = lead | {"lead_id": f"IAM-{tag}-x", "customer": {"first_name": "Pat", "last_name": "Quill"}}
    _webhook(recorder, sender, "POST", "/v1/leads", json.dumps(unreachable).encode(), status=422)  # kept
    crm = {"event_id": f"EV-{tag}", "lead_id": lead["lead_id"], "type": "contacted",
           "occurred_at": "2026-11-08T15:00:00-06:00"}  # fmt: skip
    _webhook(recorder, sender, "POST", f"/v1/dealers/{dealer_id}/events", json.dumps(crm).encode())
    _webhook(recorder, sender, "POST", f"/v1/dealers/{dealer_id}/uploads", b'{"file_name": "crm.csv"}')

    realtime = _take(local_aws, "RealtimeQueue", lambda body: tag in json.dumps(body))
    _invoke(recorder, "route_lead", sqs_event(realtime, local_aws.resources.queue_arns["RealtimeQueue"]))
    local_aws.drain_commits()
    routed = _take(local_aws, "DeliveryQueue", lambda body: body.get("dealer_id") == dealer_id)
    assert routed, "route_lead queued no delivery"
    _invoke(recorder, "deliver", sqs_event(routed, local_aws.resources.queue_arns["DeliveryQueue"]))
    local_aws.drain_commits()
    _webhook(recorder, sender, "GET", f"/v1/dealers/{dealer_id}/outbound", b"")

    for name, job in (("resolve", {"full": False, "as_of": AS_OF}), ("enrich", {}), ("audiences", {})):  # fmt: skip
        _invoke(recorder, name, job)
    for n in range(2):  # two small files in a partition of this test's own: something to compact
        commits.append_records("lead_events", [_event(f"iam-{tag}-{n}", n)], f"iam-{tag}-{n}", DAY)
        local_aws.drain_commits()
    compact = {"tables": ["lead_events"], "days": [DAY.isoformat()], "min_age_minutes": 0}
    assert _invoke(recorder, "compact", compact)["partitions_compacted"] == 1

    key = f"{erasure.REQUEST_PREFIX}IAM-{tag}.json"
    aws.client("s3").put_object(Bucket=settings().lake_bucket, Key=key,
                                Body=json.dumps({"source": "DSR-IAM", "emails": [email]}))  # fmt: skip
    detail = {"bucket": {"name": settings().lake_bucket}, "object": {"key": key}}
    _invoke(recorder, "erasure", {"detail-type": "Object Created", "source": "aws.s3", "detail": detail})


@pytest.fixture(scope="module")
def recorded(local_aws: Any, registered_dealers: Any, tmp_path_factory: pytest.TempPathFactory) -> Recorder:
    """What each function's requests needed on the lead's way through every handler; the commit
    function runs whenever a job waits for its commits (one function at a time, so that every
    request is credited to the one that made it)."""
    from forecourt import commits

    with pytest.MonkeyPatch.context() as patch, recording(patch) as recorder:
        commit = local_aws.commit_handler
        wait_within = commits.wait_within

        def committing(event: dict[str, Any], context: Any) -> Any:
            with recorder.acting_as("commit"):
                return commit(event, context)

        def waiting(requests: Any, context: Any, margin_seconds: float = 30.0) -> None:
            waiter = recorder.function
            with recorder.acting_as(None):  # the commit queue's poller, then the function
                local_aws.drain_commits()
            with recorder.acting_as(waiter):
                wait_within(requests, context, margin_seconds)

        patch.setattr(local_aws, "commit_handler", committing)
        patch.setattr(commits, "wait_within", waiting)
        _lead_flows(local_aws, recorder, tmp_path_factory.mktemp("iam"))
    return recorder


def _names(local_aws: Any, template: dict[str, Any]) -> Any:
    """What the template's names stand for in the local stack (its resources are named from their
    logical ids), ARNs by resource type."""
    from forecourt.local.resources import local_name

    made = local_aws.resources
    parameters = {k: str(v.get("Default", k)) for k, v in template.get("Parameters", {}).items()}
    plain = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT} | parameters
    named = made.buckets | made.queues | made.tables | made.glue_databases | made.workgroups

    def name(text: str) -> str:
        logical, _, attribute = text.partition(".")
        if text in plain:
            return plain[text]
        if not attribute:
            return named[logical]
        if logical in made.buckets:
            return f"arn:aws:s3:::{made.buckets[logical]}"
        if logical in made.queue_arns:
            return made.queue_arns[logical]
        if logical in made.tables:
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{made.tables[logical]}"
        if template["Resources"].get(logical, {}).get("Type") == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{local_name(logical)}"
        raise KeyError(f"no local name for {text}")

    return name


def _statements(local_aws: Any, sam_template: Any, resources: Resources, function: str) -> list[Any]:
    from forecourt.local.pump import template_functions

    logical_id = template_functions()[function][0]
    policies = role_policies(resources, f"{logical_id}Role", _names(local_aws, sam_template))
    found = []
    for document in policies.values():
        statements = document["Statement"]
        found += statements if isinstance(statements, list) else [statements]
    return found


def _string_like(expected: list[str] | str, actual: str) -> bool:
    """IAM's StringLike: ``*`` any characters, ``?`` one (fnmatch's, without its [] classes)."""
    patterns = [expected] if isinstance(expected, str) else expected
    return any(fnmatch.fnmatchcase(actual, p.replace("[", "[[]")) for p in patterns)


@contextlib.contextmanager
def _string_like_conditions() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(policy_conditions.CONDITION_OPERATIONS, "StringLike", _string_like)
        yield


def _allowed(statements: list[Any], need: Need) -> bool:
    context = dict(need.context)
    return any(
        IAMPolicyStatement(s).is_action_permitted(need.action, need.resource, None, context)
        == PermissionResult.PERMITTED
        for s in statements
    )


def test_every_function_was_run(recorded: Recorder, sam_template: dict[str, Any]) -> None:
    from forecourt.local.pump import template_functions

    assert set(template_functions()) == set(FUNCTIONS)
    assert {f for f in FUNCTIONS if not recorded.needs[f]} == set()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_role_allows_every_request_of_the_code(
    recorded: Recorder, local_aws: Any, sam_template: dict[str, Any], resources: Resources, function: str
) -> None:
    statements = _statements(local_aws, sam_template, resources, function)
    assert [s.get("Sid") for s in statements if s["Effect"] != "Allow"] == []
    with _string_like_conditions():
        denied = sorted({str(n) for n in recorded.needs[function] if not _allowed(statements, n)})
    assert denied == [], f"{function}'s role does not allow:\n  " + "\n  ".join(denied)


def test_a_prefix_condition_is_evaluated(local_aws: Any, sam_template: Any, resources: Resources) -> None:
    """The evaluation as this test does it: a ListBucket outside the role's prefixes is refused."""
    statements = _statements(local_aws, sam_template, resources, "ingest")
    bucket = f"arn:aws:s3:::{local_aws.resources.buckets['LakeBucket']}"
    with _string_like_conditions():
        assert _allowed(
            statements, Need("s3:ListBucket", bucket, (("s3:prefix", "suppression/erased.parquet"),))
        )
        assert not _allowed(statements, Need("s3:ListBucket", bucket, (("s3:prefix", "tables/"),)))
        assert not _allowed(statements, Need("s3:ListBucket", bucket, (("s3:prefix", ""),)))
    commit = _statements(local_aws, sam_template, resources, "commit")
    with _string_like_conditions():
        assert _allowed(commit, Need("s3:ListBucket", bucket, (("s3:prefix", "tables/leads/"),)))
        assert not _allowed(commit, Need("s3:ListBucket", bucket, (("s3:prefix", "raw/"),)))
