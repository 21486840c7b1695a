"""What the referee trusts of an update: not its claimed example count (capped at the round's median),
and not a floor that falls with a poisoned global model (the anchored loss floor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from coordinator.federation.referee import Received, Referee, capped
from decentralml import codec
from decentralml.aggregation import UpdateFile
from decentralml.data import DataSpec, Split, digits, partition
from decentralml.manifest import ContentRef, TaskManifest, ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.rules import RuleParams, aggregate
from decentralml.training import TrainSpec, score, train
from decentralml.validation import check_updates
from decentralml_bindings.dev import FERDIE
from decentralml_bindings.types import LOW_TRUST
from support.twins import ChainTwin, StoreTwin

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


def _skewed_round(
    tmp_path: Path, alpha: float = 0.1, rounds_before: int = 3
) -> tuple[codec.Weights, list[UpdateFile], Split]:
    """A global model trained a few FedAvg rounds on 10 Dirichlet(alpha) shares, then each worker's
    honest update from it (at alpha=0.1 the shares are very skewed: most hold one or two digits)."""
    spec = DataSpec(parts=10, alpha=alpha, seed=3)
    shares = [partition(spec, part) for part in range(10)]
    weights = weights_of(build(SPEC, 3))
    training = TrainSpec(epochs=5)
    for round_ in range(rounds_before + 1):
        files = []
        for part, share in enumerate(shares):
            model = build(SPEC)
            load_weights(model, weights)
            train(model, share, training.model_copy(update={"seed": round_ * 10 + part}))
            files.append(spooled(tmp_path, f"r{round_}-{part}", weights_of(model), float(len(share))))
        if round_ < rounds_before:
            weights = {k: np.array(v) for k, v in aggregate("fedavg", files, RuleParams()).weights.items()}
    return weights, files, digits(3).validation


def test_honest_skewed_updates_are_accepted(tmp_path: Path) -> None:
    # Prepare: ten honest workers whose shares are Dirichlet(0.1)-skewed.
    weights, files, validation = _skewed_round(tmp_path)
    updates = list(enumerate(files))
    model = build(SPEC)
    alone = []
    for update in files:
        load_weights(model, update.weights())
        alone.append(score(model, validation)["accuracy"])

    # Execute: the default policy judges each by what it adds to the round's mean.
    baseline, checks = check_updates(weights, updates, SPEC, validation, ValidationPolicy())
    _, judged_alone = check_updates(
        weights, updates, SPEC, validation, ValidationPolicy(max_accuracy_drop=0.25)
    )

    # Assert: every honest update is accepted, though some score far below the global model alone
    # (and the optional judged-alone check would have refused those).
    assert [c.approved for c in checks] == [True] * 10, [(c.reason, c.metric) for c in checks]
    assert min(alone) < baseline - 0.25
    assert sum(not c.approved for c in judged_alone) >= 1


def size(delta: dict[str, NDArray[np.float64]]) -> float:
    return float(np.sqrt(sum(np.sum(v**2) for v in delta.values())))


def test_an_adaptive_attack_at_the_threshold_gets_no_weight_by_default(tmp_path: Path) -> None:
    # Prepare: six honest Dirichlet(0.5) workers, and four colluders who know the default policy's
    # distance limit (norm_factor x the median distance) and send the inner-product-manipulation
    # direction (-mu) scaled to sit just inside it. The chain and the store are in-process twins.
    weights, files, validation = _skewed_round(tmp_path, alpha=0.5)
    honest = files[4:]
    origin = {k: v.astype(np.float64) for k, v in weights.items()}
    deltas = [{k: u.weights()[k] - origin[k] for k in origin} for u in honest]
    mean = {k: np.mean([d[k] for d in deltas], axis=0) for k in origin}
    policy = ValidationPolicy()
    limit = policy.norm_factor * float(np.median([size(d) for d in deltas]))
    scale = 0.95 * limit / size(mean)
    poisoned = {k: (origin[k] - scale * mean[k]).astype(np.float32) for k in origin}
    manifest = TaskManifest(
        name="adaptive",
        model=SPEC,
        initial_weights=ContentRef(cid="twin", sha256="0x" + "0" * 64),
        data=DataSpec(parts=10, alpha=0.5, seed=3),
    )
    chain, store = ChainTwin(), StoreTwin()
    received = []
    # The chain refuses a hash twice in a round: each colluder's copy differs in one tiny value.
    copies = [{k: v.copy() for k, v in poisoned.items()} for _ in range(4)]
    first = next(iter(poisoned))
    for i, copy in enumerate(copies):
        copy[first].flat[0] += np.float32(1e-6 * i)
    for i, data in enumerate([codec.encode(c) for c in copies] + [u.path.read_bytes() for u in honest]):
        stored = store.put(data)
        chain.send_result(1, 1, f"w{i}", stored.cid, stored.sha256)
        received.append(Received.spool(tmp_path, f"w{i}", data, 100))
    referee = Referee(chain, store, FERDIE, validation, state_dir=tmp_path)
    without_reference = manifest.model_copy(
        update={"validation": ValidationPolicy(min_cosine=None)}, deep=True
    )
    _, checks = check_updates(
        weights,
        [(i, UpdateFile.open(r.path, 100.0)) for i, r in enumerate(received)],
        SPEC,
        validation,
        without_reference.validation,
    )

    # Execute
    outcome, new_weights = referee.judge(1, 1, manifest, weights, received, spool=tmp_path)

    # Assert: the default (fedavg behind the checks) rejects the four on chain as LowTrust (their
    # delta points away from the referee's own update), and the committed model is the mean of
    # the honest updates alone. Without the reference check, the contribution check still
    # leaves the four out together (FailedValidation).
    assert manifest.aggregation.rule == "fedavg"
    assert size({k: poisoned[k] - origin[k] for k in origin}) == pytest.approx(0.95 * limit, rel=1e-3)
    assert sorted(outcome.rejected) == [1, 2, 3, 4], outcome.rejected
    assert set(outcome.rejected.values()) == {"LowTrust"}
    verdicts = {v.result_id: v for v in chain.verdicts}
    assert all(not verdicts[r].approved and verdicts[r].reason == LOW_TRUST for r in (1, 2, 3, 4))
    expected = {k: origin[k] + np.mean([deltas[i][k] for i in range(6)], axis=0) for k in origin}
    for k in origin:
        np.testing.assert_allclose(new_weights[k], expected[k], atol=1e-5)
    assert [(c.approved, c.reason) for c in checks[:4]] == [(False, "FailedValidation")] * 4
    assert all(c.approved for c in checks[4:])
