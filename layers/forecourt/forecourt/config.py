"""Settings, parsed once from the environment (ARCHITECTURE §3: ``config``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from typing import Literal

from pydantic import BaseModel, field_validator


class Settings(BaseModel):
    """Where the lake, catalog and queues are. On Lambda these come from template.yaml; locally from
    the local stack (``forecourt local up``), which also sets ``AWS_ENDPOINT_URL``. Each field is read
    from ``FORECOURT_<FIELD>``, except ``region`` (``AWS_REGION``) and ``endpoint_url``
    (``AWS_ENDPOINT_URL``). (Plain pydantic, not pydantic-settings: it halves the cold-start import.)"""

    lake_bucket: str = "forecourt-lake"
    glue_database: str = "forecourt"
    registry_table: str = "forecourt-dealers"
    sender_table: str = "forecourt-senders"
    """The webhook sender registry (DynamoDB; template ``SenderRegistryTable``)."""
    secret_prefix: str = "forecourt"  # noqa: S105 (a name prefix, not a password)
    """Secrets Manager names start with this: a sender's secret is ``<prefix>/senders/<name>``."""
    commit_queue_url: str = ""
    realtime_queue_url: str = ""
    """Where the webhook queues accepted leads for route_lead."""
    idempotency_table: str = "forecourt-idempotency"
    idempotency_hours: int = 24
    """How long a webhook answer is kept and given again for the same idempotency key."""
    upload_url_seconds: int = 900
    """How long a presigned upload URL from POST /v1/dealers/{id}/uploads stays valid."""
    pickup_url_seconds: int = 300
    """How long each presigned download URL from GET /v1/dealers/{id}/outbound stays valid."""
    webhook_max_bytes: int = 1 << 20
    """Largest webhook body accepted (one lead; ADF with comments is a few KiB); larger → 413."""
    region: str = "us-east-1"
    endpoint_url: str | None = None
    max_file_bytes: int = 4 * 2**30
    """Largest raw object (after decompression) ingest accepts; larger → ``file_too_large``."""
    batch_rows: int = 65_536
    """Records parsed and normalized at a time: bounds ingest memory."""
    row_group_rows: int = 100_000
    """Rows per Parquet row group (ARCHITECTURE §4: ≥ 100 k); ingest holds about three row groups of
    a table in memory (one filling, one being sorted and written), so no more than that."""
    file_rows: int = 2_000_000
    """Rows per data file before the writer starts a new one."""

    # --- routing (route_lead, ARCHITECTURE §6) -------------------------------------------------------
    identity_index_table: str = "forecourt-identity-index"
    """The identity index (DynamoDB; template ``IdentityIndexTable``): hashed e-mail / phone → the
    person's recent leads, for dealer of record and duplicates."""
    delivery_queue_url: str = ""
    """Where route_lead queues a routed lead for the deliver function (template ``DeliveryQueue``)."""
    fallback_queue_url: str = ""
    """Where route_lead parks a lead no dealer can take, for OEM staff (template ``FallbackQueue``)."""
    dealer_of_record_days: int = 90
    """A person's prior lead makes its dealer the dealer of record for this many days."""
    duplicate_days: int = 30
    """A lead of the same person and vehicle within this many days is a duplicate of the first."""
    max_distance_miles: float = 100.0
    """The nearest active dealer takes a lead only within this distance (zip centroid to zip centroid)."""
    test_lead_domains: tuple[str, ...] = ("test.com", "example.test", "mailinator.com")
    """E-mail domains of OEM test leads (``FORECOURT_TEST_LEAD_DOMAINS``: a comma-separated list);
    a subdomain counts too. Not example.com: demo and fixture leads use it for real-looking people."""

    # --- analysts' views (queries/views, forecourt.views) ---------------------------------------------
    view_settings: dict[str, float] = {}
    """Definitions of the views that differ from their defaults (``FORECOURT_VIEW_SETTINGS``: a JSON
    object, e.g. ``{"dedupe_window_days": 3, "speed_to_lead_target_minutes": 15}``); the settings and
    their defaults are listed in docs/views.md. ``forecourt catalog migrate`` creates the Athena
    views with them and ``forecourt query`` runs the views with them."""
    analyst_workgroup: str = "primary"
    """The Athena workgroup ``forecourt catalog migrate`` creates the views in (template
    ``AnalystWorkGroup``)."""

    @field_validator("view_settings", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("test_lead_domains", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(d.strip().lower().lstrip("@") for d in value.split(",") if d.strip())
        return value

    # --- delivery to dealer CRMs (the deliver function) -------------------------------------------
    delivery_dead_letter_queue_url: str = ""
    """Where a delivery that can never succeed (a 4xx answer, a lead ADF cannot carry) is parked at
    once, to be fixed and redriven (template ``DeliveryDeadLetterQueue``)."""
    delivery_state_table: str = "forecourt-delivery-state"
    """In-flight delivery state (DynamoDB; template ``DeliveryStateTable``): what was acknowledged."""
    delivery_state_days: int = 30
    """How long a delivery's state is kept (TTL): longer than a message can live in the delivery
    queue (4 days) plus its DLQ (14 days), so a redriven delivery is still known as acknowledged."""
    delivery_max_attempts: int = 4
    """Send attempts within one invocation before the message goes back to SQS."""
    delivery_max_receives: int = 5
    """The delivery queue's maxReceiveCount: the last receive's failure is recorded as failed."""
    delivery_backoff_base: float = 0.5
    """Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base·2^(n−1)))."""
    delivery_backoff_cap: float = 8.0
    delivery_connect_timeout: float = 3.0
    """Seconds to connect (TCP and TLS) to a dealer endpoint or the SMTP server."""
    delivery_read_timeout: float = 10.0
    """Seconds to wait for the dealer's answer (per socket read)."""
    mail_transport: Literal["smtp", "ses"] = "smtp"
    """How ADF e-mail leaves: SES ``SendRawEmail`` on AWS, SMTP to ``smtp_host`` locally."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    """The local SMTP mailbox the local stack starts (``forecourt.local.mailbox``)."""
    mail_from: str = "leads@forecourt.example"
    """The From address of ADF e-mail (on SES: an address of a verified domain)."""


_AWS_NAMES = {"region": "AWS_REGION", "endpoint_url": "AWS_ENDPOINT_URL"}


def from_environment(environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from environment variables; raises pydantic.ValidationError naming a bad variable."""
    values = {}
    for name in Settings.model_fields:
        variable = _AWS_NAMES.get(name, f"FORECOURT_{name.upper()}")
        if variable in environ:
            values[name] = environ[variable]
    return Settings.model_validate(values)


@cache
def settings() -> Settings:
    """The process-wide settings (read once; tests clear the cache with ``settings.cache_clear()``)."""
    return from_environment()
