"""Which local data serves which task: the worker's data catalogue.

A manifest names its data by `dataset`; the catalogue maps that name to a local file or folder
and its format, so one daemon serving several tasks trains each on its own data and never one
file on every task it joins. Entries come from `dml worker run --data NAME=PATH` (or `--data PATH`,
named after the file without its extension, or the folder) and `DML_WORKER_DATA` (a JSON list of
the same strings). Formats follow the path: CSV, Parquet, .npz, or a folder of images.

An entry may carry a dataset card (`decentralml.cards`): `NAME.DATASET.md` beside a file
(`wine.csv` -> `wine.DATASET.md`), else a `DATASET.md` in the folder (or beside the file). A
card that does not parse refuses the entry at start. The daemon declares the card on chain when
it claims a task (`declare_dataset`); the demo sources have theirs built in.

The bundled demo sources (`decentralml.data.DEMO_SOURCES`) need no entry: a demo worker trains on
its part (`--data-part N`) of the source's split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from decentralml import cards, kinds
from decentralml.data import Split, partition
from decentralml.manifest import TaskManifest


class DataRefusedError(ValueError):
    """This worker has no data for the task, or its data does not fit the task's schema."""


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    format: str
    card: bytes | None = None  # the DATASET.md that describes it, checked by `cards.parse`


def card_beside(path: Path) -> Path | None:
    """Where a dataset's card is, if it has one: NAME.DATASET.md beside a file, else DATASET.md in
    the folder (or beside the file)."""
    here = path if path.is_dir() else path.parent
    for candidate in ([] if path.is_dir() else [path.with_name(f"{path.stem}.DATASET.md")]) + [
        here / "DATASET.md"
    ]:
        if candidate.is_file():
            return candidate
    return None


class Catalogue:
    """The worker's datasets by name, and its part of the demo sources."""

    def __init__(self, entries: Iterable[Entry], demo_part: int | None = None) -> None:
        self.entries = {e.name: e for e in entries}
        self.demo_part = demo_part

    @classmethod
    def parse(cls, specs: Iterable[str], demo_part: int | None = None) -> Catalogue:
        """Entries from `NAME=PATH` or `PATH` strings; refuses a path that does not exist."""
        entries: list[Entry] = []
        for spec in specs:
            name, _, where = spec.rpartition("=") if "=" in spec else ("", "", spec)
            path = Path(where).expanduser()
            name = name or (path.name if path.is_dir() else path.stem)
            if not path.exists():
                raise DataRefusedError(f"--data {spec}: {path} does not exist")
            if any(e.name == name for e in entries):
                raise DataRefusedError(f"--data {spec}: the dataset name {name!r} is given twice")
            try:
                fmt = kinds.detect_format(path)
            except kinds.DataMismatch as unknown:
                raise DataRefusedError(f"--data {spec}: {unknown}") from unknown
            card_path = card_beside(path)
            card: bytes | None = None
            if card_path is not None:
                card = card_path.read_bytes()
                try:
                    cards.parse(card, str(card_path))
                except cards.CardError as bad:
                    raise DataRefusedError(f"--data {spec}: {bad}") from bad
            entries.append(Entry(name, path.resolve(), fmt, card))
        return cls(entries, demo_part)

    def __bool__(self) -> bool:
        return bool(self.entries) or self.demo_part is not None

    def _entry(self, manifest: TaskManifest) -> Entry:
        name = manifest.data.dataset
        if name not in self.entries:
            have = ", ".join(sorted(self.entries)) or "none"
            raise DataRefusedError(
                f"task {manifest.name!r} trains on dataset {name!r}, which this worker's catalogue does "
                f"not map (it has: {have}); add --data {name}=PATH"
            )
        return self.entries[name]

    def check(self, manifest: TaskManifest) -> int:
        """The number of examples this worker holds for the task; DataRefusedError (naming the file, the
        schema expected and the schema found) if it holds none that fit."""
        if manifest.data.is_demo:
            if self.demo_part is None:
                raise DataRefusedError(
                    f"task {manifest.name!r} uses the demo source {manifest.data.dataset}: "
                    "this worker serves it only with --data-part N"
                )
            return len(partition(manifest.data, self.demo_part))
        entry = self._entry(manifest)
        try:
            return kinds.check(manifest.data.schema_of(), entry.path, entry.format)
        except kinds.DataMismatch as unfit:
            raise DataRefusedError(f"refusing task {manifest.name!r}: {unfit}") from unfit

    def card_for(self, manifest: TaskManifest) -> bytes | None:
        """The DATASET.md of the data this worker trains on for the task, if it has one."""
        if manifest.data.is_demo:
            known = cards.DEMO_CARDS.get(manifest.data.dataset)
            return None if known is None else cards.render(known)
        entry = self.entries.get(manifest.data.dataset)
        return None if entry is None else entry.card

    def data_for(self, manifest: TaskManifest) -> Split:
        """The task's training data, prepared with the bundle's preprocessing."""
        if manifest.data.is_demo:
            self.check(manifest)
            return partition(manifest.data, int(self.demo_part or 0))
        entry = self._entry(manifest)
        try:
            return kinds.load(manifest.data.schema_of(), entry.path, entry.format)
        except kinds.DataMismatch as unfit:
            raise DataRefusedError(f"refusing task {manifest.name!r}: {unfit}") from unfit
