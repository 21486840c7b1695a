"""What the referee trusts of an update: not its claimed example count (capped at the round's median),
and not a floor that falls with a poisoned global model (the anchored loss floor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coordinator.federation.referee import capped
from decentralml import codec
from decentralml.aggregation import UpdateFile
from decentralml.data import DataSpec, digits, partition
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.rules import RuleParams, aggregate
from decentralml.training import TrainSpec, score, train
from decentralml.validation import check_updates

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


def spooled(tmp_path: Path, name: str, weights: codec.Weights, examples: float) -> UpdateFile:
    return UpdateFile.spool(tmp_path, name, codec.encode(weights), examples)


def test_an_inflated_example_count_gains_nothing(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    shapes = {"a": (4, 3), "b": (5,)}
    updates = [{n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()} for _ in range(5)]
    honest_counts = [120.0, 90.0, 100.0, 110.0]

    def fedavg_with(claim: float) -> codec.Weights:
        files = [
            (i, spooled(tmp_path, f"c{claim}-{i}", w, count))
            for i, (w, count) in enumerate(zip(updates, [*honest_counts, claim], strict=True))
        ]
        return aggregate("fedavg", [f for _, f in capped(files)], RuleParams()).weights

    inflated, modest = fedavg_with(100 * 120.0), fedavg_with(float(np.median([*honest_counts, 110.0])))

    for name in shapes:
        np.testing.assert_allclose(inflated[name], modest[name], rtol=1e-6)
    counted = dict((k, f.weight) for k, f in capped([(0, spooled(tmp_path, "x", updates[0], 1e9))]))
    assert counted == {0: 1e9}, "a lone update keeps its own count (the median of one claim)"


def test_the_anchored_floor_rejects_what_the_relative_floor_lets_through(tmp_path: Path) -> None:
    # Prepare: a good committed model, then a poisoned global model far worse than it.
    validation = digits().validation
    good = build(SPEC)
    train(good, partition(DataSpec(parts=2), 0), TrainSpec(epochs=5))
    best_loss = score(good, validation)["loss"]
    poisoned = {n: np.zeros_like(w) for n, w in weights_of(good).items()}  # chance: loss ln(10)
    bad_update = {n: w + 0.01 for n, w in poisoned.items()}
    model = build(SPEC)
    load_weights(model, poisoned)
    updates = [(1, spooled(tmp_path, "bad", bad_update, 1.0))]
    policy = ValidationPolicy(max_loss_rise=0.5)

    # Execute
    _, relative_only = check_updates(poisoned, updates, SPEC, validation, policy)
    _, anchored = check_updates(poisoned, updates, SPEC, validation, policy, floor_loss=best_loss * 1.5)

    # Assert: judged only against the poisoned model it passes; against the best committed it fails.
    assert best_loss < 1.0  # chance is ln(10) = 2.3
    assert relative_only[0].approved
    assert (anchored[0].approved, anchored[0].reason) == (False, "FailedValidation")
