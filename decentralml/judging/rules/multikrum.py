"""Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine Tolerant
Gradient Descent"; El Mhamdi et al. 2018, "The Hidden Vulnerability of Distributed Learning in
Byzantium"): score each update by the sum of squared distances to its n - f - 2 nearest others,
average the m with the lowest scores.

Needs n >= 2f + 3. Distances come from one pass that accumulates the n x n matrix slice by slice
(each slice centred before its Gram matrix, so near-identical full-weight updates lose no
precision), never holding two whole updates; a second pass averages the selected ones. The mean is
plain, not weighted by example counts, as in the papers. Contribution: 1 if selected, else 0.
Memory: one slice per update (with a float64 copy) in the first pass, the result plus one slice per
selected update in the second, and O(n^2) scalars.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from decentralml import codec
from decentralml.judging.aggregation import UpdateFile, read_slices, unflatten
from decentralml.judging.rules.base import Aggregate, RuleParams, RuleState, enough


def default_f(n: int) -> int:
    """The most Byzantine updates Krum tolerates among n: floor((n - 3) / 2)."""
    return max(0, (n - 3) // 2)


def min_updates(f: int) -> int:
    return 2 * f + 3


def squared_distances(updates: Sequence[UpdateFile], budget: int) -> NDArray[np.float64]:
    """The n x n matrix of squared Euclidean distances between the updates, slice by slice."""
    n = len(updates)
    distances = np.zeros((n, n), dtype=np.float64)
    for _, stack in read_slices(updates, budget, share=4):
        centred = stack.astype(np.float64)
        centred -= centred.mean(axis=0)
        gram = centred @ centred.T
        squares = np.diag(gram)
        distances += squares[:, None] + squares[None, :] - 2.0 * gram
    np.fill_diagonal(distances, 0.0)
    return np.maximum(distances, 0.0)


def krum_scores(distances: NDArray[np.float64], f: int) -> NDArray[np.float64]:
    """Each update's sum of squared distances to its n - f - 2 nearest others (at least one)."""
    n = len(distances)
    neighbours = min(max(n - f - 2, 1), n - 1)
    if neighbours <= 0:
        return np.zeros(n, dtype=np.float64)
    others = np.sort(distances + np.diag(np.full(n, np.inf)), axis=1)[:, :neighbours]
    return np.asarray(others.sum(axis=1), dtype=np.float64)


def mean_of(updates: Sequence[UpdateFile], budget: int) -> NDArray[np.float32]:
    """The plain mean of `updates`, slice by slice."""
    result = np.empty(updates[0].size, dtype=codec.DTYPE)
    for start, stack in read_slices(updates, budget):
        result[start : start + stack.shape[1]] = stack.mean(axis=0)
    return result


def aggregate(
    updates: Sequence[UpdateFile],
    params: RuleParams,
    *,
    reference: UpdateFile | None,
    state: RuleState | None,
    global_weights: codec.Weights | None,
    budget: int,
) -> Aggregate:
    """The mean of the m updates with the lowest Krum scores."""
    n = len(updates)
    f = default_f(n) if params.f is None else params.f
    enough("multikrum", min_updates(f), f, n, "2f+3")
    m = n - f if params.multikrum_m is None else min(params.multikrum_m, n)
    scores = krum_scores(squared_distances(updates, budget), f)
    chosen = sorted(int(i) for i in np.argsort(scores, kind="stable")[:m])
    result = mean_of([updates[i] for i in chosen], budget)
    contributions = [1.0 if i in chosen else 0.0 for i in range(n)]
    return Aggregate(unflatten(result, updates[0].layout), contributions)
