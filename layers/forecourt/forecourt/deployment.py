"""A deployed stack on AWS, found by its CloudFormation stack name (``forecourt --stack NAME …`` or
``FORECOURT_STACK``): the CLI's verbs then run the same boto3 code against it as against the local
stack. The stack's resources are read by logical id (``ListStackResources``), the same ids the local
stack creates from template.yaml, so both give the same settings (``resources.settings_environment``).
"""

from __future__ import annotations

import os
from typing import Any

from forecourt.local.resources import LocalResources, settings_environment
from forecourt.local.stack import StackNotRunning

STACK_VARIABLE = "FORECOURT_STACK"
"""The environment variable naming the deployed stack the CLI works on (``--stack`` sets it)."""

_KINDS = {
    "AWS::S3::Bucket": "buckets",
    "AWS::SQS::Queue": "queues",
    "AWS::DynamoDB::Table": "tables",
    "AWS::Glue::Database": "glue_databases",
    "AWS::Athena::WorkGroup": "workgroups",
    "AWS::Events::Rule": "rules",
    "AWS::CloudWatch::Alarm": "alarms",
    "AWS::Lambda::Function": "functions",
}
"""CloudFormation resource type → the ``LocalResources`` field its physical ids go to (a queue's
physical id is its URL, a table's, bucket's, database's, function's is its name)."""


class StackNotFound(StackNotRunning):
    """No CloudFormation stack of that name in the account and region (or no access to it); a
    StackNotRunning, so that every verb reports it as it reports a local stack that is down."""

    def __init__(self, name: str, region: str, reason: str) -> None:
        RuntimeError.__init__(
            self,
            f"no stack {name!r} in {region} ({reason}); deploy it with `sam build && sam deploy --guided`, "
            "or check AWS_PROFILE / AWS_REGION",
        )


def stack_name() -> str | None:
    """The deployed stack the CLI was pointed at, or None for the local stack."""
    return os.environ.get(STACK_VARIABLE) or None


def stack_resources(name: str, cloudformation: Any) -> LocalResources:
    """The stack's resources by logical id; raises StackNotFound."""
    from botocore.exceptions import ClientError

    found = LocalResources()
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name):
            for resource in page["StackResourceSummaries"]:
                kind = _KINDS.get(resource["ResourceType"])
                if kind and resource.get("PhysicalResourceId"):
                    getattr(found, kind)[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    except ClientError as exc:
        raise StackNotFound(name, cloudformation.meta.region_name, exc.response["Error"]["Message"]) from exc
    return found


def outputs(name: str, cloudformation: Any) -> dict[str, str]:
    """The stack's outputs by key (``WebhookApiUrl``, ``OperationsDashboardUrl``…)."""
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def environment(name: str, cloudformation: Any) -> tuple[dict[str, str], LocalResources, dict[str, str]]:
    """(environment, resources, outputs) of the deployed stack: the ``FORECOURT_*`` settings naming
    its resources and the region the stack is in; raises StackNotFound."""
    found = stack_resources(name, cloudformation)
    region = cloudformation.meta.region_name
    env = settings_environment(found) | {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "FORECOURT_MAIL_TRANSPORT": "ses",
    }
    return env, found, outputs(name, cloudformation)


def cloudformation_client() -> Any:
    """A CloudFormation client in the caller's region (AWS_REGION, else the profile's), with the
    endpoint of AWS_ENDPOINT_URL when one is set (tests point it at moto)."""
    import boto3

    session: Any = boto3.session.Session()
    region = os.environ.get("AWS_REGION") or session.region_name or "us-east-1"
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    return session.client("cloudformation", region_name=region, endpoint_url=endpoint)
