"""Sample own-data files made from scikit-learn's bundled sets, for the demo, tests and benchmarks.

They stand for what an organisation holds: the breast-cancer cases as CSV or Parquet files with
named columns and a string label (`diagnosis`: malignant or benign), and the digits as an image
folder of PNG files (one subfolder per class, upscaled to 16x16). `tabular_files` and
`image_folders` write one share per worker (disjoint, IID by a seeded shuffle) plus the creator's
validation and test sets, each in the format asked. `text_folders` writes the Python standard
library's own modules (this machine's, `decentralml.data.STDLIB_*`) as folders of `.py` files,
whole modules per worker. Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import load_breast_cancer, load_digits

TabularFormat = Literal["csv", "parquet"]
LABEL = "diagnosis"
REGRESSION_LABEL = "progression"  # diabetes: disease progression one year after baseline


@dataclass(frozen=True)
class SampleFiles:
    """Where each worker's share and the creator's sets were written."""

    shares: list[Path]
    validation: Path
    test: Path


def _parts(
    n: int, workers: int, seed: int
) -> tuple[list[NDArray[np.int64]], NDArray[np.int64], NDArray[np.int64]]:
    """Worker shares (70%), validation (15%) and test (15%) indices of n examples."""
    order = np.random.default_rng(seed).permutation(n)
    test_end, validation_end = int(0.15 * n), int(0.3 * n)
    shares = np.array_split(order[validation_end:], workers)
    return list(shares), order[test_end:validation_end], order[:test_end]


def _write_table(path: Path, columns: dict[str, NDArray[np.generic] | list[str]], fmt: TabularFormat) -> Path:
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    table = pa.table(columns)
    path = path.with_suffix(f".{fmt}")
    if fmt == "csv":
        pyarrow.csv.write_csv(table, path)
    else:
        pyarrow.parquet.write_table(table, path)
    return path


def tabular_files(
    folder: Path, formats: Sequence[TabularFormat], seed: int = 0, holdout: TabularFormat = "csv"
) -> SampleFiles:
    """Breast-cancer shares, one per entry of `formats`, and the creator's holdout sets."""
    bunch = load_breast_cancer()
    names = [str(n) for n in bunch.feature_names]
    x = np.asarray(bunch.data, dtype=np.float64)
    labels = np.asarray(bunch.target_names)[bunch.target]
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, rows: NDArray[np.int64], fmt: TabularFormat) -> Path:
        columns: dict[str, NDArray[np.generic] | list[str]] = {n: x[rows, i] for i, n in enumerate(names)}
        columns[LABEL] = [str(v) for v in labels[rows]]
        return _write_table(folder / name, columns, fmt)

    shares, validation, test = _parts(len(x), len(formats), seed)
    return SampleFiles(
        shares=[
            write(f"share-{i}", rows, fmt) for i, (rows, fmt) in enumerate(zip(shares, formats, strict=True))
        ],
        validation=write("validation", validation, holdout),
        test=write("test", test, holdout),
    )


def regression_files(folder: Path, formats: Sequence[TabularFormat], seed: int = 0) -> SampleFiles:
    """scikit-learn's diabetes data in its raw units (a target of 25 to 346) as a regression task's
    files: one share per entry of `formats`, and the creator's holdout sets; label `REGRESSION_LABEL`."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    names = [str(n) for n in bunch.feature_names]
    x, target = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.float64)
    folder.mkdir(parents=True, exist_ok=True)

    def write(name: str, rows: NDArray[np.int64], fmt: TabularFormat) -> Path:
        columns: dict[str, NDArray[np.generic] | list[str]] = {n: x[rows, i] for i, n in enumerate(names)}
        columns[REGRESSION_LABEL] = target[rows]
        return _write_table(folder / name, columns, fmt)

    shares, validation, test = _parts(len(x), len(formats), seed)
    return SampleFiles(
        shares=[
            write(f"share-{i}", rows, fmt) for i, (rows, fmt) in enumerate(zip(shares, formats, strict=True))
        ],
        validation=write("validation", validation, "csv"),
        test=write("test", test, "csv"),
    )


def image_folders(folder: Path, workers: int, seed: int = 0, size: int = 16) -> SampleFiles:
    """Digits as PNG image folders (one subfolder per class), a share per worker and the holdouts."""
    from PIL import Image

    bunch = load_digits()
    images = (np.asarray(bunch.images) / 16.0 * 255).astype(np.uint8)
    labels = np.asarray(bunch.target)

    def write(name: str, rows: NDArray[np.int64]) -> Path:
        root = folder / name
        for row in rows:
            target = root / str(labels[row])
            target.mkdir(parents=True, exist_ok=True)
            picture = Image.fromarray(images[row], mode="L").resize((size, size), Image.Resampling.NEAREST)
            picture.save(target / f"{row}.png")
        return root

    shares, validation, test = _parts(len(labels), workers, seed)
    return SampleFiles(
        shares=[write(f"share-{i}", rows) for i, rows in enumerate(shares)],
        validation=write("validation", validation),
        test=write("test", test),
    )


def text_folders(folder: Path, workers: int, seed: int = 0) -> SampleFiles:
    """Standard-library modules as folders of `.py` files: each worker's share whole modules of
    `STDLIB_TRAIN` (non-IID, balanced by size, `corpus.module_shares`), the creator's validation
    `STDLIB_VALIDATION` and test `STDLIB_TEST` modules, one file per module."""
    from decentralml.data import STDLIB_TEST, STDLIB_TRAIN, STDLIB_VALIDATION, stdlib_sources
    from decentralml.lm.corpus import module_shares

    sources = stdlib_sources()
    shares = module_shares({m: sources[m] for m in STDLIB_TRAIN}, workers, seed)

    def write(name: str, modules: Sequence[str]) -> Path:
        root = folder / name
        root.mkdir(parents=True, exist_ok=True)
        for module in modules:
            (root / f"{module}.py").write_text(sources[module], encoding="utf-8")
        return root

    return SampleFiles(
        shares=[write(f"share-{i}", names) for i, names in enumerate(shares)],
        validation=write("validation", STDLIB_VALIDATION),
        test=write("test", STDLIB_TEST),
    )


def write_cards(files: SampleFiles, source: str) -> list[Path]:
    """A dataset card (DATASET.md) beside each worker's share, where the catalogue looks for it
    (`worker.catalogue.card_beside`): the demo source's card (`cards.DEMO_CARDS[source]`),
    named as that worker's share."""
    from dataclasses import replace

    from decentralml import cards

    written = []
    for i, share in enumerate(files.shares):
        path = share / "DATASET.md" if share.is_dir() else share.with_name(f"{share.stem}.DATASET.md")
        card = replace(cards.DEMO_CARDS[source], name=f"{cards.DEMO_CARDS[source].name}, share {i + 1}")
        path.write_bytes(cards.render(card))
        written.append(path)
    return written
