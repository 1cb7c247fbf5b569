"""Create the resources that template.yaml declares inside a moto server, by logical id.

Lambda functions are not created: the local pump calls the real handlers in-process. Names are
derived from logical ids (``LakeBucket`` → ``forecourt-lake-bucket``); FIFO queues keep ``.fifo``.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = REPO_ROOT / "template.yaml"
NAME_PREFIX = "forecourt"


def local_name(logical_id: str, *, fifo: bool = False) -> str:
    """The local name of a resource: kebab-case of its logical id, prefixed."""
    kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id).lower()
    return f"{NAME_PREFIX}-{kebab}{'.fifo' if fifo else ''}"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml parsed with CloudFormation tags understood (cfn-lint's decoder)."""
    from cfnlint.decode import cfn_yaml

    return dict(cfn_yaml.load(str(path)))


@dataclass
class LocalResources:
    """Names and URLs of what was created, by logical id."""

    buckets: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    """logical id → queue URL"""
    queue_arns: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    glue_databases: dict[str, str] = field(default_factory=dict)
    workgroups: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    alarms: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    """logical id → function name (on AWS; locally the pump calls the handlers in-process)"""

    def to_json(self) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self.__dict__.items()}


def settings_environment(made: LocalResources) -> dict[str, str]:
    """The ``FORECOURT_*`` settings that name the stack's resources (``forecourt.config``), from
    their names by logical id: the same for the local stack and a deployed one."""
    return {
        "FORECOURT_LAKE_BUCKET": made.buckets.get("LakeBucket", ""),
        "FORECOURT_REGISTRY_TABLE": made.tables.get("DealerRegistryTable", ""),
        "FORECOURT_SENDER_TABLE": made.tables.get("SenderRegistryTable", ""),
        "FORECOURT_COMMIT_QUEUE_URL": made.queues.get("CommitQueue", ""),
        "FORECOURT_REALTIME_QUEUE_URL": made.queues.get("RealtimeQueue", ""),
        "FORECOURT_IDEMPOTENCY_TABLE": made.tables.get("IdempotencyTable", ""),
        "FORECOURT_GLUE_DATABASE": next(iter(made.glue_databases.values()), "forecourt"),
        "FORECOURT_ANALYST_WORKGROUP": made.workgroups.get("AnalystWorkGroup", "primary"),
        # routing (route_lead)
        "FORECOURT_IDENTITY_INDEX_TABLE": made.tables.get("IdentityIndexTable", ""),
        "FORECOURT_DELIVERY_QUEUE_URL": made.queues.get("DeliveryQueue", ""),
        "FORECOURT_FALLBACK_QUEUE_URL": made.queues.get("FallbackQueue", ""),
        # delivery
        "FORECOURT_DELIVERY_DEAD_LETTER_QUEUE_URL": made.queues.get("DeliveryDeadLetterQueue", ""),
        "FORECOURT_DELIVERY_STATE_TABLE": made.tables.get("DeliveryStateTable", ""),
    }


def _resources_of(template: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (logical, dict(body.get("Properties") or {}))
        for logical, body in template.get("Resources", {}).items()
        if body.get("Type") == kind
    ]


def create_all(clients: Any, template: dict[str, Any] | None = None) -> LocalResources:
    """Create (idempotently) every bucket, queue, table, database, workgroup, rule and alarm."""
    template = template or load_template()
    made = LocalResources()
    _create_buckets(clients("s3"), template, made)
    _create_queues(clients("sqs"), template, made)
    _create_tables(clients("dynamodb"), template, made)
    for logical, _props in _resources_of(template, "AWS::Glue::Database"):
        name = NAME_PREFIX
        glue = clients("glue")
        with contextlib.suppress(glue.exceptions.AlreadyExistsException):
            glue.create_database(DatabaseInput={"Name": name, "Description": f"local {logical}"})
        made.glue_databases[logical] = name
    _create_workgroups(clients("athena"), template, made)
    _create_rules(clients("events"), template, made)
    _create_alarms(clients("cloudwatch"), template, made)
    return made


def _create_buckets(s3: Any, template: dict[str, Any], made: LocalResources) -> None:
    for logical, props in _resources_of(template, "AWS::S3::Bucket"):
        name = local_name(logical)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if name not in existing:
            s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        encryption = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
        if encryption:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(rule) for rule in encryption]},
            )
        made.buckets[logical] = name


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's ServerSideEncryptionRule in the S3 API's shape."""
    default = _plain(rule.get("ServerSideEncryptionByDefault", {}))
    converted: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if "BucketKeyEnabled" in rule:
        converted["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
    return converted


def _plain(value: Any) -> Any:
    """Drop CloudFormation intrinsics (dicts keyed Ref/Fn::…) from a property value."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not (isinstance(v, dict) and _is_intrinsic(v))}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::"))


def _create_queues(sqs: Any, template: dict[str, Any], made: LocalResources) -> None:
    queues = _resources_of(template, "AWS::SQS::Queue")
    # dead-letter queues first, so that redrive policies can point at them
    queues.sort(key=lambda item: "RedrivePolicy" in item[1])
    arns: dict[str, str] = {}
    for logical, props in queues:
        fifo = bool(props.get("FifoQueue"))
        attributes: dict[str, str] = {}
        if fifo:
            attributes["FifoQueue"] = "true"
            attributes["ContentBasedDeduplication"] = str(
                bool(props.get("ContentBasedDeduplication"))
            ).lower()
        for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if isinstance(props.get(key), int):
                attributes[key] = str(props[key])
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = _ref_target(redrive.get("deadLetterTargetArn"))
            if target in arns:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": arns[target],
                        "maxReceiveCount": int(redrive.get("maxReceiveCount", 5)),
                    }
                )
        url = sqs.create_queue(QueueName=local_name(logical, fifo=fifo), Attributes=attributes)["QueueUrl"]
        arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        made.queues[logical] = url
        made.queue_arns[logical] = arns[logical]


def _ref_target(value: Any) -> str | None:
    """The logical id a ``!GetAtt X.Arn`` or ``!Ref X`` points at."""
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return str(target[0] if isinstance(target, list) else str(target).split(".")[0])
        if "Ref" in value:
            return str(value["Ref"])
    return None


def _create_tables(dynamodb: Any, template: dict[str, Any], made: LocalResources) -> None:
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for logical, props in _resources_of(template, "AWS::DynamoDB::Table"):
        name = local_name(logical)
        if name not in existing:
            dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
        made.tables[logical] = name


def _create_workgroups(athena: Any, template: dict[str, Any], made: LocalResources) -> None:
    existing = {w["Name"] for w in athena.list_work_groups().get("WorkGroups", [])}
    for logical, _props in _resources_of(template, "AWS::Athena::WorkGroup"):
        name = local_name(logical)
        if name not in existing:
            athena.create_work_group(Name=name, Description=f"local {logical}")
        made.workgroups[logical] = name


def _create_rules(events: Any, template: dict[str, Any], made: LocalResources) -> None:
    for logical, props in _resources_of(template, "AWS::Events::Rule"):
        name = local_name(logical)
        pattern = _resolve(props.get("EventPattern", {}), made)
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        targets = [
            {"Id": str(target["Id"]), "Arn": _resolve(target["Arn"], made)}
            for target in props.get("Targets", [])
            if isinstance(_resolve(target["Arn"], made), str)
        ]
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        made.rules[logical] = name


def enable_notifications(s3: Any, template: dict[str, Any], made: LocalResources) -> None:
    """Turn on the buckets' EventBridge notifications (after a restore, so restored objects are not
    announced as new): moto then delivers "Object Created" events through the rules to the queues,
    exactly the S3 → EventBridge → SQS wiring of the template."""
    for logical, props in _resources_of(template, "AWS::S3::Bucket"):
        bridge = props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
        if bridge.get("EventBridgeEnabled") and logical in made.buckets:
            s3.put_bucket_notification_configuration(
                Bucket=made.buckets[logical], NotificationConfiguration={"EventBridgeConfiguration": {}}
            )


def _resolve(value: Any, made: LocalResources) -> Any:
    """Resolve ``Ref`` (to a local name) and ``Fn::GetAtt X.Arn`` (to a local queue ARN) in a value."""
    if isinstance(value, list):
        return [_resolve(v, made) for v in value]
    if not isinstance(value, dict):
        return value
    if _is_intrinsic(value):
        target = _ref_target(value)
        if "Ref" in value and target in made.buckets:
            return made.buckets[target]
        if "Fn::GetAtt" in value and target in made.queue_arns:
            return made.queue_arns[target]
        return None
    return {k: _resolve(v, made) for k, v in value.items()}


def _create_alarms(cloudwatch: Any, template: dict[str, Any], made: LocalResources) -> None:
    """Every alarm by name, with its metric or metric math (dimensions are left out: locally there is
    no function or API for them to name, and nothing publishes the AWS metrics they watch)."""
    for logical, props in _resources_of(template, "AWS::CloudWatch::Alarm"):
        name = local_name(logical)
        common = {
            "AlarmName": name,
            "EvaluationPeriods": int(props.get("EvaluationPeriods", 1)),
            "Threshold": float(props.get("Threshold", 0)),
            "ComparisonOperator": str(props.get("ComparisonOperator", "GreaterThanThreshold")),
        }
        if "Metrics" in props:
            cloudwatch.put_metric_alarm(**common, Metrics=[_metric_query(q) for q in props["Metrics"]])
        else:
            cloudwatch.put_metric_alarm(
                **common,
                MetricName=str(props.get("MetricName", "ApproximateNumberOfMessagesVisible")),
                Namespace=str(props.get("Namespace", "AWS/SQS")),
                Statistic=str(props.get("Statistic", "Maximum")),
                Period=int(props.get("Period", 60)),
            )
        made.alarms[logical] = name


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    """A metric-math alarm's query in the API's shape, without dimensions."""
    converted: dict[str, Any] = {"Id": str(query["Id"]), "ReturnData": bool(query.get("ReturnData", True))}
    if "Expression" in query:
        converted["Expression"] = str(query["Expression"])
    if "Label" in query:
        converted["Label"] = str(query["Label"])
    if "MetricStat" in query:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        converted["MetricStat"] = {
            "Metric": {"Namespace": str(metric["Namespace"]), "MetricName": str(metric["MetricName"])},
            "Period": int(stat["Period"]),
            "Stat": str(stat["Stat"]),
        }
    return converted
