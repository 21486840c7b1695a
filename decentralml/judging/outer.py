"""The outer optimizer (DiLoCo's): a round's accepted mean is an outer gradient, not the new model.

With `aggregation.outer: {lr, momentum, nesterov}` in the manifest, the referee treats the rule's
aggregate θ̄ (after the robust rules and checks, which keep working on the updates) as a
pseudo-gradient g = θ_prev - θ̄ and takes one SGD step with momentum on it:

    m ← μ·m + g;    θ_new = θ_prev - lr·(g + μ·m)   (Nesterov)   or   θ_prev - lr·m

With lr 1 and momentum 0 this is plain averaging (θ_new = θ̄). DiLoCo uses lr 0.7, momentum 0.9,
Nesterov.

The momentum is not kept in a file that a crash could lose or two committee members could hold
differently: it is a function of the models the chain committed. Each committed step can be
inverted (θ_{k-1} - θ_k = lr·((1 + μ)·g + μ²·m) with Nesterov, lr·m without), so `replay` rebuilds
m from θ_0, θ_1, … θ_{r-1} in float64, skipping the rounds that accepted nothing (no step was
taken). Every validator, and `dml model verify`, gets the same momentum from the same chain.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

Weights = dict[str, NDArray[np.float32]]
Moments = dict[str, NDArray[np.float64]]


class OuterSpec(BaseModel):
    """The manifest's `aggregation.outer`."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(
        0.7, gt=0, le=10, description="outer learning rate (1 with momentum 0: plain averaging)"
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="outer momentum μ")
    nesterov: bool = Field(True, description="Nesterov momentum, as DiLoCo")


def _checked(a: Weights, b: Weights) -> None:
    if set(a) != set(b) or any(a[k].shape != b[k].shape for k in a):
        raise ValueError("the two models do not have the same tensors")


def step(
    previous: Weights, aggregate: Weights, momentum: Moments | None, spec: OuterSpec
) -> tuple[Weights, Moments]:
    """The new model and momentum after one outer step from `previous` towards `aggregate`."""
    _checked(previous, aggregate)
    mu, lr = spec.momentum, spec.lr
    new: Weights = {}
    moments: Moments = {}
    for name in previous:  # in the model's own order: the codec's layout follows it
        before = previous[name].astype(np.float64)
        g = before - aggregate[name].astype(np.float64)
        m = g if momentum is None else mu * momentum[name] + g
        direction = g + mu * m if spec.nesterov else m
        new[name] = (before - lr * direction).astype(np.float32)
        moments[name] = m
    return new, moments


def replay(history: Iterable[tuple[Weights, bool]], spec: OuterSpec) -> Moments | None:
    """The momentum after the committed models `history`: (θ_k, whether round k accepted any
    update), θ_0 first (its flag is ignored). None before any step was taken."""
    mu, lr = spec.momentum, spec.lr
    momentum: Moments | None = None
    previous: Weights | None = None
    for model, stepped in history:
        if previous is not None and stepped:
            _checked(previous, model)
            moments: Moments = {}
            for name in model:
                d = (previous[name].astype(np.float64) - model[name].astype(np.float64)) / lr
                old = np.zeros_like(d) if momentum is None else momentum[name]
                g = (d - mu * mu * old) / (1 + mu) if spec.nesterov else d - mu * old
                moments[name] = mu * old + g
            momentum = moments
        previous = model
    return momentum
