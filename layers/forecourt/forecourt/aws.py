"""The one place boto3 clients and the Arrow S3 filesystem are made (lazily: nothing at import)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from forecourt.config import settings

if TYPE_CHECKING:
    from pyarrow.fs import S3FileSystem

RETRIES = {"mode": "standard", "total_max_attempts": 8}
"""botocore's retry settings of every client: the standard mode (the SDKs' recommended one: the
same rules for every service, throttling errors such as S3 ``SlowDown`` and DynamoDB
``ProvisionedThroughputExceededException`` / ``ThrottlingException`` retried with jittered
exponential backoff capped at 20 s, a retry quota against retry storms) with more attempts than its
default 3 (the first try included): a burst of throttling is waited out inside the invocation
instead of failing it; what still fails comes back through the queue's redelivery."""


MISSING_OBJECT = ("404", "NoSuchKey", "NotFound", "403", "AccessDenied")
"""Error codes of a GET or HEAD of a key that does not exist: 404, or 403 when the role may not list
that prefix (S3 answers so without s3:ListBucket) — callers read only what the role may read, as
tests/infra/test_iam_covers_code.py proves, so a 403 there means no such object."""


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service`` in the configured region (endpoint from AWS_ENDPOINT_URL)."""
    import boto3
    from botocore.config import Config

    conf = settings()
    session: Any = boto3.session.Session()
    return session.client(
        service,
        region_name=conf.region,
        endpoint_url=conf.endpoint_url,
        config=Config(retries=dict(RETRIES)),  # type: ignore[arg-type]  # botocore rewrites the dict it is given
    )


@cache
def s3_filesystem() -> S3FileSystem:
    """The Arrow S3 filesystem the package reads and writes the lake with (data files, Iceberg
    metadata). Delayed open: a small file is one PutObject instead of a three-request multipart
    upload (Iceberg writes three small files per commit)."""
    from pyarrow.fs import AwsStandardS3RetryStrategy, S3FileSystem

    conf = settings()
    # the same attempts as the boto3 clients (RETRIES): a throttled data file or Iceberg metadata
    # write is waited out too (Arrow's default is 3 attempts)
    retries = AwsStandardS3RetryStrategy(max_attempts=RETRIES["total_max_attempts"])
    if conf.endpoint_url:
        url = urlparse(conf.endpoint_url)
        return S3FileSystem(
            region=conf.region,
            endpoint_override=url.netloc,
            scheme=url.scheme or "http",
            allow_bucket_creation=False,
            allow_delayed_open=True,
            retry_strategy=retries,
        )
    return S3FileSystem(region=conf.region, allow_delayed_open=True, retry_strategy=retries)


def clear_clients() -> None:
    """Forget cached clients (after the settings or the endpoint changed)."""
    client.cache_clear()
    s3_filesystem.cache_clear()
