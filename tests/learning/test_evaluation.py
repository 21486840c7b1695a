"""Validation passes run at once (`decentralml.judging.evaluation.Evaluator`) give each flat
vector the loss one pass at a time gives it, to the bit, in order."""

from __future__ import annotations

import numpy as np
import pytest

from decentralml.data import digits
from decentralml.judging.determinism import deterministic
from decentralml.judging.evaluation import Evaluator
from decentralml.kinds.schema import Objective, Split
from decentralml.lm.corpus import stdlib_corpus, windows
from decentralml.lm.tokenizer import byte_tokenizer, encode_documents
from decentralml.lm.transformer import TransformerSpec
from decentralml.models import ModelSpec, build, weights_of

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

    assert repr(at_once) == repr(one_by_one)  # repr: NaN equals NaN, and every bit shows
    assert len(set(one_by_one[:7])) == 7  # seven different points, seven different losses
    assert together.losses([]) == []


def test_fewer_than_one_pass_at_a_time_is_refused() -> None:
    layout, _ = _points(MLP, 1)
    with pytest.raises(ValueError, match="at least 1"):
        Evaluator(build(MLP), MLP, layout, digits(3).validation, "classification", parallel=0)
