"""Metrics against scikit-learn's on random outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from decentralml.metrics import PRIMARY, scores


def logits_and_labels(
    seed: int, n: int = 200, classes: int = 4, decimals: int | None = None
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Logits that agree with the labels a little more often than chance; rounded to force ties."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), y] += 0.8
    if decimals is not None:
        logits = np.round(logits, decimals)
    return logits.astype(np.float32), y.astype(np.int64)


def softmax(logits: NDArray[Any]) -> NDArray[np.float64]:
    shifted = np.exp(logits.astype(np.float64) - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float64)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("classes", [2, 3, 10])
def test_classification_scores_match_sklearn(seed: int, classes: int) -> None:
    logits, y = logits_and_labels(seed, classes=classes)

    found = scores("classification", logits, y)

    predicted = logits.argmax(axis=1)
    assert found["accuracy"] == pytest.approx(accuracy_score(y, predicted))
    assert found["macro_f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert found["loss"] == pytest.approx(log_loss(y, softmax(logits), labels=range(classes)), rel=1e-5)
    assert ("auroc" in found) == (classes == 2)


@pytest.mark.parametrize("seed", range(5))
def test_binary_auroc_matches_sklearn_with_ties(seed: int) -> None:
    logits, y = logits_and_labels(seed, n=300, classes=2, decimals=1)

    found = scores("classification", logits, y)

    assert found["auroc"] == pytest.approx(roc_auc_score(y, softmax(logits)[:, 1]), abs=1e-12)


def test_macro_f1_averages_only_the_classes_present() -> None:
    y = np.array([0, 0, 1, 1, 1])
    logits = np.zeros((5, 6), np.float32)
    logits[[0, 1, 2, 3, 4], [0, 1, 1, 1, 4]] = 1.0

    found = scores("classification", logits, y)

    assert found["macro_f1"] == pytest.approx(f1_score(y, logits.argmax(axis=1), average="macro"))


def test_auroc_is_a_half_when_the_labels_hold_one_class() -> None:
    logits, _ = logits_and_labels(0, n=20, classes=2)

    found = scores("classification", logits, np.ones(20, np.int64))

    assert found["auroc"] == 0.5


def test_huge_logits_keep_a_finite_loss() -> None:
    logits = np.array([[1e30, -1e30], [-1e30, 1e30]], np.float32)

    found = scores("classification", logits, np.array([0, 0]))

    assert np.isfinite(found["loss"])
    assert found["loss"] == pytest.approx(1e30, rel=1e-6)
    assert found["accuracy"] == 0.5


def test_non_finite_outputs_score_the_worst() -> None:
    logits, y = logits_and_labels(1, classes=2)
    logits[3, 1] = np.nan
    predictions = np.ones(10, np.float32)
    predictions[0] = np.inf

    classification = scores("classification", logits, y)
    regression = scores("regression", predictions, np.zeros(10, np.float32))

    assert classification == {"loss": float("inf"), "accuracy": 0.0, "macro_f1": 0.0, "auroc": 0.0}
    assert regression == {"loss": float("inf"), "mse": float("inf"), "r2": float("-inf")}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("column", [True, False])
def test_regression_scores_match_sklearn(seed: int, column: bool) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(size=150).astype(np.float32)
    predicted = (y + rng.normal(scale=0.5, size=150)).astype(np.float32)

    found = scores("regression", predicted[:, None] if column else predicted, y)

    assert found["mse"] == pytest.approx(mean_squared_error(y, predicted), rel=1e-6)
    assert found["loss"] == found["mse"]
    assert found["r2"] == pytest.approx(r2_score(y, predicted), rel=1e-6)


def test_r2_is_zero_for_constant_targets() -> None:
    found = scores("regression", np.array([1.0, 2.0, 3.0], np.float32), np.full(3, 2.0, np.float32))

    assert found["r2"] == 0.0
    assert found["mse"] == pytest.approx(2 / 3)


def test_mismatched_shapes_and_labels_are_refused() -> None:
    logits, y = logits_and_labels(2, classes=3)

    with pytest.raises(ValueError, match="labels"):
        scores("classification", logits, y[:-1])
    with pytest.raises(ValueError, match=r"class indices 0\.\.2"):
        scores("classification", logits, y + 3)
    with pytest.raises(ValueError, match="predictions"):
        scores("regression", logits, y.astype(np.float32))


def test_the_primary_metric_of_each_objective_is_reported() -> None:
    logits, y = logits_and_labels(3)

    assert PRIMARY["classification"] in scores("classification", logits, y)
    assert PRIMARY["regression"] in scores("regression", y.astype(np.float32), y.astype(np.float32))
