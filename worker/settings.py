"""A worker's configuration, from `DML_WORKER_*` variables (or `dml worker run` options)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """A worker's configuration, from `DML_WORKER_*` variables (or `dml worker run` options)."""

    model_config = SettingsConfigDict(env_prefix="DML_WORKER_", extra="ignore")

    key: str = Field(description="the worker account's secret URI or mnemonic; stays on this machine")
    chain_url: str = Field("ws://127.0.0.1:9944", description="Substrate JSON-RPC endpoint")
    ipfs_api: str = Field("http://127.0.0.1:5001", description="Kubo RPC API the worker stores updates in")
    coordinator_url: str = Field(
        "http://127.0.0.1:8000", description="the coordinator's REST API, where tasks are found"
    )
    superlink: str = Field("127.0.0.1:9091", description="the coordinator's Flower SuperLink")
    state_dir: str = Field(".dml/worker", description="per-account state: the node key, SuperNode logs, TLS")
    data: list[str] = Field(
        default_factory=list,
        description="the data catalogue: NAME=PATH (or PATH, named after the file) per dataset a task "
        "may name; CSV, Parquet, .npz or an image folder (JSON list in DML_WORKER_DATA)",
    )
    data_part: int | None = Field(
        None, ge=0, le=999, description="demo sources: this worker's part of the bundled split"
    )
    data_file: str | None = Field(None, description="one more catalogue entry, named after the file")
    supernode_port: int | None = Field(
        None, ge=1, le=65_535, description="the SuperNode's runtime API port (default: one the OS picks)"
    )
    trainer_port: int | None = Field(
        None, ge=1, le=65_535, description="the loopback trainer service's port (default: one the OS picks)"
    )
    behaviour: Literal["honest", "poison", "tamper"] = Field(
        "honest", description="demos and tests only: poison sends sign-flipped updates, tamper wrong hashes"
    )
    poll_seconds: float = Field(2.0, gt=0, description="how often the worker looks for tasks")
    torch_threads: int | None = Field(
        None, ge=1, le=1024, description="PyTorch threads for training (default: PyTorch's, one per core)"
    )
    restart_seconds: float = Field(
        2.0, gt=0, description="wait before restarting a SuperNode that exited (doubling, at most 60 s)"
    )
