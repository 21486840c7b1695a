"""Differential privacy: the accountant, the budget a worker keeps, DP-SGD and the update mechanism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from decentralml.data import digits
from decentralml.manifest import DPSpec, TaskManifest
from decentralml.models import ModelSpec, build, weights_of
from decentralml.privacy import dp
from decentralml.training import evaluate

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


def test_epsilon_grows_with_steps_and_falls_with_noise() -> None:
    assert dp.epsilon_spent(1.0, 0.05, 0, 1e-5) == 0.0
    few, many = dp.epsilon_spent(1.0, 0.05, 100, 1e-5), dp.epsilon_spent(1.0, 0.05, 1000, 1e-5)
    noisier = dp.epsilon_spent(2.0, 0.05, 1000, 1e-5)
    assert 0 < few < many
    assert noisier < many


@pytest.mark.parametrize("target", [1.0, 3.0, 8.0])
def test_calibration_is_the_smallest_noise_within_budget(target: float) -> None:
    noise = dp.calibrate(target, 1e-5, 0.05, 500)
    assert dp.epsilon_spent(noise, 0.05, 500, 1e-5) <= target
    assert dp.epsilon_spent(noise / 1.02, 0.05, 500, 1e-5) > target


def test_a_budget_no_noise_can_meet_is_refused() -> None:
    with pytest.raises(dp.BudgetExhaustedError, match="no noise"):
        dp.calibrate(1e-4, 1e-9, 1.0, 10**6)


def test_the_ledger_stops_a_worker_before_it_overspends_and_survives_a_restart(tmp_path: Path) -> None:
    spec = DPSpec(epsilon=3.0, noise_multiplier=1.0)
    task_plan = dp.plan(spec, "classification", examples=1000, batch_size=50, epochs=1, rounds=100)
    ledger = dp.Ledger(tmp_path / "dp-7.json")
    spent: list[float] = []
    refused = None
    for round_ in range(1, 101):
        try:
            spent.append(ledger.charge(task_plan, round_))
        except dp.BudgetExhaustedError as stopped:
            refused = str(stopped)
            break
    assert refused is not None
    assert "above the task's budget ε=3" in refused
    assert spent == sorted(spent)
    assert spent[-1] <= 3.0
    assert task_plan.epsilon_after(len(spent) + 1) > 3.0
    # A restarted worker reads what it spent: the refused round stays refused, a recorded one is free.
    again = dp.Ledger(tmp_path / "dp-7.json")
    assert again.rounds() == list(range(1, len(spent) + 1))
    assert again.charge(task_plan, 1) == pytest.approx(spent[-1])
    with pytest.raises(dp.BudgetExhaustedError):
        again.charge(task_plan, len(spent) + 1)


def test_a_calibrated_plan_fits_every_round_of_the_task(tmp_path: Path) -> None:
    spec = DPSpec(epsilon=2.0)
    task_plan = dp.plan(spec, "classification", examples=400, batch_size=40, epochs=2, rounds=5)
    ledger = dp.Ledger(tmp_path / "dp.json")
    assert [round(ledger.charge(task_plan, r), 6) for r in range(1, 6)][-1] <= 2.0


def test_dp_sgd_learns_with_a_loose_budget_and_its_noise_is_not_the_seed() -> None:
    data = digits()
    spec = DPSpec(epsilon=8.0, clip_norm=1.0)
    task_plan = dp.plan(spec, "classification", len(data.train), 64, epochs=3, rounds=1)
    runs = []
    for _ in range(2):
        model = build(MODEL, seed=0)
        torch.manual_seed(0)
        dp.dp_sgd(model, data.train, task_plan, spec.clip_norm, 0.1, 0.9, "classification")
        runs.append(weights_of(model))
    accuracy, _ = evaluate(build_with(runs[0]), data.validation)
    assert accuracy > 0.5  # ten classes: chance is 0.1
    assert any(not np.array_equal(runs[0][n], runs[1][n]) for n in runs[0]), "noise must not repeat"


def build_with(weights: dict[str, np.ndarray]) -> torch.nn.Module:
    from decentralml.models import load_weights

    model = build(MODEL, seed=0)
    load_weights(model, weights)
    return model


def test_dp_sgd_bounds_what_one_example_can_move() -> None:
    """With almost no noise, one step on one example moves the model by at most lr * clip / expected
    batch: the clip holds whatever the example's gradient."""
    data = digits().train
    one = type(data)(x=data.x[:1] * 1e3, y=data.y[:1])  # a huge gradient
    task_plan = dp.Plan(
        mechanism="dp-sgd",
        sample_rate=1.0,
        steps_per_round=1,
        noise_multiplier=1e-9,
        delta=1e-5,
        epsilon_budget=1e9,
    )
    model = build(MODEL, seed=0)
    before = weights_of(model)
    dp.dp_sgd(model, one, task_plan, 0.5, 1.0, 0.0, "classification")
    after = weights_of(model)
    moved = np.sqrt(sum(float(np.sum((after[n] - before[n]) ** 2)) for n in before))
    assert 0 < moved <= 0.5 * 1.0001


def test_the_update_mechanism_clips_then_adds_noise_of_the_stated_scale() -> None:
    base = {"w": np.zeros(200_000, dtype=np.float32)}
    far = {"w": np.full(200_000, 10.0, dtype=np.float32)}
    task_plan = dp.Plan(
        mechanism="update",
        sample_rate=1.0,
        steps_per_round=1,
        noise_multiplier=0.5,
        delta=1e-5,
        epsilon_budget=9,
    )
    noisy = dp.noisy_update(far, base, task_plan, clip_norm=2.0)["w"]
    clipped_part = 2.0 / np.sqrt(200_000) * 10 / 10  # the clipped delta per coordinate
    assert float(np.mean(noisy)) == pytest.approx(clipped_part, abs=0.01)
    assert float(np.std(noisy)) == pytest.approx(1.0, rel=0.02)  # 0.5 * 2.0


def test_the_manifest_refuses_a_nonsense_budget() -> None:
    for bad in ({"epsilon": 0}, {"epsilon": 3, "delta": 0.5}, {"epsilon": 3, "clip_norm": -1}):
        with pytest.raises(ValidationError, match="validation error for DPSpec"):
            DPSpec.model_validate(bad)
    assert "dp" in TaskManifest.model_json_schema()["$defs"]["PrivacySpec"]["properties"]
