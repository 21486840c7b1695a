"""Validation passes run at once (`decentralml.judging.evaluation.Evaluator`) give each flat
vector the loss one pass at a time gives it, to the bit, in order."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from decentralml.data import digits
from decentralml.judging import evaluation
from decentralml.judging.contribution import Parts, coalition_points
from decentralml.judging.determinism import deterministic
from decentralml.judging.evaluation import Evaluator, upper_bound
from decentralml.kinds.schema import Objective, Split
from decentralml.lm.corpus import stdlib_corpus, windows
from decentralml.lm.tokenizer import byte_tokenizer, encode_documents
from decentralml.lm.transformer import TransformerSpec
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import LM_BATCH, score, scored

MLP = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
LM = ModelSpec(
    architecture="transformer",
    input_shape=[32],
    classes=257,
    transformer=TransformerSpec(vocab_size=257, context=32, layers=2, heads=2, width=32),
)


def _points(spec: ModelSpec, count: int) -> tuple[tuple[tuple[str, tuple[int, ...]], ...], list[np.ndarray]]:
    weights = weights_of(build(spec, 0))
    layout = tuple((name, tuple(array.shape)) for name, array in weights.items())
    origin = np.concatenate([weights[n].astype(np.float64).ravel() for n, _ in layout])
    rng = np.random.default_rng(1)
    return layout, [origin + rng.normal(0, 0.05 * (i + 1), origin.shape) for i in range(count)]


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_passes_at_once_give_the_losses_of_one_at_a_time(kind: str) -> None:
    objective: Objective = "classification"
    if kind == "mlp":
        spec, validation = MLP, digits(3).validation
    else:
        ids = encode_documents(byte_tokenizer(), list(stdlib_corpus(["json"]).values()))
        found = windows(ids, 32)[:24]
        spec, validation, objective = LM, Split(found, found[:, -1].copy()), "language_modeling"
    layout, points = _points(spec, 7)  # more points than threads, in an uneven last round
    points.append(points[0] * np.nan)  # a broken point scores as it would alone

    with deterministic():
        alone = Evaluator(build(spec), spec, layout, validation, objective, parallel=1)
        together = Evaluator(build(spec), spec, layout, validation, objective, parallel=3)
        one_by_one = [alone.loss(point) for point in points]
        at_once = together.losses(points)
        made_there = together.losses(
            [functools.partial(np.copy, point) for point in points]
        )  # made in the threads

    assert repr(at_once) == repr(one_by_one)
    assert repr(made_there) == repr(one_by_one)  # repr: NaN equals NaN, and every bit shows
    assert len(set(one_by_one[:7])) == 7  # seven different points, seven different losses
    assert together.losses([]) == []


def test_fewer_than_one_pass_at_a_time_is_refused() -> None:
    layout, _ = _points(MLP, 1)
    with pytest.raises(ValueError, match="at least 1"):
        Evaluator(build(MLP), MLP, layout, digits(3).validation, "classification", parallel=0)


def _lm_windows(count: int) -> Split:
    ids = encode_documents(byte_tokenizer(), list(stdlib_corpus(["json", "csv"]).values()))
    found = windows(ids, 32)[:count]
    return Split(found, found[:, -1].copy())


def test_window_losses_average_to_the_validation_loss_and_a_sample_scores_as_its_own_split() -> None:
    validation = _lm_windows(70)  # more windows than one forward takes, in an uneven last batch
    layout, points = _points(LM, 2)
    picked = np.array([3, 17, 40, 41, 69], dtype=np.intp)

    with deterministic():
        evaluator = Evaluator(build(LM), LM, layout, validation, "language_modeling", parallel=2)
        each = evaluator.window_losses(points)
        whole = evaluator.losses(points)
        narrow = evaluator.narrowed(picked)
        sampled = narrow.losses(points)
        on_its_own = Evaluator(
            build(LM), LM, layout, Split(validation.x[picked], validation.y[picked]), "language_modeling", 1
        ).losses(points)
        broken = evaluator.window_losses([points[0] * np.nan])[0]

    assert [len(e) for e in each] == [70, 70]
    assert np.allclose([e.mean() for e in each], whole, rtol=1e-5)
    assert each[0].std() > 0.01  # windows differ: the sample's spread is real
    assert sampled == on_its_own
    assert np.allclose([e[picked].mean() for e in each], sampled, rtol=1e-5)
    assert np.isinf(broken).all()
    assert len(broken) == 70


def test_window_losses_are_a_language_models_only() -> None:
    layout, points = _points(MLP, 1)
    evaluator = Evaluator(build(MLP), MLP, layout, digits(3).validation, "classification")
    with pytest.raises(ValueError, match="language model"):
        evaluator.window_losses(points)


def test_the_upper_bound_is_above_the_mean_by_the_sampling_error_and_unsure_when_it_cannot_say() -> None:
    values = np.random.default_rng(0).normal(1.0, 0.5, 16)
    mean = float(values.mean())

    tight = upper_bound(values, 10_000)
    assert mean < tight < mean + 4 * 0.5  # about 4 standard errors of 0.125 above
    assert tight == pytest.approx(mean + 4 * values.std(ddof=1) / 4 * np.sqrt(1 - 16 / 10_000))
    assert upper_bound(values, 16) == pytest.approx(mean)  # the whole population: no error left
    assert upper_bound(values, 10_000, z=1.0) < tight
    assert upper_bound(values[:1], 100) == np.inf  # one value has no spread to speak of
    assert upper_bound(np.append(values, np.inf), 100) == np.inf
    assert upper_bound(np.append(values, np.nan), 100) == np.inf


def test_a_language_model_scored_over_several_threads_scores_as_one_model_does() -> None:
    ids = encode_documents(byte_tokenizer(), list(stdlib_corpus(["json"]).values()))
    found = windows(ids, 32)[: 3 * LM_BATCH + 5]  # four forwards, the last one short
    validation = Split(found, found[:, -1].copy())
    weights = weights_of(build(LM, 0))

    def loaded(count: int, nan: bool = False) -> list[torch.nn.Module]:
        models = [build(LM) for _ in range(count)]
        for model in models:
            load_weights(model, {n: a * np.float32("nan") if nan else a for n, a in weights.items()})
        return models

    with deterministic():
        one = scored(loaded(1), validation, "language_modeling")
        three = scored(loaded(3), validation, "language_modeling")
        alone = score(loaded(1)[0], validation, "language_modeling")
        broken = scored(loaded(2, nan=True), validation, "language_modeling")

    assert repr(three.metrics) == repr(one.metrics) == repr(alone)
    assert one.windows is not None
    assert three.windows is not None
    assert three.windows.tobytes() == one.windows.tobytes()
    assert len(three.windows) == len(found)
    assert float(np.mean(three.windows)) == three.metrics["loss"]
    assert 0 < three.metrics["accuracy"] < 1
    assert broken.metrics == {"loss": float("inf"), "perplexity": float("inf"), "accuracy": 0.0}
    assert broken.windows is not None
    assert np.isinf(broken.windows).all()


def test_a_classifier_is_scored_without_windows() -> None:
    model = build(MLP, 0)
    data = digits(3).validation
    found = scored([model, build(MLP, 1)], data, "classification")
    assert found.windows is None
    assert found.metrics == score(model, data, "classification")


@pytest.mark.parametrize("piece", [7, 1 << 16])
def test_a_point_made_in_parts_loads_the_bits_of_the_whole_point(
    monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    """The coalition points and the leave-out points are made a piece at a time as they load:
    the model holds what the whole point, made at once and rounded to float32, gives, bit for bit
    (a piece of 7 elements cuts every tensor and crosses every tensor's edge)."""
    monkeypatch.setattr(evaluation, "PIECE", piece)
    layout, points = _points(LM, 4)
    origin = points[0]
    deltas = {key: point - origin for key, point in enumerate(points[1:], start=10)}
    weights = {10: 3.0, 11: 1.0, 12: 0.7}
    coalitions = coalition_points(origin, deltas, weights)
    assert len(coalitions) == 7
    whole = origin + (weights[10] * deltas[10] + weights[12] * deltas[12]) / sum(weights.values())
    assert np.allclose(coalitions[0b101](), whole, rtol=0, atol=1e-15)

    total = sum(deltas.values(), np.zeros_like(origin))
    checks = [*coalitions.values(), Parts(lambda lo, hi: origin[lo:hi] + total[lo:hi] / 3, origin.size)]
    for point in checks:
        in_parts, at_once = build(LM), build(LM)
        evaluation.load_point(in_parts, point, layout)
        evaluation.load_flat(at_once, point(), layout)
        for name, tensor in at_once.state_dict().items():
            assert torch.equal(in_parts.state_dict()[name], tensor), name
    # Every coalition is a model of its own (the parts are not one point loaded 7 times).
    assert len({float(np.sum(point())) for point in coalitions.values()}) == 7


def test_a_point_in_parts_for_another_model_is_refused_saying_why() -> None:
    layout, points = _points(LM, 1)
    model = build(LM)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    renamed = (("not." + layout[0][0], layout[0][1]), *layout[1:])
    point = Parts(lambda lo, hi: points[0][lo:hi] + 1.0, points[0].size)
    with pytest.raises(ValueError, match="unlike the model"):
        evaluation.load_point(model, point, renamed)
    assert all(torch.equal(model.state_dict()[n], t) for n, t in before.items())  # nothing loaded
    # The same names in another order load by name.
    reordered = tuple(reversed(layout))
    flat = np.concatenate([points[0][_span(layout, name)] for name, _ in reordered])
    evaluation.load_point(model, Parts(lambda lo, hi: flat[lo:hi], flat.size), reordered)
    expected = build(LM)
    evaluation.load_flat(expected, points[0], layout)
    assert all(torch.equal(model.state_dict()[n], t) for n, t in expected.state_dict().items())


def _span(layout: tuple[tuple[str, tuple[int, ...]], ...], wanted: str) -> slice:
    at = 0
    for name, shape in layout:
        count = int(np.prod(shape))
        if name == wanted:
            return slice(at, at + count)
        at += count
    raise KeyError(wanted)
