"""Text: the hook the language-model task kind fills in; every verb refuses until then."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from numpy.typing import NDArray

from decentralml.kinds.schema import TextSchema

formats = ("folder", "txt", "jsonl")
NOT_YET = "text tasks arrive with the language-model task kind"


def read(schema: TextSchema, path: Path, fmt: str) -> NoReturn:
    """Not supported yet: raises `NotImplementedError`."""
    raise NotImplementedError(NOT_YET)


def from_arrays(schema: TextSchema, x: NDArray[Any], y: NDArray[Any], name: str) -> NoReturn:
    """Not supported yet: raises `NotImplementedError`."""
    raise NotImplementedError(NOT_YET)


def prepare(schema: TextSchema, raw: object) -> NoReturn:
    """Not supported yet: raises `NotImplementedError`."""
    raise NotImplementedError(NOT_YET)


def infer(path: Path, fmt: str) -> NoReturn:
    """Not supported yet: raises `NotImplementedError`."""
    raise NotImplementedError(NOT_YET)
