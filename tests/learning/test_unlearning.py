"""Unlearning stamps from the aggregate: a backdoor in the round's mean is taken out, the clean answers
stay, the same bits every time, and only where the trigger search runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decentralml import codec
from decentralml.data import DataSpec, Split, digits, partition
from decentralml.judging.determinism import deterministic
from decentralml.judging.triggers import Stamp, greedy, lift
from decentralml.judging.unlearning import ATYPICAL, applies, unlearned, unlike
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.specs import TransformerSpec
from decentralml.training import TrainSpec, score, train
from support.backdoor import TARGET, TRIGGER, poisoned, pretrained

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
REAL = Stamp(TARGET, tuple(TRIGGER), (1.0,) * len(TRIGGER), 0.0)  # the attacker's own trigger


def trained(start: codec.Weights, share: Split, seed: int) -> codec.Weights:
    model = build(SPEC)
    load_weights(model, start)
    train(model, share, TrainSpec(epochs=5, seed=seed))
    return weights_of(model)


def mean(updates: list[codec.Weights]) -> codec.Weights:
    return {name: np.mean([u[name] for u in updates], axis=0) for name in updates[0]}


@pytest.fixture(scope="module")
def round_() -> tuple[codec.Weights, codec.Weights, Split, Split]:
    """(an aggregate holding a backdoor, the honest updates' mean, the validation set, the test set),
    from a model that already reads digits. One backdoored update among five is diluted below any
    effect; the aggregate here weighs it as the pushes of several accepted rounds add up: half."""
    spec = DataSpec(parts=5, seed=4)
    shares = [partition(spec, part) for part in range(5)]
    start = pretrained(SPEC, spec, TrainSpec(epochs=5), seed=4)
    honest = [trained(start, share, 30 + i) for i, share in enumerate(shares[1:])]
    backdoored = trained(start, poisoned(shares[0]), 30)
    splits = digits(4)
    return mean([mean(honest), backdoored]), mean(honest), splits.validation, splits.test


def model_of(weights: codec.Weights) -> torch.nn.Module:
    model = build(SPEC)
    load_weights(model, weights)
    return model


def test_the_one_feature_at_a_time_search_finds_a_corner_trigger(
    round_: tuple[codec.Weights, codec.Weights, Split, Split],
) -> None:
    poisoned_mean, _, validation, _ = round_
    found = {s.target: s for s in greedy(model_of(poisoned_mean), validation.x, validation.y, 10, 4)}

    assert len(found) == 10
    assert set(found[TARGET].features) & set(TRIGGER), found[TARGET]  # stamps part of the real trigger
    assert found[TARGET].lift >= 0.5


def test_the_search_over_what_a_class_does_not_carry_sets_only_such_features(
    round_: tuple[codec.Weights, codec.Weights, Split, Split],
) -> None:
    poisoned_mean, _, validation, _ = round_
    x, y = validation.x, validation.y
    found = greedy(model_of(poisoned_mean), x, y, 10, 4, uncarried=ATYPICAL)

    span = float(x.max() - x.min())
    own = {c: x.reshape(len(x), -1)[y == c] for c in range(10)}
    for stamp in found:  # each feature, alone, far from what the target class's inputs hold
        for feature, value in zip(stamp.features, stamp.values, strict=True):
            assert np.abs(own[stamp.target][:, feature] - value).mean() / span >= ATYPICAL, stamp
    # A 0's empty centre is ruled out, so the target's stamp is the trigger, and it answers.
    target = next(s for s in found if s.target == TARGET)
    assert len(set(target.features) & set(TRIGGER)) >= 2, target
    assert target.lift >= 0.5
    # Without the restriction the same search is free to set carried features.
    free = next(s for s in greedy(model_of(poisoned_mean), x, y, 10, 4) if s.target == TARGET)
    assert free.lift >= target.lift


def test_a_backdoor_in_the_rounds_mean_is_unlearned_and_the_clean_answers_stay(
    round_: tuple[codec.Weights, codec.Weights, Split, Split],
) -> None:
    poisoned_mean, _, validation, test = round_
    before = model_of(poisoned_mean)
    assert lift(before, REAL, test.x, test.y) >= 0.4  # the aggregate answers the trigger

    with deterministic():
        after = model_of(unlearned(poisoned_mean, SPEC, validation, ValidationPolicy(), "classification"))

    # Measured on the test set, which the unlearning never saw.
    assert lift(after, REAL, test.x, test.y) < 0.1
    assert score(after, test)["accuracy"] >= score(before, test)["accuracy"] - 0.02


def test_an_honest_aggregate_keeps_its_accuracy(
    round_: tuple[codec.Weights, codec.Weights, Split, Split],
) -> None:
    _, honest_mean, validation, test = round_
    with deterministic():
        after = unlearned(honest_mean, SPEC, validation, ValidationPolicy(), "classification")

    # An honest model answers empty centres as 0s because 0s have them: what its classes' own inputs
    # carry is not unlearned, so its answers stay.
    assert score(model_of(after), test)["accuracy"] >= score(model_of(honest_mean), test)["accuracy"] - 0.005


def test_unlearning_gives_the_same_bits_every_time(
    round_: tuple[codec.Weights, codec.Weights, Split, Split],
) -> None:
    poisoned_mean, _, validation, _ = round_
    with deterministic():
        first = unlearned(poisoned_mean, SPEC, validation, ValidationPolicy(), "classification")
        second = unlearned(poisoned_mean, SPEC, validation, ValidationPolicy(), "classification")

    assert codec.encode(first) == codec.encode(second)


def test_only_where_the_trigger_search_runs(
    round_: tuple[codec.Weights, codec.Weights, Split, Split],
) -> None:
    poisoned_mean, _, validation, _ = round_
    policy = ValidationPolicy()
    table = ModelSpec(architecture="mlp", input_shape=[13], classes=3, hidden=[8])
    lm = ModelSpec(
        architecture="transformer",
        input_shape=[64],
        classes=64,
        transformer=TransformerSpec(vocab_size=64, context=64),
    )

    assert applies(SPEC, policy, "classification")
    assert not applies(SPEC, policy.model_copy(update={"unlearn_steps": 0}), "classification")
    assert not applies(SPEC, policy.model_copy(update={"max_trigger_lift": None}), "classification")
    assert not applies(table, policy, "classification")  # 13 features: one may rightly decide
    assert not applies(SPEC, policy, "regression")
    assert not applies(lm, policy, "language_modeling")
    off = policy.model_copy(update={"unlearn_steps": 0})
    assert unlearned(poisoned_mean, SPEC, validation, off, "classification") is poisoned_mean


def test_the_policy_refuses_a_negative_or_huge_step_count() -> None:
    for bad in (-1, 10_001):
        with pytest.raises(ValueError, match="unlearn_steps"):
            ValidationPolicy(unlearn_steps=bad)


def test_what_the_target_class_carries_is_not_a_trigger(
    round_: tuple[codec.Weights, codec.Weights, Split, Split],
) -> None:
    _, _, validation, _ = round_
    x, y = validation.x, validation.y
    empty_centre = Stamp(0, (27, 28, 35, 36), (0.0, 0.0, 0.0, 0.0), 0.5)  # what a 0 looks like
    white_corner = Stamp(0, tuple(TRIGGER), (1.0,) * len(TRIGGER), 0.5)  # what no 0 has

    assert unlike(empty_centre, x, y) < ATYPICAL
    assert unlike(white_corner, x, y) >= ATYPICAL
    assert unlike(Stamp(11, (0,), (1.0,), 0.5), x, y) == 1.0  # a class no input has
