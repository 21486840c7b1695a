"""`Evaluator`: the validation losses of many flat parameter vectors, several passes at once.

Judging a round is mostly validation passes: the leave-out search evaluates every kept update's
absence once a pass, and the exact contribution scores evaluate 2^n - 1 coalitions. Each pass
here runs in a thread of its own, on a copy of the model of its own, and PyTorch computes each
pass single-threaded (the committee's numeric mode, `decentralml.judging.determinism`). A loss is
therefore bit-identical whichever thread computes it and however many threads run, so committee
members with different core counts still reach the same values. PyTorch releases the GIL inside
its kernels: on 2 cores, two passes of the LM demo's transformer take about the time of one
(2.03x, bit-identical losses).

Passes run as a stream (`window_stream`, and `losses` over it): in order, `parallel` at a time,
each point made in the thread that measures it when it is given as a function (`Point`), so
memory holds `parallel` points however many are queued; a caller that stops reading (a sampled
verdict that cannot stand) drops the points not started.

`PASSES_AT_ONCE` is the machine's cores, at most 4 (each holds one more copy of the model and one
flat vector of the parameters in float64).

A language model's validation passes can also run on a sample of the windows (`narrowed`), with
each window's loss kept (`window_losses`), so a decision taken on the sample can say how sure it
is: `upper_bound` is a mean's one-sided bound at `SAMPLE_CONFIDENCE` standard errors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from decentralml.judging.aggregation import unflatten
from decentralml.judging.contribution import PIECE, Parts
from decentralml.kinds.schema import Objective, Split
from decentralml.lm.transformer import TinyGpt
from decentralml.models import ModelSpec, blank, load_weights
from decentralml.training import LM_BATCH, lm_windows, on_models, score

PASSES_AT_ONCE = max(1, min(os.cpu_count() or 1, 4))
"""Validation passes judging runs at once by default."""

SAMPLE_CONFIDENCE = 4.0
"""Standard errors between a sampled mean and a threshold for a decision taken on a sample of the
validation windows to stand (one-sided: about 3 in 100,000 for a normal mean)."""

WINDOW_BATCH = LM_BATCH
"""Windows per forward in `window_losses` (as when a model is scored)."""

Layout = tuple[tuple[str, tuple[int, ...]], ...]
Point = NDArray[np.float64] | Callable[[], NDArray[np.float64]]
"""A flat parameter vector to evaluate, or a function that makes it (in the evaluating thread)."""
T = TypeVar("T")


def load_flat(model: nn.Module, flat: NDArray[np.float64], layout: Layout) -> None:
    """Put the flat float64 parameters `flat` (in `layout`'s order) into `model`, each rounded to
    float32 as it is copied in (the values `astype(float32)` gives); refuses a layout whose names
    or shapes are not the model's."""
    load_point(model, flat, layout)


def load_point(model: nn.Module, point: Point, layout: Layout) -> None:
    """`load_flat` of the point `point` is or makes. A point made in parts (`Parts`) is made and
    copied in a piece (`PIECE` elements) at a time: the same float32 values, with no model-sized
    float64 vector made."""
    parts = point if isinstance(point, Parts) else _whole(made(point))
    own = _matching(model, layout, parts)
    if own is None:
        return
    at = 0
    with torch.no_grad():
        for name, shape in layout:
            count = int(np.prod(shape, dtype=np.int64))
            into = own[name].view(-1)
            for lo in range(0, count, PIECE):
                hi = min(lo + PIECE, count)
                into[lo:hi].copy_(torch.from_numpy(parts.part(at + lo, at + hi)))
            at += count


def _whole(flat: NDArray[np.float64]) -> Parts:
    """`flat`, read a piece at a time."""
    return Parts(lambda lo, hi: flat[lo:hi], flat.size)


def _matching(model: nn.Module, layout: Layout, flat: Parts) -> dict[str, torch.Tensor] | None:
    """The model's state where its names and shapes are `layout`'s, in order. Else None, once
    `load_weights` has loaded `flat` (made whole) by name, or refused it saying why."""
    own = model.state_dict()
    if [name for name, _ in layout] != list(own) or any(
        tuple(own[name].shape) != shape for name, shape in layout
    ):
        load_weights(model, unflatten(flat().astype(np.float32), layout))
        return None
    return own


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

    def loss(self, flat: Point) -> float:
        """The validation loss of `flat`, on the caller's model."""
        return self._loss(self.model, flat)

    def losses(self, flats: Sequence[Point]) -> list[float]:
        """The validation loss of each of `flats`, in order, up to `parallel` at a time."""
        return self._map(self._loss, flats)

    def window_losses(self, flats: Sequence[Point]) -> list[NDArray[np.float64]]:
        """Each of `flats`' loss on each validation window (a language model's), in order, up to
        `parallel` at a time: their mean is the validation loss (every window holds as many tokens)."""
        return list(self.window_stream(flats))

    def window_stream(self, flats: Sequence[Point]) -> Generator[NDArray[np.float64], None, None]:
        """`window_losses` one by one as they are found, in order: the next points are measured
        while the caller looks at one. Closing the stream early cancels the points not started
        (and waits for those that are)."""
        if self.objective != "language_modeling":
            raise ValueError(f"window losses are a language model's, not a {self.objective} task's")
        return self._stream(self._windows, flats)

    def narrowed(self, indices: NDArray[np.intp]) -> Evaluator:
        """This evaluator on the validation examples at `indices` only (its model and copies shared:
        use one of the two at a time)."""
        picked = Split(self.validation.x[indices], self.validation.y[indices])
        other = Evaluator(self.model, self.spec, self.layout, picked, self.objective, self.parallel)
        other._copies = self._copies
        return other

    def _map(self, run: Callable[[nn.Module, Point], T], flats: Sequence[Point]) -> list[T]:
        """`run(model, flat)` for each of `flats`, in order, up to `parallel` at a time, each on a
        model of its own (a point given as a function is made in the thread that evaluates it)."""
        return list(self._stream(run, flats))

    def _stream(
        self, run: Callable[[nn.Module, Point], T], flats: Sequence[Point]
    ) -> Generator[T, None, None]:
        """`_map`'s values one by one, in order, as they are found (see `window_stream`)."""
        threads = max(1, min(self.parallel, len(flats)))
        while len(self._copies) < threads - 1:
            self._copies.append(blank(self.spec))
        yield from on_models([self.model, *self._copies[: threads - 1]], run, flats, "judging-pass")

    def _loss(self, model: nn.Module, flat: Point) -> float:
        if self.objective == "language_modeling":
            return float(np.mean(self._windows(model, flat))) if len(self.validation.x) else 0.0
        load_point(model, flat, self.layout)
        return score(model, self.validation, self.objective)["loss"]

    def _windows(self, model: nn.Module, flat: Point) -> NDArray[np.float64]:
        load_point(model, flat, self.layout)
        assert isinstance(model, TinyGpt), "language-model data needs the transformer"
        return window_losses(model, self.validation.x)


def made(point: Point) -> NDArray[np.float64]:
    """The flat vector `point` is, or makes."""
    return point() if callable(point) else point


def window_losses(model: TinyGpt, windows: NDArray[np.int64]) -> NDArray[np.float64]:
    """Each window's mean next-token cross-entropy (`WINDOW_BATCH` windows per forward); every
    window inf where the model's logits are not finite (`training.lm_windows`)."""
    return lm_windows(model, windows, WINDOW_BATCH)[0]


def upper_bound(values: NDArray[np.float64], population: int, z: float = SAMPLE_CONFIDENCE) -> float:
    """The one-sided upper bound at `z` standard errors of the mean of `values`, a sample drawn
    without replacement from `population` values (inf when it cannot say: fewer than 2 values, or
    any not finite)."""
    m = len(values)
    if m < 2 or not np.isfinite(values).all():
        return float("inf")
    spread = float(np.std(values, ddof=1)) * math.sqrt(max(0.0, 1 - m / max(population, m)) / m)
    return float(np.mean(values)) + z * spread
