"""Aggregating accepted updates without holding them all in memory.

Each update is spooled to a file in the codec's layout. Aggregation walks the flat parameter
vector in slices: for each slice it reads that slice from every update, combines it with the rule
and writes it into the result. Peak memory is the result (one model) plus one slice per update,
and the slice shrinks as updates grow, so it stays a small multiple of one model whatever their
number (`bench/aggregation.py` measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from decentralml import codec

Rule = Literal["fedavg", "trimmed_mean", "median"]
SLICE_BUDGET_BYTES = 16 << 20  # at most; never more than a quarter of one model


@dataclass(frozen=True)
class UpdateFile:
    """An update on disk, read a slice at a time; `weight` is its number of training examples."""

    path: Path
    weight: float
    layout: tuple[tuple[str, tuple[int, ...]], ...]
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
        return sum(int(np.prod(shape, dtype=np.int64)) for _, shape in self.layout)

    def read(self, start: int, count: int) -> NDArray[np.float32]:
        """`count` parameters of the flat vector from `start`."""
        offset = self.data_offset + start * codec.DTYPE.itemsize
        return np.fromfile(self.path, dtype=codec.DTYPE, count=count, offset=offset)

    def weights(self) -> codec.Weights:
        """The whole update as named tensors (one model in memory)."""
        flat = self.read(0, self.size)
        out: codec.Weights = {}
        at = 0
        for name, shape in self.layout:
            count = int(np.prod(shape, dtype=np.int64))
            out[name] = flat[at : at + count].reshape(shape)
            at += count
        return out


def _combine(
    stack: NDArray[np.float32], weights: NDArray[np.float64], rule: Rule, trim: float
) -> NDArray[np.float32]:
    if rule == "fedavg":
        shares = (weights / weights.sum()).astype(np.float32)
        return np.asarray(shares @ stack, dtype=np.float32)
    if rule == "median":
        return np.median(stack, axis=0).astype(np.float32)
    cut = int(trim * len(stack))
    ordered = np.sort(stack, axis=0)
    kept: NDArray[np.float32] = ordered[cut : len(stack) - cut]
    return np.asarray(kept.mean(axis=0), dtype=np.float32)


def aggregate(
    updates: Sequence[UpdateFile], rule: Rule = "fedavg", trim: float = 0.2, budget: int = SLICE_BUDGET_BYTES
) -> codec.Weights:
    """The aggregate of `updates` (same layout) by `rule`, reading at most `budget` bytes at a time."""
    if not updates:
        raise ValueError("nothing to aggregate")
    layout = updates[0].layout
    if any(u.layout != layout for u in updates):
        raise ValueError("updates with different layouts cannot be aggregated")
    total = updates[0].size
    result = np.empty(total, dtype=codec.DTYPE)
    weights = np.array([u.weight for u in updates], dtype=np.float64)
    budget = min(budget, total * codec.DTYPE.itemsize // 4)
    step = max(1024, budget // (codec.DTYPE.itemsize * len(updates)))
    stack = np.empty((len(updates), min(step, total)), dtype=codec.DTYPE)
    for start in range(0, total, step):
        count = min(step, total - start)
        for row, update in enumerate(updates):
            stack[row, :count] = update.read(start, count)
        result[start : start + count] = _combine(stack[:, :count], weights, rule, trim)
    out: codec.Weights = {}
    at = 0
    for name, shape in layout:
        count = int(np.prod(shape, dtype=np.int64))
        out[name] = result[at : at + count].reshape(shape)
        at += count
    return out
