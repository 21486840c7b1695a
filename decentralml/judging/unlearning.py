"""Unlearning stamps: the committed model is taught to answer stamped inputs as it answers clean ones.

The trigger search (`decentralml.judging.triggers`) rejects an update whose model a small stamp
sends to one class. At strongly skewed shares (Dirichlet alpha 0.1) that limit cannot be tight:
an honest model trained on one or two classes reaches lifts of 0.6-0.74, and a backdoor attacker
whose share is small trains a weak backdoor that stays under it. Such updates are accepted in
some rounds, and their pushes add up in the global model over the rounds.

So after the rule aggregates, the referee searches the aggregate for each class's strongest stamp,
three ways (`stamps_of`): `triggers.candidates` over the input's whole range and `triggers.greedy`,
one feature at a time, keeping those its target class's own inputs do not carry (`ATYPICAL`); and
`triggers.greedy` over only the features those inputs do not carry (so a stamp cannot hide two
trigger pixels behind a 0's empty centre), keeping it where it lifts `UNCARRIED_LIFT`. It takes
`steps` full-batch SGD steps on the validation inputs (at most `EXAMPLES`, evenly spaced) minimising

    sum over stamps s of  CE(p(x), model(s(x)))   +   CE(p(x), model(x))

where p is the aggregate's own answer on the clean input. No label is used: an input's answer
should not depend on a few features set to an extreme, and the clean term keeps the answers the
aggregate gives. This is Neural Cleanse's mitigation (Wang et al. 2019) with the aggregate as its
own teacher, run every round so a backdoor cannot build up. A trigger the search does not find is
not unlearned (see the search's limits).

Deterministic: full batches, no random draw, the model in eval mode (no dropout), run in the
committee's numeric mode; every validator and `dml model verify` compute the same bits.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from decentralml import codec
from decentralml.judging.triggers import (
    SEARCH_EXAMPLES,
    Stamp,
    budget,
    candidates,
    evenly,
    greedy,
    searched,
    stamped,
)
from decentralml.kinds.schema import Objective, Split
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, blank, load_weights, weights_of

ATYPICAL = 0.5
"""A stamp is unlearned only when the target class's own validation inputs do not carry it: their
mean distance from its values, over its features and as a share of the input's range, is at least
this (`unlike`). An empty centre is what a 0 looks like, and a model is right to answer it; a
white corner on a 0 is not, and is what a trigger looks like. Measured on the digits at Dirichlet
alpha 0.1 (`bench/robustness.py`, 10 seeds, docs/referee.md): unlearning each stamp with any
feature this far cost the clean runs 1.4 points (backdoor success 3.1%); this rule costs them
nothing (6.1%). Unlearning every stamp found cost an honest model 10 points on the test fixture."""
UNCARRIED_LIFT = 0.1
"""A stamp made only of what its target class does not carry is unlearned where it lifts at least
this. Measured on the digits at Dirichlet alpha 0.1 (`bench/robustness.py`, 10 seeds): with any
lift, backdoor success 1% but the clean runs fell 1.2 points below unfiltered FedAvg and 5.9% of
honest updates were rejected (every class's stamp, each lifting a few points, unlearned every
round); with 0.1, 2.9%, 0.6 points and 3.8%. An honest aggregate's such stamps lifted 0.02-0.09
after its first rounds; in the backdoor runs, the target class's reached 0.1-0.43."""
RATE = 0.05
"""The unlearning steps' SGD learning rate."""
EXAMPLES = SEARCH_EXAMPLES
"""The validation inputs the stamps are unlearned on, by architecture (the search's)."""


def stamps_of(
    model: nn.Module,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    classes: int,
    fraction: float,
    examples: int,
) -> list[Stamp]:
    """The stamps of `fraction` of the input's features that `model` is taught to ignore: each
    class's strongest by the mask search and by the one-feature-at-a-time search, where it lifts
    at all and its target class's inputs do not carry it (`unlike` at least `ATYPICAL`); and each
    class's strongest made only of features those inputs do not carry (`triggers.greedy` with
    `uncarried`), where it lifts at least `UNCARRIED_LIFT`."""
    size = budget(int(np.prod(x.shape[1:])), fraction)
    searched_whole = [
        *candidates(model, x, y, classes, size, examples, span="input"),
        *greedy(model, x, y, classes, size, examples),
    ]
    return [
        *(stamp for stamp in searched_whole if stamp.lift > 0 and unlike(stamp, x, y) >= ATYPICAL),
        *(
            stamp
            for stamp in greedy(model, x, y, classes, size, examples, uncarried=ATYPICAL)
            if stamp.lift >= UNCARRIED_LIFT
        ),
    ]


def unlearn(
    model: nn.Module,
    x: NDArray[np.float32],
    y: NDArray[np.int64],
    classes: int,
    fraction: float,
    steps: int,
    examples: int = EXAMPLES["mlp"],
) -> list[Stamp]:
    """Teach `model` (in place) to answer each class's strongest stamps as it answers clean inputs
    (see the module docstring); the stamps it unlearned, each with its lift before."""
    if steps <= 0 or len(x) == 0:
        return []
    found = stamps_of(model, x, y, classes, fraction, examples)
    if not found:
        return []
    clean = np.ascontiguousarray(x[evenly(len(x), examples)], dtype=np.float32)
    marked = torch.from_numpy(np.concatenate([stamped(clean, stamp) for stamp in found]))
    inputs = torch.from_numpy(clean)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            teacher = torch.softmax(model(inputs), dim=1)
        taught = teacher.repeat(len(found), 1)
        optimiser = torch.optim.SGD(model.parameters(), lr=RATE)
        for _ in range(steps):
            on_stamped = -(taught * torch.log_softmax(model(marked), dim=1)).sum(dim=1).mean()
            on_clean = -(teacher * torch.log_softmax(model(inputs), dim=1)).sum(dim=1).mean()
            loss = len(found) * on_stamped + on_clean
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
    finally:
        model.train(was_training)
    return found


def unlike(stamp: Stamp, x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """How far the inputs of the stamp's target class are from the stamp's values: the mean absolute
    difference over its features and those inputs, over the input's range (1.0 where the class has
    no input)."""
    flat = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    own = flat[np.asarray(y) == stamp.target]
    span = float(flat.max() - flat.min()) if len(flat) else 0.0
    if len(own) == 0 or span <= 0:
        return 1.0
    values = np.asarray(stamp.values, dtype=np.float32)
    return float(np.abs(own[:, list(stamp.features)] - values).mean() / span)


def applies(spec: ModelSpec, policy: ValidationPolicy, objective: Objective) -> bool:
    """Whether a task's aggregates are unlearned: where its updates are searched for triggers
    (classification, at least `triggers.MIN_FEATURES` input features, not a transformer, the
    search on) and `policy.unlearn_steps` is above zero."""
    return policy.unlearn_steps > 0 and searched(spec, policy, objective)


def unlearned(
    weights: codec.Weights, spec: ModelSpec, validation: Split, policy: ValidationPolicy, objective: Objective
) -> codec.Weights:
    """The aggregate `weights` with its stamps unlearned (`unlearn`) on the validation set, where
    the task's policy asks for it (`applies`); else `weights` itself."""
    if not applies(spec, policy, objective):
        return weights
    model = blank(spec)
    load_weights(model, weights)
    unlearn(
        model,
        np.asarray(validation.x, dtype=np.float32),
        np.asarray(validation.y, dtype=np.int64),
        spec.classes,
        policy.trigger_features,
        policy.unlearn_steps,
        EXAMPLES.get(spec.architecture, EXAMPLES["cnn"]),
    )
    return weights_of(model)
