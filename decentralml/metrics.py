"""A model's scores on labelled examples, by objective, in numpy (float64 throughout).

Classification takes logits [n, classes] and int labels: mean cross-entropy ("loss"),
"accuracy", "macro_f1" (over the classes present in the labels or the predictions, as
scikit-learn's default) and, for two classes, "auroc" (Mann-Whitney on the class-1 margin, ties
averaged; 0.5 when the labels hold one class). Regression takes predictions [n] or [n, 1]:
"loss" and "mse" (mean squared error) and "r2" (0.0 when the targets are constant).

A regression trains on standardised targets (`kinds.schema.TabularSchema.target_std`); its reports
say the mean squared error in the target's own units (`in_target_units`).

A model whose outputs are not all finite scores the worst: loss inf, accuracy, macro_f1 and
auroc 0, r2 -inf. `PRIMARY` names the metric a referee ranks by; higher is better for both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from decentralml.kinds.schema import Objective

__all__ = ["PRIMARY", "in_target_units", "scores"]

PRIMARY: dict[Objective, str] = {
    "classification": "accuracy",
    "regression": "r2",
    "language_modeling": "accuracy",  # next-token top-1 accuracy (`training.lm_scores`)
}


def scores(objective: Objective, outputs: NDArray[Any], y: NDArray[Any]) -> dict[str, float]:
    """The objective's metrics of `outputs` against `y`; raises `ValueError` on mismatched shapes."""
    if objective == "regression":
        return _regression(np.asarray(outputs, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return _classification(np.asarray(outputs, dtype=np.float64), np.asarray(y))


def _classification(logits: NDArray[np.float64], y: NDArray[Any]) -> dict[str, float]:
    if logits.ndim != 2 or y.shape != (len(logits),) or len(y) == 0:
        raise ValueError(f"need logits [n, classes] and labels [n], n > 0; got {logits.shape} and {y.shape}")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= logits.shape[1]:
        raise ValueError(f"labels must be class indices 0..{logits.shape[1] - 1}")
    binary = logits.shape[1] == 2
    if not np.isfinite(logits).all():
        return {"loss": float("inf"), "accuracy": 0.0, "macro_f1": 0.0} | ({"auroc": 0.0} if binary else {})
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    loss = float(np.mean(log_norm - logits[np.arange(len(y)), y]))
    predicted = logits.argmax(axis=1)
    found = {
        "loss": loss if np.isfinite(loss) else float("inf"),
        "accuracy": float(np.mean(predicted == y)),
        "macro_f1": _macro_f1(y, predicted, logits.shape[1]),
    }
    if binary:
        found["auroc"] = _auroc(y == 1, logits[:, 1] - logits[:, 0])
    return found


def _macro_f1(y: NDArray[Any], predicted: NDArray[np.intp], classes: int) -> float:
    hits = np.bincount(y[predicted == y], minlength=classes)
    actual = np.bincount(y, minlength=classes)
    claimed = np.bincount(predicted, minlength=classes)
    present = (actual + claimed) > 0
    return float(np.mean(2 * hits[present] / (actual[present] + claimed[present])))


def _auroc(positive: NDArray[np.bool_], margin: NDArray[np.float64]) -> float:
    """Area under the ROC curve of `margin` (monotone in the class-1 probability, without its
    saturation at 1.0) by the Mann-Whitney U statistic with tied ranks averaged."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    _, inverse, counts = np.unique(margin, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = float(mean_rank[inverse][positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _regression(predicted: NDArray[np.float64], y: NDArray[np.float64]) -> dict[str, float]:
    if predicted.ndim == 2 and predicted.shape[1] == 1:
        predicted = predicted[:, 0]
    if predicted.shape != y.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(
            f"need predictions [n] or [n, 1] and targets [n], n > 0; got {predicted.shape}, {y.shape}"
        )
    if not np.isfinite(predicted).all():
        return {"loss": float("inf"), "mse": float("inf"), "r2": float("-inf")}
    sse = float(np.sum((predicted - y) ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    mse = sse / len(y)
    if not np.isfinite(mse):
        return {"loss": float("inf"), "mse": float("inf"), "r2": float("-inf")}
    return {"loss": mse, "mse": mse, "r2": 1.0 - sse / sst if sst > 0 else 0.0}


def in_target_units(metrics: dict[str, float], target_std: float) -> dict[str, float]:
    """Regression scores of standardised targets with "loss" and "mse" in the target's units
    (times `target_std` squared; r2 does not change). Classification scores are returned as
    they are (their `target_std` is 1)."""
    scale = target_std**2
    return {k: v * scale if k in ("loss", "mse") else v for k, v in metrics.items()}
