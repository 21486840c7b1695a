"""Weights encoding, streaming aggregation and update validation, on real models and digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decentralml import codec
from decentralml.data import DataSpec, digits, partition
from decentralml.judging.aggregation import UpdateFile, aggregate
from decentralml.judging.checks import check_updates
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, evaluate, train

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


def random_weights(seed: int) -> codec.Weights:
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=(7,)).astype(np.float32)}


def test_weights_round_trip_exactly_and_bad_bytes_are_refused() -> None:
    weights = random_weights(1)
    data = codec.encode(weights)

    back = codec.decode(data)

    assert list(back) == ["a", "b"]
    for name in weights:
        np.testing.assert_array_equal(back[name], weights[name])
    assert codec.encode(back) == data
    with pytest.raises(codec.CodecError, match="magic"):
        codec.decode(b"PICKLE" + data[6:])
    with pytest.raises(codec.CodecError, match="bytes"):
        codec.decode(data[:-4])
    with pytest.raises(codec.CodecError):
        codec.decode(data[:8])


def test_an_update_carries_its_example_count_in_the_hashed_bytes() -> None:
    weights = random_weights(2)
    base = random_weights(3)
    plain, counted = codec.encode(weights), codec.encode(weights, examples=120)
    delta = codec.encode_delta(weights, base, "0xbase", examples=7)

    assert codec.examples(plain) is None
    assert codec.examples(counted) == 120
    assert codec.examples(delta) == 7
    assert counted != plain  # the count is in the bytes the chain hashes
    np.testing.assert_array_equal(codec.decode(counted)["a"], weights["a"])
    assert codec.encode(codec.decode(counted)) == plain  # a model decoded and re-encoded has no count
    np.testing.assert_allclose(codec.decode_delta(delta, base, "0xbase")["b"], weights["b"], atol=1e-2)
    for bad in (0, -3, 1 << 60, True):
        with pytest.raises(codec.CodecError, match="positive integer"):
            codec.encode(weights, examples=bad)
    forged = counted.replace(b'"examples":120', b'"examples":1.5')  # same length: a valid header
    with pytest.raises(codec.CodecError, match="positive integer"):
        codec.examples(forged)
    with pytest.raises(codec.CodecError, match="positive integer"):
        codec.decode(forged)


@pytest.mark.parametrize("budget", [4096, 1 << 20])
def test_fedavg_streams_to_the_weighted_mean(tmp_path: Path, budget: int) -> None:
    weights = [random_weights(seed) for seed in range(5)]
    counts = [10.0, 20.0, 30.0, 5.0, 1.0]
    files = [
        UpdateFile.spool(tmp_path, f"u{i}", codec.encode(w), n)
        for i, (w, n) in enumerate(zip(weights, counts, strict=True))
    ]

    merged = aggregate(files, "fedavg", budget=budget)

    for name in ("a", "b"):
        expected = sum(w[name] * n for w, n in zip(weights, counts, strict=True)) / sum(counts)
        np.testing.assert_allclose(merged[name], expected, rtol=1e-5)


def test_trimmed_mean_and_median_ignore_one_huge_update(tmp_path: Path) -> None:
    honest = [random_weights(seed) for seed in range(4)]
    poisoned = {name: -1e6 * array for name, array in honest[0].items()}
    files = [
        UpdateFile.spool(tmp_path, f"u{i}", codec.encode(w), 1.0) for i, w in enumerate([*honest, poisoned])
    ]

    trimmed = aggregate(files, "trimmed_mean", trim=0.2)
    median = aggregate(files, "median")
    plain = aggregate(files, "fedavg")

    bound = max(float(np.abs(w[n]).max()) for w in honest for n in w)
    assert max(float(np.abs(trimmed[n]).max()) for n in trimmed) <= bound
    assert max(float(np.abs(median[n]).max()) for n in median) <= bound
    assert max(float(np.abs(plain[n]).max()) for n in plain) > 1e4


def test_validation_rejects_poisoned_and_malformed_updates_and_approves_honest_ones(tmp_path: Path) -> None:
    splits = digits()
    data_spec = DataSpec(parts=4)
    global_model = build(SPEC)
    global_weights = weights_of(global_model)
    updates = []
    for part in range(3):
        model = build(SPEC)
        load_weights(model, global_weights)
        train(model, partition(data_spec, part), TrainSpec(epochs=3))
        data = codec.encode(weights_of(model))
        updates.append((part, UpdateFile.spool(tmp_path, f"honest{part}", data, 1.0)))
    honest = updates[0][1].weights()
    flipped = {n: global_weights[n] - 5.0 * (honest[n] - global_weights[n]) for n in honest}
    updates.append((10, UpdateFile.spool(tmp_path, "flipped", codec.encode(flipped), 1.0)))
    wrong_shape = {"net.1.weight": np.zeros((2, 2), dtype=np.float32)}
    updates.append((11, UpdateFile.spool(tmp_path, "shape", codec.encode(wrong_shape), 1.0)))
    not_finite = {n: np.full_like(a, np.nan) for n, a in honest.items()}
    updates.append((12, UpdateFile.spool(tmp_path, "nan", codec.encode(not_finite), 1.0)))

    baseline, checks = check_updates(global_weights, updates, SPEC, splits.validation, ValidationPolicy())

    verdicts = {c.key: (c.approved, c.reason) for c in checks}
    assert verdicts == {
        0: (True, None),
        1: (True, None),
        2: (True, None),
        10: (False, "Outlier"),
        11: (False, "Malformed"),
        12: (False, "Malformed"),
    }
    assert all(c.metric > baseline for c in checks if c.approved)


def test_workers_get_disjoint_skewed_shares_and_fedavg_learns_digits() -> None:
    spec = DataSpec(parts=4, alpha=0.5)
    shares = [partition(spec, part) for part in range(4)]
    pool = digits().train
    assert sum(len(s) for s in shares) == len(pool)
    label_mix = np.array([np.bincount(s.y, minlength=10) / len(s) for s in shares])
    assert label_mix.max() > 0.2, "a Dirichlet(0.5) share should favour some digits"
    with pytest.raises(ValueError, match="part 4"):
        partition(spec, 4)

    global_model = build(SPEC)
    for _ in range(3):
        updates = []
        for share in shares:
            model = build(SPEC)
            load_weights(model, weights_of(global_model))
            train(model, share, TrainSpec(epochs=3))
            updates.append((weights_of(model), len(share)))
        total = sum(n for _, n in updates)
        merged = {k: np.asarray(sum(w[k] * n for w, n in updates) / total, np.float32) for k in updates[0][0]}
        load_weights(global_model, merged)
    accuracy, _ = evaluate(global_model, digits().test)
    assert accuracy > 0.8
