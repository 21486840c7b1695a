"""Centered clipping with momentum (Karimireddy, He and Jaggi 2021, "Learning from History for
Byzantine Robust Optimization").

Updates are full weights, so the rule works on deltas x_i = w_i - w_global (it needs the global
model). Starting from the centre v = m, the momentum kept in the task's `RuleState` (zero on the
first round or without a state), it iterates L times

    v <- v + (1/n) sum_i clip_tau(x_i - v),    clip_tau(z) = z min(1, tau / ||z||)

and returns w_global + v. Each update moves v by at most tau / n per iteration, whatever its
scale. tau is `clip_tau`, or else the median of ||x_i - m||, measured each round. The state then
keeps m <- beta m + (1 - beta) v for the next round (beta = `momentum`).

Norms come from slice-by-slice sums of squares, so each iteration is one pass over the spool
files (L + 1 passes and a last one over v). Contribution: the update's clipping factor
min(1, tau / ||x_i - v||) in the last iteration. Memory: v (one model) plus one half-size slice per
update and its deltas; the momentum is streamed to and from its file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from decentralml import codec
from decentralml.judging.aggregation import UpdateFile, read_slices, unflatten
from decentralml.judging.rules.base import (
    Aggregate,
    FlatWeights,
    RuleError,
    RuleParams,
    RuleState,
    clamp,
    steps,
)


def aggregate(
    updates: Sequence[UpdateFile],
    params: RuleParams,
    *,
    reference: UpdateFile | None,
    state: RuleState | None,
    global_weights: codec.Weights | None,
    budget: int,
) -> Aggregate:
    """w_global + v after L clipping iterations from the kept momentum."""
    if global_weights is None:
        raise RuleError("centered_clipping needs the global model (it clips the updates' deltas)")
    layout = updates[0].layout
    base = FlatWeights(global_weights, layout)
    momentum = state.momentum() if state is not None else None
    if momentum is not None and momentum.layout != layout:
        raise RuleError("the kept momentum does not fit the updates (the model changed)")
    total = updates[0].size
    v = np.zeros(total, dtype=codec.DTYPE) if momentum is None else momentum.read(0, total)
    squares = _squared_distances(updates, base, v, budget)
    tau = params.clip_tau if params.clip_tau is not None else float(np.median(np.sqrt(squares)))
    factors = np.ones(len(updates), dtype=np.float64)
    for _ in range(params.iterations):
        factors = _clip_factors(squares, tau)
        squares = _step(updates, base, v, factors, budget)
    if state is not None:
        state.write_momentum(layout, _next_momentum(v, momentum, params.momentum, total, budget))
    for start, count in steps(total, budget):
        v[start : start + count] += base.read(start, count)
    return Aggregate(unflatten(v, layout), clamp(factors))


def _squared_distances(
    updates: Sequence[UpdateFile], base: FlatWeights, centre: NDArray[np.float32], budget: int
) -> NDArray[np.float64]:
    """||x_i - centre||^2 for each update, slice by slice."""
    squares = np.zeros(len(updates), dtype=np.float64)
    for start, stack in read_slices(updates, budget, share=2):
        count = stack.shape[1]
        stack -= base.read(start, count)  # the buffer is refilled for the next slice
        stack -= centre[start : start + count]
        squares += np.square(stack, out=stack).sum(axis=1, dtype=np.float64)
    return squares


def _step(
    updates: Sequence[UpdateFile],
    base: FlatWeights,
    v: NDArray[np.float32],
    factors: NDArray[np.float64],
    budget: int,
) -> NDArray[np.float64]:
    """v += (1/n) sum_i factor_i (x_i - v) in place; ||x_i - v||^2 for the new v."""
    shares = (factors / len(updates)).astype(np.float32)
    squares = np.zeros(len(updates), dtype=np.float64)
    for start, stack in read_slices(updates, budget, share=2):
        count = stack.shape[1]
        stack -= base.read(start, count)
        stack -= v[start : start + count]
        move = shares @ stack
        v[start : start + count] += move
        stack -= move
        squares += np.square(stack, out=stack).sum(axis=1, dtype=np.float64)
    return squares


def _clip_factors(squares: NDArray[np.float64], tau: float) -> NDArray[np.float64]:
    norms = np.sqrt(squares)
    with np.errstate(divide="ignore"):
        return np.where(norms > tau, tau / np.maximum(norms, np.finfo(np.float64).tiny), 1.0)


def _next_momentum(
    v: NDArray[np.float32], old: UpdateFile | None, beta: float, total: int, budget: int
) -> Iterator[NDArray[np.float32]]:
    for start, count in steps(total, budget):
        step = np.float32(1 - beta) * v[start : start + count]
        if old is not None and beta:
            step += np.float32(beta) * old.read(start, count)
        yield step
