"""Aggregating accepted updates without holding them all in memory.

Each update is spooled to a file in the codec's layout. Aggregation walks the flat parameter
vector in slices: for each slice it reads that slice from every update, combines it with the rule
and writes it into the result. Peak memory is the result (one model) plus one slice per update,
and the slice shrinks as updates grow, so it stays a small multiple of one model whatever their
number (`bench/aggregation.py` measures it).

The rules themselves live in `decentralml.judging.rules`, one module each, and read their slices through
`read_slices` here. `aggregate` is the original entry point for the three coordinate-wise rules,
kept as a thin wrapper over that table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from decentralml import codec

Rule = Literal["fedavg", "trimmed_mean", "median"]
SLICE_BUDGET_BYTES = 16 << 20  # at most; never more than a quarter of one model
# Parameters per slice at the least: below this, per-read overhead dominates. Read at call time, so
# tests can lower it to exercise many slices on a small model.
MIN_SLICE = 1024

Layout = tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class UpdateFile:
    """An update on disk, read a slice at a time; `weight` is its number of training examples."""

    path: Path
    weight: float
    layout: Layout
    data_offset: int

    @classmethod
    def open(cls, path: Path, weight: float) -> UpdateFile:
        prefix = len(codec.MAGIC) + 4
        with path.open("rb") as f:
            head = f.read(prefix)
            size = int.from_bytes(head[len(codec.MAGIC) :], "little") if len(head) == prefix else 0
            head += f.read(min(size, codec.MAX_HEADER))
        layout, offset = codec.header(head)
        expected = offset + sum(int(np.prod(s, dtype=np.int64)) for _, s in layout) * codec.DTYPE.itemsize
        if path.stat().st_size != expected:
            raise codec.CodecError(f"{path.name}: {path.stat().st_size} bytes, the layout needs {expected}")
        return cls(path=path, weight=weight, layout=tuple(layout), data_offset=offset)

    @classmethod
    def spool(cls, directory: Path, name: str, data: bytes, weight: float) -> UpdateFile:
        """Write `data` (codec bytes) to `directory/name` and open it."""
        path = directory / name
        path.write_bytes(data)
        return cls.open(path, weight)

    @property
    def size(self) -> int:
        """Parameters in the flat vector."""
        return layout_size(self.layout)

    def read(self, start: int, count: int) -> NDArray[np.float32]:
        """`count` parameters of the flat vector from `start`."""
        offset = self.data_offset + start * codec.DTYPE.itemsize
        return np.fromfile(self.path, dtype=codec.DTYPE, count=count, offset=offset)

    def weights(self) -> codec.Weights:
        """The whole update as named tensors (one model in memory)."""
        return unflatten(self.read(0, self.size), self.layout)


def layout_size(layout: Layout) -> int:
    """Parameters in a flat vector of this layout."""
    return sum(int(np.prod(shape, dtype=np.int64)) for _, shape in layout)


def unflatten(flat: NDArray[np.float32], layout: Layout) -> codec.Weights:
    """Named tensors as views into `flat` (no copy)."""
    out: codec.Weights = {}
    at = 0
    for name, shape in layout:
        count = int(np.prod(shape, dtype=np.int64))
        out[name] = flat[at : at + count].reshape(shape)
        at += count
    return out


def common_layout(updates: Sequence[UpdateFile]) -> Layout:
    """The layout every update shares; ValueError when there are none or they differ."""
    if not updates:
        raise ValueError("nothing to aggregate")
    layout = updates[0].layout
    if any(u.layout != layout for u in updates):
        raise ValueError("updates with different layouts cannot be aggregated")
    return layout


def slice_length(rows: int, total: int, budget: int, share: int = 1) -> int:
    """Parameters per slice so that `rows` slices take at most `budget / share` bytes, the budget
    capped at a quarter of one model of `total` parameters (and at least `MIN_SLICE` parameters).

    A rule whose per-slice work needs k more slice-sized temporaries passes `share` = k + 1, so its
    peak stays one model (the result) plus a quarter of one.
    """
    budget = min(budget, total * codec.DTYPE.itemsize // 4) // share
    return max(MIN_SLICE, budget // (codec.DTYPE.itemsize * max(rows, 1)))


def read_slices(
    updates: Sequence[UpdateFile], budget: int = SLICE_BUDGET_BYTES, share: int = 1
) -> Iterator[tuple[int, NDArray[np.float32]]]:
    """(start, stack) for each slice of the flat vector: row i of `stack` is update i's slice
    (`slice_length` says how long).

    One buffer is reused for every slice: a caller that keeps a slice past the next step copies it,
    and one that makes a second pass lets go of the first's last slice (a loop variable keeps it).
    """
    total = updates[0].size
    step = slice_length(len(updates), total, budget, share)
    buffer = np.empty((len(updates), min(step, total)), dtype=codec.DTYPE)
    for start in range(0, total, step):
        count = min(step, total - start)
        for row, update in enumerate(updates):
            buffer[row, :count] = update.read(start, count)
        yield start, buffer[:, :count]


def aggregate(
    updates: Sequence[UpdateFile], rule: Rule = "fedavg", trim: float = 0.2, budget: int = SLICE_BUDGET_BYTES
) -> codec.Weights:
    """The aggregate of `updates` (same layout) by `rule`, reading at most `budget` bytes at a time.

    A wrapper over `decentralml.judging.rules.aggregate` for the coordinate-wise rules; new code calls that.
    """
    # Imported here: the rules read their slices through this module.
    from decentralml.judging import rules

    return rules.aggregate(rule, updates, rules.RuleParams(trim=trim), budget=budget).weights
