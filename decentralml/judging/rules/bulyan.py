"""Bulyan (El Mhamdi et al. 2018, "The Hidden Vulnerability of Distributed Learning in Byzantium"):
select theta = n - 2f updates by Krum applied recursively (pick the best-scored, remove it, rescore
the rest), then at each coordinate average the beta = theta - 2f selected values closest to their
median.

Needs n >= 4f + 3, and refuses to run below it. Distances come from one slice-by-slice pass over all
updates (see `multikrum.squared_distances`); the recursion only reuses that matrix. Contribution:
the fraction of coordinates at which the update's value was among the beta averaged (0 for updates
Krum did not select). Memory: the result plus an eighth-size slice per selected update and its
sort indices, and O(n^2) scalars.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from decentralml import codec
from decentralml.judging.aggregation import UpdateFile, read_slices, unflatten
from decentralml.judging.rules.base import Aggregate, RuleParams, RuleState, clamp, enough
from decentralml.judging.rules.multikrum import krum_scores, squared_distances


def default_f(n: int) -> int:
    """The most Byzantine updates Bulyan tolerates among n: floor((n - 3) / 4)."""
    return max(0, (n - 3) // 4)


def min_updates(f: int) -> int:
    return 4 * f + 3


def select(distances: NDArray[np.float64], f: int, theta: int) -> list[int]:
    """Indices of the theta updates recursive Krum selects, in the order selected."""
    remaining = list(range(len(distances)))
    chosen: list[int] = []
    while len(chosen) < theta:
        scores = krum_scores(distances[np.ix_(remaining, remaining)], f)
        best = remaining[int(np.argmin(scores))]
        chosen.append(best)
        remaining.remove(best)
    return chosen


def aggregate(
    updates: Sequence[UpdateFile],
    params: RuleParams,
    *,
    reference: UpdateFile | None,
    state: RuleState | None,
    global_weights: codec.Weights | None,
    budget: int,
) -> Aggregate:
    """Recursive-Krum selection, then the coordinate-wise mean of the beta values nearest the median."""
    n = len(updates)
    f = default_f(n) if params.f is None else params.f
    enough("bulyan", min_updates(f), f, n, "4f+3")
    theta = n - 2 * f
    beta = theta - 2 * f
    chosen = sorted(select(squared_distances(updates, budget), f, theta))
    selected = [updates[i] for i in chosen]
    total = updates[0].size
    result = np.empty(total, dtype=codec.DTYPE)
    kept_counts = np.zeros(theta, dtype=np.int64)
    # An eighth of the budget: the median's copy, the distances, their sort indices (int64, two
    # slices) and the kept values each take another slice.
    for start, stack in read_slices(selected, budget, share=8):
        distance = stack - np.median(stack, axis=0)
        nearest = np.argsort(np.abs(distance, out=distance), axis=0, kind="stable")[:beta]
        del distance
        result[start : start + stack.shape[1]] = np.take_along_axis(stack, nearest, axis=0).mean(axis=0)
        kept_counts += np.bincount(nearest.ravel(), minlength=theta)
    contributions = [0.0] * n
    for row, index in enumerate(chosen):
        contributions[index] = float(kept_counts[row]) / total
    return Aggregate(unflatten(result, updates[0].layout), clamp(contributions))
