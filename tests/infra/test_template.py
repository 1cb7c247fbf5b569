"""Assertions on template.yaml before and after the SAM transform (ARCHITECTURE §2, §6, §9; DOMAIN)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

Resources = dict[str, dict[str, Any]]

QUEUE_FUNCTIONS = ["IngestFunction", "CommitFunction", "RouteLeadFunction", "DeliverFunction"]
JOB_FUNCTIONS = ["ResolveFunction", "EnrichFunction", "AudiencesFunction"]
LEDGERS = {"${LakeBucket.Arn}/ledger/audiences/*", "${LakeBucket.Arn}/ledger/conversions/*"}
"""What the audiences job (audience syncs, conversions) writes besides data files."""
FUNCTIONS = [*QUEUE_FUNCTIONS, "WebhookFunction", *JOB_FUNCTIONS, "ErasureFunction", "CompactFunction"]
QUEUE_OF_FUNCTION = {
    "IngestFunction": "IngestQueue",
    "CommitFunction": "CommitQueue",
    "RouteLeadFunction": "RealtimeQueue",
    "DeliverFunction": "DeliveryQueue",
}
BUCKETS = ["LakeBucket", "AthenaResultsBucket"]
BUCKET_POLICIES = {"LakeBucket": "LakeBucketPolicy", "AthenaResultsBucket": "AthenaResultsBucketPolicy"}
# Managed policies SAM attaches: logs, X-Ray (whose write API only accepts Resource "*") and the SQS poller.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}


# --- helpers --------------------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    """A scalar or a list, as a list."""
    return value if isinstance(value, list) else [value]


def render(value: Any) -> str:
    """A CloudFormation value as a comparable string: ``Fn::Sub`` text, ``${Id.Attr}`` or ``${Id}``."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return "${" + (target if isinstance(target, str) else ".".join(target)) + "}"
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    return repr(value)


def logical_id(value: Any) -> str:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at."""
    if "Ref" in value:
        return str(value["Ref"])
    target = value["Fn::GetAtt"]
    return str(target.split(".")[0] if isinstance(target, str) else target[0])


def role_of(resources: Resources, function_id: str) -> dict[str, Any]:
    """The IAM role resource a function runs as."""
    return resources[logical_id(resources[function_id]["Properties"]["Role"])]


def inline_statements(resources: Resources, function_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies of a function's role."""
    policies = role_of(resources, function_id)["Properties"].get("Policies", [])
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def resources_granting(statements: list[dict[str, Any]], action: str) -> set[str]:
    """Rendered resources of the Allow statements that name ``action``."""
    granted: set[str] = set()
    for statement in statements:
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"]):
            granted.update(render(resource) for resource in as_list(statement["Resource"]))
    return granted


def event_source_mapping(resources: Resources, function_id: str) -> dict[str, Any]:
    """The properties of the single event source mapping that invokes a function."""
    mappings = [
        resource["Properties"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::EventSourceMapping"
        and resource["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert len(mappings) == 1, f"{function_id} has {len(mappings)} event source mappings"
    return mappings[0]


def of_type(resources: Resources, resource_type: str) -> dict[str, dict[str, Any]]:
    """Resources of one CloudFormation type by logical id."""
    return {name: res for name, res in resources.items() if res["Type"] == resource_type}


# --- lint -----------------------------------------------------------------------------------------


def test_cfn_lint_passes(template_path: Path) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(template_path)], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- queues and event sources ---------------------------------------------------------------------


@pytest.mark.parametrize("function_id", QUEUE_FUNCTIONS)
def test_function_is_invoked_from_its_queue_with_partial_batch_failures(
    resources: Resources, function_id: str
) -> None:
    mapping = event_source_mapping(resources, function_id)
    assert logical_id(mapping["EventSourceArn"]) == QUEUE_OF_FUNCTION[function_id]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_ingest_batches_are_small_and_short(resources: Resources) -> None:
    mapping = event_source_mapping(resources, "IngestFunction")
    assert mapping["BatchSize"] == 5
    assert mapping["MaximumBatchingWindowInSeconds"] == 5


@pytest.mark.parametrize(
    ("queue_id", "dead_letter_id"),
    [
        ("IngestQueue", "IngestDeadLetterQueue"),
        ("CommitQueue", "CommitDeadLetterQueue"),
        ("RealtimeQueue", "RealtimeDeadLetterQueue"),
        ("DeliveryQueue", "DeliveryDeadLetterQueue"),
    ],
)
def test_queue_redrives_to_its_dead_letter_queue_after_five_receives(
    resources: Resources, queue_id: str, dead_letter_id: str
) -> None:
    redrive = resources[queue_id]["Properties"]["RedrivePolicy"]
    assert logical_id(redrive["deadLetterTargetArn"]) == dead_letter_id
    assert redrive["maxReceiveCount"] == 5


@pytest.mark.parametrize("function_id", QUEUE_FUNCTIONS)
def test_visibility_timeout_is_at_least_six_times_the_function_timeout(
    resources: Resources, function_id: str
) -> None:
    timeout = resources[function_id]["Properties"]["Timeout"]
    queue = resources[QUEUE_OF_FUNCTION[function_id]]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_every_queue_is_encrypted(resources: Resources) -> None:
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        assert queue["Properties"].get("SqsManagedSseEnabled") is True, name


def test_every_dead_letter_queue_has_an_alarm_on_its_first_message(resources: Resources) -> None:
    dead_letter_ids = {
        logical_id(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for queue in of_type(resources, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in queue["Properties"]
    }
    alarmed = set()
    for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if (
            props.get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and props.get("Namespace") == "AWS/SQS"
        ):
            assert props["Threshold"] == 0
            assert props["ComparisonOperator"] == "GreaterThanThreshold"
            alarmed.update(logical_id(d["Value"]) for d in props["Dimensions"] if d["Name"] == "QueueName")
    assert dead_letter_ids == {
        "IngestDeadLetterQueue",
        "CommitDeadLetterQueue",
        "RealtimeDeadLetterQueue",
        "DeliveryDeadLetterQueue",
    }
    failure_destinations = {
        logical_id(config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
        for config in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    }
    assert failure_destinations == {"JobsFailureQueue"}
    assert dead_letter_ids | failure_destinations <= alarmed


def test_dead_letter_alarms_notify_the_topic_only_when_one_is_given(sam_template: dict[str, Any]) -> None:
    assert sam_template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    for alarm_id in ("IngestDeadLetterAlarm", "CommitDeadLetterAlarm", "DeliveryDeadLetterAlarm"):
        actions = sam_template["Resources"][alarm_id]["Properties"]["AlarmActions"]
        assert actions["Fn::If"][0] == "HasAlarmTopic"


def test_commit_queue_is_fifo_with_explicit_deduplication_per_table(resources: Resources) -> None:
    queue = resources["CommitQueue"]["Properties"]
    assert queue["FifoQueue"] is True
    assert render(queue["QueueName"]).endswith(".fifo")
    assert queue["ContentBasedDeduplication"] is False
    assert queue["FifoThroughputLimit"] == "perMessageGroupId"
    assert queue["DeduplicationScope"] == "messageGroup"
    dead_letter = resources["CommitDeadLetterQueue"]["Properties"]
    assert dead_letter["FifoQueue"] is True
    assert render(dead_letter["QueueName"]).endswith(".fifo")


def test_ingest_queue_is_standard(resources: Resources) -> None:
    assert "FifoQueue" not in resources["IngestQueue"]["Properties"]


# --- EventBridge ----------------------------------------------------------------------------------


def test_raw_object_created_rule_filters_the_files_prefix_of_the_lake_bucket(resources: Resources) -> None:
    pattern = resources["RawObjectCreatedRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert [logical_id(name) for name in pattern["detail"]["bucket"]["name"]] == ["LakeBucket"]
    # webhook bodies (raw/webhooks/, raw/events/) reach the lake through the realtime queue, in batches
    assert pattern["detail"]["object"]["key"] == [{"prefix": "raw/files/"}]


def test_raw_object_created_rule_targets_the_ingest_queue(resources: Resources) -> None:
    targets = resources["RawObjectCreatedRule"]["Properties"]["Targets"]
    assert [logical_id(target["Arn"]) for target in targets] == ["IngestQueue"]


def test_ingest_queue_accepts_messages_only_from_the_rule(resources: Resources) -> None:
    policy = resources["IngestQueuePolicy"]["Properties"]
    assert [logical_id(queue) for queue in policy["Queues"]] == ["IngestQueue"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sqs:SendMessage"]
    source_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert logical_id(source_arn) == "RawObjectCreatedRule"


def test_lake_bucket_sends_its_events_to_eventbridge(resources: Resources) -> None:
    notification = resources["LakeBucket"]["Properties"]["NotificationConfiguration"]
    assert notification["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


# --- buckets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bucket_id", BUCKETS)
def test_bucket_is_versioned(resources: Resources, bucket_id: str) -> None:
    assert resources[bucket_id]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"


@pytest.mark.parametrize("bucket_id", BUCKETS)
def test_bucket_is_encrypted_at_rest(resources: Resources, bucket_id: str) -> None:
    config = resources[bucket_id]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    algorithms = {rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in config}
    assert algorithms and algorithms <= {"AES256", "aws:kms"}


@pytest.mark.parametrize("bucket_id", BUCKETS)
def test_bucket_blocks_all_public_access(resources: Resources, bucket_id: str) -> None:
    block = resources[bucket_id]["Properties"]["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


@pytest.mark.parametrize("bucket_id", BUCKETS)
def test_bucket_policy_denies_every_request_without_tls(resources: Resources, bucket_id: str) -> None:
    policy = resources[BUCKET_POLICIES[bucket_id]]["Properties"]
    assert logical_id(policy["Bucket"]) == bucket_id
    denials = [
        statement
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"].get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert len(denials) == 1
    assert denials[0]["Principal"] == "*"
    assert as_list(denials[0]["Action"]) == ["s3:*"]
    covered = {render(resource) for resource in as_list(denials[0]["Resource"])}
    assert covered == {f"${{{bucket_id}.Arn}}", f"${{{bucket_id}.Arn}}/*"}


def test_lake_lifecycle_tiers_raw_expires_staging_and_old_versions(resources: Resources) -> None:
    rules = resources["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    by_prefix = {rule.get("Prefix", ""): rule for rule in rules}
    tiers = {t["StorageClass"]: t["TransitionInDays"] for t in by_prefix["raw/"]["Transitions"]}
    assert tiers == {"STANDARD_IA": 30, "GLACIER_IR": 180}
    assert by_prefix["staging/"]["ExpirationInDays"] == 7
    whole_bucket = by_prefix[""]
    assert whole_bucket["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert whole_bucket["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7


def test_athena_results_expire_after_30_days(resources: Resources) -> None:
    [rule] = resources["AthenaResultsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert "Prefix" not in rule
    assert rule["ExpirationInDays"] == 30


# --- IAM ------------------------------------------------------------------------------------------


def test_ingest_role_reads_objects_only_under_raw_and_the_erased_list(resources: Resources) -> None:
    statements = inline_statements(resources, "IngestFunction")
    erased = "${LakeBucket.Arn}/suppression/erased.parquet"
    assert resources_granting(statements, "s3:GetObject") == {"${LakeBucket.Arn}/raw/*", erased}
    assert resources_granting(statements, "s3:GetObjectVersion") == {"${LakeBucket.Arn}/raw/*"}
    secrets = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:forecourt"
    assert resources_granting(statements, "secretsmanager:GetSecretValue") == {f"{secrets}/suppression-key-*"}


def test_ingest_role_writes_only_table_data_files_and_manifests(resources: Resources) -> None:
    statements = inline_statements(resources, "IngestFunction")
    assert resources_granting(statements, "s3:PutObject") == {
        "${LakeBucket.Arn}/tables/*/data/*",
        "${LakeBucket.Arn}/manifests/*",
    }


def test_ingest_role_sends_only_to_the_commit_queue_and_reads_the_registry(resources: Resources) -> None:
    statements = inline_statements(resources, "IngestFunction")
    assert resources_granting(statements, "sqs:SendMessage") == {"${CommitQueue.Arn}"}
    assert resources_granting(statements, "dynamodb:GetItem") == {"${DealerRegistryTable.Arn}"}


def test_ingest_role_cannot_touch_the_catalog(resources: Resources) -> None:
    actions = {a for s in inline_statements(resources, "IngestFunction") for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("glue:")}


def test_commit_role_limits_glue_to_the_forecourt_database(resources: Resources) -> None:
    statements = inline_statements(resources, "CommitFunction")
    prefix = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:"
    for action in ("glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"):
        assert resources_granting(statements, action) == {
            prefix + "catalog",
            prefix + "database/${GlueDatabase}",
            prefix + "table/${GlueDatabase}/*",
        }


def test_commit_role_reads_and_writes_only_tables_and_its_commit_markers(resources: Resources) -> None:
    statements = inline_statements(resources, "CommitFunction")
    allowed = {"${LakeBucket.Arn}/tables/*", "${LakeBucket.Arn}/manifests/commits/*"}
    assert resources_granting(statements, "s3:GetObject") == allowed
    compactions = "${LakeBucket.Arn}/manifests/compactions/*"  # each compaction's outcome
    assert resources_granting(statements, "s3:PutObject") == allowed | {compactions}
    # an erasure's expiry deletes data files (every version), nothing else
    for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
        assert resources_granting(statements, action) == {"${LakeBucket.Arn}/tables/*/data/*"}
    [listing] = [s for s in statements if "s3:ListBucket" in as_list(s["Action"])]
    assert render(listing["Resource"]) == "${LakeBucket.Arn}"
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["tables/*"]


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_role_has_no_wildcard_actions_or_resources(resources: Resources, function_id: str) -> None:
    for statement in inline_statements(resources, function_id):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), statement
        for resource in as_list(statement["Resource"]):
            assert render(resource) != "*", statement


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_role_attaches_only_the_managed_policies_sam_requires(resources: Resources, function_id: str) -> None:
    attached = set(role_of(resources, function_id)["Properties"].get("ManagedPolicyArns", []))
    assert attached <= ALLOWED_MANAGED_POLICIES


# --- registries -----------------------------------------------------------------------------------


def test_every_dynamodb_table_is_on_demand_encrypted_with_point_in_time_recovery(
    resources: Resources,
) -> None:
    tables = of_type(resources, "AWS::DynamoDB::Table")
    assert {
        "IdempotencyTable",
        "DealerRegistryTable",
        "SenderRegistryTable",
        "IdentityIndexTable",
        "DeliveryStateTable",
    } <= set(tables)
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["SSESpecification"]["SSEEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


@pytest.mark.parametrize(
    ("table_id", "key"), [("DealerRegistryTable", "dealer_id"), ("SenderRegistryTable", "sender_name")]
)
def test_registries_are_keyed_by_name_and_survive_the_stack(
    resources: Resources, table_id: str, key: str
) -> None:
    table = resources[table_id]
    assert table["Properties"]["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
    assert table["Properties"]["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


# --- functions and layer --------------------------------------------------------------------------


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_forecourt_layer_is_attached_and_the_jobs_layer_only_to_the_jobs(
    resources: Resources, function_id: str
) -> None:
    layers = [logical_id(layer) for layer in resources[function_id]["Properties"]["Layers"]]
    with_jobs_layer = [*JOB_FUNCTIONS, "ErasureFunction", "CompactFunction"]  # they rewrite tables too
    assert len(layers) == (2 if function_id in with_jobs_layer else 1)
    assert layers[0].startswith("ForecourtLayer")
    if function_id in with_jobs_layer:
        assert layers[1].startswith("JobsLayer")
    assert all(resources[layer]["Type"] == "AWS::Lambda::LayerVersion" for layer in layers)


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_runs_python_312_on_x86_with_tracing(resources: Resources, function_id: str) -> None:
    props = resources[function_id]["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == "Forecourt"


def test_ingest_function_knows_its_bucket_database_registry_and_commit_queue(resources: Resources) -> None:
    variables = resources["IngestFunction"]["Properties"]["Environment"]["Variables"]
    assert (
        variables["FORECOURT_BATCH_ROWS"] == "32768" and variables["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
    )
    assert {
        name: logical_id(value)
        for name, value in variables.items()
        if name.startswith("FORECOURT_") and isinstance(value, dict)
    } == {
        "FORECOURT_LAKE_BUCKET": "LakeBucket",
        "FORECOURT_GLUE_DATABASE": "GlueDatabase",
        "FORECOURT_REGISTRY_TABLE": "DealerRegistryTable",
        "FORECOURT_COMMIT_QUEUE_URL": "CommitQueue",
    }


@pytest.mark.parametrize("layer_id", ["ForecourtLayer", "JobsLayer"])
def test_layer_is_built_by_its_makefile(sam_template: dict[str, Any], repo_root: Path, layer_id: str) -> None:
    layer = sam_template["Resources"][layer_id]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    makefile = repo_root / layer["Properties"]["ContentUri"] / "Makefile"
    assert re.search(rf"^build-{layer_id}:", makefile.read_text(), flags=re.MULTILINE)


# --- scheduled jobs -------------------------------------------------------------------------------


def _invoke_config(resources: Resources, function_id: str) -> dict[str, Any]:
    configs = [
        config["Properties"]
        for config in of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert len(configs) == 1, function_id
    return configs[0]


def test_resolve_runs_on_its_schedule_enrich_follows_each_success_and_audiences_each_enrich(
    sam_template: dict[str, Any], resources: Resources
) -> None:
    schedules = of_type(resources, "AWS::Scheduler::Schedule")
    [schedule] = [
        s["Properties"]
        for s in schedules.values()
        if logical_id(s["Properties"]["Target"]["Arn"]) != "CompactFunction"
    ]
    assert schedule["ScheduleExpression"] == {"Ref": "ResolveSchedule"}
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert logical_id(schedule["Target"]["Arn"]) == "ResolveFunction"
    assert sam_template["Parameters"]["ResolveSchedule"]["Default"] == "cron(0 5 * * ? *)"
    resolve = _invoke_config(resources, "ResolveFunction")
    assert logical_id(resolve["DestinationConfig"]["OnSuccess"]["Destination"]) == "EnrichFunction"
    enrich = _invoke_config(resources, "EnrichFunction")
    assert logical_id(enrich["DestinationConfig"]["OnSuccess"]["Destination"]) == "AudiencesFunction"
    audiences = _invoke_config(resources, "AudiencesFunction")
    assert "OnSuccess" not in audiences["DestinationConfig"]
    for config in (resolve, enrich, audiences):
        assert config["MaximumRetryAttempts"] == 1
        assert logical_id(config["DestinationConfig"]["OnFailure"]["Destination"]) == "JobsFailureQueue"


def test_each_job_may_invoke_only_the_next(resources: Resources) -> None:
    statements = inline_statements(resources, "ResolveFunction")
    assert resources_granting(statements, "lambda:InvokeFunction") == {"${EnrichFunction.Arn}"}
    statements = inline_statements(resources, "EnrichFunction")
    assert resources_granting(statements, "lambda:InvokeFunction") == {"${AudiencesFunction.Arn}"}
    statements = inline_statements(resources, "AudiencesFunction")
    assert resources_granting(statements, "lambda:InvokeFunction") == set()


def test_audiences_read_only_the_suppression_key_and_platform_credentials(resources: Resources) -> None:
    statements = inline_statements(resources, "AudiencesFunction")
    secrets = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:forecourt"
    assert resources_granting(statements, "secretsmanager:GetSecretValue") == {
        f"{secrets}/suppression-key-*",
        f"{secrets}/platforms/meta-*",
        f"{secrets}/platforms/google-*",
    }
    written = resources_granting(statements, "s3:PutObject")
    assert written == {"${LakeBucket.Arn}/tables/*/data/*", *LEDGERS}


@pytest.mark.parametrize("function_id", JOB_FUNCTIONS)
def test_jobs_have_a_quarter_hour_room_to_spill_and_run_one_at_a_time(
    resources: Resources, function_id: str
) -> None:
    props = resources[function_id]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Timeout"] == 900
    assert props["MemorySize"] >= 4096
    assert props["EphemeralStorage"]["Size"] >= props["MemorySize"]


@pytest.mark.parametrize("function_id", JOB_FUNCTIONS)
def test_jobs_read_tables_write_only_data_files_and_queue_commits(
    resources: Resources, function_id: str
) -> None:
    statements = inline_statements(resources, function_id)
    ledger = LEDGERS if function_id == "AudiencesFunction" else set()
    applied = "${LakeBucket.Arn}/manifests/commits/*"  # the committer's record of what it applied
    assert resources_granting(statements, "s3:GetObject") == {"${LakeBucket.Arn}/tables/*", applied} | ledger
    written = resources_granting(statements, "s3:PutObject")
    assert "${LakeBucket.Arn}/tables/*/data/*" in written
    assert not any(resource.startswith("${LakeBucket.Arn}/raw") for resource in written)
    # the failure destination is written by Lambda with the function's role
    assert resources_granting(statements, "sqs:SendMessage") == {
        "${CommitQueue.Arn}",
        "${JobsFailureQueue.Arn}",
    }
    assert not any(
        action.startswith("glue:") and not action.startswith("glue:Get")
        for statement in statements
        for action in as_list(statement["Action"])
    ), "only the committer changes the catalog"


def test_only_resolve_writes_the_identity_index_and_only_enrich_writes_outbound(resources: Resources) -> None:
    resolve = inline_statements(resources, "ResolveFunction")
    enrich = inline_statements(resources, "EnrichFunction")
    assert resources_granting(resolve, "dynamodb:BatchWriteItem") == {"${IdentityIndexTable.Arn}"}
    assert resources_granting(enrich, "dynamodb:BatchWriteItem") == set()
    assert "${LakeBucket.Arn}/outbound/dealer=*/enriched-leads/*" in resources_granting(
        enrich, "s3:PutObject"
    )
    assert not any("outbound" in resource for resource in resources_granting(resolve, "s3:PutObject"))


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_code_directory_has_its_handler_module(
    sam_template: dict[str, Any], repo_root: Path, function_id: str
) -> None:
    props = sam_template["Resources"][function_id]["Properties"]
    module = props["Handler"].split(".")[0]
    assert (repo_root / props["CodeUri"] / f"{module}.py").is_file()


# --- catalog and analysts -------------------------------------------------------------------------


def test_glue_database_is_named_by_stage_and_holds_tables_under_tables_prefix(resources: Resources) -> None:
    database = resources["GlueDatabase"]["Properties"]["DatabaseInput"]
    assert render(database["Name"]) == "forecourt_${Stage}"
    assert render(database["LocationUri"]) == "s3://${LakeBucket}/tables"


def test_iceberg_tables_are_left_to_the_migration_verb(resources: Resources) -> None:
    assert not of_type(resources, "AWS::Glue::Table")
    assert not of_type(resources, "AWS::Glue::Crawler")


def test_analyst_workgroup_enforces_engine_3_scan_limit_and_encrypted_results(resources: Resources) -> None:
    config = resources["AnalystWorkGroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    results = config["ResultConfiguration"]
    assert render(results["OutputLocation"]) == "s3://${AthenaResultsBucket}/results/"
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"


def test_default_scan_limit_is_10_gib(sam_template: dict[str, Any]) -> None:
    assert int(sam_template["Parameters"]["AthenaBytesScannedCutoff"]["Default"]) == 10 * 1024**3


def test_outputs_name_every_resource_the_cli_needs(cfn: dict[str, Any]) -> None:
    assert {
        "LakeBucketName",
        "AthenaResultsBucketName",
        "IngestQueueUrl",
        "CommitQueueUrl",
        "IdempotencyTableName",
        "DealerRegistryTableName",
        "SenderRegistryTableName",
        "GlueDatabaseName",
        "AnalystWorkGroupName",
        "DeliveryQueueUrl",
        "DeliveryDeadLetterQueueUrl",
        "DeliveryStateTableName",
    } <= set(cfn["Outputs"])


# --- real time: HTTP API → webhook ------------------------------------------------------------------
def test_webhook_is_routed_from_the_http_api_post_leads(resources: Resources) -> None:
    [api] = of_type(resources, "AWS::ApiGatewayV2::Api").values()
    operation = api["Properties"]["Body"]["paths"]["/v1/leads"]["post"]  # SAM writes an OpenAPI body
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["payloadFormatVersion"] == "2.0"
    assert "WebhookFunction" in render(integration["uri"])
    paths = api["Properties"]["Body"]["paths"]
    assert {"/v1/dealers/{dealer_id}/events", "/v1/dealers/{dealer_id}/uploads"} <= set(paths)


def test_webhook_role_stores_only_raw_webhooks_and_sends_only_to_the_realtime_queue(
    resources: Resources,
) -> None:
    statements = inline_statements(resources, "WebhookFunction")
    assert resources_granting(statements, "s3:PutObject") == {
        "${LakeBucket.Arn}/raw/webhooks/*",
        "${LakeBucket.Arn}/raw/events/*",
        "${LakeBucket.Arn}/raw/files/*",
    }
    # it reads the erased list (a lead naming an erased person is neither kept nor routed) and the
    # dealers' outbound files, which it lists and presigns GET URLs for (the dealers' pickup)
    assert resources_granting(statements, "s3:GetObject") == {
        "${LakeBucket.Arn}/suppression/erased.parquet",
        "${LakeBucket.Arn}/outbound/dealer=*/*",
    }
    assert resources_granting(statements, "s3:ListBucket") == {"${LakeBucket.Arn}"}
    (pickup,) = [st for st in statements if st.get("Sid") == "ListOutboundForPickup"]
    assert pickup["Condition"] == {"StringLike": {"s3:prefix": ["outbound/dealer=*"]}}
    assert resources_granting(statements, "sqs:SendMessage") == {"${RealtimeQueue.Arn}"}
    assert resources_granting(statements, "dynamodb:GetItem") == {
        "${DealerRegistryTable.Arn}",
        "${SenderRegistryTable.Arn}",
        "${IdempotencyTable.Arn}",
    }
    assert resources_granting(statements, "dynamodb:PutItem") == {"${IdempotencyTable.Arn}"}
    assert resources_granting(statements, "secretsmanager:GetSecretValue") == {
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:forecourt/senders/*",
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:forecourt/suppression-key-*",
    }


def test_reading_the_erased_list_may_list_only_that_object(resources: Resources) -> None:
    """S3 answers a GET of a missing object with 403 unless the role may list: the roles that read
    the erased list may list exactly its key, so before the first erasure they get a 404."""
    for function in ("IngestFunction", "WebhookFunction"):
        statements = inline_statements(resources, function)
        (listing,) = [st for st in statements if st.get("Sid") == "ListErasedList"]
        assert listing["Condition"] == {"StringEquals": {"s3:prefix": "suppression/erased.parquet"}}, function


# --- routing: RealtimeQueue → route_lead → DeliveryQueue / FallbackQueue -----------------------------
def test_route_lead_batches_are_small_and_quick(resources: Resources) -> None:
    mapping = event_source_mapping(resources, "RouteLeadFunction")
    assert mapping["BatchSize"] == 10
    assert mapping["MaximumBatchingWindowInSeconds"] <= 1
    assert resources["RouteLeadFunction"]["Properties"]["Timeout"] == 30


def test_route_lead_knows_its_registry_index_queues_and_bucket(resources: Resources) -> None:
    variables = resources["RouteLeadFunction"]["Properties"]["Environment"]["Variables"]
    assert {
        name: logical_id(value)
        for name, value in variables.items()
        if name.startswith("FORECOURT_") and isinstance(value, dict)
    } == {
        "FORECOURT_LAKE_BUCKET": "LakeBucket",
        "FORECOURT_REGISTRY_TABLE": "DealerRegistryTable",
        "FORECOURT_IDENTITY_INDEX_TABLE": "IdentityIndexTable",
        "FORECOURT_DELIVERY_QUEUE_URL": "DeliveryQueue",
        "FORECOURT_FALLBACK_QUEUE_URL": "FallbackQueue",
        "FORECOURT_COMMIT_QUEUE_URL": "CommitQueue",
    }


def test_route_lead_role_is_least_privilege(resources: Resources) -> None:
    statements = inline_statements(resources, "RouteLeadFunction")
    assert resources_granting(statements, "dynamodb:Scan") == {"${DealerRegistryTable.Arn}"}
    assert resources_granting(statements, "dynamodb:GetItem") == {
        "${DealerRegistryTable.Arn}",
        "${IdentityIndexTable.Arn}",
    }
    for action in ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"):
        assert resources_granting(statements, action) == {"${IdentityIndexTable.Arn}"}, action
    assert resources_granting(statements, "dynamodb:DeleteItem") == set()
    assert resources_granting(statements, "sqs:SendMessage") == {
        "${DeliveryQueue.Arn}",
        "${FallbackQueue.Arn}",
        "${CommitQueue.Arn}",
    }
    # the data files of the batch it records (realtime.record_batch), no other table's, no metadata
    assert resources_granting(statements, "s3:PutObject") == {
        f"${{LakeBucket.Arn}}/tables/{table}/data/*"
        for table in ("lead_routes", "leads", "lead_events", "quarantine", "uploads")
    }
    # the erased list (a lead whose person was erased while queued is neither kept nor routed)
    assert resources_granting(statements, "s3:GetObject") == {"${LakeBucket.Arn}/suppression/erased.parquet"}
    assert resources_granting(statements, "s3:DeleteObject") == {"${LakeBucket.Arn}/raw/webhooks/*"}
    assert resources_granting(statements, "secretsmanager:GetSecretValue") == {
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:forecourt/suppression-key-*"
    }
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("glue:")}


def test_delivery_queue_is_standard_and_gives_a_60_s_deliver_six_times_its_timeout(
    resources: Resources,
) -> None:
    queue = resources["DeliveryQueue"]["Properties"]
    assert "FifoQueue" not in queue
    assert queue["VisibilityTimeout"] >= 6 * 60


def test_fallback_queue_keeps_leads_14_days_and_alarms_when_one_waits(resources: Resources) -> None:
    queue = resources["FallbackQueue"]["Properties"]
    assert "FifoQueue" not in queue and "RedrivePolicy" not in queue  # worked by people, not a function
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    [alarm] = [
        a["Properties"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if any(logical_id(d["Value"]) == "FallbackQueue" for d in a["Properties"].get("Dimensions", []))
    ]
    assert alarm["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert 0 < alarm["Threshold"] <= 30 * 60  # before the OEM's 30-minute speed-to-lead target


def test_identity_index_is_keyed_by_hash_expires_and_survives_the_stack(resources: Resources) -> None:
    table = resources["IdentityIndexTable"]
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "key", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_outputs_name_the_routing_queues_and_index(cfn: dict[str, Any]) -> None:
    assert {
        "RealtimeQueueUrl",
        "DeliveryQueueUrl",
        "DeliveryDeadLetterQueueUrl",
        "FallbackQueueUrl",
        "IdentityIndexTableName",
    } <= set(cfn["Outputs"])


# --- real time: delivery ----------------------------------------------------------------------------
def test_deliver_runs_a_minute_on_512_mb_in_small_batches(resources: Resources) -> None:
    props = resources["DeliverFunction"]["Properties"]
    assert (props["Timeout"], props["MemorySize"]) == (60, 512)
    assert event_source_mapping(resources, "DeliverFunction")["BatchSize"] == 5
    assert resources["DeliveryQueue"]["Properties"]["VisibilityTimeout"] == 360


def test_delivery_queue_redrives_after_as_many_receives_as_the_function_counts(resources: Resources) -> None:
    from forecourt.config import Settings

    redrive = resources["DeliveryQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == Settings().delivery_max_receives
    assert "FifoQueue" not in resources["DeliveryQueue"]["Properties"]


def test_delivery_state_is_keyed_by_delivery_id_and_expires(resources: Resources) -> None:
    props = resources["DeliveryStateTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "delivery_id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_deliver_role_is_least_privilege(resources: Resources) -> None:
    statements = inline_statements(resources, "DeliverFunction")
    assert resources_granting(statements, "dynamodb:GetItem") == {
        "${DealerRegistryTable.Arn}",
        "${DeliveryStateTable.Arn}",
    }
    assert resources_granting(statements, "dynamodb:UpdateItem") == {"${DeliveryStateTable.Arn}"}
    assert resources_granting(statements, "dynamodb:PutItem") == set()
    assert resources_granting(statements, "dynamodb:DeleteItem") == set()
    assert resources_granting(statements, "secretsmanager:GetSecretValue") == {
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:forecourt/dealers/*"
    }
    assert resources_granting(statements, "ses:SendRawEmail") == {
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${DeliveryMailDomain}"
    }
    assert resources_granting(statements, "s3:PutObject") == {
        "${LakeBucket.Arn}/outbound/*",
        "${LakeBucket.Arn}/tables/deliveries/data/*",
    }
    assert resources_granting(statements, "s3:GetObject") == set()
    assert resources_granting(statements, "sqs:SendMessage") == {
        "${CommitQueue.Arn}",
        "${DeliveryDeadLetterQueue.Arn}",
        "${FallbackQueue.Arn}",
    }
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert actions == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "secretsmanager:GetSecretValue",
        "ses:SendRawEmail",
        "s3:PutObject",
        "sqs:SendMessage",
    }


def test_deliver_function_knows_its_state_registry_dead_letters_and_mail(resources: Resources) -> None:
    variables = resources["DeliverFunction"]["Properties"]["Environment"]["Variables"]
    assert {
        name: logical_id(value)
        for name, value in variables.items()
        if name.startswith("FORECOURT_")
        and isinstance(value, dict)
        and ("Ref" in value or "Fn::GetAtt" in value)
    } == {
        "FORECOURT_LAKE_BUCKET": "LakeBucket",
        "FORECOURT_REGISTRY_TABLE": "DealerRegistryTable",
        "FORECOURT_COMMIT_QUEUE_URL": "CommitQueue",
        "FORECOURT_DELIVERY_STATE_TABLE": "DeliveryStateTable",
        "FORECOURT_DELIVERY_DEAD_LETTER_QUEUE_URL": "DeliveryDeadLetterQueue",
        "FORECOURT_FALLBACK_QUEUE_URL": "FallbackQueue",
    }
    assert variables["FORECOURT_MAIL_TRANSPORT"] == "ses"
    assert render(variables["FORECOURT_MAIL_FROM"]) == "leads@${DeliveryMailDomain}"


def test_erasure_runs_on_request_objects_one_at_a_time_with_a_failure_destination(
    resources: Resources, sam_template: dict[str, Any]
) -> None:
    props = sam_template["Resources"]["ErasureFunction"]["Properties"]
    pattern = props["Events"]["PrivacyRequests"]["Properties"]["Pattern"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "privacy/requests/"}]
    assert props["ReservedConcurrentExecutions"] == 1 and props["Timeout"] == 900
    assert props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_erasure_role_rewrites_raw_and_outbound_and_changes_no_catalog(resources: Resources) -> None:
    statements = inline_statements(resources, "ErasureFunction")
    bucket = "${LakeBucket.Arn}"
    assert resources_granting(statements, "s3:DeleteObjectVersion") == {
        f"{bucket}/raw/*",
        f"{bucket}/outbound/*",
        f"{bucket}/privacy/requests/*",
    }
    assert f"{bucket}/tables/*/data/*" in resources_granting(statements, "s3:PutObject")
    assert not any(
        r.startswith(f"{bucket}/tables") for r in resources_granting(statements, "s3:DeleteObject")
    )
    assert resources_granting(statements, "sqs:SendMessage") == {
        "${CommitQueue.Arn}",
        "${JobsFailureQueue.Arn}",
    }
    assert not any(
        action.startswith("glue:") and not action.startswith("glue:Get")
        for statement in statements
        for action in as_list(statement["Action"])
    ), "only the committer changes the catalog"
    assert resources_granting(statements, "dynamodb:Scan") == {
        "${IdempotencyTable.Arn}",
        "${DeliveryStateTable.Arn}",
    }


# --- compaction -----------------------------------------------------------------------------------


def test_compaction_runs_alone_on_its_own_schedule_with_a_failure_destination(
    sam_template: dict[str, Any], resources: Resources
) -> None:
    [schedule] = [
        s["Properties"]
        for s in of_type(resources, "AWS::Scheduler::Schedule").values()
        if logical_id(s["Properties"]["Target"]["Arn"]) == "CompactFunction"
    ]
    assert schedule["ScheduleExpression"] == {"Ref": "CompactSchedule"}
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert sam_template["Parameters"]["CompactSchedule"]["Default"] == "cron(0 3 * * ? *)"
    config = _invoke_config(resources, "CompactFunction")
    assert config["MaximumRetryAttempts"] == 1
    assert logical_id(config["DestinationConfig"]["OnFailure"]["Destination"]) == "JobsFailureQueue"
    assert "OnSuccess" not in config["DestinationConfig"]
    props = resources["CompactFunction"]["Properties"]
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["Timeout"] == 900
    assert props["EphemeralStorage"]["Size"] >= props["MemorySize"] >= 4096


def test_compaction_writes_only_data_files_and_commits_only_through_the_queue(resources: Resources) -> None:
    statements = inline_statements(resources, "CompactFunction")
    assert resources_granting(statements, "s3:GetObject") == {
        "${LakeBucket.Arn}/tables/*",
        "${LakeBucket.Arn}/manifests/compactions/*",
    }
    assert resources_granting(statements, "s3:PutObject") == {"${LakeBucket.Arn}/tables/*/data/*"}
    assert resources_granting(statements, "s3:DeleteObject") == {"${LakeBucket.Arn}/tables/*/data/*"}
    assert resources_granting(statements, "s3:DeleteObjectVersion") == set()
    assert resources_granting(statements, "sqs:SendMessage") == {
        "${CommitQueue.Arn}",
        "${JobsFailureQueue.Arn}",
    }
    assert not any(
        action.startswith("glue:") and not action.startswith("glue:Get")
        for statement in statements
        for action in as_list(statement["Action"])
    ), "only the committer changes the catalog"
