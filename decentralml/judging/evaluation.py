"""`Evaluator`: the validation losses of many flat parameter vectors, several passes at once.

Judging a round is mostly validation passes: the leave-out search evaluates every kept update's
absence once a pass, and the exact contribution scores evaluate 2^n - 1 coalitions. Each pass
here runs in a thread of its own, on a copy of the model of its own, and PyTorch computes each
pass single-threaded (the committee's numeric mode, `decentralml.judging.determinism`). A loss is
therefore bit-identical whichever thread computes it and however many threads run, so committee
members with different core counts still reach the same values. PyTorch releases the GIL inside
its kernels: on 2 cores, two passes of the LM demo's transformer take about the time of one
(2.03x, bit-identical losses).

`PASSES_AT_ONCE` is the machine's cores, at most 4 (each holds one more copy of the model and one
flat vector of the parameters in float64).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray
from torch import nn

from decentralml.judging.aggregation import unflatten
from decentralml.kinds.schema import Objective, Split
from decentralml.models import ModelSpec, build, load_weights
from decentralml.training import score

PASSES_AT_ONCE = max(1, min(os.cpu_count() or 1, 4))
"""Validation passes judging runs at once by default."""

Layout = tuple[tuple[str, tuple[int, ...]], ...]


def load_flat(model: nn.Module, flat: NDArray[np.float64], layout: Layout) -> None:
    """Put the flat float64 parameters `flat` (in `layout`'s order) into `model`."""
    load_weights(model, unflatten(flat.astype(np.float32), layout))


class Evaluator:
    """Validation losses of flat parameter vectors for one model spec and validation set.

    `model` is the caller's (it is used for single passes, and loaded with whatever was evaluated
    last); up to `parallel` - 1 more copies are built when passes run at once."""

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        layout: Layout,
        validation: Split,
        objective: Objective,
        parallel: int = PASSES_AT_ONCE,
    ) -> None:
        if parallel < 1:
            raise ValueError(f"parallel must be at least 1, not {parallel}")
        self.model, self.spec, self.layout = model, spec, layout
        self.validation, self.objective, self.parallel = validation, objective, parallel
        self._copies: list[nn.Module] = []

    def loss(self, flat: NDArray[np.float64]) -> float:
        """The validation loss of `flat`, on the caller's model."""
        return self._loss(self.model, flat)

    def losses(self, flats: Sequence[NDArray[np.float64]]) -> list[float]:
        """The validation loss of each of `flats`, in order, up to `parallel` at a time."""
        if self.parallel == 1 or len(flats) <= 1:
            return [self.loss(flat) for flat in flats]
        threads = min(self.parallel, len(flats))
        while len(self._copies) < threads - 1:
            self._copies.append(build(self.spec))
        free: queue.SimpleQueue[nn.Module] = queue.SimpleQueue()
        for model in [self.model, *self._copies[: threads - 1]]:
            free.put(model)

        def one(flat: NDArray[np.float64]) -> float:
            model = free.get()
            try:
                return self._loss(model, flat)
            finally:
                free.put(model)

        with ThreadPoolExecutor(threads, thread_name_prefix="judging-pass") as pool:
            return list(pool.map(one, flats))

    def _loss(self, model: nn.Module, flat: NDArray[np.float64]) -> float:
        load_flat(model, flat, self.layout)
        return score(model, self.validation, self.objective)["loss"]
