"""Checking each update before it counts: the task's validation policy, applied by the coordinator.

An update is rejected when it
- does not fit the task's model (names, shapes) or holds non-finite values: `Malformed`;
- lies farther from the global model than `norm_factor` times the round's median distance (or
  `max_norm`): `Outlier` (sign-flipped or scaled updates land here);
- scores below the global model's validation accuracy minus `max_accuracy_drop`:
  `FailedValidation`.
Updates are read one at a time from their spool files, never all at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from decentralml.aggregation import UpdateFile
from decentralml.codec import Weights
from decentralml.data import Split
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights
from decentralml.training import evaluate

Reason = Literal["FailedValidation", "Outlier", "Malformed", "HashMismatch"]


@dataclass(frozen=True)
class Check:
    """The verdict on one update: approved, or the reason it was not; its score in ppm."""

    key: int
    approved: bool
    score: int
    reason: Reason | None
    accuracy: float
    distance: float


def check_updates(
    global_weights: Weights,
    updates: Sequence[tuple[int, UpdateFile]],
    spec: ModelSpec,
    validation: Split,
    policy: ValidationPolicy,
) -> tuple[float, list[Check]]:
    """(global model's validation accuracy, a Check per (key, update)) in the order given."""
    model = build(spec)
    load_weights(model, global_weights)
    baseline, _ = evaluate(model, validation)
    layout = tuple((name, tuple(array.shape)) for name, array in global_weights.items())
    measured: list[tuple[int, float | None, float | None]] = []
    for key, update in updates:
        if update.layout != layout:
            measured.append((key, None, None))
            continue
        weights = update.weights()
        squares = sum(
            float(np.sum((weights[n] - global_weights[n]).astype(np.float64) ** 2)) for n in weights
        )
        if not np.isfinite(squares):
            measured.append((key, None, None))
            continue
        load_weights(model, weights)
        measured.append((key, float(np.sqrt(squares)), evaluate(model, validation)[0]))
    distances = [d for _, d, _ in measured if d is not None]
    limit = policy.norm_factor * float(np.median(distances)) if len(distances) >= 3 else float("inf")
    if policy.max_norm is not None:
        limit = min(limit, policy.max_norm)
    checks = []
    for key, distance, score in measured:
        if distance is None or score is None:
            checks.append(Check(key, False, 0, "Malformed", 0.0, float("nan")))
            continue
        reason: Reason | None = None
        if distance > limit:
            reason = "Outlier"
        elif score < baseline - policy.max_accuracy_drop:
            reason = "FailedValidation"
        checks.append(Check(key, reason is None, round(score * 1_000_000), reason, score, distance))
    return baseline, checks
