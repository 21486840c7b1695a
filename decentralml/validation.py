"""Checking each update before it counts: the task's validation policy, applied by the coordinator.

An update is rejected when it
- does not fit the task's model (names, shapes) or holds non-finite values: `Malformed`;
- lies farther from the global model than `norm_factor` times the round's median distance (or
  `max_norm`): `Outlier` (sign-flipped or scaled updates land here);
- scores below the global model's validation score minus `max_accuracy_drop`:
  `FailedValidation`. The score is the task kind's primary metric (`metrics.PRIMARY`): accuracy
  for classification, R² for regression; or whose validation loss exceeds `floor_loss` (the best
  committed model's loss raised by `max_loss_rise`: an anchored floor that does not fall with a
  poisoned global model): `FailedValidation`.
Updates are read one at a time from their spool files, never all at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from decentralml.aggregation import UpdateFile
from decentralml.codec import Weights
from decentralml.kinds.schema import Objective, Split
from decentralml.manifest import ValidationPolicy
from decentralml.metrics import PRIMARY
from decentralml.models import ModelSpec, build, load_weights
from decentralml.training import score

Reason = Literal["FailedValidation", "Outlier", "Malformed", "HashMismatch"]


@dataclass(frozen=True)
class Check:
    """The verdict on one update: approved, or the reason it was not; its score in ppm, clamped to
    0..1,000,000; `metric` the primary metric's value on the validation set."""

    key: int
    approved: bool
    score: int
    reason: Reason | None
    metric: float
    distance: float


def check_updates(
    global_weights: Weights,
    updates: Sequence[tuple[int, UpdateFile]],
    spec: ModelSpec,
    validation: Split,
    policy: ValidationPolicy,
    objective: Objective = "classification",
    floor_loss: float | None = None,
) -> tuple[float, list[Check]]:
    """(global model's validation score, a Check per (key, update)) in the order given."""
    primary = PRIMARY[objective]
    model = build(spec)
    load_weights(model, global_weights)
    baseline = score(model, validation, objective)[primary]
    layout = tuple((name, tuple(array.shape)) for name, array in global_weights.items())
    measured: list[tuple[int, float | None, float | None, float]] = []
    for key, update in updates:
        if update.layout != layout:
            measured.append((key, None, None, float("inf")))
            continue
        weights = update.weights()
        squares = sum(
            float(np.sum((weights[n] - global_weights[n]).astype(np.float64) ** 2)) for n in weights
        )
        if not np.isfinite(squares):
            measured.append((key, None, None, float("inf")))
            continue
        load_weights(model, weights)
        found = score(model, validation, objective)
        measured.append((key, float(np.sqrt(squares)), found[primary], found["loss"]))
    distances = [d for _, d, _, _ in measured if d is not None]
    limit = policy.norm_factor * float(np.median(distances)) if len(distances) >= 3 else float("inf")
    if policy.max_norm is not None:
        limit = min(limit, policy.max_norm)
    checks = []
    for key, distance, value, loss in measured:
        if distance is None or value is None:
            checks.append(Check(key, False, 0, "Malformed", 0.0, float("nan")))
            continue
        reason: Reason | None = None
        if distance > limit:
            reason = "Outlier"
        elif not value >= baseline - policy.max_accuracy_drop or (
            floor_loss is not None and not loss <= floor_loss
        ):
            reason = "FailedValidation"
        ppm = round(min(max(value, 0.0), 1.0) * 1_000_000) if np.isfinite(value) else 0
        checks.append(Check(key, reason is None, ppm, reason, value, distance))
    return baseline, checks
