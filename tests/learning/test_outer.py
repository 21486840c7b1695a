"""`decentralml.judging.outer`: the outer optimizer's step, and its momentum rebuilt from the models
the chain committed (so every validator, and a restarted one, steps from the same momentum)."""

from __future__ import annotations

import numpy as np
import pytest

from decentralml.judging.outer import OuterSpec, Weights, replay, step


def model(rng: np.random.Generator) -> Weights:
    return {
        "a": rng.standard_normal((4, 3)).astype(np.float32),
        "b": rng.standard_normal(5).astype(np.float32),
    }


def test_lr_one_without_momentum_is_plain_averaging() -> None:
    rng = np.random.default_rng(0)
    previous, aggregate = model(rng), model(rng)
    for nesterov in (True, False):
        new, _ = step(previous, aggregate, None, OuterSpec(lr=1, momentum=0, nesterov=nesterov))
        assert all(np.array_equal(new[k], aggregate[k]) for k in new)
        assert list(new) == list(previous), "the model's own tensor order (the codec's layout)"


def test_a_step_follows_diloco_formula() -> None:
    rng = np.random.default_rng(1)
    previous, aggregate = model(rng), model(rng)
    spec = OuterSpec(lr=0.7, momentum=0.9, nesterov=True)
    momentum = {k: rng.standard_normal(v.shape) for k, v in previous.items()}
    new, moments = step(previous, aggregate, momentum, spec)
    for k in previous:
        g = previous[k].astype(np.float64) - aggregate[k]
        m = 0.9 * momentum[k] + g
        assert np.allclose(moments[k], m)
        assert np.allclose(new[k], previous[k] - 0.7 * (g + 0.9 * m), atol=1e-6)
    plain, _ = step(previous, aggregate, momentum, spec.model_copy(update={"nesterov": False}))
    assert np.allclose(
        plain["a"], previous["a"] - 0.7 * (0.9 * momentum["a"] + previous["a"] - aggregate["a"]), atol=1e-6
    )


@pytest.mark.parametrize("nesterov", [True, False])
def test_the_momentum_is_rebuilt_from_the_committed_models(nesterov: bool) -> None:
    # Six rounds, the fourth accepting nothing (no step: the model stays). The referee steps from
    # the momentum replayed from the chain's models, as every member would.
    rng = np.random.default_rng(2)
    spec = OuterSpec(lr=0.7, momentum=0.9, nesterov=nesterov)
    history = [(model(rng), True)]
    live = None
    for round_ in range(1, 7):
        previous = history[-1][0]
        if round_ == 4:
            history.append((previous, False))
            continue
        aggregate = {
            k: v + 0.1 * rng.standard_normal(v.shape).astype(np.float32) for k, v in previous.items()
        }
        replayed = replay(history, spec)
        if live is not None:
            assert replayed is not None
            for k in live:  # float32 models: the replay agrees with the live momentum closely
                assert np.allclose(replayed[k], live[k], rtol=1e-4, atol=1e-5)
        new, live = step(previous, aggregate, replayed, spec)
        history.append((new, True))
    again = replay(history, spec)
    once_more = replay(list(history), spec)
    assert again is not None
    assert once_more is not None
    assert all(np.array_equal(again[k], once_more[k]) for k in again), "bit for bit on every validator"
    assert replay(history[:1], spec) is None


def test_models_that_do_not_match_are_refused() -> None:
    rng = np.random.default_rng(3)
    a = model(rng)
    b = {"a": a["a"], "c": a["b"]}
    with pytest.raises(ValueError, match="same tensors"):
        step(a, b, None, OuterSpec())
    with pytest.raises(ValueError, match="same tensors"):
        replay([(a, True), ({"a": a["a"][:2], "b": a["b"]}, True)], OuterSpec())
    with pytest.raises(ValueError, match="less than 1"):
        OuterSpec(momentum=1.0)
    with pytest.raises(ValueError, match="greater than 0"):
        OuterSpec(lr=0)
