"""Every IAM policy document of the transformed template, linted by parliament (duo-labs' maintained
IAM linter: unknown actions, actions that take no such resource, conditions an action does not
support, malformed statements). A finding above LOW fails, unless ``ACCEPTED`` names it with its
reason; so do unknown actions and services (LOW in parliament). The documents' intrinsics are rendered to ARNs of their resources' real types, so parliament
can check that each action takes the resources it is granted on."""

from __future__ import annotations

import json
import re
from typing import Any

Resources = dict[str, dict[str, Any]]

ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
FAILING_LOW = {"UNKNOWN_ACTION", "UNKNOWN_PREFIX"}
"""LOW in parliament, failures here: a misspelt action or service grants nothing, silently."""

ACCEPTED: dict[tuple[str, str], str] = {}
"""(policy location, finding issue) → why the finding is accepted."""

_ARNS = {
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::Scheduler::Schedule": "arn:aws:scheduler:{region}:{account}:schedule/default/{name}",
    "AWS::Serverless::Api": "arn:aws:execute-api:{region}:{account}:{name}",
    "AWS::Events::EventBus": "arn:aws:events:{region}:{account}:event-bus/{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}-AbCdEf",
    "AWS::Athena::WorkGroup": "arn:aws:athena:{region}:{account}:workgroup/{name}",
    "AWS::Glue::Database": "arn:aws:glue:{region}:{account}:database/{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
}


def _renderer(resources: Resources) -> Any:
    """CloudFormation intrinsics rendered as the names and ARNs they would have (no IAM logic)."""

    def named(name: str) -> str:
        pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        if name in pseudo:
            return pseudo[name]
        logical, _, attribute = name.partition(".")
        kind = resources.get(logical, {}).get("Type", "")
        resource_name = f"forecourt-{logical.lower()}"
        if attribute == "Arn":
            if kind not in _ARNS:
                raise AssertionError(f"no ARN form for {logical} ({kind}): add it to _ARNS")
            return _ARNS[kind].format(region=REGION, account=ACCOUNT, name=resource_name)
        if kind == "AWS::SQS::Queue" and not attribute:  # a queue's Ref is its URL
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{resource_name}"
        return resource_name

    def render(value: Any) -> Any:
        if isinstance(value, list):
            return [render(item) for item in value]
        if not isinstance(value, dict):
            return value
        if "Fn::Sub" in value:
            text, local = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            local = {k: render(v) for k, v in local.items()}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: local.get(m.group(1)) or named(m.group(1)), text)
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return named(".".join(target) if isinstance(target, list) else target)
        if "Ref" in value:
            return named(value["Ref"])
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(render(parts))
        if "Fn::If" in value:
            return render(value["Fn::If"][1])
        return {key: render(item) for key, item in value.items()}

    return render


_POLICY_TYPES = (
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
)


def _documents(resources: Resources) -> dict[str, dict[str, Any]]:
    """Every identity and resource policy document of the template by where it is."""
    render = _renderer(resources)
    found: dict[str, dict[str, Any]] = {}
    for logical, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found[f"{logical}/{policy['PolicyName']}"] = render(policy["PolicyDocument"])
        elif resource["Type"] in _POLICY_TYPES:
            found[logical] = render(properties["PolicyDocument"])
    return found


def test_every_policy_of_the_template_is_found(resources: Resources) -> None:
    documents = _documents(resources)
    roles = [logical for logical, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    assert all(any(where.startswith(f"{role}/") for where in documents) for role in roles)
    assert any(where.endswith("BucketPolicy") for where in documents)


def _findings(document: dict[str, Any]) -> list[Any]:
    """parliament's findings on one document, with their severities (as its CLI reports them)."""
    import parliament

    policy = parliament.analyze_policy_string(json.dumps({"Version": "2012-10-17", **document}))
    return [parliament.enhance_finding(finding) for finding in policy.findings]


def test_parliament_flags_a_wrong_grant() -> None:
    """The checker is live: an action granted on a resource type it does not take, an unknown action
    are each found (the first above LOW; the second fails here too, see ``FAILING_LOW``)."""
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:s3:::forecourt-lake/*"},
            {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::forecourt-lake/*"},
        ]
    }
    found = {(f.issue, f.severity) for f in _findings(document)}
    assert found >= {("RESOURCE_MISMATCH", "MEDIUM"), ("UNKNOWN_ACTION", "LOW")}, found


def test_parliament_finds_nothing_above_low(resources: Resources) -> None:
    failures, used = [], set()
    for where, document in _documents(resources).items():
        for finding in _findings(document):
            low = SEVERITIES.index(finding.severity) <= SEVERITIES.index("LOW")
            if low and finding.issue not in FAILING_LOW:
                continue
            if (where, finding.issue) in ACCEPTED:
                used.add((where, finding.issue))
                continue
            failures.append(f"{where}: {finding.severity} {finding.issue} {finding.detail}")
    assert failures == []
    assert used == set(ACCEPTED), f"accepted findings no longer found: {set(ACCEPTED) - used}"
