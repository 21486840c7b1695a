"""Coordinate-wise trimmed mean (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
Optimal Statistical Rates"): at each coordinate, drop the `trim` fraction of the highest and of the
lowest values, average the rest.

Contribution: the fraction of coordinates at which the update's value was kept (ties at the cut
count as kept). Memory: the result plus a quarter-size slice per update and its sorted copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from decentralml import codec
from decentralml.judging.aggregation import UpdateFile, read_slices, unflatten
from decentralml.judging.rules.base import Aggregate, RuleParams, RuleState, clamp


def aggregate(
    updates: Sequence[UpdateFile],
    params: RuleParams,
    *,
    reference: UpdateFile | None,
    state: RuleState | None,
    global_weights: codec.Weights | None,
    budget: int,
) -> Aggregate:
    """The trimmed mean, cutting int(trim * n) values from each end."""
    n = len(updates)
    cut = int(params.trim * n)
    total = updates[0].size
    result = np.empty(total, dtype=codec.DTYPE)
    kept_counts = np.zeros(n, dtype=np.int64)
    # A quarter of the budget: the sort and the kept masks each take another slice.
    for start, stack in read_slices(updates, budget, share=4):
        ordered = np.sort(stack, axis=0)
        kept = ordered[cut : n - cut]
        result[start : start + stack.shape[1]] = kept.mean(axis=0)
        inside = (stack >= kept[0]) & (stack <= kept[-1])
        kept_counts += inside.sum(axis=1)
    return Aggregate(unflatten(result, updates[0].layout), clamp(kept_counts / total))
