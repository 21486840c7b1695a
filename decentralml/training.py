"""Local training and evaluation with PyTorch, as the manifest's hyperparameters say.

Classification trains with cross-entropy on class indices, regression with mean squared error on
the model's single output. `score` reports the task kind's metrics (`decentralml.metrics`).
Language models (token windows) train by `decentralml.lm.training.train_lm`: a token budget per
round, AdamW, gradient clipping and the named schedule, batches drawn from the seed and the round;
they score next-token loss, perplexity and accuracy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from decentralml.kinds.schema import Objective, Split
from decentralml.lm.training import train_lm
from decentralml.lm.transformer import TinyGpt
from decentralml.metrics import scores
from decentralml.specs import TrainSpec as TrainSpec

EVAL_BATCH = 4_096


def loss_for(objective: Objective, out: torch.Tensor, y: torch.Tensor) -> Any:  # torch's backward is untyped
    """The training loss of `out` against `y`: MSE for regression, cross-entropy otherwise."""
    if objective == "regression":
        return nn.functional.mse_loss(out.reshape(-1), y)
    return nn.functional.cross_entropy(out, y)


def train(
    model: nn.Module,
    data: Split,
    spec: TrainSpec,
    objective: Objective = "classification",
    round_: int = 0,
) -> float:
    """Train in place; returns the last epoch's mean loss (a language model: the round's)."""
    if objective == "language_modeling":
        assert isinstance(model, TinyGpt), "language-model data needs the transformer"
        return train_lm(model, data.x, spec.lm(), round_)["loss"]
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
            loss = loss_for(objective, model(x[batch]), y[batch])
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
    if objective == "language_modeling":
        assert isinstance(model, TinyGpt), "language-model data needs the transformer"
        return lm_scores(model, data.x)
    return scores(objective, outputs(model, data), data.y)


@torch.no_grad()
def lm_scores(model: TinyGpt, windows: NDArray[Any], batch: int = 32) -> dict[str, float]:
    """Next-token "loss" (mean cross-entropy per token), "perplexity" and "accuracy" (top-1) on the
    windows; a model whose logits are not finite scores loss inf and accuracy 0."""
    model.eval()
    data = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.int64))
    total, correct, tokens = 0.0, 0, 0
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        logits = model(chunk[:, :-1])
        targets = chunk[:, 1:]
        if not torch.isfinite(logits).all():
            return {"loss": float("inf"), "perplexity": float("inf"), "accuracy": 0.0}
        total += float(
            nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum"
            )
        )
        correct += int((logits.argmax(dim=-1) == targets).sum())
        tokens += targets.numel()
    loss = total / max(tokens, 1)
    return {
        "loss": loss,
        "perplexity": math.exp(loss) if loss < 700 else math.inf,
        "accuracy": correct / max(tokens, 1),
    }


def evaluate(model: nn.Module, data: Split) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of a classifier on `data`; a model that outputs NaN scores 0."""
    found = score(model, data, "classification")
    return found["accuracy"], found["loss"]
