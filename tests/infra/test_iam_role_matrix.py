"""Who may touch which part of the lake, evaluated rather than read (ARCHITECTURE §9): each role's
policies from the transformed template are attached to a user of moto's IAM, and the user's real S3
requests go through moto's IAM enforcement (identity policies: Allow, explicit Deny, wildcards in
resources). moto 5.2 evaluates no resource-level Glue or Athena ARNs (it authorizes those calls
against ``*``) and only trust-policy conditions, so the analyst role's Glue deny and its ListBucket
prefix condition are not exercised here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from iam_policies import Resources, role_policies
from moto import mock_aws
from moto.core.authorization import enable_iam_authentication

ACCOUNT, REGION, STAGE = "123456789012", "us-east-1", "dev"
LAKE, RESULTS = "forecourt-lake-test", "forecourt-athena-results-test"
DAY = "dt=2026-11-02"
TARGETS = {
    "put own raw": ("put", f"raw/files/dealer=D1001/{DAY}/LeadExport.csv"),
    "read raw": ("get", f"raw/files/dealer=D1001/{DAY}/LeadExport.csv"),
    "read raw webhooks": ("get", f"raw/webhooks/dealer=D1001/{DAY}/leadhub-1.json"),
    "read tables": ("get", "tables/leads/data/dealer_id=D1001/00000-0.parquet"),
    "read sales_finance": ("get", "tables/sales_finance/data/00000-0.parquet"),
    "write outbound": ("put", "outbound/dealer=D1001/enriched-leads/2026-11-02/enriched-leads-1.csv"),
    "read outbound": ("get", f"outbound/dealer=D1001/{DAY}/delivery-1.xml"),
    "write query results": ("put", "results/q-1.csv"),
}
"""Each column of the matrix: an S3 request on a key of the lake (the last one: the results bucket)."""

Y, N = True, False
MATRIX = {
    # role (logical id)     put raw, read raw, webhooks, tables, finance, write out, read out, results
    "WebhookFunctionRole": (Y, N, N, N, N, N, Y, N),  # presigns the dealers' pickup URLs
    "IngestFunctionRole": (N, Y, Y, N, N, N, N, N),
    "RouteLeadFunctionRole": (N, N, N, N, N, N, N, N),
    "DeliverFunctionRole": (N, N, N, N, N, Y, N, N),
    "EnrichFunctionRole": (N, N, N, Y, Y, Y, N, N),  # finance_ends is computed from sales_finance
    "AnalystRole": (N, N, N, Y, N, N, N, Y),
}
"""Whether each role may make each request: least privilege, raw/ only for the functions that store
or ingest it, outbound/ written only by deliver and enrich and read only by the webhook (whose presigned GET URLs
are how dealers pick their files up), the financial table never for analysts."""


def _named(name: str) -> str:
    """The names the policies are rendered with in this test (every ``X.Arn`` as a queue's ARN)."""
    names = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "Stage": STAGE,
        "LakeBucket": LAKE,
        "LakeBucket.Arn": f"arn:aws:s3:::{LAKE}",
        "AthenaResultsBucket": RESULTS,
        "AthenaResultsBucket.Arn": f"arn:aws:s3:::{RESULTS}",
        "AnalystWorkGroup": "forecourt-analysts",
    }
    if name in names:
        return names[name]
    resource, _, attribute = name.partition(".")
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{resource}" if attribute else resource


@pytest.fixture(scope="module")
def s3_as(resources: Resources) -> Iterator[dict[str, Any]]:
    """An S3 client per role of the matrix, signing as a moto IAM user holding that role's policies."""
    with mock_aws():
        admin = {"region_name": REGION, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        s3 = boto3.client("s3", **admin)
        for bucket in (LAKE, RESULTS):
            s3.create_bucket(Bucket=bucket)
        for verb, key in TARGETS.values():
            if verb == "get":
                s3.put_object(Bucket=LAKE, Key=key, Body=b"x")
        iam = boto3.client("iam", **admin)
        clients = {}
        for role in MATRIX:
            user = role.lower()
            iam.create_user(UserName=user)
            for name, document in role_policies(resources, role, _named).items():
                iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=json.dumps(document))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            clients[role] = boto3.client(
                "s3",
                region_name=REGION,
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            )
        with enable_iam_authentication():
            yield clients


def _allowed(client: Any, verb: str, key: str) -> bool:
    bucket = RESULTS if key.startswith("results/") else LAKE
    try:
        if verb == "get":
            client.get_object(Bucket=bucket, Key=key)["Body"].read()
        else:
            client.put_object(Bucket=bucket, Key=key, Body=b"y")
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response["Error"]
        return False
    return True


@pytest.mark.parametrize("role", list(MATRIX))
def test_role_may_touch_only_its_part_of_the_lake(s3_as: dict[str, Any], role: str) -> None:
    found = {column: _allowed(s3_as[role], *TARGETS[column]) for column in TARGETS}
    assert found == dict(zip(TARGETS, MATRIX[role], strict=True))


def test_an_unsigned_or_forged_request_is_refused(s3_as: dict[str, Any]) -> None:
    forged = boto3.client(
        "s3", region_name=REGION, aws_access_key_id="AKIAFORGED0000000000", aws_secret_access_key="x"
    )
    with pytest.raises(ClientError) as refused:
        forged.get_object(Bucket=LAKE, Key=TARGETS["read tables"][1])
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
