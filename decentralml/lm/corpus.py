"""Text corpora for language-model tasks: reading them, the Python standard library as one, splitting
them between workers, and cutting token streams into training windows.

Reading is bounded: `read_corpus` stops as soon as the corpus exceeds `max_bytes`, and every refusal
is a `CorpusError` naming the file (and line, where there is one).
"""

from __future__ import annotations

import json
import random
import sysconfig
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
from numpy.typing import NDArray

TEXT_SUFFIXES = (".py", ".txt", ".md", ".rst", ".c", ".h")
# Directories of the standard library that are not its source: its own tests, installed packages.
SKIPPED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})


class CorpusError(ValueError):
    """A corpus that cannot be used as it is: the message names the file and line."""


def read_corpus(
    path: Path,
    fmt: Literal["folder", "txt", "jsonl"],
    field: str = "text",
    max_bytes: int = 256 << 20,
    suffixes: Collection[str] = TEXT_SUFFIXES,
) -> list[str]:
    """The non-empty documents of a corpus, in a deterministic order.

    - "folder": one document per file under `path` (recursively, by sorted relative path) whose name
      ends in one of `suffixes` (case-insensitive), but for dataset cards (`DATASET.md`,
      `NAME.DATASET.md`: they describe the corpus);
    - "txt": the single file `path` is one document;
    - "jsonl": one document per non-blank line, each a JSON object whose `field` is a string.

    Raises CorpusError for a missing path (or a file for a folder, or the reverse), bytes that are
    not UTF-8, a JSONL line that is not JSON, not an object or lacks a string `field`, a corpus of
    more than `max_bytes` bytes (found without reading past that), or no non-empty document."""
    budget = _Budget(max_bytes)
    if fmt == "folder":
        if not path.is_dir():
            raise CorpusError(f"{path}: not a folder" if path.exists() else f"{path}: no such folder")
        texts = [_read_text(file, budget) for file in _text_files(path, suffixes)]
    else:
        if not path.is_file():
            raise CorpusError(f"{path}: not a file" if path.exists() else f"{path}: no such file")
        texts = [_read_text(path, budget)] if fmt == "txt" else list(_read_jsonl(path, field, budget))
    documents = [text for text in texts if text]
    if not documents:
        raise CorpusError(f"{path}: the corpus is empty")
    return documents


class _Budget:
    """The bytes a corpus may still take; `take` raises once they are exceeded."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = self.left = max_bytes

    def take(self, count: int, where: str) -> None:
        self.left -= count
        if self.left < 0:
            raise CorpusError(f"{where}: the corpus is larger than max_bytes={self.max_bytes}")

    def read(self, handle: BinaryIO, where: str) -> bytes:
        """The rest of `handle`, reading at most one byte more than the budget allows."""
        data = handle.read(max(self.left, 0) + 1)
        self.take(len(data), where)
        return data

    def readline(self, handle: BinaryIO, where: str) -> bytes:
        line = handle.readline(max(self.left, 0) + 1)
        self.take(len(line), where)
        return line


def _text_files(folder: Path, suffixes: Collection[str]) -> list[Path]:
    endings = tuple(suffix.lower() for suffix in suffixes)
    found = [
        file
        for file in folder.rglob("*")
        if file.is_file() and file.name.lower().endswith(endings) and not _is_card(file)
    ]
    return sorted(found, key=lambda file: file.relative_to(folder).as_posix())


def _is_card(file: Path) -> bool:
    """A dataset card (`DATASET.md`, `NAME.DATASET.md`, see `worker.catalogue`) describes the
    data beside it; it is not part of the corpus."""
    return file.name.lower() == "dataset.md" or file.name.lower().endswith(".dataset.md")


def _decode(data: bytes, file: Path, first_line: int = 1) -> str:
    """`data` (from `file`, starting at line `first_line`) as text; CorpusError names the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as bad:
        line = first_line + data[: bad.start].count(b"\n")
        column = bad.start - (data.rfind(b"\n", 0, bad.start) + 1)
        raise CorpusError(f"{file}:{line}: not UTF-8 (byte {column} of the line: {bad.reason})") from bad


def _read_text(file: Path, budget: _Budget) -> str:
    with file.open("rb") as handle:
        return _decode(budget.read(handle, str(file)), file)


def _read_jsonl(file: Path, field: str, budget: _Budget) -> Iterator[str]:
    with file.open("rb") as handle:
        number = 0
        while line := budget.readline(handle, f"{file}:{number + 1}"):
            number += 1
            where = f"{file}:{number}"
            text = _decode(line, file, number)
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except ValueError as bad:
                raise CorpusError(f"{where}: not JSON ({bad})") from bad
            if not isinstance(record, dict):
                raise CorpusError(f"{where}: a {type(record).__name__}, not a JSON object")
            if not isinstance(record.get(field), str):
                raise CorpusError(f"{where}: no string field {field!r}")
            yield record[field]


def stdlib_corpus(modules: Sequence[str] | None = None) -> dict[str, str]:
    """The Python standard library's own source on this machine, never downloaded: {module: source}.

    A package's source is its .py files (sorted by relative path, tests skipped) joined by newlines;
    a module's is its file. `modules` names top-level or dotted modules ("json", "email.mime"); None
    means every top-level one. Raises CorpusError for a name that is not a module here, or if this
    Python ships no standard library source."""
    root = Path(sysconfig.get_paths()["stdlib"])
    if not (root / "os.py").is_file():
        raise CorpusError(f"{root}: no standard library source here")
    names = sorted(_top_level_modules(root)) if modules is None else list(modules)
    return {name: _module_source(root, name) for name in names}


def _top_level_modules(root: Path) -> Iterator[str]:
    for entry in root.iterdir():
        if entry.is_file() and entry.suffix == ".py" and entry.stem.isidentifier():
            yield entry.stem
        elif entry.is_dir() and entry.name not in SKIPPED_DIRS and (entry / "__init__.py").is_file():
            yield entry.name


def _module_source(root: Path, name: str) -> str:
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts) or parts[0] in SKIPPED_DIRS:
        raise CorpusError(f"{name!r}: not a standard library module name")
    base = root.joinpath(*parts)
    if (base / "__init__.py").is_file():
        files = sorted(
            (file for file in base.rglob("*.py") if not SKIPPED_DIRS & set(file.relative_to(base).parts)),
            key=lambda file: file.relative_to(base).as_posix(),
        )
    elif base.with_suffix(".py").is_file():
        files = [base.with_suffix(".py")]
    else:
        raise CorpusError(f"{name!r}: no such module in the standard library at {root}")
    return "\n".join(_decode(file.read_bytes(), file) for file in files)


def split_by_module(sources: dict[str, str], parts: int, seed: int) -> list[list[str]]:
    """Non-IID: each of `parts` workers gets whole modules' sources, every module exactly once
    (the sources of `module_shares`)."""
    return [[sources[name] for name in names] for names in module_shares(sources, parts, seed)]


def module_shares(sources: dict[str, str], parts: int, seed: int) -> list[list[str]]:
    """The module names each of `parts` workers gets, every module exactly once.

    Greedy balance by UTF-8 size: largest first (equal sizes in a `seed`-shuffled order), each to the
    lightest part; then the parts are dealt in a `seed`-shuffled order. Raises CorpusError if parts
    is below 1 or above the number of modules (a worker would get nothing)."""
    if not 1 <= parts <= len(sources):
        raise CorpusError(f"{parts} parts of {len(sources)} modules: need 1 .. {len(sources)}")
    rng = random.Random(seed)
    names = sorted(sources)
    rng.shuffle(names)
    sizes = {name: len(sources[name].encode("utf-8")) for name in names}
    names.sort(key=lambda name: -sizes[name])  # stable: ties keep the shuffled order
    loads, split = [0] * parts, [list[str]() for _ in range(parts)]
    for name in names:
        lightest = loads.index(min(loads))
        loads[lightest] += sizes[name]
        split[lightest].append(name)
    rng.shuffle(split)
    return split


def split_iid(texts: list[str], parts: int, seed: int, chunk: int = 2048) -> list[list[str]]:
    """IID: the texts cut into pieces of `chunk` characters, shuffled by `seed`, dealt round-robin.

    Raises CorpusError if parts or chunk is below 1 or there are fewer pieces than parts."""
    if parts < 1 or chunk < 1:
        raise CorpusError(f"parts {parts} and chunk {chunk} must be at least 1")
    pieces = [text[start : start + chunk] for text in texts for start in range(0, len(text), chunk)]
    if len(pieces) < parts:
        raise CorpusError(f"{len(pieces)} pieces of {chunk} characters cannot fill {parts} parts")
    random.Random(seed).shuffle(pieces)
    return [pieces[part::parts] for part in range(parts)]


def windows(ids: Sequence[int], context: int) -> NDArray[np.int64]:
    """Non-overlapping windows [N, context + 1] of the token stream `ids` (inputs are [:, :-1],
    targets [:, 1:]); the last len(ids) % (context + 1) tokens are dropped.

    Raises CorpusError if context is below 1, an id is negative, or there is not one whole window."""
    if context < 1:
        raise CorpusError(f"context {context}: must be at least 1")
    stream = np.asarray(ids, dtype=np.int64).reshape(-1)
    count = len(stream) // (context + 1)
    if count == 0:
        raise CorpusError(f"{len(stream)} tokens: shorter than one window of {context + 1}")
    if stream.min() < 0:
        raise CorpusError("negative token id")
    return stream[: count * (context + 1)].reshape(count, context + 1).copy()
