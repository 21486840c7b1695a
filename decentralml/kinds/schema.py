"""What a task learns from, as its manifest declares it: one schema per task kind.

The schema travels in the signed bundle, with the preprocessing every worker and the referee must
apply identically (standardisation statistics, category and label maps, image size and
normalisation). Data moves in two forms:

- *raw*: what a loader reads from a worker's file and what the creator's sealed validation set
  holds: tabular `x` float32 `[n, features]` with categorical columns already coded by the
  schema's category map; image `x` uint8 `[n, channels, height, width]` already resized; `y` the
  label's index in `classes` (int64), or the float32 target of a regression.
- *prepared*: `Split`, what models train and are judged on: `prepare(schema, raw)`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

TEXT_SUFFIX_FORMATS = {".txt": "txt", ".jsonl": "jsonl", ".md": "txt", ".py": "txt"}
"""A text file's suffix -> its format (`kinds.FORMATS` includes these)."""


@dataclass(frozen=True)
class Split:
    """Prepared examples: float32 inputs, and int64 class indices (or float32 regression targets);
    for text, int64 token windows [n, context + 1] and each window's last token."""

    x: NDArray[Any]
    y: NDArray[Any]

    def __len__(self) -> int:
        return len(self.y)


Objective = Literal["classification", "regression", "language_modeling"]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class TabularSchema(BaseModel):
    """Rows of named features and one label column (classes), or a numeric target (regression)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tabular"] = "tabular"
    features: list[Name] = Field(min_length=1, max_length=10_000, description="input columns, in order")
    label: Name = Field(description="the column to predict")
    classes: list[Name] | None = Field(
        None, min_length=2, max_length=10_000, description="label values in index order; none: regression"
    )
    categories: dict[str, list[Name]] = Field(
        default_factory=dict, description="categorical feature -> its values, coded 0..k-1 in that order"
    )
    mean: list[float] = Field(description="per feature, subtracted after coding")
    std: list[float] = Field(description="per feature (> 0), divided by after the mean")
    target_mean: float = Field(
        0.0, description="regression: the target's mean; models learn (target - mean) / std"
    )
    target_std: float = Field(
        1.0, gt=0, description="regression: the target's std; predictions are mapped back with both"
    )

    @model_validator(mode="after")
    def consistent(self) -> TabularSchema:
        if len(set(self.features)) != len(self.features):
            raise ValueError("feature names must be unique")
        if self.label in self.features:
            raise ValueError(f"the label {self.label!r} cannot also be a feature")
        if len(self.mean) != len(self.features) or len(self.std) != len(self.features):
            raise ValueError("mean and std need one value per feature")
        if any(not s > 0 for s in self.std):
            raise ValueError("every std must be positive")
        unknown = set(self.categories) - set(self.features)
        if unknown:
            raise ValueError(f"categories name columns that are not features: {sorted(unknown)}")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be unique")
        if self.classes is not None and (self.target_mean, self.target_std) != (0.0, 1.0):
            raise ValueError("target_mean and target_std are for a regression (no classes)")
        if not all(np.isfinite([self.target_mean, self.target_std, *self.mean, *self.std])):
            raise ValueError("mean, std, target_mean and target_std must be finite numbers")
        return self

    @property
    def objective(self) -> Objective:
        return "regression" if self.classes is None else "classification"

    def to_target(self, values: NDArray[Any]) -> NDArray[np.float64]:
        """A regression model's outputs (or prepared targets) in the target's own units."""
        return np.asarray(values, dtype=np.float64) * self.target_std + self.target_mean

    @property
    def input_shape(self) -> list[int]:
        return [len(self.features)]

    @property
    def outputs(self) -> int:
        return 1 if self.classes is None else len(self.classes)


class ImageSchema(BaseModel):
    """Images of one size and channel count, one class each (an ImageFolder's subfolders)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["image"] = "image"
    channels: Literal[1, 3]
    height: int = Field(ge=1, le=1024)
    width: int = Field(ge=1, le=1024)
    classes: list[Name] = Field(min_length=2, max_length=10_000, description="class names in index order")
    mean: list[float] = Field(description="per channel, of pixels scaled to [0, 1]")
    std: list[float] = Field(description="per channel (> 0)")

    @model_validator(mode="after")
    def consistent(self) -> ImageSchema:
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean and std need one value per channel")
        if any(not s > 0 for s in self.std):
            raise ValueError("every std must be positive")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be unique")
        return self

    @property
    def objective(self) -> Objective:
        return "classification"

    @property
    def input_shape(self) -> list[int]:
        return [self.channels, self.height, self.width]

    @property
    def outputs(self) -> int:
        return len(self.classes)


class ContentRef(BaseModel):
    """Content in IPFS by its CID, and the sha256 its bytes must hash to."""

    model_config = ConfigDict(extra="forbid")

    cid: str = Field(min_length=1, max_length=128)
    sha256: str = Field(pattern=r"^0x[0-9a-f]{64}$")


class TextSchema(BaseModel):
    """Plain text for language models: documents (files, lines of a JSONL file), tokenised by the
    task's tokenizer into windows of `context` tokens.

    `tokenizer` is "bytes" (UTF-8 bytes, 257 ids with end-of-text) or a byte-level BPE tokenizer
    the creator trained, shipped as a hash-pinned bundle asset so every worker and the referee
    tokenise identically. `vocab_size` must be the tokenizer's."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["text"] = "text"
    tokenizer: Literal["bytes"] | ContentRef = "bytes"
    vocab_size: int = Field(257, ge=2, le=1_000_000, description="the tokenizer's ids")
    context: int = Field(128, ge=8, le=4096, description="tokens per training window")
    field: str = Field("text", min_length=1, max_length=64, description="jsonl: the text field")

    @model_validator(mode="after")
    def bytes_have_257_ids(self) -> TextSchema:
        if self.tokenizer == "bytes" and self.vocab_size != 257:
            raise ValueError("the byte tokenizer has 257 ids (256 bytes and end-of-text)")
        return self

    @property
    def objective(self) -> Objective:
        return "language_modeling"

    @property
    def input_shape(self) -> list[int]:
        return [self.context]

    @property
    def outputs(self) -> int:
        return self.vocab_size


FeatureSchema = Annotated[TabularSchema | ImageSchema | TextSchema, Field(discriminator="kind")]


class DataMismatch(ValueError):  # noqa: N818 - a mismatch, named as callers catch it
    """A file (or sealed set) that does not hold what the schema declares.

    One line for the person who supplied it: which file, what the schema wants, what the file holds.
    """

    def __init__(self, path: str | PathLike[str], expected: str, found: str) -> None:
        self.path = str(path)
        self.expected = _one_line(expected)
        self.found = _one_line(found)
        super().__init__(f"{self.path}: expected {self.expected}; found {self.found}")

    def __reduce__(self) -> tuple[type[DataMismatch], tuple[str, str, str]]:
        return type(self), (self.path, self.expected, self.found)


@dataclass(frozen=True)
class Raw:
    """Examples in the raw form the module docstring describes: coded, resized, not yet normalised."""

    x: NDArray[Any]
    y: NDArray[Any]

    def __len__(self) -> int:
        return len(self.y)


def npz_arrays(source: PathLike[str] | bytes, name: str) -> tuple[NDArray[Any], NDArray[Any]]:
    """The arrays `x` and `y` of an .npz file or its bytes, loaded without pickle."""
    want = "an .npz holding arrays x and y (no pickled objects)"
    try:
        found = np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as bad:
        raise DataMismatch(name, want, f"unreadable data ({bad})") from bad
    if not isinstance(found, np.lib.npyio.NpzFile):
        raise DataMismatch(name, want, "a single array")
    with found:
        if not {"x", "y"} <= set(found.files):
            raise DataMismatch(name, want, f"arrays {sorted(found.files)}")
        try:
            return found["x"], found["y"]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as bad:
            raise DataMismatch(name, want, f"unreadable arrays ({bad})") from bad


def class_indices(y: NDArray[Any], classes: Sequence[str], name: str) -> NDArray[np.int64]:
    """Labels given as indices into `classes` or as class names, as int64 indices."""
    if y.dtype.kind == "U":
        names = np.asarray(classes)
        order = np.argsort(names)
        place = np.minimum(np.searchsorted(names[order], y), len(names) - 1)
        unknown = names[order][place] != y
        if unknown.any():
            raise DataMismatch(
                name, f"labels among the classes {few(classes)}", f"unknown {few(np.unique(y[unknown]))}"
            )
        return order[place].astype(np.int64)
    if y.dtype.kind in "iu":
        outside = (y < 0) | (y >= len(classes))
        if outside.any():
            raise DataMismatch(name, f"class indices 0..{len(classes) - 1}", f"{few(np.unique(y[outside]))}")
        return y.astype(np.int64)
    raise DataMismatch(name, "labels as class indices or class names", f"labels of dtype {y.dtype}")


def few(values: Sequence[Any] | NDArray[Any], shown: int = 5) -> str:
    """Up to `shown` values for a message, and how many more there are."""
    items = [v.item() if isinstance(v, np.generic) else v for v in values[:shown]]
    more = len(values) - len(items)
    return f"{items}" + (f" and {more} more" if more > 0 else "")


def _one_line(text: str, limit: int = 300) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))
    return printable if len(printable) <= limit else printable[: limit - 1] + "…"
