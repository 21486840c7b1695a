"""Checking each update before it counts: the task's validation policy, applied by the coordinator.

An update is rejected when it
- does not fit the task's model (names, shapes) or holds non-finite values: `Malformed`;
- lies farther from the global model than `norm_factor` times the round's median distance (or
  the referee's own update's distance, if larger, so tiny updates cannot pull the limit down onto
  honest ones; or `max_norm`): `Outlier` (sign-flipped or scaled updates land here);
- points away from the referee's own update (trained from the global model on the validation
  set) with a cosine below `min_cosine`: `LowTrust` (sign-flipped and inner-product-manipulation
  updates land here, whatever their length);
- harms the round's aggregate: `FailedValidation`. An update is judged by what it contributes,
  not by how a model trained on one (possibly skewed) share scores alone. Starting from the mean
  of every update that passed the checks above, the referee leaves each one out in turn (with
  the updates pointing the same way, cosine >= `collusion_cosine`: colluders go together) and
  measures the validation loss of the mean without them. The group whose absence lowers the loss
  the most is rejected if that gain exceeds `max_harm` (a fraction of the loss), and the search
  repeats on the rest, never removing half of the round's updates or more for harm alone. In a
  round of n >= 20 updates a pass rejects up to n/10 groups, each harmful alone, and the search
  stops after `MAX_PASSES` passes: judging costs a number of evaluations linear in n. It
  also goes on while the mean's loss is above `floor_loss` (the best committed model's loss
  raised by `max_loss_rise`: an anchored floor that does not fall with a poisoned global model).
  An honest worker with a skewed share improves the mean even when its model alone scores
  badly, so it stays. A language model's round is first measured on a sample of
  `sample_windows` validation windows (`window_sample`: drawn from the task and round, the same
  on every validator): the mean and each leave-out, window by window. The sample's verdict stands
  only when it rejects nothing and is sure of it: the mean's loss lies below `floor_loss`, and
  every update's leave-out gains less than `max_harm`, each by `evaluation.SAMPLE_CONFIDENCE`
  standard errors of the paired per-window values. Otherwise the search runs on every window, so
  a rejection for harm is always decided on all of them.
- is a copy: its delta's cosine with an earlier result's (lower result id) is at least
  `copy_cosine`: `Duplicate` (one trainer behind k accounts, or a copier, counts once);
- adds nothing: it lies closer to the global model than `min_contribution` times that scale (the
  model sent back, with a little noise): `NoContribution`. Found before the harm check, so such
  updates cannot dilute the mean the others are judged by.
- answers a small stamp with one class: a few input features set send most validation inputs of
  other classes to one class (`max_trigger_lift`; a backdoor's trigger, searched for on the
  validation set by `decentralml.judging.triggers`), alone or as one of the updates whose mean
  does: `FailedValidation`. Classification tasks with at least `triggers.MIN_FEATURES` input
  features only (images, pixel rows): on a narrow table a few features may rightly decide the class.
- (optional, off by default) alone scores below the global model's validation score minus
  `max_accuracy_drop`: `FailedValidation`. The score is the task kind's primary metric
  (`metrics.PRIMARY`): accuracy for classification, R² for regression.
A language model's update is scored alone only when it is rejected (its `metric` is NaN otherwise):
for it that is a transformer pass over the validation windows that decides nothing unless
`max_accuracy_drop` is set.
Updates are read from their spool files one at a time for the checks (the global model, the
running sum of the deltas and one update); the trigger search and the contribution scores hold
the deltas of the updates that passed every other check.
An approved update's `pay` is its share of the per-result reward (`contribution.pay_shares`): its
Shapley value of the round's validation-loss gain (`decentralml.judging.contribution`; a language
model's on the round's sample of windows, an unbiased estimate of the value on all), capped by
the work its distance shows against the round's scale (`contribution.work_share`). The model
sent back with noise as large as an update passes the distance check but adds nothing: valued
about zero, it is paid about nothing. One valued below zero passed the harm check: it stays in the
aggregate and is paid nothing for the round (an honest skewed share sometimes pulls against the
rest for a round; single-round values are noisy, so they reject nothing by themselves).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from torch import nn

from decentralml.codec import Weights
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.contribution import (
    EXACT_PLAYERS,
    Parts,
    coalition_points,
    copy_groups,
    pay_shares,
    shapley,
    work_share,
)
from decentralml.judging.determinism import deterministic
from decentralml.judging.evaluation import PASSES_AT_ONCE, Evaluator, Layout, Point, load_flat, upper_bound
from decentralml.judging.triggers import SEARCH_EXAMPLES, budget, lift, searched, strongest
from decentralml.kinds.schema import Objective, Split
from decentralml.manifest import ValidationPolicy
from decentralml.metrics import PRIMARY
from decentralml.models import ModelSpec, blank, load_weights
from decentralml.timing import Phases
from decentralml.training import Scored, score, scored
from decentralml_bindings.types import RejectionKind

Reason = RejectionKind
MAX_PASSES = 20
"""The most passes of the leave-out search (and of the trigger search on the round's mean): each
pass evaluates every update still kept once, so judging costs at most (MAX_PASSES + 1) x n
evaluations, linear in the updates. A pass removes up to a tenth of the round's updates (one group
below 20 updates, where no round needs more passes than this)."""


SAMPLE_STREAM = 0x57494E44
"""Mixed into the task and round to seed the sample of windows (apart from the Shapley seed)."""


STACKED_GRAM_BYTES = 64 * 2**20
"""Deltas up to this many bytes in all have their Gram matrix computed as one product."""


@dataclass(frozen=True)
class Check:
    """The verdict on one update: approved, or the reason it was not; its score in ppm, clamped to
    0..1,000,000, and `metric` the primary metric's value of the update alone on the validation
    set (NaN for an approved language-model update: see the module docstring); `harm` the
    validation loss the round's mean gained by including it (negative: it helped; NaN when it was
    not part of the mean); `contribution` its Shapley value of the round's loss
    gain (NaN when it was not scored) and `pay` the share of the reward it earns, in ppm (for a
    language model, `harm` and `contribution` as measured on the round's sample of windows when
    the sample cleared the round: `window_sample`);
    `trigger` the lift of the strongest small stamp on its model (`decentralml.judging.triggers`;
    NaN when it was not searched)."""

    key: int
    approved: bool
    score: int
    reason: Reason | None
    metric: float
    distance: float
    harm: float = float("nan")
    contribution: float = float("nan")
    pay: int = 0
    trigger: float = float("nan")


@dataclass(frozen=True)
class Origin:
    """What judging a round needs of the model the workers trained from, which can be made before
    any update arrives (`origin_of`): its layout, its parameters as one float64 vector, a model
    loaded with them (judging loads other weights into it), and the referee's own update's delta
    from it (None without one, or where its layout is not the model's)."""

    layout: Layout
    flat: NDArray[np.float64]
    model: nn.Module
    own: NDArray[np.float64] | None = None


def origin_of(global_weights: Weights, spec: ModelSpec, reference: UpdateFile | None = None) -> Origin:
    """The `Origin` of a round from `global_weights` (of the model `spec`), with `reference`."""
    layout = tuple((name, tuple(array.shape)) for name, array in global_weights.items())
    flat = np.concatenate([global_weights[name].astype(np.float64).ravel() for name, _ in layout])
    model = blank(spec)
    load_weights(model, global_weights)
    own = None if reference is None else _delta_of(layout, flat, reference)
    return Origin(layout, flat, model, own)


def _delta_of(layout: Layout, origin: NDArray[np.float64], update: UpdateFile) -> NDArray[np.float64] | None:
    """The update's delta from `origin` (None where its layout is not `layout`)."""
    if update.layout != layout:
        return None
    found: NDArray[np.float64] = np.subtract(update.read(0, update.size), origin, dtype=np.float64)
    return found


def check_updates(
    global_weights: Weights,
    updates: Sequence[tuple[int, UpdateFile]],
    spec: ModelSpec,
    validation: Split,
    policy: ValidationPolicy,
    objective: Objective = "classification",
    floor_loss: float | None = None,
    reference: UpdateFile | None = None,
    seed: Sequence[int] = (0,),
    parallel: int = PASSES_AT_ONCE,
    global_scores: Scored | None = None,
    timings: dict[str, float] | None = None,
    prepared: Origin | None = None,
) -> tuple[float, list[Check]]:
    """(global model's validation score, a Check per (key, update)) in the order given.

    With `reference` (the referee's own update, trained from the global model on the validation
    set) and `policy.min_cosine` set, an update whose delta points away from the reference's
    (cosine below `min_cosine`) is rejected as `LowTrust` before the contribution check. `seed`
    (the task and round) seeds the contribution scores' sampled permutations. Keys are result ids:
    of near-identical updates, the lowest key is the one judged. Judged in the committee's numeric
    mode (`decentralml.judging.determinism`: one PyTorch thread, deterministic algorithms), whoever
    calls it; up to `parallel` validation passes run at once (`evaluation.Evaluator`: the same
    values whatever `parallel` is). `global_scores`: `training.scored` of the global model on
    `validation`, when the caller has it (one validation pass fewer; a language model's sampled
    contribution scores start from its windows' losses, so whoever scored it, they are the same).
    `timings`, where given, gets the wall seconds of each step: "model" (the global model
    loaded), "read" (the updates and the referee's own), "distances" (the distance and copy
    checks), "sampled" (a language model's sampled search, with the coalitions measured beside
    it), "search" (the leave-out search on every window, where it ran), "triggers" and "scores"
    (the contribution scores' own passes). `prepared`: `origin_of(global_weights, spec, reference)`,
    made while the caller waited for the updates."""
    with deterministic():
        return _check_updates(
            global_weights,
            updates,
            spec,
            validation,
            policy,
            objective,
            floor_loss,
            reference,
            seed,
            parallel,
            global_scores,
            {} if timings is None else timings,
            prepared,
        )


def _check_updates(
    global_weights: Weights,
    updates: Sequence[tuple[int, UpdateFile]],
    spec: ModelSpec,
    validation: Split,
    policy: ValidationPolicy,
    objective: Objective,
    floor_loss: float | None,
    reference: UpdateFile | None,
    seed: Sequence[int],
    parallel: int,
    global_scores: Scored | None,
    timings: dict[str, float],
    prepared: Origin | None,
) -> tuple[float, list[Check]]:
    took = Phases(timings).mark

    primary = PRIMARY[objective]
    start = origin_of(global_weights, spec, reference) if prepared is None else prepared
    model, layout, origin = start.model, start.layout, start.flat
    if global_scores is None:
        global_scores = scored([model], validation, objective)
    baseline = global_scores.metrics[primary]
    # A language model's update scored alone is a transformer pass over every validation window
    # that decides nothing unless `max_accuracy_drop` is set: it is scored only if rejected (the
    # score its verdict records).
    alone_later = objective == "language_modeling" and policy.max_accuracy_drop is None

    def alone(update: UpdateFile) -> float:
        """The primary metric of the update's own model on the validation set."""
        load_weights(model, update.weights())
        return score(model, validation, objective)[primary]

    evaluator = Evaluator(model, spec, layout, validation, objective, parallel)
    total = np.zeros_like(origin)
    # key -> its update's delta from the global model, read once and kept while it is judged (the
    # contribution scores hold every player's at once in any case).
    deltas: dict[int, NDArray[np.float64]] = {}
    measured: dict[int, tuple[float, float]] = {}  # key -> (distance, metric alone)
    cosines: dict[int, float] = {}
    took("model")
    with ThreadPoolExecutor(max(1, min(parallel, len(updates))), thread_name_prefix="reading") as pool:
        read_all = list(pool.map(functools.partial(_delta_of, layout, origin), [u for _, u in updates]))
    own_norm = 0.0 if start.own is None else float(np.linalg.norm(start.own))
    own = None
    if start.own is not None and own_norm > 0 and policy.min_cosine is not None:
        own = start.own / own_norm
    took("read")
    for (key, update), delta in zip(updates, read_all, strict=True):
        if delta is None:
            continue
        squares = float(np.dot(delta, delta))
        if not np.isfinite(squares):
            continue
        measured[key] = (float(np.sqrt(squares)), float("nan") if alone_later else alone(update))
        if own is not None:
            cosines[key] = float(np.dot(delta, own)) / max(float(np.sqrt(squares)), 1e-30)
        total += delta
        deltas[key] = delta
    del read_all
    files = dict(updates)
    reasons: dict[int, Reason] = {}
    in_order = sorted(measured)
    gram = _gram([deltas[k] for k in in_order])
    for group in copy_groups(in_order, gram, policy.copy_cosine):
        for key in group[1:]:
            reasons[key] = "Duplicate"
            total -= deltas[key]
    distances = [d for k, (d, _) in measured.items() if k not in reasons]
    scale = max(float(np.median(distances)), own_norm) if distances else own_norm
    limit = policy.norm_factor * scale if len(distances) >= 3 else float("inf")
    if policy.max_norm is not None:
        limit = min(limit, policy.max_norm)
    for key, (distance, _) in measured.items():
        if key in reasons:
            continue
        if distance > limit:
            reasons[key] = "Outlier"
        elif distance < policy.min_contribution * scale:  # the model sent back: it cannot add anything
            reasons[key] = "NoContribution"
        elif policy.min_cosine is not None and cosines.get(key, 1.0) < policy.min_cosine:
            reasons[key] = "LowTrust"
        else:
            continue
        total -= deltas[key]
    for key in reasons:
        del deltas[key]
    judged = [k for k in measured if k not in reasons]
    cosines_of = _cosines(gram, in_order, judged)
    took("distances")
    picked = window_sample(len(validation), objective, policy.sample_windows, seed)
    quick = evaluator if picked is None else evaluator.narrowed(picked)
    weights = {k: files[k].weight for k in judged}
    cleared = None
    known: dict[int, float] = {}  # coalition -> its loss on the sample, measured beside the search
    if picked is not None:
        # The contribution scores' coalitions are measured in the same stream as the sampled
        # search: where it clears the round, its players are the judged ones (a transformer's
        # updates are not searched for triggers).
        ahead = coalition_points(origin, deltas, weights) if len(judged) <= EXACT_PLAYERS else {}
        mean_tag = None
        if ahead and len(set(weights.values())) == 1:
            # Every update weighs the same: the whole coalition's point is the round's mean (up to
            # rounding), measured once.
            mean_tag = (1 << len(judged)) - 1
            del ahead[mean_tag]
        cleared = _cleared(
            quick,
            origin,
            total,
            deltas,
            judged,
            policy,
            floor_loss,
            len(validation),
            cosines_of,
            ahead,
            known,
            mean_tag,
        )
        took("sampled")
    harms = (
        _contributions(evaluator, origin, total, deltas, judged, policy, floor_loss, cosines_of)
        if cleared is None
        else cleared
    )
    if cleared is None:
        took("search")
    for key, harm in harms.items():
        if harm is None:
            reasons[key] = "FailedValidation"
    lifts: dict[int, float] = {}
    if searched(spec, policy, objective):
        candidates = sorted(k for k in measured if k not in reasons)
        lifts = _triggered(model, origin, deltas, candidates, validation, policy, spec, layout)
        most = policy.max_trigger_lift
        assert most is not None  # `searched` holds only with the search on
        for key, strength in lifts.items():
            if strength >= most:
                reasons[key] = "FailedValidation"
        took("triggers")
    players = sorted(k for k in measured if k not in reasons)
    # The global model's loss, from the pass that scored it: on every window, or the sample's.
    base = global_scores.metrics["loss"]
    if picked is not None and global_scores.windows is not None:
        base = float(np.mean(global_scores.windows[picked]))
    found = shapley(
        origin,
        {k: deltas[k] for k in players},
        {k: weights[k] for k in players},
        quick.loss,
        budget=policy.contribution_budget,
        losses=quick.losses,
        batch=quick.parallel,
        seed=seed,
        base=base,
        known=known if players == sorted(judged) else None,
    )
    took("scores")
    pay = pay_shares(found.values)
    if alone_later:
        for key in sorted(k for k in measured if k in reasons):
            measured[key] = (measured[key][0], alone(files[key]))
    checks = []
    for key, _ in updates:
        if key not in measured:
            checks.append(Check(key, False, 0, "Malformed", 0.0, float("nan")))
            continue
        distance, value = measured[key]
        reason = reasons.get(key)
        if (
            reason is None
            and policy.max_accuracy_drop is not None
            and not value >= baseline - policy.max_accuracy_drop
        ):
            reason = "FailedValidation"
        ppm = round(min(max(value, 0.0), 1.0) * 1_000_000) if np.isfinite(value) else 0
        harmed = harms.get(key)
        harm = float("nan") if harmed is None else harmed
        contribution = found.values.get(key, float("nan"))
        paid = min(pay.get(key, 0), work_share(distance, scale)) if reason is None else 0
        trigger = lifts.get(key, float("nan"))
        checks.append(
            Check(key, reason is None, ppm, reason, value, distance, harm, contribution, paid, trigger)
        )
    return baseline, checks


def _triggered(
    model: nn.Module,
    origin: NDArray[np.float64],
    deltas: dict[int, NDArray[np.float64]],
    keys: list[int],
    validation: Split,
    policy: ValidationPolicy,
    spec: ModelSpec,
    layout: tuple[tuple[str, tuple[int, ...]], ...],
) -> dict[int, float]:
    """key -> the lift of the strongest small stamp on its update's model, for the updates `keys`;
    a key whose lift is at least `policy.max_trigger_lift` is to be rejected.

    Each update's model is searched alone. Then the mean of the updates below the limit is
    searched: colluders each staying under the limit can still add up to a backdoor in the
    aggregate. While the mean's strongest stamp reaches the limit, the update that stamp moves
    most is given the limit (to be rejected) and the mean is searched again, never removing half
    of the updates or more, for at most `MAX_PASSES` searches of the mean. In a round of n >= 20
    updates a pass also removes each other update the stamp moves past the limit alone, up to
    n/10 per pass."""
    assert policy.max_trigger_lift is not None
    limit = policy.max_trigger_lift
    x = np.asarray(validation.x, dtype=np.float32)
    y = np.asarray(validation.y, dtype=np.int64)
    size = budget(int(np.prod(x.shape[1:])), policy.trigger_features)
    classes = spec.classes
    examples = SEARCH_EXAMPLES.get(spec.architecture, SEARCH_EXAMPLES["cnn"])
    lifts: dict[int, float] = {}
    for key in keys:
        load_flat(model, origin + deltas[key], layout)
        lifts[key] = strongest(model, x, y, classes, size, examples).lift
    kept = [key for key in keys if lifts[key] < limit]
    removed = len(keys) - len(kept)
    per_pass = max(1, len(keys) // 10)
    for _ in range(MAX_PASSES):
        if not kept or 2 * (removed + 1) >= len(keys):
            break
        mean = origin + sum((deltas[key] for key in kept), np.zeros_like(origin)) / len(kept)
        load_flat(model, mean, layout)
        stamp = strongest(model, x, y, classes, size, examples)
        if stamp.lift < limit:
            break
        moved: dict[int, float] = {}
        for key in kept:
            load_flat(model, origin + deltas[key], layout)
            moved[key] = lift(model, stamp, x, y)
        ranked = sorted(kept, key=lambda k: (-moved[k], k))
        # The one the stamp moves most goes; in a large round, so does each other one that the
        # mean's stamp moves past the limit alone, up to a tenth of the round per pass.
        chosen = [ranked[0], *(k for k in ranked[1:per_pass] if moved[k] >= limit)]
        chosen = chosen[: max(1, (len(keys) - 1) // 2 - removed)]
        for key in chosen:
            lifts[key] = max(lifts[key], limit)
            kept.remove(key)
        removed += len(chosen)
    return lifts


def window_sample(
    windows: int, objective: Objective, size: int | None, seed: Sequence[int]
) -> NDArray[np.intp] | None:
    """The validation windows a language model's round is first judged on: `size` of `windows`,
    drawn from the task and round (`seed`), in order; None (judge on all) for another kind of
    task, with no sample asked for, or with fewer than twice `size` windows."""
    if objective != "language_modeling" or size is None or windows < 2 * size:
        return None
    drawn = np.random.default_rng([*seed, SAMPLE_STREAM]).choice(windows, size, replace=False)
    return np.sort(drawn).astype(np.intp)


def _cleared(
    quick: Evaluator,
    origin: NDArray[np.float64],
    total: NDArray[np.float64],
    deltas: dict[int, NDArray[np.float64]],
    keys: list[int],
    policy: ValidationPolicy,
    floor_loss: float | None,
    population: int,
    cosines: NDArray[np.float64],
    ahead: Mapping[int, Point] | None = None,
    known: dict[int, float] | None = None,
    mean_tag: int | None = None,
) -> dict[int, float | None] | None:
    """The leave-out search's verdict measured on a sample of the windows (`quick`, drawn from
    `population`), when it is sure: key -> the loss its inclusion added to the mean (the sample's
    estimate), nobody rejected. None when the sample cannot say so: the mean's loss may be above
    `floor_loss` or not finite, or some update's (or group's) absence may gain more than `max_harm`
    of the loss, each within `SAMPLE_CONFIDENCE` standard errors of the paired per-window values.
    Then the search runs on every window (`_contributions`): a rejection for harm is always
    decided on all of them. `cosines`: the deltas' pairwise cosines in `keys`' order.

    `ahead` (tag -> point) are measured after the search's points, in the same stream of passes,
    and their sampled losses put in `known` (by tag): what the round needs next where the sample
    clears it, measured with no thread left idle between the two. The mean's own loss goes into
    `known` as `mean_tag` where that is given (a point `ahead` would measure again)."""
    if not keys:
        return {}
    groups = _groups(keys, cosines, keys, policy.collusion_cosine)
    ahead = ahead or {}

    def part(key: int | None, lo: int, hi: int) -> NDArray[np.float64]:
        """[lo:hi] of the mean of the kept deltas (key None), or of those without `key`'s group."""
        if key is None:
            return origin[lo:hi] + total[lo:hi] / len(keys)
        return _leave_out_part(origin, total, deltas, groups[key], len(keys) - len(groups[key]), lo, hi)

    # Measured `quick.parallel` points at a time, in order, the mean first, each made in the thread
    # that measures it and only its window losses kept: memory stays a few copies of the model.
    # A verdict the sample cannot give stops the stream (the points not started are dropped).
    todo: list[tuple[bool, int | None]] = [(False, None), *((False, k) for k in keys)]
    todo += [(True, tag) for tag in ahead]
    points = [
        ahead[tag] if later and tag is not None else Parts(functools.partial(part, tag), origin.size)
        for later, tag in todo
    ]
    current = np.zeros(0)
    gains: dict[int, float | None] = {}
    with contextlib.closing(quick.window_stream(points)) as stream:
        for (later, key), losses in zip(todo, stream, strict=True):
            if later and key is not None:
                if known is not None:
                    known[key] = float(np.mean(losses))
            elif key is None:
                current = losses
                if mean_tag is not None and known is not None:
                    known[mean_tag] = float(np.mean(losses))
                if not np.isfinite(current).all():
                    return None
                if floor_loss is not None and not upper_bound(current, population) < floor_loss:
                    return None
            # Harmful: current - without > max_harm x current (a loss is never negative); a group
            # of half the round or more is never removed for harm alone.
            elif 2 * len(groups[key]) < len(keys):
                if not upper_bound((1 - policy.max_harm) * current - losses, population) < 0:
                    return None
                gains[key] = float(np.mean(current) - np.mean(losses))
            elif not np.isfinite(losses).all():
                return None
            else:
                gains[key] = float(np.mean(current) - np.mean(losses))
    return gains


def _leave_out_part(
    origin: NDArray[np.float64],
    total: NDArray[np.float64],
    deltas: Mapping[int, NDArray[np.float64]],
    group: list[int],
    count: int,
    lo: int,
    hi: int,
) -> NDArray[np.float64]:
    """[lo:hi] of the leave-out point: origin + the sum of the deltas in `total` without `group`'s,
    over the `count` left (origin where none is)."""
    rest = total[lo:hi] - sum((deltas[j][lo:hi] for j in group), np.zeros(hi - lo))
    return origin[lo:hi] + rest / count if count else origin[lo:hi]


def _gram(deltas: Sequence[NDArray[np.float64]]) -> NDArray[np.float64]:
    """The deltas' pairwise dot products: one product of their stack where it is small, else pair by
    pair (no copy of a large model's deltas)."""
    n = len(deltas)
    if n == 0 or n * deltas[0].nbytes <= STACKED_GRAM_BYTES:
        stack = np.stack(deltas) if n else np.zeros((0, 0))
        found: NDArray[np.float64] = stack @ stack.T
        return found
    gram = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(i, n):
            gram[i, j] = gram[j, i] = float(np.dot(deltas[i], deltas[j]))
    return gram


def _cosines(gram: NDArray[np.float64], keys: list[int], kept: list[int]) -> NDArray[np.float64]:
    """The pairwise cosine similarities of the deltas of `kept` (in its order), from their `gram`
    in `keys`' order."""
    position = {key: i for i, key in enumerate(keys)}
    rows = np.array([position[k] for k in kept], dtype=np.intp)
    sub = gram[np.ix_(rows, rows)]
    norms = np.sqrt(np.maximum(np.diag(sub), 1e-30))
    cosines: NDArray[np.float64] = sub / np.outer(norms, norms)
    return cosines


def _groups(
    keys: list[int], cosines: NDArray[np.float64], kept: list[int], collusion_cosine: float
) -> dict[int, list[int]]:
    """Each of `kept` -> its leave-out group: itself and every kept update whose delta points the
    same way (cosine at least `collusion_cosine`), in `kept`'s order; `cosines` in `keys`' order."""
    position = {key: i for i, key in enumerate(keys)}
    columns = np.array([position[j] for j in kept], dtype=np.intp)
    groups: dict[int, list[int]] = {}
    for key in kept:
        close = cosines[position[key], columns] >= collusion_cosine
        groups[key] = [kept[i] for i in np.flatnonzero(close)]
        if key not in groups[key]:
            groups[key].append(key)
    return groups


def _contributions(
    evaluator: Evaluator,
    origin: NDArray[np.float64],
    total: NDArray[np.float64],
    deltas: dict[int, NDArray[np.float64]],
    keys: list[int],
    policy: ValidationPolicy,
    floor_loss: float | None,
    cosines: NDArray[np.float64],
) -> dict[int, float | None]:
    """Greedy leave-a-group-out on the mean of the deltas: key -> the loss its inclusion added to
    the mean of those kept (negative when it helped), or None for the rejected ones.

    An update's group is itself and every kept update whose delta points the same way (cosine at
    least `policy.collusion_cosine`): colluding workers that send one poisoned update between them
    are left out together, so each cannot hide behind the others (`cosines`: the deltas' pairwise
    cosines in `keys`' order). A pass evaluates its leave-outs `evaluator.parallel` at a time."""

    def point(delta_sum: NDArray[np.float64], count: int) -> NDArray[np.float64]:
        return origin + delta_sum / count if count else origin

    def loss_of(delta_sum: NDArray[np.float64], count: int) -> float:
        return evaluator.loss(point(delta_sum, count))

    out: dict[int, float | None] = {}
    kept = list(keys)
    removed = 0
    current = loss_of(total, len(kept))
    per_pass = max(1, len(keys) // 10)

    def rest_of(group: list[int]) -> NDArray[np.float64]:
        return total - sum((deltas[j] for j in group), np.zeros_like(origin))

    for pass_ in range(MAX_PASSES + 1):  # the last pass only measures what is left
        # Only the losses are kept per candidate: the sum without the chosen groups is rebuilt
        # once, so memory stays a few copies of the model, not one per update.
        groups = _groups(keys, cosines, kept, policy.collusion_cosine)
        without: dict[int, tuple[float, list[int]]] = {}
        points = [
            Parts(
                functools.partial(
                    _leave_out_part, origin, total, deltas, groups[key], len(kept) - len(groups[key])
                ),
                origin.size,
            )
            for key in kept
        ]
        for key, loss in zip(kept, evaluator.losses(points), strict=True):
            without[key] = (loss, groups[key])
        above_floor = floor_loss is not None and not current <= floor_loss
        chosen: list[int] = []
        taken = 0
        first_loss = current
        for key in sorted(kept, key=lambda k: (without[k][0], k)):  # the most harmful first
            if pass_ == MAX_PASSES or taken == per_pass:
                break
            loss, group = without[key]
            if set(group) & set(chosen):
                continue
            gain = current - loss
            # Harm alone never removes half of the round or more: with no majority left to trust,
            # the check cannot tell which side is honest (two honest models averaged early often
            # score worse than the better one alone).
            minority = 2 * (removed + len(chosen) + len(group)) < len(keys)
            harmful = gain > policy.max_harm * abs(current) and minority
            if not (harmful or (not taken and (above_floor or not np.isfinite(current)))):
                break  # the first group may go for the floor; the rest of a pass for harm alone
            chosen.extend(group)
            taken += 1
            first_loss = loss if taken == 1 else first_loss
        if not chosen:
            for key in kept:
                out[key] = current - without[key][0]
            return out
        for j in chosen:
            out[j] = None
            kept.remove(j)
        removed += len(chosen)
        total = rest_of(chosen)
        current = first_loss if taken == 1 else loss_of(total, len(kept))
        if not kept:
            return out
    return out
