"""Settings, parsed once from the environment (ARCHITECTURE §3: ``config``)."""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the lake, catalog and queues are. On Lambda these come from template.yaml; locally from
    the local stack (``forecourt local up``), which also sets ``AWS_ENDPOINT_URL``."""

    model_config = SettingsConfigDict(env_prefix="FORECOURT_", extra="ignore")

    lake_bucket: str = "forecourt-lake"
    glue_database: str = "forecourt"
    registry_table: str = "forecourt-dealers"
    commit_queue_url: str = ""
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    endpoint_url: str | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    max_file_bytes: int = 4 * 2**30
    """Largest raw object (after decompression) ingest accepts; larger → ``file_too_large``."""
    batch_rows: int = 65_536
    """Records parsed and normalized at a time: bounds ingest memory."""
    row_group_rows: int = 100_000
    """Rows per Parquet row group (ARCHITECTURE §4: ≥ 100 k); ingest holds about three row groups of
    a table in memory (one filling, one being sorted and written), so no more than that."""
    file_rows: int = 2_000_000
    """Rows per data file before the writer starts a new one."""


@cache
def settings() -> Settings:
    """The process-wide settings (read once; tests clear the cache with ``settings.cache_clear()``)."""
    return Settings()
