"""The coordinator's settings: one class, read from `DML_*` environment variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coordinator.api.auth import ApiToken

if TYPE_CHECKING:
    from coordinator.api.app import ApiConfig

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
    environment: Literal["dev", "production"] = Field("dev", description="production refuses dev keys")
    keystore_uris: list[str] = Field(
        default_factory=list,
        description="secret URIs or mnemonics of the accounts the coordinator may sign for (JSON list)",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1_024, le=1 << 30, description="Largest request body accepted, chunked or not"
    )
    api_tokens: list[ApiToken] = Field(
        default_factory=list,
        description="clients that may make the coordinator sign, each with the sha256 of its token and "
        "the keystore accounts it may use (JSON list; `dml coordinator token` makes one); none: nobody",
    )
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description='Host headers the API answers (JSON list); others get 400; ["*"]: any (dev only)',
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose X-Forwarded-For names the client (JSON list); "
        "none: the peer's address is the client, and the header is ignored",
    )
    max_header_bytes: int = Field(
        16_384, ge=1_024, le=1_048_576, description="longest request line plus headers; longer is refused"
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="how long a connection may take to send a request line and headers; then it is closed",
    )
    write_rate_per_minute: int = Field(120, ge=1, le=1_000_000, description="writes per client a minute")
    read_rate_per_minute: int = Field(3_000, ge=1, le=10_000_000, description="reads per client a minute")
    account_rate_per_minute: int = Field(
        60, ge=1, le=1_000_000, description="keystore-signed writes per account a minute"
    )
    inclusion_deadline_seconds: float = Field(
        60.0, gt=0, le=3_600, description="a write not included by then is reported failed (504)"
    )
    ipfs_api: str = Field("http://127.0.0.1:5001", description="Kubo RPC API of the content store")
    validator_uri: str | None = Field(
        None,
        description="secret URI of the account that judges updates and commits models (a task must "
        "list it as validator); without it the coordinator runs no federated rounds",
    )
    federation_dir: str = Field(".dml/federation", description="spooled updates, round logs, Flower state")
    superlink_port: int = Field(9091, ge=1, le=65_535, description="Flower SuperLink's port")
    superlink_host: str = Field(
        "127.0.0.1", description="where the SuperLink listens: loopback, or 0.0.0.0 for workers elsewhere"
    )
    superlink_tls: bool = Field(
        False,
        description="the SuperLink serves TLS with the coordinator's own CA (created in federation_dir/tls, "
        "or the files in superlink_tls_dir); tasks carry the CA in their signed manifest",
    )
    superlink_tls_dir: str | None = Field(
        None, description="a directory with ca.crt, server.pem and server.key to use instead of creating them"
    )
    superlink_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="names and addresses workers dial the SuperLink at (the certificate's names); the first "
        "is the address tasks name (JSON list)",
    )
    superlink_node_auth: bool = Field(
        False,
        description="admit only SuperNodes whose key a worker bound to its account and that account is "
        "assigned to a task here (needs superlink_tls)",
    )
    round_timeout_seconds: float = Field(300.0, gt=0, description="how long a round waits for updates")
    run_attempts: int = Field(
        3, ge=1, le=100, description="Flower runs in a row that commit no round before a task is stalled"
    )
    run_retry_seconds: float = Field(
        5.0, ge=0, le=3_600, description="wait before retrying a failed run; doubles with each failure"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe level logged"
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one object per line; text: for people"
    )

    @model_validator(mode="after")
    def no_dev_keys_in_production(self) -> Settings:
        if self.environment == "production":
            public = [uri for uri in [*self.keystore_uris, self.validator_uri] if uri in DEV_URIS]
            if public:
                raise ValueError(f"the dev keys {public} are public: configure them only in dev")
            if "*" in self.allowed_hosts:
                raise ValueError('allowed_hosts ["*"] answers any Host header: name the hosts in production')
        if self.superlink_node_auth and not self.superlink_tls:
            raise ValueError(
                "superlink_node_auth needs superlink_tls (Flower authenticates nodes only over TLS)"
            )
        if not self.superlink_hosts:
            raise ValueError("superlink_hosts needs at least the address workers dial")
        return self

    @property
    def superlink_address(self) -> str:
        """Where workers dial the SuperLink: the first of `superlink_hosts`, at its port."""
        return f"{self.superlink_hosts[0]}:{self.superlink_port}"

    def api_config(self) -> ApiConfig:
        from coordinator.api.app import ApiConfig  # the whole app: only for the server

        return ApiConfig(
            tokens=self.api_tokens,
            allowed_hosts=self.allowed_hosts,
            write_rate_per_minute=self.write_rate_per_minute,
            read_rate_per_minute=self.read_rate_per_minute,
            account_rate_per_minute=self.account_rate_per_minute,
            inclusion_deadline_seconds=self.inclusion_deadline_seconds,
            max_header_bytes=self.max_header_bytes,
        )
