"""The specs a task manifest carries: which shipped model and its sizes, and how workers train.

Pure data (pydantic), no PyTorch: whoever reads a manifest (the REST process, `dml task` commands,
the admission checks) loads this, and only what builds or trains a model loads torch
(`decentralml.models`, `decentralml.training`, `decentralml.lm`), which re-export these names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from decentralml.lm.training import LmTrainSpec


class TransformerSpec(BaseModel):
    """The sizes of a `TinyGpt`."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(ge=2, le=1_000_000, description="token ids are 0 .. vocab_size - 1")
    context: int = Field(128, ge=8, le=4096, description="the longest sequence the model reads, in tokens")
    layers: int = Field(4, ge=1, le=48, description="transformer blocks")
    heads: int = Field(4, ge=1, le=64, description="attention heads; must divide width")
    width: int = Field(128, ge=8, le=8192, description="the residual stream's width (embedding size)")
    dropout: float = Field(0.0, ge=0, le=0.5, description="dropout on attention, residuals and embeddings")
    tie_embeddings: bool = Field(True, description="the LM head reuses the token embedding's weight")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerSpec:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")
        return self

    def parameters_count(self) -> int:
        """The exact number of parameters `build_transformer(self)` has, without building it."""
        v, c, w = self.vocab_size, self.context, self.width
        head = 0 if self.tie_embeddings else v * w
        return v * w + c * w + self.layers * (12 * w * w + 13 * w) + 2 * w + head


class ModelSpec(BaseModel):
    """Which shipped architecture, and its sizes."""

    model_config = ConfigDict(extra="forbid")

    architecture: Literal["mlp", "cnn", "transformer"]
    input_shape: list[int] = Field(min_length=1, max_length=3, description="e.g. [64] or [1, 8, 8]")
    classes: int = Field(ge=1, le=10_000, description="outputs: one per class, or 1 for a regression")
    hidden: list[int] = Field(default_factory=lambda: [128], max_length=8, description="mlp: layer widths")
    channels: list[int] = Field(
        default_factory=lambda: [16, 32], max_length=4, description="cnn: conv channels"
    )
    transformer: TransformerSpec | None = Field(
        None, description="transformer: a GPT-style decoder (input_shape [context], classes = vocab)"
    )

    @model_validator(mode="after")
    def transformer_fits(self) -> ModelSpec:
        if self.architecture == "transformer":
            if self.transformer is None:
                raise ValueError(
                    "a transformer needs its sizes: transformer {vocab_size, context, layers, ...}"
                )
            if self.input_shape != [self.transformer.context] or self.classes != self.transformer.vocab_size:
                raise ValueError(
                    "a transformer's input_shape must be [context] and its classes its vocab_size"
                )
        elif self.transformer is not None:
            raise ValueError(f"transformer sizes given for an {self.architecture}")
        return self


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(5, ge=1, le=1_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    learning_rate: float = Field(0.05, gt=0, le=10)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    tokens_per_round: int = Field(
        65_536, ge=1_000, le=10**10, description="language models: tokens each worker trains per round"
    )
    weight_decay: float = Field(0.1, ge=0, le=1, description="language models: AdamW decay")
    grad_clip: float = Field(1.0, gt=0, le=1e6, description="language models: gradient norm clip")
    schedule: Literal["constant", "cosine", "linear"] = Field(
        "cosine", description="language models: the learning rate within a round, after warmup"
    )
    warmup_steps: int = Field(10, ge=0, le=1_000_000, description="language models: warmup steps")

    def lm(self) -> LmTrainSpec:
        """The language-model part of these hyperparameters."""
        from decentralml.lm.training import LmTrainSpec

        return LmTrainSpec(
            tokens_per_round=self.tokens_per_round,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            grad_clip=self.grad_clip,
            schedule=self.schedule,
            warmup_steps=self.warmup_steps,
            seed=self.seed,
        )
