"""One round of local language-model training, and evaluation, on token windows (`corpus.windows`).

Training is reproducible: the same model, windows, spec and round give bitwise-identical weights
(on the same machine and thread count). Batches come from a generator seeded by (seed, round), and
dropout draws from torch's global generator inside a forked, reseeded RNG state, so training neither
depends on nor disturbs the caller's random state. The optimizer is created fresh each round.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional

from decentralml.lm.transformer import TinyGpt

# The decaying schedules end at this fraction of the learning rate, not at 0.
MIN_LR_FRACTION = 0.1
ADAM_BETAS = (0.9, 0.95)


class LmTrainSpec(BaseModel):
    """A round of language-model training."""

    model_config = ConfigDict(extra="forbid")

    tokens_per_round: int = Field(
        65_536, ge=1_000, le=10**10, description="target tokens per round; steps = ceil(this / batch tokens)"
    )
    batch_size: int = Field(16, ge=1, le=4096, description="windows per step")
    learning_rate: float = Field(3e-4, gt=0, le=1, description="peak AdamW learning rate")
    weight_decay: float = Field(0.1, ge=0, le=1, description="AdamW decoupled decay, on Linear weights only")
    grad_clip: float = Field(1.0, gt=0, le=1e6, description="gradients' global L2 norm is clipped to this")
    schedule: Literal["constant", "cosine", "linear"] = Field(
        "cosine", description="after warmup: hold, or decay to 10% of the rate over the round's steps"
    )
    warmup_steps: int = Field(10, ge=0, le=1_000_000, description="linear warmup from 0, within each round")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="with the round number, picks the batches")


def learning_rate(spec: LmTrainSpec, step: int, steps: int) -> float:
    """The rate at `step` (0-based) of a round of `steps`: linear warmup over warmup_steps, then the
    schedule from the peak down to MIN_LR_FRACTION of it at the last step."""
    peak = spec.learning_rate
    if step < spec.warmup_steps:
        return peak * (step + 1) / (spec.warmup_steps + 1)
    if spec.schedule == "constant":
        return peak
    decaying = steps - spec.warmup_steps - 1
    progress = (step - spec.warmup_steps) / decaying if decaying > 0 else 1.0
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if spec.schedule == "cosine" else 1 - progress
    return peak * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * shape)


def round_seed(seed: int, round_: int) -> int:
    """A 63-bit seed for (seed, round): distinct rounds draw unrelated batches."""
    digest = hashlib.sha256(f"decentralml.lm:{seed}:{round_}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def _optimizer(model: nn.Module, spec: LmTrainSpec) -> torch.optim.AdamW:
    """AdamW decaying only the Linear layers' weights (the matrices that mix features); biases,
    LayerNorms and the embeddings (token and position; the tied head with them) are not decayed."""
    decayed = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    parameters = list(model.parameters())
    groups = [
        {"params": [p for p in parameters if id(p) in decayed], "weight_decay": spec.weight_decay},
        {"params": [p for p in parameters if id(p) not in decayed], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=spec.learning_rate, betas=ADAM_BETAS)


def _checked(model: TinyGpt, windows: NDArray[np.integer[Any]]) -> torch.Tensor:
    """`windows` as an int64 tensor, refusing (ValueError) what `model` cannot train or score on."""
    if windows.ndim != 2 or windows.shape[0] < 1 or windows.shape[1] < 2:
        raise ValueError(f"windows must be [N >= 1, context + 1 >= 2], not {windows.shape}")
    if not np.issubdtype(windows.dtype, np.integer):
        raise ValueError(f"windows must hold integer token ids, not {windows.dtype}")
    if windows.shape[1] - 1 > model.spec.context:
        raise ValueError(f"windows of {windows.shape[1] - 1} tokens: the model reads {model.spec.context}")
    if windows.min() < 0 or windows.max() >= model.spec.vocab_size:
        raise ValueError(f"token ids must be in 0 .. {model.spec.vocab_size - 1}")
    return torch.from_numpy(np.ascontiguousarray(windows, dtype=np.int64))


def _batches(count: int, batch_size: int, steps: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """`steps` batches of window indices: passes over a fresh random permutation of all windows."""
    order = torch.empty(0, dtype=torch.int64)
    for _ in range(steps):
        while len(order) < batch_size:
            order = torch.cat([order, torch.randperm(count, generator=generator)])
        yield order[:batch_size]
        order = order[batch_size:]


def _loss(model: TinyGpt, batch: torch.Tensor, reduction: Literal["mean", "sum"] = "mean") -> Any:
    """Mean or summed next-token cross-entropy of windows `batch` [B, T + 1] (Any: backward is untyped)."""
    logits = model(batch[:, :-1])
    return functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten(), reduction=reduction)


def train_lm(
    model: TinyGpt, windows: NDArray[np.integer[Any]], spec: LmTrainSpec, round_: int = 0
) -> dict[str, float]:
    """Train `model` in place for one round on `windows` [N, context + 1].

    Runs steps = ceil(tokens_per_round / (batch_size * context)) AdamW steps with gradient clipping
    and the spec's schedule. Returns {"loss": mean training loss over the steps (nats per token),
    "tokens": tokens trained on, "steps", "seconds": wall time}. Raises ValueError for windows the
    model cannot take (see `evaluate_lm`) or a negative round. Does not set torch's thread count."""
    if round_ < 0:
        raise ValueError(f"round {round_}: must be at least 0")
    data = _checked(model, windows)
    context = data.shape[1] - 1
    steps = math.ceil(spec.tokens_per_round / (spec.batch_size * context))
    seed = round_seed(spec.seed, round_)
    started = time.perf_counter()
    total = 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        batches = _batches(len(data), spec.batch_size, steps, torch.Generator().manual_seed(seed))
        optimizer = _optimizer(model, spec)
        model.train()
        for step, indices in enumerate(batches):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(spec, step, steps)
            optimizer.zero_grad(set_to_none=True)
            loss = _loss(model, data[indices])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            optimizer.step()
            total += float(loss.detach())
    return {
        "loss": total / steps,
        "tokens": float(steps * spec.batch_size * context),
        "steps": float(steps),
        "seconds": time.perf_counter() - started,
    }


def train_lm_data_parallel(
    model: TinyGpt, shares: Sequence[NDArray[np.integer[Any]]], spec: LmTrainSpec, round_: int = 0
) -> dict[str, float]:
    """One round of synchronous data-parallel training, the baseline federated rounds are judged
    against (DiLoCo's): as many optimiser steps as one worker takes in `train_lm`, each on a global
    batch of one `batch_size` batch from every share (the gradients averaged, as an all-reduce
    would), so K shares see K times a worker's tokens, exactly what K federated workers see in a
    round. Share k draws its batches as worker k would (seed `spec.seed + k`); the schedule,
    clipping and a fresh AdamW per round are `train_lm`'s, so the only difference from a federated
    round is how often the workers' work is combined: every step, not once per round."""
    if round_ < 0:
        raise ValueError(f"round {round_}: must be at least 0")
    if not shares:
        raise ValueError("data-parallel training needs at least one share")
    data = [_checked(model, windows) for windows in shares]
    context = data[0].shape[1] - 1
    if any(d.shape[1] - 1 != context for d in data):
        raise ValueError("every share must have windows of the same length")
    steps = math.ceil(spec.tokens_per_round / (spec.batch_size * context))
    started = time.perf_counter()
    total = 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(round_seed(spec.seed, round_))
        streams = [
            _batches(
                len(d),
                spec.batch_size,
                steps,
                torch.Generator().manual_seed(round_seed(spec.seed + k, round_)),
            )
            for k, d in enumerate(data)
        ]
        optimizer = _optimizer(model, spec)
        model.train()
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(spec, step, steps)
            optimizer.zero_grad(set_to_none=True)
            for d, stream in zip(data, streams, strict=True):
                loss = _loss(model, d[next(stream)]) / len(data)
                loss.backward()
                total += float(loss.detach())
            nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            optimizer.step()
    return {
        "loss": total / steps,
        "tokens": float(steps * spec.batch_size * context * len(data)),
        "steps": float(steps),
        "seconds": time.perf_counter() - started,
    }


@torch.no_grad()
def evaluate_lm(
    model: TinyGpt, windows: NDArray[np.integer[Any]], batch_size: int = 32, max_windows: int | None = None
) -> dict[str, float]:
    """{"loss": mean next-token cross-entropy per token (natural log), "perplexity": exp(loss)} over
    the first `max_windows` windows (all if None), in eval mode (no dropout), without gradients.

    Raises ValueError for batch_size or max_windows below 1, or windows the model cannot take: not
    [N >= 1, context + 1 >= 2] integers, longer than the model's context, or ids out of its vocab."""
    if batch_size < 1 or (max_windows is not None and max_windows < 1):
        raise ValueError(f"batch_size {batch_size} and max_windows {max_windows} must be at least 1")
    data = _checked(model, windows[:max_windows])
    model.eval()
    total = sum(
        float(_loss(model, data[start : start + batch_size], "sum"))
        for start in range(0, len(data), batch_size)
    )
    loss = total / (data.shape[0] * (data.shape[1] - 1))
    return {"loss": loss, "perplexity": math.exp(loss) if loss < 700 else math.inf}
