"""Aggregation rules, one module each, and the one table (`RULES`) the manifest, the referee and
the benchmarks read.

Every rule streams the updates from their spool files a slice at a time (see
`decentralml.judging.aggregation`): its peak memory is the result (one model), one slice per update and
O(n^2) scalars, under 2x one model at 100 updates of a 10M-parameter model. The pairwise rules
(multikrum, bulyan) accumulate their distance matrix slice by slice.

    result = aggregate("bulyan", files, RuleParams(f=2))
    result.weights, result.contributions

Rules that need the global model (centered_clipping, trust) take it as `global_weights`; trust
also takes the referee's own `reference` update; centered clipping keeps its momentum in a
per-task `RuleState`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from decentralml import codec
from decentralml.judging.aggregation import SLICE_BUDGET_BYTES, UpdateFile, common_layout
from decentralml.judging.rules import (
    bulyan,
    centered_clipping,
    fedavg,
    median,
    multikrum,
    trimmed_mean,
    trust,
)
from decentralml.judging.rules.base import Aggregate, RuleError, RuleFunction, RuleParams, RuleState

__all__ = [
    "RULES",
    "Aggregate",
    "RuleError",
    "RuleInfo",
    "RuleName",
    "RuleParams",
    "RuleState",
    "aggregate",
]

RuleName = Literal["fedavg", "trimmed_mean", "median", "multikrum", "bulyan", "centered_clipping", "trust"]


def _any_number(f: int) -> int:
    return 1


@dataclass(frozen=True)
class RuleInfo:
    """One rule: its name, a one-line summary, its function, what it needs besides the updates,
    and the fewest updates it runs on for f assumed Byzantine ones."""

    name: RuleName
    summary: str
    aggregate: RuleFunction
    needs_reference: bool = False
    needs_global_weights: bool = False
    min_updates: Callable[[int], int] = _any_number


RULES: dict[str, RuleInfo] = {
    info.name: info
    for info in (
        RuleInfo("fedavg", "Mean weighted by (capped) example counts; no robustness", fedavg.aggregate),
        RuleInfo(
            "trimmed_mean",
            "Coordinate-wise mean without the trim fraction at each end",
            trimmed_mean.aggregate,
        ),
        RuleInfo("median", "Coordinate-wise median", median.aggregate),
        RuleInfo(
            "multikrum",
            "Mean of the m updates closest to their n-f-2 neighbours (Krum scores)",
            multikrum.aggregate,
            min_updates=multikrum.min_updates,
        ),
        RuleInfo(
            "bulyan",
            "Recursive-Krum selection of n-2f, then the mean of the n-4f values nearest each median",
            bulyan.aggregate,
            min_updates=bulyan.min_updates,
        ),
        RuleInfo(
            "centered_clipping",
            "Deltas clipped to tau around a momentum centre, averaged (Karimireddy et al. 2021)",
            centered_clipping.aggregate,
            needs_global_weights=True,
        ),
        RuleInfo(
            "trust",
            "FLTrust: deltas rescaled to the reference's norm, weighted by ReLU cosine to it",
            trust.aggregate,
            needs_reference=True,
            needs_global_weights=True,
        ),
    )
}
assert set(RULES) == set(get_args(RuleName)), "RuleName and RULES must list the same rules"


def aggregate(
    name: str,
    updates: Sequence[UpdateFile],
    params: RuleParams,
    reference: UpdateFile | None = None,
    state: RuleState | None = None,
    global_weights: codec.Weights | None = None,
    *,
    budget: int = SLICE_BUDGET_BYTES,
) -> Aggregate:
    """The aggregate of `updates` by the rule called `name`.

    Parameters
    ----------
    name
        A key of `RULES`.
    updates
        Spool files of the same layout; `weight` is used by fedavg only.
    params
        The rules' parameters.
    reference
        The referee's own update, trained on the task's validation set (trust needs it).
    state
        The task's state between rounds (centered clipping reads and rewrites its momentum).
    global_weights
        The model the updates started from (centered_clipping and trust need it).
    budget
        Bytes of update slices read at a time (capped at a quarter of one model).

    Returns
    -------
    Aggregate
        The weights, and `contributions[i]` in [0, 1] for each update (see `Aggregate`).

    Raises
    ------
    RuleError
        No updates, differing layouts, an unknown rule, a missing input, or too few updates for
        the rule's f (for example "bulyan needs at least 4f+3 = 11 updates for f=2; got 7").
    """
    info = RULES.get(name)
    if info is None:
        raise RuleError(f"unknown aggregation rule {name!r}; one of {', '.join(RULES)}")
    try:
        common_layout(updates)
    except ValueError as bad:
        raise RuleError(str(bad)) from bad
    if info.needs_reference and reference is None:
        raise RuleError(f"{name} needs a reference update: the referee's own, trained on the validation set")
    if info.needs_global_weights and global_weights is None:
        raise RuleError(f"{name} needs the global model the updates started from")
    return info.aggregate(
        updates,
        params,
        reference=reference,
        state=state,
        global_weights=global_weights,
        budget=budget,
    )
