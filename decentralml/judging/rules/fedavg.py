"""FedAvg (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
Decentralized Data"): the mean of the updates weighted by `UpdateFile.weight`.

The weight is whatever the caller passes: the referee passes example counts capped by what the task
allows, never a worker's own claim. Contribution: each update's share of the total weight.
Memory: the result plus one slice per update.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from decentralml import codec
from decentralml.judging.aggregation import UpdateFile, read_slices, unflatten
from decentralml.judging.rules.base import Aggregate, RuleError, RuleParams, RuleState


def aggregate(
    updates: Sequence[UpdateFile],
    params: RuleParams,
    *,
    reference: UpdateFile | None,
    state: RuleState | None,
    global_weights: codec.Weights | None,
    budget: int,
) -> Aggregate:
    """The weighted mean; RuleError if the weights are not positive in total."""
    weights = np.array([u.weight for u in updates], dtype=np.float64)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise RuleError("fedavg needs non-negative weights with a positive total")
    shares64 = weights / weights.sum()
    shares = shares64.astype(np.float32)
    result = np.empty(updates[0].size, dtype=codec.DTYPE)
    for start, stack in read_slices(updates, budget):
        result[start : start + stack.shape[1]] = shares @ stack
    return Aggregate(unflatten(result, updates[0].layout), [float(s) for s in shares64])
