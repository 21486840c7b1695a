"""Local training and evaluation with PyTorch, as the manifest's hyperparameters say.

Classification trains with cross-entropy on class indices, regression with mean squared error on
the model's single output. `score` reports the task kind's metrics (`decentralml.metrics`).
Language models (token windows) train by `decentralml.lm.training.train_lm`: a token budget per
round, AdamW, gradient clipping and the named schedule, batches drawn from the seed and the round;
they score next-token loss, perplexity and accuracy.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

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


T = TypeVar("T")
X = TypeVar("X")


def on_models(
    models: Sequence[nn.Module], run: Callable[[nn.Module, X], T], items: Sequence[X], name: str
) -> Generator[T, None, None]:
    """`run(model, item)` for each of `items`, in order, as they are found: each on one of `models`
    free at the time, as many at once as there are models (a thread each; one model: in turn, on
    the caller's thread). Closing the generator early drops the items not started and waits for
    those that are."""
    if len(models) <= 1 or len(items) <= 1:
        for item in items:
            yield run(models[0], item)
        return
    free: queue.SimpleQueue[nn.Module] = queue.SimpleQueue()
    for model in models[: len(items)]:
        free.put(model)

    def one(item: X) -> T:
        model = free.get()
        try:
            return run(model, item)
        finally:
            free.put(model)

    pool = ThreadPoolExecutor(min(len(models), len(items)), thread_name_prefix=name)
    try:
        futures = [pool.submit(one, item) for item in items]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class Scored:
    """A model's metrics on a set (`score`) and, for a language model, each window's loss (their
    mean is the loss)."""

    metrics: dict[str, float]
    windows: NDArray[np.float64] | None = None


def scored(models: Sequence[nn.Module], data: Split, objective: Objective = "classification") -> Scored:
    """`score` of a model on `data` (every one of `models` holds its weights), with each window's
    loss for a language model. A language model's forwards (`LM_BATCH` windows each) are spread
    over `models`, a thread each: the same values, to the bit, as one model scoring them in turn."""
    if objective != "language_modeling":
        return Scored(score(models[0], data, objective))
    windows = np.ascontiguousarray(data.x, dtype=np.int64)

    def part(model: nn.Module, start: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        assert isinstance(model, TinyGpt), "language-model data needs the transformer"
        return lm_windows(model, windows[start : start + LM_BATCH], hits=True)

    parts = list(on_models(models, part, range(0, len(windows), LM_BATCH), "scoring"))
    losses = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    hits = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    if not np.isfinite(losses).all():  # one forward's logits were not finite: the model's are not
        losses = np.full(len(windows), np.inf)
    return Scored(lm_summary(losses, hits, windows.shape[1] - 1 if len(windows) else 0), losses)


def score(model: nn.Module, data: Split, objective: Objective = "classification") -> dict[str, float]:
    """The task kind's metrics on `data` (loss for all; see `decentralml.metrics`)."""
    if objective == "language_modeling":
        assert isinstance(model, TinyGpt), "language-model data needs the transformer"
        return lm_scores(model, data.x)
    return scores(objective, outputs(model, data), data.y)


LM_BATCH = 32
"""Windows per forward when a language model is scored."""


@torch.no_grad()
def lm_windows(
    model: TinyGpt, windows: NDArray[Any], batch: int = LM_BATCH, hits: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """(each window's mean next-token cross-entropy, each window's top-1 hits, counted only with
    `hits`). A model whose logits are not finite (their sum is checked: a sum that overflows
    counts as not finite) loses inf on every window and hits nothing. A window's values do not
    depend on the other windows in its forward (`batch`) except in the last bits."""
    model.eval()
    data = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.int64))
    losses = np.empty(len(data), dtype=np.float64)
    found = np.zeros(len(data), dtype=np.int64)
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        logits = model(chunk[:, :-1])
        if not torch.isfinite(logits.sum()):
            return np.full(len(data), np.inf), np.zeros(len(data), dtype=np.int64)
        targets = chunk[:, 1:]
        each = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
        )
        losses[start : start + len(chunk)] = each.view(len(chunk), -1).double().mean(dim=1).numpy()
        if hits:
            found[start : start + len(chunk)] = (logits.argmax(dim=-1) == targets).sum(dim=1).numpy()
    return losses, found


def lm_summary(
    losses: NDArray[np.float64], hits: NDArray[np.int64], tokens_per_window: int
) -> dict[str, float]:
    """Next-token "loss" (mean cross-entropy per token), "perplexity" and "accuracy" (top-1) from
    `lm_windows`' per-window values (every window predicts `tokens_per_window` tokens)."""
    if len(losses) and not np.isfinite(losses).all():
        return {"loss": float("inf"), "perplexity": float("inf"), "accuracy": 0.0}
    loss = float(np.mean(losses)) if len(losses) else 0.0
    return {
        "loss": loss,
        "perplexity": math.exp(loss) if loss < 700 else math.inf,
        "accuracy": int(hits.sum()) / max(len(hits) * tokens_per_window, 1),
    }


def lm_scores(model: TinyGpt, windows: NDArray[Any], batch: int = LM_BATCH) -> dict[str, float]:
    """Next-token "loss" (mean cross-entropy per token), "perplexity" and "accuracy" (top-1) on the
    windows; a model whose logits are not finite scores loss inf and accuracy 0."""
    losses, hits = lm_windows(model, windows, batch, hits=True)
    return lm_summary(losses, hits, np.shape(windows)[1] - 1 if len(windows) else 0)


def evaluate(model: nn.Module, data: Split) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of a classifier on `data`; a model that outputs NaN scores 0."""
    found = score(model, data, "classification")
    return found["accuracy"], found["loss"]
