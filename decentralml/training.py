"""Local training and evaluation with PyTorch, as the manifest's hyperparameters say."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from decentralml.data import Split


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(5, ge=1, le=1_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    learning_rate: float = Field(0.05, gt=0, le=10)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = Field(0.9, ge=0, lt=1)
    seed: int = Field(0, ge=0)


def train(model: nn.Module, data: Split, spec: TrainSpec) -> float:
    """Train in place; returns the last epoch's mean loss."""
    generator = torch.Generator().manual_seed(spec.seed)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    optimizer: torch.optim.Optimizer = (
        torch.optim.SGD(model.parameters(), lr=spec.learning_rate, momentum=spec.momentum)
        if spec.optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=spec.learning_rate)
    )
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    last = float("nan")
    for _ in range(spec.epochs):
        order = torch.randperm(len(y), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(y), spec.batch_size):
            batch = order[start : start + spec.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        last = total / max(batches, 1)
    return last


@torch.no_grad()
def evaluate(model: nn.Module, data: Split) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) on `data`; a model that outputs NaN scores 0."""
    model.eval()
    logits = model(torch.from_numpy(data.x))
    loss = float(nn.functional.cross_entropy(logits, torch.from_numpy(data.y)))
    accuracy = float((logits.argmax(dim=1).numpy() == data.y).mean())
    return accuracy, loss if np.isfinite(loss) else float("inf")
