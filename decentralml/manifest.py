"""A task's manifest: everything a worker and the coordinator need to run it.

It travels inside a signed bundle (`decentralml.bundle`), whose CID and sha256 go on chain with
`create_task`; workers run only the architectures `models` ships. The manifest is canonical JSON
(sorted keys, no spaces), so equal manifests hash equally.
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from decentralml.data import DataSpec
from decentralml.judging.outer import OuterSpec
from decentralml.judging.rules import RuleName, RuleParams
from decentralml.kinds.schema import ContentRef as ContentRef
from decentralml.specs import ModelSpec, TrainSpec
from decentralml.tls import check_certificate


class ManifestError(ValueError):
    """A manifest that cannot be used: wrong hash, unreadable, or asking for what is not shipped."""


def describe(bad: ValidationError) -> str:
    """A pydantic error as one line a person can act on: `where: what; where: what`."""
    parts = []
    for error in bad.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"] if not isinstance(p, int) or p >= 0) or "value"
        parts.append(f"{where}: {error['msg']}")
    more = len(bad.errors()) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class ValidationPolicy(BaseModel):
    """How the coordinator checks each update before it counts."""

    model_config = ConfigDict(extra="forbid")

    max_accuracy_drop: float | None = Field(
        None,
        ge=0,
        le=1,
        description="optional: also reject an update whose model alone scores below the global model's "
        "validation score minus this (accuracy for classification, R² for regression). Off by default: "
        "an honest worker with a skewed non-IID share scores badly alone yet improves the aggregate",
    )
    max_harm: float = Field(
        0.1,
        ge=0,
        le=10,
        description="reject an update when leaving it out of the round's mean lowers the validation loss "
        "by more than this fraction (updates are judged by what they contribute to the aggregate)",
    )
    min_cosine: float | None = Field(
        -0.1,
        ge=-1,
        le=1,
        description="reject an update whose delta points away from the referee's own update (trained "
        "from the global model on the validation set) with a cosine below this; None: no such check",
    )
    collusion_cosine: float = Field(
        0.95,
        gt=0,
        le=1,
        description="updates whose deltas have at least this cosine similarity are left out of the mean "
        "together when judging harm, so colluding workers sending one update cannot hide behind each other",
    )
    norm_factor: float = Field(
        3.0,
        gt=1,
        description="reject an update whose distance from the global model exceeds this multiple of "
        "the round's median distance (or of the referee's own update's, if larger: tiny updates cannot "
        "pull the limit down onto honest ones)",
    )
    copy_cosine: float = Field(
        0.999,
        gt=0,
        le=1,
        description="updates whose deltas have at least this cosine similarity are copies of one "
        "another: only the first on chain is judged, the rest are rejected as Duplicate",
    )
    min_contribution: float = Field(
        0.02,
        ge=0,
        le=1,
        description="reject as NoContribution an update closer to the global model than this fraction "
        "of the round's distance scale (the model sent back, perhaps with a little noise)",
    )
    contribution_budget: int = Field(
        128,
        ge=8,
        le=4096,
        description="validation passes the contribution scores may spend in a round (exact Shapley "
        "values up to 6 updates, sampled permutations beyond)",
    )
    max_norm: float | None = Field(None, gt=0, description="reject any update farther than this")
    max_trigger_lift: float | None = Field(
        0.7,
        gt=0,
        le=1,
        description="reject as FailedValidation an update whose model a small stamp (a few input features "
        "set) sends to one class: of the validation inputs of other classes, this share or more beyond those "
        "it sends there clean (a backdoor's trigger; decentralml.judging.triggers). Classification only; "
        "None: no search",
    )
    trigger_features: float = Field(
        1 / 16,
        gt=0,
        le=0.5,
        description="the searched stamp's size, as a fraction of the input's features",
    )
    unlearn_steps: int = Field(
        30,
        ge=0,
        le=1000,
        description="after aggregating, unlearn each class's strongest small stamp from the model in this "
        "many steps on the validation inputs, so hidden behaviours cannot build up over rounds "
        "(decentralml.judging.unlearning); where the trigger search runs; 0: off",
    )
    max_examples: int | None = Field(
        None,
        ge=16,
        le=10_000_000,
        description="judge on at most this many validation examples (text: windows), a fixed sample "
        "drawn once per task, so a large validation set keeps each round's judging bounded (every "
        "update is scored against the round's mean several times); None: all of them",
    )
    sample_windows: int | None = Field(
        8,
        ge=8,
        le=4096,
        description="language-model tasks: each round's leave-out search first measures on a sample of "
        "this many validation windows (drawn from the task and round) and stands only when every update "
        "lies clear of a rejection by 4 standard errors, else it measures on every window; the "
        "contribution scores are measured on the sample. None (or a validation set under twice this): "
        "every window",
    )
    max_loss_rise: float = Field(
        0.5,
        ge=0,
        le=100,
        description="anchored floor: reject an update whose validation loss exceeds the best committed "
        "model's by more than this fraction, however far the current global model has fallen",
    )


class AggregationSpec(RuleParams):
    """Which rule of `decentralml.judging.rules.RULES` combines the accepted updates, and its
    parameters; with `outer`, the rule's aggregate is an outer gradient (`decentralml.judging.outer`)."""

    rule: RuleName = "fedavg"
    outer: OuterSpec | None = Field(
        None,
        description="DiLoCo's outer optimizer on the aggregate (lr, momentum, nesterov); None: the aggregate",
    )


class FederationSpec(BaseModel):
    """Which SuperLink the task's workers join, and how they know it is the real one: the CA its
    TLS certificate must chain to travels here, in the signed bundle, never as a download."""

    model_config = ConfigDict(extra="forbid")

    superlink: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9.\-\[\]:]{1,253}:[0-9]{1,5}$",
        description="host:port workers dial; None: each worker's own setting",
    )
    ca_certificate: str = Field(
        min_length=64,
        max_length=16_384,
        description="PEM CA certificate the SuperLink's certificate chains to",
    )
    node_auth: bool = Field(
        True, description="the SuperLink admits only nodes whose key is bound to an assigned account"
    )

    @model_validator(mode="after")
    def certificate_is_a_ca(self) -> FederationSpec:
        check_certificate(self.ca_certificate)
        return self

    @classmethod
    def of_coordinator(cls, info: dict[str, object]) -> FederationSpec | None:
        """From a coordinator's `GET /federation` answer: None when its SuperLink has no TLS."""
        tls = info.get("tls")
        if not isinstance(tls, dict):
            return None
        return cls(
            superlink=str(info["superlink"]) if info.get("superlink") else None,
            ca_certificate=str(tls["ca_certificate"]),
            node_auth=bool(info.get("node_auth")),
        )


class SealingStatement(BaseModel):
    """A party's public sealing key, signed by its chain account (`decentralml.crypto`)."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=40, max_length=60, description="the SS58 address that signed")
    sealing_key: str = Field(pattern=r"^0x[0-9a-f]{64}$", description="its X25519 public sealing key")
    signature: str = Field(pattern=r"^0x[0-9a-f]{128}$", description="sr25519 signature over the key")


class DPSpec(BaseModel):
    """A task's differential-privacy budget and mechanism parameters (`decentralml.privacy.dp`)."""

    model_config = ConfigDict(extra="forbid")

    epsilon: float = Field(gt=0, le=100, description="each worker's total privacy budget over the task")
    delta: float = Field(1e-5, gt=0, lt=0.01, description="the δ of (ε, δ)-DP")
    clip_norm: float = Field(1.0, gt=0, le=1e4, description="per-example (or per-update) L2 clip")
    noise_multiplier: float | None = Field(
        None,
        ge=0.3,
        le=100,
        description="noise standard deviation over the clip norm; None: the smallest that keeps every "
        "round of the task within epsilon",
    )


class PrivacySpec(BaseModel):
    """Who may read the task's updates and unreleased models (`decentralml.privacy`)."""

    model_config = ConfigDict(extra="forbid")

    seal_to: list[SealingStatement] = Field(
        default_factory=list,
        max_length=16,
        description="the validators' signed sealing keys: workers seal every update to all of them, "
        "and each committed model is sealed to them and to the creator; empty: nothing is sealed "
        "(only tasks made without a validator's key)",
    )
    creator: SealingStatement | None = Field(
        None, description="the creator's signed sealing key: committed models are also sealed to it"
    )
    dp: DPSpec | None = Field(
        None, description="differential privacy: workers train under this budget and stop before exceeding it"
    )

    @property
    def sealed(self) -> bool:
        return bool(self.seal_to)


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
    update_encoding: Literal["float32", "float16_delta", "sparse_int8", "sign1"] = Field(
        "float32",
        description="how workers send updates: float32 weights, float16 deltas from the round's global "
        "model (half the bytes), sparse_int8: the top `update_density` of each delta, 8-bit, or sign1: "
        "the sign of every value of the delta and a scale per 256 (1/28 of the bytes), both with "
        "error feedback kept on the worker (`decentralml.sparse`, `decentralml.signs`); the exact "
        "bytes are hashed on chain; the aggregate stays float32",
    )
    update_density: float = Field(
        0.02, gt=0, le=1, description="sparse_int8: the share of each tensor's values a worker sends"
    )
    model_encoding: Literal["float32", "sign1"] = Field(
        "float32",
        description="how the global model goes down to workers: float32 weights each round, or sign1: "
        "to a worker that holds the last round's, a 1-bit delta from it (1/28 of the bytes), the rest "
        "carried to the next round's delta (`decentralml.downlink`); the committed model stays float32",
    )
    federation: FederationSpec | None = Field(
        None,
        description="the SuperLink's TLS CA and node authentication; None: a loopback SuperLink without "
        "TLS (workers refuse such a task unless their SuperLink is on their own machine)",
    )
    privacy: PrivacySpec = Field(
        default_factory=PrivacySpec, description="the keys updates and unreleased models are sealed to"
    )

    @model_validator(mode="after")
    def model_fits_inputs(self) -> TaskManifest:
        inputs = self.data.schema_of()
        width, wanted = int(np.prod(self.model.input_shape)), int(np.prod(inputs.input_shape))
        if width != wanted:
            raise ValueError(
                f"the model takes {self.model.input_shape} inputs, the data gives {inputs.input_shape}"
            )
        if self.model.classes != inputs.outputs:
            what = (
                "a regression target (1 output)"
                if inputs.objective == "regression"
                else (f"{inputs.outputs} classes")
            )
            raise ValueError(f"the model has {self.model.classes} outputs, the data has {what}")
        return self

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskManifest:
        try:
            return cls.model_validate_json(data)
        except ValidationError as bad:
            raise ManifestError(f"not a usable DecentralML manifest: {describe(bad)}") from bad
