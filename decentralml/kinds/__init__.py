"""Reading a task's data by its kind: `tabular`, `image` and `text` (language models).

Each kind module offers the same verbs, gathered in `KINDS`: `read` (a file or folder into the
raw form `schema` describes), `from_arrays` (raw arrays checked the same way), `prepare` (raw
into the `Split` models train on) and `infer` (a schema from a creator's file). The functions
here dispatch on `schema.kind`. Every way a file can disagree with its schema raises
`DataMismatch` (a `ValueError`), whose one-line message names the file, what the schema expects
and what the file holds.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from decentralml.kinds.schema import TEXT_SUFFIX_FORMATS, DataMismatch, FeatureSchema, Raw, Split, npz_arrays

__all__ = [
    "FORMATS",
    "KINDS",
    "DataMismatch",
    "Kind",
    "Raw",
    "check",
    "detect_format",
    "load",
    "prepare",
    "raw_from_bytes",
    "raw_to_bytes",
    "read",
]

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
    ".npy": "npy",
    **TEXT_SUFFIX_FORMATS,  # .txt, .jsonl, and single source or Markdown files as one document
}
"""File suffix -> format; a directory is the format "folder"."""

S = TypeVar("S")


@dataclass(frozen=True)
class Kind(Generic[S]):
    """One task kind's verbs over its schema type `S`, and the formats its `read` accepts."""

    read: Callable[[S, Path, str], Raw]
    from_arrays: Callable[[S, NDArray[Any], NDArray[Any], str], Raw]
    prepare: Callable[[S, Raw], Split]
    infer: Callable[..., S]
    formats: tuple[str, ...]


class _Kinds(Mapping[str, Kind[Any]]):
    """A schema's `kind` -> its verbs, each kind's module imported the first time it is asked
    for: a digits worker never loads pyarrow, Pillow or a tokenizer library."""

    modules: ClassVar[dict[str, str]] = {
        "tabular": "decentralml.kinds.tabular",
        "image": "decentralml.kinds.image",
        "text": "decentralml.kinds.text",
    }

    def __getitem__(self, kind: str) -> Kind[Any]:
        module = importlib.import_module(self.modules[kind])
        return Kind(module.read, module.from_arrays, module.prepare, module.infer, module.formats)

    def __iter__(self) -> Iterator[str]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)


KINDS: Mapping[str, Kind[Any]] = _Kinds()
"""A schema's `kind` -> its verbs."""


def detect_format(path: Path) -> str:
    """The format of `path` by its suffix, "folder" for a directory; raises `DataMismatch`."""
    if path.is_dir():
        return "folder"
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise DataMismatch(
            path,
            f"a folder or a file ending in {', '.join(FORMATS)}",
            f"suffix {path.suffix!r}" if path.suffix else "no suffix",
        )
    return found


def read(schema: FeatureSchema, path: Path, fmt: str | None = None) -> Raw:
    """The raw examples of `path` (format by suffix unless `fmt`), checked against `schema`."""
    return KINDS[schema.kind].read(schema, path, fmt or detect_format(path))


def prepare(schema: FeatureSchema, raw: Raw) -> Split:
    """Raw examples as models train on them, with the schema's normalisation."""
    return KINDS[schema.kind].prepare(schema, raw)


def load(schema: FeatureSchema, path: Path, fmt: str | None = None) -> Split:
    """`read`, then `prepare`."""
    return prepare(schema, read(schema, path, fmt))


def check(schema: FeatureSchema, path: Path, fmt: str | None = None) -> int:
    """The number of examples in `path` once every one is read and checked; raises `DataMismatch`."""
    return len(read(schema, path, fmt))


def raw_to_bytes(raw: Raw) -> bytes:
    """`raw` as an in-memory .npz of `x` and `y` (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, x=raw.x, y=raw.y)
    return buffer.getvalue()


def raw_from_bytes(schema: FeatureSchema, data: bytes, name: str) -> Raw:
    """The raw examples of `raw_to_bytes` output, checked against `schema` as `read` checks a file;
    `name` stands for the file in a `DataMismatch`."""
    x, y = npz_arrays(data, name)
    return KINDS[schema.kind].from_arrays(schema, x, y, name)
