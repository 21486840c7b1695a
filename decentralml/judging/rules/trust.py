"""Trust bootstrapping in the spirit of FLTrust (Cao, Fang, Liu and Gong 2021, "FLTrust: Byzantine-
robust Federated Learning via Trust Bootstrapping").

The reference update w_0 is the referee's own, trained from the global model on the task's
validation set (the root dataset). With deltas delta_i = w_i - w_global:

    trust_i  = ReLU(cos(delta_i, delta_0))
    delta    = sum_i trust_i (||delta_0|| / ||delta_i||) delta_i / sum_i trust_i

and the result is w_global + delta: every update is rescaled to the reference's norm, so scaling
gains nothing, and one pointing away from the reference counts for nothing. If no update has
positive trust (or the reference did not move), the global model comes back unchanged and every
contribution is 0. Example counts play no part. Contribution: trust_i.

Cosines and norms come from one pass of slice-by-slice dot products, the sum from a second.
Memory: one slice per update and its deltas in the first pass, the result plus the same in the
second.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    """w_global plus the trust-weighted mean of the rescaled deltas."""
    if reference is None:
        raise RuleError(
            "trust needs a reference update: the referee's own, trained on the task's validation set"
        )
    if global_weights is None:
        raise RuleError("trust needs the global model (it compares the updates' deltas)")
    layout = updates[0].layout
    if reference.layout != layout:
        raise RuleError("the reference update does not fit the updates (names or shapes differ)")
    base = FlatWeights(global_weights, layout)
    n = len(updates)
    dots, squares, reference_square = _products(updates, reference, base, budget)
    norms = np.sqrt(squares)
    reference_norm = float(np.sqrt(reference_square))
    moved = norms > 0
    cosines = np.zeros(n, dtype=np.float64)
    if reference_norm > 0:
        cosines[moved] = dots[moved] / (norms[moved] * reference_norm)
    trust = np.clip(cosines, 0.0, 1.0)

    result = np.empty(updates[0].size, dtype=codec.DTYPE)
    if trust.sum() <= 0:
        for start, count in steps(result.size, budget):
            result[start : start + count] = base.read(start, count)
        return Aggregate(unflatten(result, layout), [0.0] * n)
    scale = np.zeros(n, dtype=np.float64)
    scale[moved] = trust[moved] * reference_norm / norms[moved]
    coefficients = (scale / trust.sum()).astype(np.float32)
    for start, stack in read_slices(updates, budget, share=4):
        count = stack.shape[1]
        origin = base.read(start, count)
        stack -= origin  # the buffer is refilled for the next slice
        result[start : start + count] = origin + coefficients @ stack
    return Aggregate(unflatten(result, layout), clamp(trust))


def _products(
    updates: Sequence[UpdateFile], reference: UpdateFile, base: FlatWeights, budget: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """(delta_i . delta_0, ||delta_i||^2 for each update, ||delta_0||^2), slice by slice."""
    dots = np.zeros(len(updates), dtype=np.float64)
    squares = np.zeros(len(updates), dtype=np.float64)
    reference_square = 0.0
    for start, stack in read_slices(updates, budget, share=4):
        count = stack.shape[1]
        origin = base.read(start, count)
        own = reference.read(start, count) - origin
        stack -= origin
        reference_square += float(np.square(own, dtype=np.float64).sum())
        dots += (stack * own).sum(axis=1, dtype=np.float64)
        squares += np.square(stack, out=stack).sum(axis=1, dtype=np.float64)
    return dots, squares, reference_square
