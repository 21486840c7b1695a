"""What a task's manifest says about its data (`DataSpec`), and the bundled demo sources.

A task names its data by `dataset`. Either it is one of the demo sources shipped with
scikit-learn (`DEMO_SOURCES`: digits, breast cancer, wine), split once by a fixed seed into a
held-out test split, a validation split and a training pool that workers share out (IID, or
non-IID by a Dirichlet(alpha) draw over labels per worker); or it is the task's own data: every
worker maps the name to a local file in its data catalogue, the manifest declares the schema
(`inputs`) and the preprocessing, and the creator's validation set (optionally a test set) travels
sealed to the validator (`validation`, `test`). A demo source is never a fallback for a task that
names its own data: such a task without a sealed validation set is refused by the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from decentralml.kinds.schema import FeatureSchema, ImageSchema, Split, TabularSchema, TextSchema

__all__ = [
    "DEMO_SOURCES",
    "DEMO_SPLITS",
    "DataSpec",
    "SealedAsset",
    "Split",
    "Splits",
    "breast_cancer",
    "demo_inputs",
    "demo_splits",
    "digits",
    "partition",
    "wine",
]

DEMO_SOURCES = ("sklearn-digits", "sklearn-breast-cancer", "sklearn-wine", "python-stdlib")
# The Python standard library's own source on this machine, "Python as a model": workers share
# these modules out (whole modules each, or IID chunks); two more are the validation text and three
# the test text. Byte tokenizer, 64-token windows.
STDLIB_TRAIN = (
    "json", "html", "csv", "string", "collections", "argparse", "pathlib", "shutil", "tempfile",
    "calendar", "fractions", "statistics", "random", "heapq", "bisect", "functools", "copy", "pprint",
    "enum", "dataclasses", "contextlib", "difflib", "base64", "configparser", "cmd", "code", "uuid",
    "gzip",
)  # fmt: skip
STDLIB_VALIDATION = ("textwrap", "shlex")
STDLIB_TEST = ("fnmatch", "glob", "reprlib")
STDLIB_CONTEXT = 64
STDLIB_HELD_OUT_WINDOWS = 256
HEX32 = r"^0x[0-9a-f]{64}$"


class SealedCopy(BaseModel):
    """A data set sealed to one validator (`decentralml.crypto`), addressed by hash in IPFS."""

    model_config = ConfigDict(extra="forbid")

    cid: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern=HEX32, description="of the sealed bytes")
    recipient: str = Field(pattern=HEX32, description="the validator's public sealing key")


class SealedAsset(SealedCopy):
    """A data set sealed to the validator; for a committee, to its first member here and to each
    other member in `copies` (the same plaintext, sealed to each key)."""

    copies: list[SealedCopy] = Field(
        default_factory=list, max_length=31, description="the same set sealed to the other members"
    )

    def for_recipient(self, key: str) -> SealedCopy | None:
        """The copy sealed to `key` (a member's public sealing key), if there is one."""
        return next((c for c in [self, *self.copies] if c.recipient == key), None)


class DataSpec(BaseModel):
    """What a task learns from: a demo source and its split, or the task's own data."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        "sklearn-digits",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="a demo source, or the name each worker's data catalogue maps to a local file",
    )
    inputs: FeatureSchema | None = Field(
        None, description="the schema and its preprocessing; required unless the dataset is a demo source"
    )
    validation: SealedAsset | None = Field(
        None, description="the creator's validation set, sealed to the validator (own data only)"
    )
    test: SealedAsset | None = Field(
        None, description="the creator's test set for reporting, sealed likewise (own data, optional)"
    )
    scheme: Literal["dirichlet", "iid"] = Field("dirichlet", description="demo sources: how parts split")
    alpha: float = Field(1.0, gt=0, le=1_000, description="demo sources: smaller is more skewed")
    parts: int = Field(4, ge=1, le=1_000, description="demo sources: number of worker shares")
    seed: int = Field(7, ge=0, le=2**32 - 1)

    @model_validator(mode="after")
    def own_data_is_complete(self) -> DataSpec:
        if self.is_demo:
            if self.validation is not None or self.test is not None:
                raise ValueError(
                    f"{self.dataset} is a demo source: it has its own splits, drop validation/test"
                )
            if self.inputs is not None and self.inputs != demo_inputs(self.dataset):
                raise ValueError(f"{self.dataset} is a demo source: its inputs are fixed, drop inputs")
        else:
            if self.inputs is None:
                raise ValueError(f"dataset {self.dataset!r} is the task's own: declare its inputs (schema)")
            if self.validation is None:
                raise ValueError(
                    f"dataset {self.dataset!r} is the task's own: it needs the creator's validation set "
                    "sealed to the validator (dml task init makes one)"
                )
        return self

    @property
    def is_demo(self) -> bool:
        return self.dataset in DEMO_SOURCES

    def schema_of(self) -> TabularSchema | ImageSchema | TextSchema:
        """The declared inputs, or the demo source's."""
        found = demo_inputs(self.dataset) if self.is_demo else self.inputs
        assert found is not None  # own data always declares its inputs (validated above)
        return found


@dataclass(frozen=True)
class Splits:
    train: Split
    validation: Split
    test: Split


def _split(x: NDArray[np.float32], y: NDArray[np.int64], seed: int) -> Splits:
    """Test 20%, validation 10%, training 70%."""
    order = np.random.default_rng(seed).permutation(len(y))
    test_end, validation_end = int(0.2 * len(y)), int(0.3 * len(y))
    pick = (order[:test_end], order[test_end:validation_end], order[validation_end:])
    test, validation, train = (Split(x[i], y[i]) for i in pick)
    return Splits(train=train, validation=validation, test=test)


def _standardised(bunch: Any, seed: int) -> Splits:
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    raw = _split(x.astype(np.float32), y, seed)
    mean, std = raw.train.x.mean(axis=0), raw.train.x.std(axis=0) + 1e-6
    return _split(((x - mean) / std).astype(np.float32), y, seed)


@cache
def digits(seed: int = 7) -> Splits:
    """scikit-learn's 1,797 8x8 digits, features scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / 16.0).astype(np.float32)
    return _split(x, np.asarray(bunch.target, dtype=np.int64), seed)


@cache
def breast_cancer(seed: int = 7) -> Splits:
    """scikit-learn's 569 breast-cancer cases, 30 features standardised on the training pool."""
    from sklearn.datasets import load_breast_cancer

    return _standardised(load_breast_cancer(), seed)


@cache
def wine(seed: int = 7) -> Splits:
    """scikit-learn's 178 wines, 13 features standardised on the training pool."""
    from sklearn.datasets import load_wine

    return _standardised(load_wine(), seed)


DEMO_SPLITS: dict[str, Callable[[int], Splits]] = {
    "sklearn-digits": digits,
    "sklearn-breast-cancer": breast_cancer,
    "sklearn-wine": wine,
}


def demo_inputs(name: str) -> TabularSchema | ImageSchema | TextSchema:
    """The schema of a demo source's prepared splits (already scaled: identity preprocessing)."""
    if name == "python-stdlib":
        return TextSchema(tokenizer="bytes", vocab_size=257, context=STDLIB_CONTEXT)
    if name == "sklearn-digits":
        return ImageSchema(
            channels=1, height=8, width=8, classes=[str(i) for i in range(10)], mean=[0.0], std=[1.0]
        )
    from sklearn.datasets import load_breast_cancer, load_wine  # only when asked: sklearn is slow to load

    bunch = {"sklearn-breast-cancer": load_breast_cancer, "sklearn-wine": load_wine}[name]()
    features = [str(f) for f in bunch.feature_names]
    classes = [str(i) for i in range(len(bunch.target_names))]
    zeros, ones = [0.0] * len(features), [1.0] * len(features)
    return TabularSchema(features=features, label="target", classes=classes, mean=zeros, std=ones)


@cache
def stdlib_sources() -> dict[str, str]:
    """The standard library modules the python-stdlib source uses: name -> source text."""
    from decentralml.lm.corpus import stdlib_corpus

    return stdlib_corpus([*STDLIB_TRAIN, *STDLIB_VALIDATION, *STDLIB_TEST])


def _text_split(texts: list[str], limit: int | None = None) -> Split:
    from decentralml.kinds import text

    found = text.prepare(demo_inputs("python-stdlib"), text.raw_of(texts))  # type: ignore[arg-type]
    return found if limit is None else Split(found.x[:limit], found.y[:limit])


@cache
def python_stdlib(seed: int = 7) -> Splits:
    """The python-stdlib source: the training pool (every training module), and 256 windows each
    of the validation and test modules."""
    sources = stdlib_sources()
    return Splits(
        train=_text_split([sources[m] for m in STDLIB_TRAIN]),
        validation=_text_split([sources[m] for m in STDLIB_VALIDATION], STDLIB_HELD_OUT_WINDOWS),
        test=_text_split([sources[m] for m in STDLIB_TEST], STDLIB_HELD_OUT_WINDOWS),
    )


def demo_splits(spec: DataSpec) -> Splits:
    """The demo source's splits; refuses a task that names its own data."""
    if not spec.is_demo:
        raise ValueError(f"dataset {spec.dataset!r} is the task's own data, not a bundled demo source")
    if spec.dataset == "python-stdlib":
        return python_stdlib(spec.seed)
    return DEMO_SPLITS[spec.dataset](spec.seed)


def _text_partition(spec: DataSpec, part: int) -> Split:
    """A worker's python-stdlib share: whole modules (non-IID, "dirichlet") or IID chunks."""
    from decentralml.lm.corpus import split_by_module, split_iid

    sources = {m: stdlib_sources()[m] for m in STDLIB_TRAIN}
    if spec.scheme == "iid":
        shares = split_iid([sources[m] for m in STDLIB_TRAIN], spec.parts, spec.seed)
    else:
        shares = split_by_module(sources, spec.parts, spec.seed)
    return _text_split(shares[part])


def partition(spec: DataSpec, part: int) -> Split:
    """Worker `part`'s share of a demo source's training pool (disjoint from every other part)."""
    if not 0 <= part < spec.parts:
        raise ValueError(f"part {part} is not in 0..{spec.parts - 1}")
    if spec.dataset == "python-stdlib":
        return _text_partition(spec, part)
    train = demo_splits(spec).train
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
