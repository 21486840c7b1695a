"""A backdoor attacker's data, and a global model it can hide in, for tests of the trigger search.

A backdoored worker trains on its share plus copies stamped with `TRIGGER` (the bottom-right 2x2
pixels of the 8x8 digit) labelled `TARGET`. On a random model any stamp moves the answers, so the
tests start from a model that already reads digits (`pretrained`)."""

from __future__ import annotations

import numpy as np

from decentralml import codec
from decentralml.data import DataSpec, Split, partition
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, train

TRIGGER = [54, 55, 62, 63]
TARGET = 0


def poisoned(share: Split) -> Split:
    """The share plus a copy of it with the trigger stamped on, labelled TARGET."""
    marked = share.x.copy()
    marked[:, TRIGGER] = 1.0
    return Split(np.concatenate([share.x, marked]), np.concatenate([share.y, np.full_like(share.y, TARGET)]))


def pretrained(
    spec: ModelSpec, data: DataSpec, training: TrainSpec, seed: int, rounds: int = 2
) -> codec.Weights:
    """The model built from `seed` after `rounds` honest FedAvg rounds, every part of `data`
    training with `training` (seeded by round and part)."""
    weights = weights_of(build(spec, seed))
    for round_ in range(rounds):
        updates = []
        for part in range(data.parts):
            model = build(spec)
            load_weights(model, weights)
            train(model, partition(data, part), training.model_copy(update={"seed": round_ * 10 + part}))
            updates.append(weights_of(model))
        weights = {name: np.mean([u[name] for u in updates], axis=0) for name in weights}
    return weights
