"""Contribution scores (`decentralml.judging.contribution`) on a loss whose optimum is known: what
a no-op, a lazy, a skewed and a copied update are worth, and the Monte-Carlo estimate against the
exact Shapley values."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from decentralml.judging.contribution import coalition_points, copy_groups, pay_shares, shapley, work_share

TARGET = np.array([1.0, 2.0, -1.0, 0.5, 3.0, -2.0])


def quadratic(x: NDArray[np.float64]) -> float:
    return float(np.sum((x - TARGET) ** 2))


def honest_deltas(n: int, seed: int = 0) -> dict[int, NDArray[np.float64]]:
    """n workers, each stepping towards the optimum along its own skewed half of the axes."""
    rng = np.random.default_rng(seed)
    out = {}
    for key in range(n):
        mask = np.zeros_like(TARGET)
        mask[rng.choice(TARGET.size, 3, replace=False)] = 1.0
        out[10 + key] = 0.8 * TARGET * mask + rng.normal(0, 0.01, TARGET.size)
    return out


def test_a_no_op_is_worth_nothing_and_paid_nothing_while_every_skewed_honest_worker_is_paid() -> None:
    origin = np.zeros_like(TARGET)
    deltas = honest_deltas(4)
    deltas[99] = np.random.default_rng(5).normal(0, 1e-4, TARGET.size)  # the model sent back, noised
    weights = dict.fromkeys(deltas, 100.0)

    found = shapley(origin, deltas, weights, quadratic)
    pay = pay_shares(found.values)

    assert found.exact
    assert abs(found.values[99]) < 1e-3 * found.gain
    assert pay[99] <= 0.05 * 1_000_000
    assert all(found.values[k] > 0 for k in deltas if k != 99)
    assert all(pay[k] > 500_000 for k in deltas if k != 99)
    assert sum(found.values.values()) == pytest.approx(found.gain)  # efficiency


def test_a_lazy_worker_is_paid_in_proportion_to_what_it_adds() -> None:
    origin = np.zeros_like(TARGET)
    deltas = {1: 0.3 * TARGET, 2: 0.3 * TARGET * np.array([1, 1, 1, 0.8, 0.8, 0.8]), 3: 0.01 * TARGET}
    weights = dict.fromkeys(deltas, 1.0)

    found = shapley(origin, deltas, weights, quadratic)
    pay = pay_shares(found.values)

    assert 0 < found.values[3] < 0.1 * found.values[1]
    assert 0 < pay[3] < 0.2 * pay[1]
    assert pay[1] == 1_000_000


def test_monte_carlo_estimates_the_exact_values_and_is_the_same_for_every_validator() -> None:
    origin = np.zeros_like(TARGET)
    deltas = honest_deltas(6, seed=3)
    deltas[50] = -0.4 * TARGET  # one harmful update: a negative value
    weights = {k: float(20 + 5 * i) for i, k in enumerate(sorted(deltas))}

    exact = shapley(origin, deltas, weights, quadratic, exact_players=8)
    sampled = shapley(origin, deltas, weights, quadratic, exact_players=0, budget=127, seed=(7, 2))
    again = shapley(origin, deltas, weights, quadratic, exact_players=0, budget=127, seed=(7, 2))

    assert exact.exact
    assert not sampled.exact
    assert sampled.values == again.values
    assert exact.values[50] < 0
    assert sampled.values[50] < 0
    scale = max(abs(v) for v in exact.values.values())
    for key, value in exact.values.items():
        assert sampled.values[key] == pytest.approx(value, abs=0.15 * scale), key
    assert sampled.evaluations <= 127


def test_monte_carlo_stops_when_truncation_leaves_nothing_new_to_evaluate() -> None:
    origin = np.zeros_like(TARGET)
    deltas = {k: TARGET * (1 + 0.01 * k) for k in range(9)}
    # Truncating at 90% of the gain ends every order after two players: 9 + 36 coalitions at most.
    found = shapley(origin, deltas, dict.fromkeys(deltas, 1.0), quadratic, exact_players=0, truncation=0.9)

    assert found.evaluations <= 1 + 9 + 36
    assert all(v > 0 for v in found.values.values())


def test_copies_are_grouped_however_they_are_noised_and_distinct_workers_are_not() -> None:
    rng = np.random.default_rng(1)
    honest = honest_deltas(3, seed=4)
    keys = sorted(honest)
    original = honest[keys[0]]
    stack = [
        *(honest[k] for k in keys),
        original.copy(),  # the exact values (its bytes differ only in what a codec keeps)
        original + rng.normal(0, 0.002, original.size),  # a copy with a little noise
        np.zeros_like(original),  # a zero delta is nobody's copy
    ]
    matrix = np.stack(stack)
    groups = copy_groups([*keys, 90, 91, 92], matrix @ matrix.T, 0.99)

    assert [keys[0], 90, 91] in groups
    assert [92] in groups
    assert all([k] in groups for k in keys[1:])


def test_an_empty_round_and_a_round_that_gains_nothing_pay_nothing() -> None:
    origin = np.zeros_like(TARGET)
    empty = shapley(origin, {}, {}, quadratic)
    still = shapley(origin, {1: np.zeros_like(TARGET)}, {1: 1.0}, quadratic)

    assert empty.values == {}
    assert empty.gain == 0.0
    assert still.values == {1: 0.0}
    assert pay_shares(still.values) == {1: 0}


def test_pay_is_capped_by_the_work_an_update_shows() -> None:
    assert work_share(0.0, 2.0) == 0  # the model sent back
    assert work_share(0.1, 2.0) == 100_000  # a twentieth of the round's typical step: a tenth
    assert work_share(1.0, 2.0) == 1_000_000  # half the typical step is paid in full
    assert work_share(50.0, 2.0) == 1_000_000  # never more than the reward
    assert work_share(0.3, 0.0) == 1_000_000  # no typical step to compare with: no cap


def test_coalitions_measured_ahead_give_the_values_measured_in_place_and_need_no_more_passes() -> None:
    origin = np.zeros_like(TARGET)
    deltas = honest_deltas(4, seed=3)
    weights = {k: 50.0 + k for k in deltas}  # unequal: the points are weighted sums
    evaluated: list[int] = []

    def counted(x: NDArray[np.float64]) -> float:
        evaluated.append(1)
        return quadratic(x)

    def batched(points: list[Callable[[], NDArray[np.float64]]]) -> list[float]:
        return [counted(point()) for point in points]

    in_place = shapley(origin, deltas, weights, counted, losses=batched, batch=2)
    spent = len(evaluated)
    evaluated.clear()
    known = {mask: quadratic(make()) for mask, make in coalition_points(origin, deltas, weights).items()}
    ahead = shapley(
        origin, deltas, weights, counted, losses=batched, batch=2, known=known, base=quadratic(origin)
    )
    one_by_one = shapley(origin, deltas, weights, quadratic)

    assert spent == 16  # the base and the 15 coalitions
    assert evaluated == []
    assert ahead.values == in_place.values == one_by_one.values  # to the bit
    assert len(known) == 15
    with pytest.raises(ValueError, match="too many coalitions"):
        coalition_points(origin, honest_deltas(7), dict.fromkeys(honest_deltas(7), 1.0))
