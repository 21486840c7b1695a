"""A task's manifest: everything a worker and the coordinator need to run it.

It travels inside a signed bundle (`decentralml.bundle`), whose CID and sha256 go on chain with
`create_task`; workers run only the architectures `models` ships. The manifest is canonical JSON
(sorted keys, no spaces), so equal manifests hash equally.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from decentralml.data import DataSpec
from decentralml.models import ModelSpec
from decentralml.training import TrainSpec


class ManifestError(ValueError):
    """A manifest that cannot be used: wrong hash, unreadable, or asking for what is not shipped."""


class ContentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cid: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern=r"^0x[0-9a-f]{64}$")


class ValidationPolicy(BaseModel):
    """How the coordinator checks each update before it counts."""

    model_config = ConfigDict(extra="forbid")

    max_accuracy_drop: float = Field(
        0.25,
        ge=0,
        le=1,
        description="reject below the global model's validation accuracy minus this (generous: an "
        "honest worker with skewed non-IID data scores below the global model after local training)",
    )
    norm_factor: float = Field(
        3.0,
        gt=1,
        description="reject an update whose distance from the global model exceeds this "
        "multiple of the round's median distance",
    )
    max_norm: float | None = Field(None, gt=0, description="reject any update farther than this")


class AggregationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Literal["fedavg", "trimmed_mean", "median"] = "fedavg"
    trim: float = Field(0.2, ge=0, lt=0.5, description="trimmed_mean: fraction cut from each end")


class TaskManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    model: ModelSpec
    initial_weights: ContentRef
    training: TrainSpec = Field(default_factory=TrainSpec)
    data: DataSpec = Field(default_factory=DataSpec)
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    aggregation: AggregationSpec = Field(default_factory=AggregationSpec)
    min_workers: int = Field(2, ge=1, le=10_000, description="the run starts once this many are assigned")
    release: Literal["council", "none"] = Field(
        "council",
        description="council: the coordinator hands out a model's weights only once the council has "
        "approved it (and never after a revocation); none: as soon as it is committed",
    )

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskManifest:
        try:
            return cls.model_validate_json(data)
        except ValidationError as bad:
            raise ManifestError(f"not a usable DecentralML manifest: {bad}") from bad
