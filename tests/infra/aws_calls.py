"""Every AWS request the code makes, as the moto server of the local stack receives it, turned into
the IAM permissions it needs (action, resource ARN, condition keys) and credited to the function
running at that moment.

Recorded inside moto's server (its ``ActionAuthenticatorMixin``, where every request of every
service passes before moto would enforce IAM), so that the S3 requests of pyarrow's filesystem and
pyiceberg's FileIO, which do not go through botocore, are recorded like boto3's. moto names each S3
request's IAM action and resource ARN itself (``moto.s3.responses.ACTION_MAP``); the resources of
the other services come from the request's parameters (moto authorizes those against ``*``)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from moto.core.authorization import ActionAuthenticatorMixin

ACCOUNT, REGION = "123456789012", "us-east-1"
"""moto's default account and the local stack's region."""
S3_ACTIONS = {"HeadBucket": "ListBucket"}
"""moto's S3 action names that are not IAM's (a HEAD of a bucket needs s3:ListBucket)."""
_LISTS = ("s3:ListBucket", "s3:ListBucketVersions")
_SERVICE_PREFIXES = {"monitoring": "cloudwatch", "email": "ses"}
"""SigV4 signing names that differ from the IAM service prefix."""
BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
"""API operations that IAM authorizes as another action (SQS's batch calls need the single call's)."""


@dataclass(frozen=True)
class Need:
    """One permission a request needs: IAM action, resource ARN, condition keys of the request."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    request: str = ""
    """The request, for messages: method and path (S3) or service and operation."""

    def __str__(self) -> str:
        keys = "".join(f" {k}={v!r}" for k, v in self.context)
        return f"{self.action} on {self.resource}{keys} ({self.request})"


@dataclass
class Recorder:
    """The permissions each function needed, by function; requests made while no function runs
    (a test's own set-up) are not recorded."""

    needs: dict[str, list[Need]] = field(default_factory=lambda: defaultdict(list))
    function: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        """Credit the requests received meanwhile to ``function`` (one function at a time: the
        requests of every thread count)."""
        before, self.function = self.function, function
        try:
            yield
        finally:
            self.function = before

    def note(self, response: Any, resource: str) -> None:
        function = self.function
        if function is None:
            return
        try:
            needs = needs_of(response, resource)
        except Exception as error:  # not raised inside moto's server: the test names it
            needs = [Need("unrecognized request", repr(error), (), str(getattr(response, "uri", "")))]
        with self._lock:
            self.needs[function].extend(needs)


@contextlib.contextmanager
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """A recorder of every request the moto server of this process answers, while the block runs."""
    recorder = Recorder()
    authorize: Callable[..., None] = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def noting(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        recorder.note(self, resource)
        authorize(self, iam_request_cls, resource)

    monkeypatch.setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", noting)
    yield recorder


def needs_of(response: Any, resource: str) -> list[Need]:
    """The permissions one request received by moto needs."""
    service = _signing_service(response.headers)
    if service == "s3":
        return _s3_needs(response, resource)
    target = response.headers.get("X-Amz-Target") or ""
    operation = target.rpartition(".")[2] if target else response._get_action()
    prefix = _SERVICE_PREFIXES.get(service, service)
    body = (
        response.raw_body.decode() if isinstance(response.raw_body, bytes) else str(response.raw_body or "")
    )
    params = json.loads(body) if body.strip().startswith("{") else dict(response.querystring)
    rule = RESOURCES.get(prefix)
    if rule is None:
        raise LookupError(f"no resource rule for {prefix}:{operation}: add one to tests/infra/aws_calls.py")
    request, action = f"{prefix} {operation}", f"{prefix}:{operation}"
    return [Need(BATCH_ACTIONS.get(action, action), arn, (), request) for arn in rule(operation, params)]


def _signing_service(headers: Any) -> str:
    credential = (headers.get("Authorization") or "").partition("Credential=")[2].split(",")[0]
    parts = credential.split("/")
    return parts[3] if len(parts) > 3 else ""


def _s3_needs(response: Any, resource: str) -> list[Need]:
    action = "s3:" + S3_ACTIONS.get(response.data["Action"], response.data["Action"])
    url = urlparse(response.uri)
    request = f"{response.method} {unquote(url.path)}{'?' + url.query if url.query else ''}"
    query = parse_qs(url.query, keep_blank_values=True)
    if action in _LISTS:
        # a list without a prefix has no s3:prefix: no value matches a condition on it
        context = (("s3:prefix", query.get("prefix", [""])[0]),)
        return [Need(action, resource, context, request)]
    if action == "s3:DeleteObject" and "delete" in query:  # DeleteObjects: each key
        keys = _deleted_keys(response.body)
        bucket = resource.removeprefix("arn:aws:s3:::").split("/")[0]
        return [Need(action, f"arn:aws:s3:::{bucket}/{key}", (), request) for key in keys]
    needs = [Need(action, resource, (), request)]
    source = response.headers.get("x-amz-copy-source")
    if source:  # CopyObject (and UploadPartCopy) read their source
        path = unquote(source).lstrip("/").split("?")[0]
        needs.append(Need("s3:GetObject", f"arn:aws:s3:::{path}", (), request))
    return needs


def _deleted_keys(body: bytes | str) -> list[str]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(body)
    return [element.text or "" for element in root.iter() if element.tag.endswith("Key")]


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _dynamodb(operation: str, params: dict[str, Any]) -> list[str]:
    if "RequestItems" in params:  # BatchGetItem, BatchWriteItem
        return [_arn("dynamodb", f"table/{t}") for t in params["RequestItems"]]
    if "TransactItems" in params:
        return [
            _arn("dynamodb", f"table/{next(iter(i.values()))['TableName']}") for i in params["TransactItems"]
        ]
    index = f"/index/{params['IndexName']}" if params.get("IndexName") else ""
    return [_arn("dynamodb", f"table/{params['TableName']}{index}")]


def _sqs(operation: str, params: dict[str, Any]) -> list[str]:
    url = params.get("QueueUrl") or params.get("QueueName") or ""
    url = url[0] if isinstance(url, list) else url
    return [_arn("sqs", url.rstrip("/").rpartition("/")[2])]


def _secretsmanager(operation: str, params: dict[str, Any]) -> list[str]:
    if operation == "ListSecrets":
        return ["*"]
    name = params.get("SecretId") or params.get("Name") or ""
    # a secret's ARN ends in six random characters after its name
    return [name if name.startswith("arn:") else _arn("secretsmanager", f"secret:{name}-AbCdEf")]


def _glue(operation: str, params: dict[str, Any]) -> list[str]:
    """Glue authorizes the catalog, the database and the table of a call (each must be allowed)."""
    arns = [_arn("glue", "catalog")]
    database = params.get("DatabaseName") or (params.get("Name") if "Database" in operation else None)
    if database:
        arns.append(_arn("glue", f"database/{database}"))
    table = params.get("TableName") or (params.get("Name") if "Table" in operation else None)
    table = table or (params.get("TableInput") or {}).get("Name")
    if operation == "GetTables":
        table = "*"
    if database and table:
        arns.append(_arn("glue", f"table/{database}/{table}"))
    return arns


def _athena(operation: str, params: dict[str, Any]) -> list[str]:
    return [_arn("athena", f"workgroup/{params.get('WorkGroup', 'primary')}")]


def _events(operation: str, params: dict[str, Any]) -> list[str]:
    buses = {e.get("EventBusName", "default") for e in params.get("Entries", [])} or {"default"}
    return [b if b.startswith("arn:") else _arn("events", f"event-bus/{b}") for b in sorted(buses)]


def _anything(operation: str, params: dict[str, Any]) -> list[str]:
    return ["*"]


RESOURCES: dict[str, Callable[[str, dict[str, Any]], list[str]]] = {
    "dynamodb": _dynamodb,
    "sqs": _sqs,
    "secretsmanager": _secretsmanager,
    "glue": _glue,
    "athena": _athena,
    "events": _events,
    "cloudwatch": _anything,  # PutMetricData has no resource
    "sts": _anything,
}
"""The resource ARNs a call of each service is authorized against, from its parameters."""
