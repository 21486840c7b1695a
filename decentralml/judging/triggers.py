"""Hidden behaviours: the strongest small stamp an update's model answers with one class.

A targeted ("backdoor") attacker trains on its share plus copies stamped with a trigger (a few
input features set to chosen values) and labelled with its target class. Its model answers
normally on clean inputs, so nothing that looks at validation loss or accuracy notices, but
almost any input with the trigger stamped on is sent to the target class.

The referee does not know the trigger; it searches for one on its own validation set, in the
manner of Neural Cleanse (Wang et al. 2019), for each class at once:

    minimise  CE(model((1 - m) x + m p), c) over validation x not of class c  +  lam * |m|_1

over a soft mask m in [0, 1]^d and a pattern p inside the validation data's range per feature
(Adam, a fixed number of steps, a deterministic start: every validator finds the same stamp).
The mask is then made hard: the `features` largest entries of m, set to p. A stamp's `lift` for
class c is the share of validation inputs not of class c that the model sends to c once stamped,
minus the share it sends there clean. A backdoored model has a stamp of a few features with a
lift near 1 (the trigger, or part of it); an honest model's strongest stamp of the same size
reaches much less (on the digits, honest updates at Dirichlet alpha 0.1 reach at most about 0.65
with 4 of 64 features; backdoored ones 0.8-1.0). Measured against the clean prediction, a model
trained on a one-class share does not look backdoored towards its own class.

What it does not find: a trigger larger than the stamp budget that no part of works alone, a
trigger outside the validation data's range that no in-range part triggers, and a behaviour
keyed to something other than input features (a rare word, a semantic property).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from decentralml.kinds.schema import Objective
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec

MIN_FEATURES = 64
"""Inputs with fewer features are not searched: in a narrow table (30 measurements of a tumour, 13
of a wine) setting one or two features to an extreme may rightly decide the class, so a stamp that
does so is no sign of a backdoor. Pixels are many and each says little."""
STEPS = 150
"""Adam steps of the mask search."""
RATE = 0.1
"""The search's learning rate."""
SPARSITY = 0.02
"""lam: the weight of the mask's L1 norm in the search's loss."""
SEARCH_EXAMPLES = {"mlp": 128, "cnn": 32}
"""The search optimises on at most this many validation examples (evenly spaced through the set,
so every validator takes the same ones), by architecture; the lift is measured on all of them. A
step of the digits' MLP over 10 x 128 stamped rows takes about 1 ms on one core; the CNN of a
16x16 image task takes about 40x that per row, so it searches on fewer."""


@dataclass(frozen=True)
class Stamp:
    """Flat input `features` set to `values`; `target` the class it sends inputs to and `lift` the
    share of inputs it sent there on the model it was found for (see the module docstring)."""

    target: int
    features: tuple[int, ...]
    values: tuple[float, ...]
    lift: float


def stamped(x: NDArray[np.float32], stamp: Stamp) -> NDArray[np.float32]:
    """A copy of the inputs `x` (N, *shape) with the stamp's features set."""
    flat = x.reshape(len(x), -1).copy()
    flat[:, list(stamp.features)] = np.asarray(stamp.values, dtype=flat.dtype)
    return flat.reshape(x.shape)


@torch.no_grad()
def lift(model: nn.Module, stamp: Stamp, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """The share of inputs not of the stamp's target class that `model` sends there once stamped,
    minus the share it sends there clean (0 when every input is of that class)."""
    keep = y != stamp.target
    if not keep.any():
        return 0.0
    model.eval()
    clean = model(torch.from_numpy(np.ascontiguousarray(x[keep]))).argmax(dim=1)
    marked = model(torch.from_numpy(stamped(x[keep], stamp))).argmax(dim=1)
    return float((marked == stamp.target).float().mean() - (clean == stamp.target).float().mean())


def strongest(
    model: nn.Module,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    classes: int,
    features: int,
    examples: int = SEARCH_EXAMPLES["mlp"],
) -> Stamp:
    """The stamp of at most `features` input features with the largest lift on `model`, over
    every class (see the module docstring), searched on at most `examples` of the inputs."""
    best: Stamp | None = None
    for candidate in candidates(model, x, y, classes, features, examples):
        if best is None or candidate.lift > best.lift:
            best = candidate
    assert best is not None
    return best


def candidates(
    model: nn.Module,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    classes: int,
    features: int,
    examples: int = SEARCH_EXAMPLES["mlp"],
    span: Literal["feature", "input"] = "feature",
) -> list[Stamp]:
    """Every class's strongest stamp of at most `features` features on `model`, by the mask
    search of the module docstring, with its lift; `span` the values a stamp may set: each
    feature's range in `x` ("feature"), or the whole input's ("input": any pixel may be white)."""
    shape, every, picked, flat = _rows(x, examples)
    low, high = torch.from_numpy(every.min(axis=0)), torch.from_numpy(every.max(axis=0))
    if span == "input":
        low, high = torch.full_like(low, float(every.min())), torch.full_like(high, float(every.max()))
    n, d = flat.shape
    features = max(1, min(features, d))
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64)[picked])
    others = (labels[None, :] != torch.arange(classes)[:, None]).float()  # (classes, n)
    counts = others.sum(dim=1).clamp(min=1.0)
    targets = torch.arange(classes)[:, None].expand(classes, n).reshape(-1)
    mask_logits = torch.full((classes, d), -3.0, requires_grad=True)
    pattern_logits = torch.zeros((classes, d), requires_grad=True)
    optimiser = torch.optim.Adam([mask_logits, pattern_logits], lr=RATE)
    with _frozen(model):
        for _ in range(STEPS):
            mask = torch.sigmoid(mask_logits)
            pattern = low + (high - low) * torch.sigmoid(pattern_logits)
            inputs = (1 - mask)[:, None, :] * flat[None] + (mask * pattern)[:, None, :]
            logits = model(inputs.reshape(classes * n, *shape))
            losses = nn.functional.cross_entropy(logits, targets, reduction="none").reshape(classes, n)
            loss = ((losses * others).sum(dim=1) / counts).sum() + SPARSITY * mask.sum()
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
    with torch.no_grad():
        mask = torch.sigmoid(mask_logits)
        pattern = low + (high - low) * torch.sigmoid(pattern_logits)
    found = []
    for target in range(classes):
        chosen = sorted(int(i) for i in torch.topk(mask[target], features).indices)
        candidate = Stamp(target, tuple(chosen), tuple(float(pattern[target, i]) for i in chosen), 0.0)
        found.append(Stamp(target, candidate.features, candidate.values, lift(model, candidate, x, y)))
    return found


@torch.no_grad()
def greedy(
    model: nn.Module,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    classes: int,
    features: int,
    examples: int = SEARCH_EXAMPLES["mlp"],
    uncarried: float | None = None,
) -> list[Stamp]:
    """Every class's stamp built one feature at a time, with its lift: each step sets the feature,
    to the input's smallest or largest value, that most lowers the cross-entropy towards the class
    of the (at most `examples`) inputs of other classes. The mask search's gradient can settle on
    a class's natural features (a 0's empty centre) and miss a trigger in a corner that honest
    data leaves dark; trying every feature at each step does not. With `uncarried`, a class's
    stamp may set only what its own inputs do not carry: a feature to a value their mean distance
    from which is at least `uncarried` of the input's range (so a stamp cannot borrow half its
    lift from a 0's empty centre and hide two trigger pixels behind it)."""
    shape, every, picked, flat = _rows(x, examples)
    extremes = (float(every.min()), float(every.max()))
    labels = np.asarray(y, dtype=np.int64)[picked]
    d = flat.shape[1]
    features = max(1, min(features, d))
    every_moves = [(i, v) for i in range(d) for v in extremes]
    span = extremes[1] - extremes[0]
    found = []
    with _frozen(model):
        for target in range(classes):
            current = flat[torch.from_numpy(labels != target)]
            moves = every_moves
            if uncarried is not None:
                moves = _uncarried(every_moves, every[np.asarray(y) == target], span, uncarried)
            if len(current) == 0 or not moves:
                continue
            chosen: list[tuple[int, float]] = []
            aim = torch.full((len(moves) * len(current),), target)
            for _ in range(features):
                trial = current.unsqueeze(0).repeat(len(moves), 1, 1)
                for k, (i, v) in enumerate(moves):
                    trial[k, :, i] = v
                losses = nn.functional.cross_entropy(model(trial.reshape(-1, *shape)), aim, reduction="none")
                per_move = losses.reshape(len(moves), -1).mean(dim=1)
                taken = {i for i, _ in chosen}
                for k, (i, _) in enumerate(moves):
                    if i in taken:
                        per_move[k] = float("inf")
                best = moves[int(torch.argmin(per_move))]
                chosen.append(best)
                current = current.clone()
                current[:, best[0]] = best[1]
            chosen.sort()
            stamp = Stamp(target, tuple(i for i, _ in chosen), tuple(v for _, v in chosen), 0.0)
            found.append(Stamp(target, stamp.features, stamp.values, lift(model, stamp, x, y)))
    return found


def _uncarried(
    moves: list[tuple[int, float]], own: NDArray[np.float32], span: float, least: float
) -> list[tuple[int, float]]:
    """The `moves` (feature, value) whose value is, on average, at least `least` of the input's
    `span` from what the class's `own` inputs hold there (all of them where it has no input)."""
    if len(own) == 0 or span <= 0:
        return moves
    return [(i, v) for i, v in moves if np.abs(own[:, i] - v).mean() / span >= least]


def _rows(
    x: NDArray[np.float32], examples: int
) -> tuple[tuple[int, ...], NDArray[np.float32], NDArray[np.int64], torch.Tensor]:
    """(one input's shape, the inputs flattened, the `evenly` picked rows' indices, those rows)
    that a search works on."""
    if len(x) == 0:
        raise ValueError("the trigger search needs validation examples")
    every = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
    picked = evenly(len(x), examples)
    return tuple(x.shape[1:]), every, picked, torch.from_numpy(every[picked])


def evenly(count: int, examples: int) -> NDArray[np.int64]:
    """At most `examples` indices evenly spaced through `count` (every validator takes the same)."""
    return np.linspace(0, count - 1, min(count, examples)).round().astype(np.int64)


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """`model` in eval mode with its parameters' gradients off, restored afterwards."""
    was_training = model.training
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        model.train(was_training)


def searched(spec: ModelSpec, policy: ValidationPolicy, objective: Objective) -> bool:
    """Whether a task's updates are searched for triggers: the search is on, the task classifies,
    and its inputs have at least `MIN_FEATURES` features (not a transformer's tokens)."""
    return (
        policy.max_trigger_lift is not None
        and objective == "classification"
        and int(np.prod(spec.input_shape)) >= MIN_FEATURES
        and spec.transformer is None
    )


def budget(input_size: int, fraction: float) -> int:
    """How many features a stamp may set: `fraction` of the input's, at least one."""
    return max(1, round(fraction * input_size))
