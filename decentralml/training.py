"""Local training and evaluation with PyTorch, as the manifest's hyperparameters say.

Classification trains with cross-entropy on class indices, regression with mean squared error on
the model's single output. `score` reports the task kind's metrics (`decentralml.metrics`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from decentralml.kinds.schema import Objective, Split
from decentralml.metrics import scores

EVAL_BATCH = 4_096


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(5, ge=1, le=1_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    learning_rate: float = Field(0.05, gt=0, le=10)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    seed: int = Field(0, ge=0, le=2**32 - 1)


def _loss(objective: Objective, out: torch.Tensor, y: torch.Tensor) -> Any:  # torch's backward is untyped
    if objective == "regression":
        return nn.functional.mse_loss(out.reshape(-1), y)
    return nn.functional.cross_entropy(out, y)


def train(model: nn.Module, data: Split, spec: TrainSpec, objective: Objective = "classification") -> float:
    """Train in place; returns the last epoch's mean loss."""
    generator = torch.Generator().manual_seed(spec.seed)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    optimizer: torch.optim.Optimizer = (
        torch.optim.SGD(model.parameters(), lr=spec.learning_rate, momentum=spec.momentum)
        if spec.optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=spec.learning_rate)
    )
    model.train()
    last = float("nan")
    for _ in range(spec.epochs):
        order = torch.randperm(len(y), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(y), spec.batch_size):
            batch = order[start : start + spec.batch_size]
            optimizer.zero_grad()
            loss = _loss(objective, model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        last = total / max(batches, 1)
    return last


@torch.no_grad()
def outputs(model: nn.Module, data: Split) -> np.ndarray:
    """The model's outputs on every example, in batches."""
    model.eval()
    parts = [
        model(torch.from_numpy(data.x[start : start + EVAL_BATCH])).numpy()
        for start in range(0, len(data), EVAL_BATCH)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


def score(model: nn.Module, data: Split, objective: Objective = "classification") -> dict[str, float]:
    """The task kind's metrics on `data` (loss for all; see `decentralml.metrics`)."""
    return scores(objective, outputs(model, data), data.y)


def evaluate(model: nn.Module, data: Split) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of a classifier on `data`; a model that outputs NaN scores 0."""
    found = score(model, data, "classification")
    return found["accuracy"], found["loss"]
