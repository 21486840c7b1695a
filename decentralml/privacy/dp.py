"""Differential privacy for a worker's updates, with a budget the worker enforces on itself.

A task opts in with a manifest section `privacy.dp = {epsilon, delta, clip_norm, noise_multiplier}`.

- Tabular and image tasks train with DP-SGD: each step samples every local example with probability
  q = batch_size / n (Poisson sampling, as the accountant assumes), clips each example's gradient to
  `clip_norm`, adds Gaussian noise of standard deviation `noise_multiplier * clip_norm` to their sum
  and divides by the expected batch. Per-example gradients come from `torch.func` (vmap of grad).
- Language models, where per-example gradients of the transformer do not fit in memory here, clip the
  round's whole update (its distance from the global model) to `clip_norm` and add the same Gaussian
  noise once: user-level privacy of the worker's whole share per round.

The accountant is Rényi DP (`dp_accounting.rdp.RdpAccountant`): the sampled Gaussian mechanism
composed over every step of every round the worker trained. Without a `noise_multiplier` the worker
calibrates the smallest one whose ε over all of the task's rounds stays within `epsilon`. Before each
round the worker computes ε *after* that round; if it would exceed the task's budget the worker stops
and says so (`BudgetExhaustedError`), and sends nothing.

The noise and the sampling draw from the operating system's randomness, never from the task's seed:
the seed is in the public manifest, and noise anyone can regenerate protects nothing.

What DP protects against that sealing does not: the validators open every update; DP bounds what
they (and anyone who later reads a released model) can learn about any one example of a worker.
"""

from __future__ import annotations

__all__ = [
    "BudgetExhaustedError",
    "DPSpec",
    "Ledger",
    "Plan",
    "calibrate",
    "dp_sgd",
    "epsilon_spent",
    "noisy_update",
    "plan",
]

import json
import math
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn
from torch.func import functional_call, grad, vmap

from decentralml.kinds.schema import Objective, Split
from decentralml.manifest import DPSpec
from decentralml.training import loss_for


class BudgetExhaustedError(RuntimeError):
    """The next round would spend more privacy than the task allows: the worker stops."""


def _rng() -> torch.Generator:
    return torch.Generator().manual_seed(secrets.randbits(62))


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε of `steps` compositions of the Poisson-sampled Gaussian mechanism (RDP accountant)."""
    if steps <= 0:
        return 0.0
    import dp_accounting  # with scipy: loaded by the workers and tasks that use DP, not by every one

    event: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(noise_multiplier)
    if sample_rate < 1.0:
        event = dp_accounting.PoissonSampledDpEvent(sample_rate, event)
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(dp_accounting.SelfComposedDpEvent(event, steps))
    return float(accountant.get_epsilon(delta))


def calibrate(epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """The smallest noise multiplier (to 1%) whose ε over `steps` is at most `epsilon`."""
    low, high = 0.3, 100.0
    if epsilon_spent(high, sample_rate, steps, delta) > epsilon:
        raise BudgetExhaustedError(
            f"no noise up to {high}x the clip norm keeps {steps} steps within ε={epsilon}"
        )
    while high / low > 1.01:
        middle = math.sqrt(low * high)
        if epsilon_spent(middle, sample_rate, steps, delta) <= epsilon:
            high = middle
        else:
            low = middle
    return high


class Plan(BaseModel):
    """How one worker applies a task's DP: its mechanism, sample rate, steps per round and noise."""

    mechanism: str  # "dp-sgd" or "update"
    sample_rate: float
    steps_per_round: int
    noise_multiplier: float
    delta: float
    epsilon_budget: float

    def epsilon_after(self, rounds: int) -> float:
        return epsilon_spent(
            self.noise_multiplier, self.sample_rate, rounds * self.steps_per_round, self.delta
        )


def plan(dp: DPSpec, objective: Objective, examples: int, batch_size: int, epochs: int, rounds: int) -> Plan:
    """The worker's DP plan for a task of `rounds` rounds over its `examples` local examples."""
    if objective == "language_modeling":
        mechanism, rate, steps = "update", 1.0, 1
    else:
        mechanism = "dp-sgd"
        rate = min(1.0, batch_size / max(examples, 1))
        steps = epochs * math.ceil(1 / rate)
    noise = dp.noise_multiplier or calibrate(dp.epsilon, dp.delta, rate, steps * rounds)
    return Plan(
        mechanism=mechanism,
        sample_rate=rate,
        steps_per_round=steps,
        noise_multiplier=noise,
        delta=dp.delta,
        epsilon_budget=dp.epsilon,
    )


class Ledger:
    """The rounds a worker trained under DP for one task, kept in its state directory (so a restart
    never forgets what it spent)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rounds(self) -> list[int]:
        if not self.path.exists():
            return []
        return [int(r) for r in json.loads(self.path.read_text())["rounds"]]

    def charge(self, task_plan: Plan, round_: int) -> float:
        """Record `round_` as trained and return ε spent so far; BudgetExhaustedError (nothing recorded)
        when it would exceed the budget. A round already recorded is not charged twice."""
        done = self.rounds()
        if round_ in done:
            return task_plan.epsilon_after(len(done))
        after = task_plan.epsilon_after(len(done) + 1)
        if after > task_plan.epsilon_budget * (1 + 1e-9):
            raise BudgetExhaustedError(
                f"round {round_} would bring this worker's privacy spend to ε={after:.3f}, above the task's "
                f"budget ε={task_plan.epsilon_budget:g} (δ={task_plan.delta:g}): stopping, nothing sent"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"rounds": [*done, round_], "epsilon": after}))
        return after

    def spent(self, task_plan: Plan) -> float:
        return task_plan.epsilon_after(len(self.rounds()))


def dp_sgd(
    model: nn.Module,
    data: Split,
    task_plan: Plan,
    clip_norm: float,
    learning_rate: float,
    momentum: float,
    objective: Objective,
) -> float:
    """Train `model` in place with DP-SGD for one round; the mean loss of the sampled batches."""
    rng = _rng()
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    names = [name for name, _ in model.named_parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)

    def one_loss(params: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> Any:
        return loss_for(objective, functional_call(model, params, (xi.unsqueeze(0),)), yi.unsqueeze(0))

    per_example = vmap(grad(one_loss), in_dims=(None, 0, 0))
    expected = task_plan.sample_rate * len(y)
    model.train()
    losses: list[float] = []
    for _ in range(task_plan.steps_per_round):
        chosen = torch.nonzero(torch.rand(len(y), generator=rng) < task_plan.sample_rate).reshape(-1)
        params = {name: p.detach() for name, p in model.named_parameters()}
        summed = {name: torch.zeros_like(p) for name, p in params.items()}
        if len(chosen):
            grads = per_example(params, x[chosen], y[chosen])
            norms = torch.sqrt(sum(g.reshape(len(chosen), -1).pow(2).sum(dim=1) for g in grads.values()))
            factor = (clip_norm / (norms + 1e-12)).clamp(max=1.0)
            for name in names:
                shape = (-1,) + (1,) * (grads[name].dim() - 1)
                summed[name] = (grads[name] * factor.reshape(shape)).sum(dim=0)
            with torch.no_grad():
                losses.append(float(loss_for(objective, model(x[chosen]), y[chosen])))
        sigma = task_plan.noise_multiplier * clip_norm
        for name, p in model.named_parameters():
            noise = torch.normal(0.0, sigma, size=p.shape, generator=rng)
            p.grad = (summed[name] + noise) / expected
        optimizer.step()
        optimizer.zero_grad()
    return float(np.mean(losses)) if losses else float("nan")


def noisy_update(
    weights: dict[str, np.ndarray], base: dict[str, np.ndarray], task_plan: Plan, clip_norm: float
) -> dict[str, np.ndarray]:
    """The update-level mechanism: the update's distance from `base` clipped to `clip_norm`, plus
    Gaussian noise of standard deviation `noise_multiplier * clip_norm` on every coordinate."""
    rng = np.random.default_rng(secrets.randbits(62))
    deltas = {n: np.asarray(weights[n], dtype=np.float64) - base[n] for n in weights}
    norm = math.sqrt(sum(float(np.sum(d * d)) for d in deltas.values()))
    factor = min(1.0, clip_norm / max(norm, 1e-12))
    sigma = task_plan.noise_multiplier * clip_norm
    return {
        n: (base[n] + d * factor + rng.normal(0.0, sigma, size=d.shape)).astype(np.float32)
        for n, d in deltas.items()
    }
