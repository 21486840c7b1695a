"""The backdoor search: a model trained to answer a trigger is found and its update rejected; honest
models, skewed shares and narrow tables are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from decentralml import codec
from decentralml.data import DataSpec, Split, digits, partition
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.checks import check_updates
from decentralml.judging.triggers import Stamp, budget, lift, stamped, strongest
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, train
from support.backdoor import TARGET, TRIGGER, poisoned, pretrained

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


def trained(start: codec.Weights, share: Split, seed: int) -> codec.Weights:
    model = build(SPEC)
    load_weights(model, start)
    train(model, share, TrainSpec(epochs=5, seed=seed))
    return weights_of(model)


@pytest.fixture(scope="module")
def round_() -> tuple[codec.Weights, dict[str, codec.Weights], Split]:
    """A global model after two honest rounds, then four honest updates and one backdoored one."""
    spec = DataSpec(parts=5, seed=4)
    shares = [partition(spec, part) for part in range(5)]
    weights = pretrained(SPEC, spec, TrainSpec(epochs=5), seed=4)
    sent = {f"honest-{i}": trained(weights, share, 30 + i) for i, share in enumerate(shares[1:])}
    sent["backdoor"] = trained(weights, poisoned(shares[0]), 30)
    return weights, sent, digits(4).validation


def test_the_search_finds_the_trigger_of_a_backdoored_model(
    round_: tuple[codec.Weights, dict[str, codec.Weights], Split],
) -> None:
    _, sent, validation = round_
    model = build(SPEC)
    load_weights(model, sent["backdoor"])

    found = strongest(model, validation.x, validation.y, classes=10, features=4)

    assert found.target == TARGET
    assert found.lift >= 0.7
    assert set(found.features) & set(TRIGGER), found.features  # it stamps part of the real trigger
    assert len(found.features) == 4


def test_honest_models_have_no_strong_small_stamp(
    round_: tuple[codec.Weights, dict[str, codec.Weights], Split],
) -> None:
    _, sent, validation = round_
    model = build(SPEC)
    for name, weights in sent.items():
        if name.startswith("honest"):
            load_weights(model, weights)
            assert strongest(model, validation.x, validation.y, 10, 4).lift < 0.7, name


def spool(tmp_path: Path, sent: dict[str, codec.Weights]) -> list[tuple[int, UpdateFile]]:
    return [
        (key, UpdateFile.spool(tmp_path, name, codec.encode(weights), 100.0))
        for key, (name, weights) in enumerate(sorted(sent.items()), start=1)
    ]


def test_the_referee_rejects_the_backdoored_update_and_keeps_the_honest(
    tmp_path: Path, round_: tuple[codec.Weights, dict[str, codec.Weights], Split]
) -> None:
    weights, sent, validation = round_
    updates = spool(tmp_path, sent)
    names = dict(zip((k for k, _ in updates), sorted(sent), strict=True))

    _, checks = check_updates(weights, updates, SPEC, validation, ValidationPolicy())
    _, unsearched = check_updates(weights, updates, SPEC, validation, ValidationPolicy(max_trigger_lift=None))

    verdicts = {names[c.key]: (c.approved, c.reason) for c in checks}
    assert verdicts["backdoor"] == (False, "FailedValidation"), verdicts
    assert all(verdicts[n] == (True, None) for n in names.values() if n.startswith("honest")), verdicts
    backdoor = next(c for c in checks if names[c.key] == "backdoor")
    assert backdoor.trigger >= 0.7
    assert backdoor.pay == 0
    # Without the search, nothing else in the policy notices it: the hidden behaviour passes.
    assert {names[c.key]: c.approved for c in unsearched}["backdoor"] is True
    assert all(np.isnan(c.trigger) for c in unsearched)


def test_narrow_tables_are_not_searched(tmp_path: Path) -> None:
    # A 30-feature table: one or two features at an extreme may rightly decide the class.
    spec = ModelSpec(architecture="mlp", input_shape=[30], classes=2, hidden=[8])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 30)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    start = weights_of(build(spec, 0))
    files = []
    for key in range(3):
        model = build(spec)
        load_weights(model, start)
        train(model, Split(x, y), TrainSpec(epochs=3, seed=key))
        files.append((key, UpdateFile.spool(tmp_path, f"n{key}", codec.encode(weights_of(model)), 60.0)))

    _, checks = check_updates(start, files, spec, Split(x, y), ValidationPolicy())

    assert all(np.isnan(c.trigger) for c in checks)


def test_stamps_and_lift_edges() -> None:
    x: NDArray[np.float32] = np.zeros((3, 2, 2), dtype=np.float32)
    stamp = Stamp(target=1, features=(0, 3), values=(5.0, 7.0), lift=0.0)

    marked = stamped(x, stamp)

    assert marked.shape == x.shape
    assert marked[0, 0, 0] == 5.0
    assert marked[0, 1, 1] == 7.0
    assert x.sum() == 0  # the inputs are not changed in place
    model = build(ModelSpec(architecture="mlp", input_shape=[4], classes=2, hidden=[4]))
    assert lift(model, stamp, x.reshape(3, 4), np.ones(3, dtype=np.int64)) == 0.0  # all of the target
    with pytest.raises(ValueError, match="validation examples"):
        strongest(model, x.reshape(3, 4)[:0], np.zeros(0, dtype=np.int64), 2, 1)
    assert budget(64, 1 / 16) == 4
    assert budget(3, 1 / 16) == 1
