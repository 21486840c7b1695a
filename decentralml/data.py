"""The demo's and the tests' data: scikit-learn's bundled digits (no download), split once.

A fixed seed splits the 1,797 images into a held-out test split (final accuracy), a validation
split (the coordinator checks each update on it) and a training pool that workers share out
non-IID: a Dirichlet(alpha) draw over labels per worker, so each sees a skewed mix of digits.
A manifest's `DataSpec` says how; a worker only needs its part number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sklearn.datasets import load_digits


class DataSpec(BaseModel):
    """How each worker selects its data (for the bundled datasets)."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["sklearn-digits"] = "sklearn-digits"
    scheme: Literal["dirichlet", "iid"] = "dirichlet"
    alpha: float = Field(1.0, gt=0, le=1_000, description="smaller is more skewed")
    parts: int = Field(4, ge=1, le=1_000)
    seed: int = Field(7, ge=0)


@dataclass(frozen=True)
class Split:
    x: NDArray[np.float32]
    y: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Splits:
    train: Split
    validation: Split
    test: Split


@cache
def digits(seed: int = 7) -> Splits:
    """Test 20%, validation 10%, training 70%, features scaled to [0, 1]."""
    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    test_end, validation_end = int(0.2 * len(y)), int(0.3 * len(y))
    pick = (order[:test_end], order[test_end:validation_end], order[validation_end:])
    test, validation, train = (Split(x[i], y[i]) for i in pick)
    return Splits(train=train, validation=validation, test=test)


def partition(spec: DataSpec, part: int) -> Split:
    """Worker `part`'s share of the training pool (disjoint from every other part)."""
    if not 0 <= part < spec.parts:
        raise ValueError(f"part {part} is not in 0..{spec.parts - 1}")
    train = digits(spec.seed).train
    rng = np.random.default_rng(spec.seed + 1)
    owner = np.empty(len(train), dtype=np.int64)
    if spec.scheme == "iid":
        owner[rng.permutation(len(train))] = np.arange(len(train)) % spec.parts
    else:
        for label in np.unique(train.y):
            where = np.flatnonzero(train.y == label)
            shares = rng.dirichlet([spec.alpha] * spec.parts)
            owner[rng.permutation(where)] = rng.choice(spec.parts, size=len(where), p=shares)
    mine = np.flatnonzero(owner == part)
    return Split(train.x[mine], train.y[mine])
