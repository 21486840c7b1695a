"""The global model sent down as a 1-bit delta (`model_encoding: sign1`), with error feedback that
no one has to keep.

The chain commits the round's model θ_r at full precision, as always: the referee's aggregate
(and outer step), what `dml model verify` recomputes and what the council releases. The workers
do not train from θ_r but from its **training base** b_r, which follows it one 1-bit delta a round
(`decentralml.signs`: the sign of every value and a scale per 256, about 1/28 of the float32 model):

    b_0 = θ_0;    b_r = b_{r-1} + signs(θ_r - b_{r-1})

What a delta leaves out, θ_r - b_r, is the next delta's to carry: θ_{r+1} - b_r is the round's
change plus everything not yet sent. That is the down direction's error feedback (as in the
bench's `signs_both` arms), and its "residual" is no state at all: b_r is a function of the
committed models, so the carrier, every committee member and `dml model verify` replay the same
base from the chain (`replay`), and a coordinator that crashed loses nothing.

The workers' updates are changes from b_{r-1}; the referee judges them there (b_{r-1} is the model
they trained), and moves the committed model by what they add: θ_r = θ_{r-1} + (aggregate - b_{r-1})
(`carried`), before any outer step. A worker that holds b_{r-1} gets the delta and rebuilds b_r
bit for bit (the same float64 sum of float32 values, rounded once); one that does not (new, or its
state lost) gets b_r whole. Each delta names the sha256 of the base it applies to, and is refused
against any other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from decentralml import codec, signs
from decentralml.codec import DTYPE, Weights
from decentralml.content import sha256_hex

NEEDS_FULL_MODEL = "needs the full model"  # a worker's refusal of a delta, which the transport answers


class MissingBaseError(ValueError):
    """A delta against a model this worker does not hold: it must be sent the model whole."""


@dataclass(frozen=True)
class Delta:
    """Round r's training base as a 1-bit delta from round r-1's (`previous`, its sha256)."""

    data: bytes
    previous: str


def model_sha(weights: Weights) -> str:
    """The sha256 of `weights` in the codec's bytes: how a delta names its base."""
    return sha256_hex(codec.encode(weights))


def advance(base: Weights, model: Weights) -> tuple[Delta, Weights]:
    """(the delta that moves `base` towards the committed `model`, the base it rebuilds)."""
    previous = model_sha(base)
    data, _ = signs.encode_signs(model, base, previous)
    return Delta(data, previous), signs.decode_signs(data, base, previous)


def apply(delta: bytes, held: Weights, held_sha: str) -> Weights:
    """The base a delta rebuilds on the model a worker holds; CodecError if it was made from another."""
    return signs.decode_signs(delta, held, held_sha)


def replay(models: Iterable[Weights]) -> Weights:
    """b_r from the committed models θ_0, θ_1, … θ_r (θ_0 first)."""
    base: Weights | None = None
    for model in models:
        base = (
            {k: np.array(v, dtype=DTYPE) for k, v in model.items()}
            if base is None
            else advance(base, model)[1]
        )
    if base is None:
        raise ValueError("no committed model to replay from")
    return base


def carried(aggregate: Weights, base: Weights, start: Weights) -> Weights:
    """θ_{r-1} + (aggregate - b_{r-1}): the committed model moved by what the updates add to the
    base they trained from (float64, rounded once to float32)."""
    if set(aggregate) != set(base) or set(base) != set(start):
        raise ValueError("the aggregate, the base and the model do not have the same tensors")
    return {
        name: (
            start[name].astype(np.float64)
            + aggregate[name].astype(np.float64)
            - base[name].astype(np.float64)
        ).astype(DTYPE)
        for name in start
    }
