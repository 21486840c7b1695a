"""Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
Optimal Statistical Rates").

Contribution: the fraction of coordinates at which the update's value was the median (for an even
number of updates, either of the two middle values), so honest updates get about 1/n or 2/n each.
Memory: the result plus a quarter-size slice per update and its sorted copy.
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
    """The median at each coordinate."""
    n = len(updates)
    total = updates[0].size
    result = np.empty(total, dtype=codec.DTYPE)
    middle_counts = np.zeros(n, dtype=np.int64)
    for start, stack in read_slices(updates, budget, share=4):
        result[start : start + stack.shape[1]] = np.median(stack, axis=0)
        ordered = np.sort(stack, axis=0)
        middle = (stack >= ordered[(n - 1) // 2]) & (stack <= ordered[n // 2])
        middle_counts += middle.sum(axis=1)
    return Aggregate(unflatten(result, updates[0].layout), clamp(middle_counts / total))
