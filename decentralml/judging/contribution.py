"""What each accepted update contributed to its round: Shapley values of the validation-loss gain.

Near-identical updates are found first (`copy_groups`: their deltas' cosine is at least the
policy's `copy_cosine`, transitively). That is a copy of another worker's update, with or without a
little noise, or one trainer behind several accounts. Only the first of a group on chain (the
lowest result id: a copier needs the bytes before it can send them) is judged. The rest are
rejected as `Duplicate`, so k copies move the aggregate as much as one update and earn one
contribution between them. The players are then the round's updates that passed every check.

The value of a coalition S of players is the validation loss the round gains from S's part of
the round's aggregate, the others counted as having sent nothing (a zero delta):

    v(S) = loss(global) - loss(global + sum_{p in S} w_p d_p / W),   W = sum of every player's w,

so v(all) is the gain of the aggregate the round commits. A player's contribution is its Shapley
value: its marginal gain v(S + p) - v(S) averaged over every order in which the players could
join; the values add up to v(all). A no-op update (the global model sent back, with or without
noise) adds nothing to any coalition's step, so its value is about zero: the denominator W is the
same for every coalition, so a no-op cannot earn by shrinking an overshooting step. An honest
worker with a skewed share adds what the others lack, so its value is positive even when its
model alone scores badly; a lazy worker (one SGD step) adds a little and is valued so.

With at most `exact_players` players every coalition is evaluated (2^n validation passes). With
more, permutations are sampled (truncated Monte Carlo: once a permutation's prefix is within
`truncation` of the whole round's gain, the rest of it adds nothing) until `budget` validation
passes are spent (or 4 x `budget` permutations drawn). The generator is seeded with the task and
round and the players are ordered by key (result id), so every validator that judges the same
round gets the same values. The first permutation is always walked whole (to its truncation), so a
round of n players spends at most max(n, `budget`) passes; along a permutation each coalition's
step is its prefix's plus one delta, so the arithmetic grows linearly in the players too.

`pay_shares` turns the values into the share of the per-result reward each result is paid: an
update adding at least `FULL_PAY` of the round's median positive contribution is paid in full, one
adding less is paid in proportion, one adding nothing is paid nothing.

`work_share` caps that pay by the work an update shows: the distance it moved the model against
the round's typical distance (the scale the distance checks use), in full from `FULL_PAY` of it.
A single round's loss gain cannot tell a lazy worker from an honest one at high skew: five
epochs on a one-class share pull the validation loss up about as often as down, while one SGD
step is a small clean step, so the lazy worker's Shapley value is as often positive and it was
paid 1.0-1.8x an honest worker (`bench.robustness`, attack `lazy`). Its step is a few percent of
an honest one's, and so is its pay under the cap. A lazy step stretched to an honest length is no
longer a small clean step: its value then decides (attack `lazy_scaled`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from math import factorial

import numpy as np
from numpy.typing import NDArray

FULL_PAY = 0.5
"""Fraction of the round's median positive contribution that earns the whole per-result reward."""

Loss = Callable[[NDArray[np.float64]], float]
"""The validation loss of the flat parameter vector given."""


@dataclass(frozen=True)
class Contributions:
    """`values`: key -> its Shapley value in loss units; `gain`: v(all players), which the values
    add up to; `exact`: every coalition was evaluated; `evaluations`: validation passes spent."""

    values: dict[int, float]
    gain: float
    exact: bool
    evaluations: int


def copy_groups(keys: Sequence[int], gram: NDArray[np.float64], copy_cosine: float) -> list[list[int]]:
    """Keys grouped by near-identical deltas (cosine >= `copy_cosine`, transitively); `gram` holds
    the deltas' pairwise dot products in the order of `keys`. A zero delta is nobody's copy."""
    norms = np.sqrt(np.maximum(np.diag(gram), 0.0))
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in combinations(range(len(keys)), 2):
        if norms[i] > 0 and norms[j] > 0 and gram[i, j] / (norms[i] * norms[j]) >= copy_cosine:
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(root(i), []).append(key)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


EXACT_PLAYERS = 6
"""At most this many players, every coalition is evaluated."""


PIECE = 1 << 16
"""Elements of a point made at a time where it is made in parts (`Parts`): 512 KiB of float64,
so the terms of a piece stay in the core's cache while it is summed."""


@dataclass(frozen=True)
class Parts:
    """A flat point made a slice at a time: `part(lo, hi)` is the point's [lo:hi], every element
    computed by the same arithmetic, in the same order, as the whole point (elementwise only), so
    the pieces are the whole point's bits. Calling it makes the whole point. A judging pass loads
    it piece by piece into its model (`evaluation.load_point`), so a model-sized float64 point is
    never made: its terms are read once, a cache-sized piece at a time."""

    part: Callable[[int, int], NDArray[np.float64]]
    size: int

    def __call__(self) -> NDArray[np.float64]:
        return self.part(0, self.size)


def coalition_points(
    origin: NDArray[np.float64], deltas: dict[int, NDArray[np.float64]], weights: dict[int, float]
) -> dict[int, Parts]:
    """Every non-empty coalition's point (by its mask over the sorted keys) as `shapley` evaluates
    it, each made in parts (`Parts`): for a caller that measures them ahead (`shapley(known=)`).
    At most `EXACT_PLAYERS` players (2^n - 1 coalitions)."""
    keys = sorted(deltas)
    if len(keys) > EXACT_PLAYERS:
        raise ValueError(f"{len(keys)} players have too many coalitions to list; at most {EXACT_PLAYERS}")
    total = max(sum(weights[k] for k in keys), 1e-30)
    ordered, scales = [deltas[k] for k in keys], [weights[k] for k in keys]
    return {
        mask: Parts(functools.partial(_coalition_part, origin, ordered, scales, total, mask), origin.size)
        for mask in range(1, 1 << len(keys))
    }


def _coalition_part(
    origin: NDArray[np.float64],
    deltas: list[NDArray[np.float64]],
    weights: list[float],
    total: float,
    mask: int,
    lo: int,
    hi: int,
) -> NDArray[np.float64]:
    """[lo:hi] of origin + the weighted sum of the coalition's deltas (in key order: the same sum
    on every validator) over every player's weight `total`."""
    found = np.zeros(hi - lo)
    scaled = np.empty(hi - lo)
    for p, (delta, weight) in enumerate(zip(deltas, weights, strict=True)):
        if mask >> p & 1:
            found += np.multiply(delta[lo:hi], weight, out=scaled)
    found /= total
    found += origin[lo:hi]
    return found


def shapley(
    origin: NDArray[np.float64],
    deltas: dict[int, NDArray[np.float64]],
    weights: dict[int, float],
    loss: Loss,
    *,
    exact_players: int = EXACT_PLAYERS,
    budget: int = 128,
    truncation: float = 0.01,
    seed: Sequence[int] = (0,),
    base: float | None = None,
    losses: Callable[[list[Callable[[], NDArray[np.float64]]]], list[float]] | None = None,
    batch: int = 1,
    known: dict[int, float] | None = None,
) -> Contributions:
    """The contributions of the updates `deltas` (key -> flat delta from `origin`, weighed by
    `weights`) to the validation loss `loss`; see the module docstring. `base`: `loss(origin)`,
    when the caller has it already (one validation pass fewer). With `losses` (the losses of
    several points, each given as a function that makes it, as `loss` gives each), the exact
    scores evaluate their coalitions `batch` at a time: the same values, in fewer rounds of
    passes. `known`: coalitions' losses measured ahead (mask -> loss, at `coalition_points`)."""
    keys = sorted(deltas)
    n = len(keys)
    base = loss(origin) if base is None else base
    total = max(sum(weights[k] for k in keys), 1e-30)
    cache: dict[int, float] = {0: 0.0}

    ordered, scales = [deltas[k] for k in keys], [weights[k] for k in keys]

    def point(mask: int) -> Parts:
        return Parts(functools.partial(_coalition_part, origin, ordered, scales, total, mask), origin.size)

    def keep(mask: int, found_loss: float) -> None:
        found = base - found_loss
        cache[mask] = found if np.isfinite(found) else -1e30

    for mask, found_loss in sorted((known or {}).items()):
        keep(mask, found_loss)

    def value(mask: int, step: NDArray[np.float64] | None = None) -> float:
        """v(mask); `step` (the weighted sum of the coalition's deltas), when the caller holds it."""
        if mask not in cache:
            keep(mask, loss(point(mask)() if step is None else origin + step / total))
        return cache[mask]

    exact = n <= exact_players
    if exact and losses is not None and batch > 1:
        masks = [mask for mask in range(1, 1 << n) if mask not in cache]
        # Every point made where it is measured, `batch` at a time: memory stays `batch` points.
        made = losses([point(mask) for mask in masks]) if masks else []
        for mask, found_loss in zip(masks, made, strict=True):
            keep(mask, found_loss)
    gain = value((1 << n) - 1) if n else 0.0
    phi = np.zeros(n)
    if exact:
        for p in range(n):
            others = [q for q in range(n) if q != p]
            for size in range(n):
                share = factorial(size) * factorial(n - size - 1) / factorial(n)
                for coalition in combinations(others, size):
                    mask = sum(1 << q for q in coalition)
                    phi[p] += share * (value(mask | 1 << p) - value(mask))
    else:
        rng = np.random.default_rng(list(seed))
        rounds = 0
        while rounds == 0 or (len(cache) - 1 < budget and rounds < 4 * budget):
            order = rng.permutation(n)
            mask, before = 0, 0.0
            step = np.zeros_like(origin)  # the prefix's weighted sum, one delta added per player
            for p in order:
                if abs(gain - before) <= truncation * abs(gain):
                    break  # truncated: the rest of this order adds nothing
                mask |= 1 << int(p)
                step += weights[keys[p]] * deltas[keys[p]]
                after = value(mask, step)
                phi[p] += after - before
                before = after
            rounds += 1
        phi /= rounds
    return Contributions({k: float(phi[p]) for p, k in enumerate(keys)}, gain, exact, len(cache) - 1)


def pay_shares(values: dict[int, float]) -> dict[int, int]:
    """key -> the share of the per-result reward it is paid, in ppm (see the module docstring)."""
    positive = [v for v in values.values() if v > 0]
    if not positive:
        return {key: 0 for key in values}
    full = FULL_PAY * float(np.median(positive))
    return {key: round(1_000_000 * min(max(v / full, 0.0), 1.0)) for key, v in values.items()}


def work_share(distance: float, scale: float) -> int:
    """The most an update that moved the model `distance` is paid, in ppm of the reward: in full
    from `FULL_PAY` of the round's typical distance `scale`, in proportion below it."""
    if scale <= 0:
        return 1_000_000
    return round(1_000_000 * min(max(distance / (FULL_PAY * scale), 0.0), 1.0))
