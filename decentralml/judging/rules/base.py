"""What every rule shares: its parameters, its result, its error, the state it keeps between rounds,
and reading the global model as a flat vector a slice at a time.

Exceptions::

    ValueError
     └── RuleError        a rule cannot run on these inputs (the message says why)
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from decentralml import codec
from decentralml.judging.aggregation import SLICE_BUDGET_BYTES, Layout, UpdateFile, layout_size


class RuleError(ValueError):
    """A rule cannot run on these inputs: too few updates for its `f`, a missing reference update
    or global model, or inputs that do not fit one another."""


class RuleParams(BaseModel):
    """The parameters the rules take; each rule reads only its own and ignores the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trim: float = Field(0.2, ge=0, lt=0.5, description="trimmed_mean: fraction cut from each end")
    f: int | None = Field(
        None,
        ge=0,
        description="multikrum, bulyan: Byzantine updates assumed; None: the most the rule tolerates "
        "for n updates, floor((n-3)/2) for multikrum and floor((n-3)/4) for bulyan",
    )
    multikrum_m: int | None = Field(
        None, ge=1, description="multikrum: updates averaged; None: n - f (El Mhamdi et al. 2018)"
    )
    clip_tau: float | None = Field(
        None,
        gt=0,
        description="centered_clipping: clipping radius; None: the median distance of the updates' "
        "deltas from the starting centre, measured each round",
    )
    momentum: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="centered_clipping: beta in m <- beta m + (1 - beta) v, the centre kept for the "
        "next round; 0 starts each round from the last aggregate, as the paper's server does",
    )
    iterations: int = Field(1, ge=1, le=3, description="centered_clipping: clipping iterations L")


@dataclass(frozen=True)
class Aggregate:
    """A rule's result: the new weights, and how much each update counted.

    `contributions[i]` in [0, 1] is update i's part in `weights`, on the rule's own scale:
    fedavg its example share (they sum to 1); trimmed_mean, median and bulyan the fraction of
    coordinates at which its value was among those averaged; multikrum 1 if selected else 0;
    centered_clipping its clipping factor min(1, tau / ||delta_i - v||) in the last iteration;
    trust its trust score ReLU(cos(delta_i, delta_0)).
    """

    weights: codec.Weights
    contributions: list[float]


class RuleState:
    """What a rule keeps between rounds of one task (today: centered clipping's momentum), held in
    one file of codec bytes so that keeping it costs no memory.

    `RuleState.load(path)` binds a state to its file (absent: a fresh state); a rule that updates
    it writes the file slice by slice and replaces it atomically, so the state is saved as soon as
    the rule returns. `save(path)` copies it elsewhere.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def load(cls, path: Path) -> RuleState:
        """The state kept at `path`; CodecError if the file is there but not a weights file."""
        state = cls(path)
        state.momentum()
        return state

    def save(self, path: Path) -> RuleState:
        """A copy of this state at `path`, written atomically."""
        momentum = self.momentum()
        target = RuleState(path)
        if momentum is None:
            path.unlink(missing_ok=True)
        else:
            target.write_momentum(
                momentum.layout, (momentum.read(start, count) for start, count in steps(momentum.size))
            )
        return target

    def momentum(self) -> UpdateFile | None:
        """The momentum vector (a delta from the global model), or None before the first round."""
        return UpdateFile.open(self.path, 1.0) if self.path.exists() else None

    def momentum_weights(self) -> codec.Weights | None:
        """The momentum as named tensors (one model in memory)."""
        momentum = self.momentum()
        return None if momentum is None else momentum.weights()

    def write_momentum(self, layout: Layout, chunks: Iterable[NDArray[np.float32]]) -> None:
        """Replace the momentum by the flat vector `chunks` concatenate to, in codec bytes."""
        header = json.dumps(
            [{"name": name, "shape": list(shape)} for name, shape in layout], separators=(",", ":")
        ).encode()
        partial = self.path.with_name(self.path.name + ".partial")
        written = 0
        with partial.open("wb") as f:
            f.write(codec.MAGIC + struct.pack("<I", len(header)) + header)
            for chunk in chunks:
                f.write(np.ascontiguousarray(chunk, dtype=codec.DTYPE).tobytes())
                written += chunk.size
        if written != layout_size(layout):
            partial.unlink()
            raise RuleError(f"momentum of {written} parameters for a model of {layout_size(layout)}")
        os.replace(partial, self.path)


def steps(total: int, budget: int = SLICE_BUDGET_BYTES) -> Iterator[tuple[int, int]]:
    """(start, count) slices of one flat vector of `total` parameters, each at most `budget`
    bytes and a sixteenth of the vector (a pass over one vector costs next to nothing)."""
    step = max(1, min(budget, total * codec.DTYPE.itemsize // 16) // codec.DTYPE.itemsize)
    return ((start, min(step, total - start)) for start in range(0, total, step))


class FlatWeights:
    """Named tensors (the global model) read as one flat vector, a slice at a time, without
    copying more than the slice."""

    def __init__(self, weights: codec.Weights, layout: Layout, what: str = "the global model") -> None:
        mine = tuple((name, tuple(array.shape)) for name, array in weights.items())
        if mine != layout:
            raise RuleError(f"{what} does not fit the updates (names or shapes differ)")
        self._parts = [np.ravel(array) for array in weights.values()]
        self._ends = np.cumsum([part.size for part in self._parts])

    def read(self, start: int, count: int) -> NDArray[np.float32]:
        out = np.empty(count, dtype=codec.DTYPE)
        at = start
        first = int(np.searchsorted(self._ends, start, side="right"))
        for index in range(first, len(self._parts)):
            if at >= start + count:
                break
            begin = int(self._ends[index]) - self._parts[index].size
            take = min(start + count, int(self._ends[index])) - at
            out[at - start : at - start + take] = self._parts[index][at - begin : at - begin + take]
            at += take
        return out


class RuleFunction(Protocol):
    """One rule: the same inputs for all, each uses what it needs (the table says which)."""

    def __call__(
        self,
        updates: Sequence[UpdateFile],
        params: RuleParams,
        *,
        reference: UpdateFile | None,
        state: RuleState | None,
        global_weights: codec.Weights | None,
        budget: int,
    ) -> Aggregate: ...


def clamp(values: Iterable[float]) -> list[float]:
    """Contributions as floats in [0, 1] (rounding can step just outside)."""
    return [min(1.0, max(0.0, float(v))) for v in values]


def enough(rule: str, needed: int, f: int, got: int, formula: str) -> None:
    """RuleError unless there are `needed` updates for this f."""
    if got < needed:
        raise RuleError(f"{rule} needs at least {formula} = {needed} updates for f={f}; got {got}")
