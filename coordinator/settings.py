"""The coordinator's settings: one class, read from `DML_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_URIS = ("//Alice", "//Bob", "//Charlie", "//Dave", "//Eve", "//Ferdie")


class Settings(BaseSettings):
    """Everything the coordinator process is configured with."""

    model_config = SettingsConfigDict(env_prefix="DML_", extra="ignore")

    chain_url: str = Field("ws://127.0.0.1:9944", description="Substrate JSON-RPC endpoint")
    database_url: str = Field(
        "sqlite:///.dml/coordinator.sqlite",
        description="SQLAlchemy URL: SQLite by default, postgresql+psycopg://... in production",
    )
    indexer_poll_seconds: float = Field(2.0, gt=0, description="How often the indexer asks for new blocks")
    indexer_batch_blocks: int = Field(
        200, ge=1, description="Most blocks applied in one database transaction"
    )
