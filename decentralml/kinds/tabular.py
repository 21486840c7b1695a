"""Tabular data: CSV, Parquet or .npz rows in the raw form, read a batch at a time.

A CSV or Parquet file holds exactly the schema's features and its label, in any column order.
Numeric features must be finite numbers; categorical ones are coded by their index in the
schema's category list; class labels are matched by their string form (`0` in a CSV matches the
class `"0"`), regression targets must be finite numbers. Surrounding whitespace in a value is
ignored. An .npz holds `x` [n, features] already coded and `y` (class indices or names).

Memory: CSV and Parquet are read `batch_rows` rows at a time (CSV in blocks sized to about that
many rows) and only the coded float32 rows are kept: a reader holds the result plus one batch, and
the result twice for the moment its batches are joined.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from numpy.typing import NDArray
from pydantic import ValidationError

from decentralml.kinds.schema import DataMismatch, Raw, Split, TabularSchema, class_indices, few, npz_arrays

formats = ("csv", "parquet", "npz")
BATCH_ROWS = 65_536
MAX_DISTINCT = 10_000
STD_FLOOR = 1e-6


def read(schema: TabularSchema, path: Path, fmt: str, batch_rows: int = BATCH_ROWS) -> Raw:
    """Every row of `path`, coded and checked against `schema`; raises `DataMismatch`."""
    if fmt == "npz":
        x, y = npz_arrays(path, str(path))
        return from_arrays(schema, x, y, str(path))
    names, batches = _open(path, fmt, batch_rows, [*schema.features, schema.label])
    _check_columns(names, schema, path)
    xs: list[NDArray[np.float32]] = []
    ys: list[NDArray[Any]] = []
    for batch in batches:
        x = np.empty((batch.num_rows, len(schema.features)), dtype=np.float32)
        for j, feature in enumerate(schema.features):
            column = batch.column(feature)
            categories = schema.categories.get(feature)
            x[:, j] = (
                _numbers(column, feature, path)
                if categories is None
                else _codes(column, feature, categories, path)
            )
        xs.append(x)
        ys.append(_labels(schema, batch.column(schema.label), path))
    if sum(len(y) for y in ys) == 0:
        raise DataMismatch(path, "at least one row", "none")
    return Raw(np.concatenate(xs), np.concatenate(ys))


def from_arrays(schema: TabularSchema, x: NDArray[Any], y: NDArray[Any], name: str) -> Raw:
    """Already coded arrays (an .npz, a sealed set) checked against `schema`; raises `DataMismatch`."""
    width = len(schema.features)
    if x.ndim != 2 or x.shape[1] != width or x.dtype.kind not in "biuf":
        raise DataMismatch(name, f"numeric x of shape [n, {width}]", f"x {x.dtype} of shape {list(x.shape)}")
    if y.shape != (len(x),):
        raise DataMismatch(name, f"y of shape [{len(x)}]", f"y of shape {list(y.shape)}")
    if len(x) == 0:
        raise DataMismatch(name, "at least one row", "none")
    coded = x.astype(np.float32)
    broken = ~np.isfinite(coded).all(axis=0)
    if broken.any():
        raise DataMismatch(
            name, "finite numbers", f"NaN or infinity in {few(np.array(schema.features)[broken])}"
        )
    for feature, categories in schema.categories.items():
        codes = coded[:, schema.features.index(feature)]
        valid = (codes == np.round(codes)) & (codes >= 0) & (codes < len(categories))
        if not valid.all():
            raise DataMismatch(
                name, f"codes 0..{len(categories) - 1} in {feature!r}", f"{few(np.unique(codes[~valid]))}"
            )
    if schema.classes is not None:
        return Raw(coded, class_indices(y, schema.classes, name))
    target = y.astype(np.float32) if y.dtype.kind in "biuf" else np.array([np.nan], np.float32)
    if not np.isfinite(target).all():
        raise DataMismatch(name, "finite numeric targets in y", f"y of dtype {y.dtype} with NaN or infinity")
    return Raw(coded, target)


def from_rows(schema: TabularSchema, rows: list[dict[str, Any]], name: str) -> NDArray[np.float32]:
    """Unlabelled rows (feature name -> value, as a CSV holds them: a number, or a category's
    name) coded like `read`; raises `DataMismatch` naming the first row and column that differ."""
    if not rows:
        raise DataMismatch(name, "at least one row", "none")
    x = np.empty((len(rows), len(schema.features)), dtype=np.float32)
    for i, row in enumerate(rows):
        missing = [f for f in schema.features if f not in row]
        if missing:
            raise DataMismatch(
                name,
                f"row {i} with the columns {few(np.array(schema.features))}",
                f"no {few(np.array(missing))}",
            )
        for j, feature in enumerate(schema.features):
            value = row[feature]
            categories = schema.categories.get(feature)
            if categories is not None:
                if str(value) not in categories:
                    raise DataMismatch(
                        name, f"row {i}: {feature!r} one of {few(np.array(categories))}", repr(value)[:40]
                    )
                x[i, j] = categories.index(str(value))
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise DataMismatch(name, f"row {i}: a number in {feature!r}", repr(value)[:40])
            else:
                x[i, j] = float(value)
    dummy = np.zeros(len(rows)) if schema.classes is None else np.array([schema.classes[0]] * len(rows))
    return from_arrays(schema, x, dummy, name).x


def prepare(schema: TabularSchema, raw: Raw) -> Split:
    """Standardised float32 inputs; int64 class indices, or float32 targets standardised with the
    schema's target mean and std (`TabularSchema.to_target` maps outputs back)."""
    mean = np.asarray(schema.mean, dtype=np.float32)
    std = np.asarray(schema.std, dtype=np.float32)
    x = ((raw.x.astype(np.float32) - mean) / std).astype(np.float32)
    if schema.classes is not None:
        return Split(x, raw.y.astype(np.int64))
    y = (raw.y.astype(np.float64) - schema.target_mean) / schema.target_std
    return Split(x, y.astype(np.float32))


def infer(
    path: Path,
    fmt: str,
    label: str,
    classes: list[str] | None = None,
    regression: bool = False,
    features: list[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> TabularSchema:
    """A schema for `path` in one streaming pass: every column but `label` is a feature unless
    `features` names them; text columns become categorical (sorted values); classes are the sorted
    label strings unless given (`regression`: none, and the target's mean and std instead); mean
    and std are per feature (std 1 when a column is constant). Raises `DataMismatch`."""
    if fmt == "npz":
        return _infer_npz(path, label, classes, regression, features)
    names, types = _peek(path, fmt)
    chosen = features if features is not None else [n for n in names if n != label]
    missing = [n for n in [*chosen, label] if n not in names]
    if missing:
        raise DataMismatch(path, "the label and feature columns asked for", f"no columns {few(missing)}")
    textual = {n for n in chosen if _is_text(types[n])}
    numeric = [n for n in chosen if n not in textual]
    counts: dict[str, dict[str, int]] = {n: {} for n in textual}
    labels: dict[str, int] = {}
    moments = _Moments(len(numeric))
    target = _Moments(1)
    rows = 0
    for batch in _open(path, fmt, batch_rows, [*chosen, label])[1]:
        rows += batch.num_rows
        if numeric:
            moments.add(np.stack([_numbers(batch.column(n), n, path) for n in numeric], axis=1))
        for n in textual:
            _count(counts[n], batch.column(n), n, path)
        if regression:
            target.add(_numbers(batch.column(label), label, path)[:, None])
        else:
            _count(labels, batch.column(label), label, path)
    if rows == 0:
        raise DataMismatch(path, "at least one row", "none")
    categories = {n: sorted(counts[n]) for n in chosen if n in textual}
    stats = {n: (float(m), float(s)) for n, m, s in zip(numeric, moments.mean, moments.std(), strict=True)}
    for n, values in categories.items():
        stats[n] = _coded_moments([counts[n][v] for v in values])
    found = None if regression else sorted(labels)
    if classes is not None and found is not None and not set(found) <= set(classes):
        raise DataMismatch(
            path, f"labels among the classes {few(classes)}", f"{few(sorted(set(found) - set(classes)))}"
        )
    return _schema(
        path,
        features=chosen,
        label=label,
        classes=None if regression else (classes or found),
        categories=categories,
        mean=[stats[n][0] for n in chosen],
        std=[stats[n][1] for n in chosen],
        **_target_scale(target if regression else None),
    )


def _target_scale(target: _Moments | None) -> dict[str, float]:
    """A regression's target mean and std (std 1 for a constant target); nothing for classes."""
    if target is None:
        return {}
    return {"target_mean": float(target.mean[0]), "target_std": float(target.std()[0])}


class _Moments:
    """Per-column count, mean and sum of squared deviations, merged batch by batch (Chan et al.)."""

    def __init__(self, width: int) -> None:
        self.count = 0
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)

    def add(self, values: NDArray[np.floating[Any]]) -> None:
        rows = len(values)
        if rows == 0:
            return
        batch = values.astype(np.float64)
        batch_mean = batch.mean(axis=0)
        delta = batch_mean - self.mean
        total = self.count + rows
        self.mean = self.mean + delta * rows / total
        self.m2 = self.m2 + ((batch - batch_mean) ** 2).sum(axis=0) + delta**2 * self.count * rows / total
        self.count = total

    def std(self) -> NDArray[np.float64]:
        spread = np.sqrt(self.m2 / max(self.count, 1))
        return np.where(spread < STD_FLOOR, 1.0, spread)


def _coded_moments(counts: list[int]) -> tuple[float, float]:
    weights = np.asarray(counts, dtype=np.float64) / sum(counts)
    codes = np.arange(len(counts), dtype=np.float64)
    mean = float(weights @ codes)
    std = float(np.sqrt(weights @ (codes - mean) ** 2))
    return mean, std if std >= STD_FLOOR else 1.0


def _infer_npz(
    path: Path, label: str, classes: list[str] | None, regression: bool, features: list[str] | None
) -> TabularSchema:
    x, y = npz_arrays(path, str(path))
    if x.ndim != 2 or x.dtype.kind not in "biuf" or len(x) == 0:
        raise DataMismatch(
            path, "numeric x of shape [n, features], n > 0", f"x {x.dtype} of shape {list(x.shape)}"
        )
    names = features if features is not None else [f"x{i}" for i in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise DataMismatch(path, f"{len(names)} feature columns in x", f"{x.shape[1]}")
    moments = _Moments(x.shape[1])
    moments.add(x.astype(np.float64))
    target = _Moments(1)
    if regression:
        if y.dtype.kind not in "biuf":
            raise DataMismatch(path, "numeric regression targets in y", f"y of dtype {y.dtype}")
        target.add(y.astype(np.float64).reshape(-1, 1))
        found = None
    elif y.dtype.kind == "U":
        found = sorted(set(y.tolist()))
    else:
        found = [str(i) for i in range(int(y.max()) + 1)] if y.dtype.kind in "iu" and len(y) else []
    schema = _schema(
        path,
        features=names,
        label=label,
        classes=None if regression else (classes or found),
        categories={},
        mean=moments.mean.tolist(),
        std=moments.std().tolist(),
        **_target_scale(target if regression else None),
    )
    from_arrays(schema, x, y, str(path))
    return schema


def _schema(path: Path, **fields: Any) -> TabularSchema:
    classes = fields["classes"]
    if classes is not None and len(classes) < 2:
        raise DataMismatch(path, "at least two classes (or regression)", f"{few(classes)}")
    try:
        return TabularSchema(**fields)
    except ValidationError as bad:
        raise DataMismatch(path, "values a schema can hold", bad.errors()[0]["msg"]) from bad


def _open(
    path: Path, fmt: str, batch_rows: int, columns: list[str]
) -> tuple[list[str], Iterator[pa.RecordBatch]]:
    """The file's column names and its batches; `columns` of a CSV are read as text."""
    try:
        if fmt == "csv":
            reader = pcsv.open_csv(
                path,
                read_options=pcsv.ReadOptions(block_size=_block_size(path, batch_rows)),
                convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string())),
            )
            return list(reader.schema.names), _guarded(iter(reader), path, fmt, batch_rows)
        if fmt == "parquet":
            file = pq.ParquetFile(path)
            return list(file.schema_arrow.names), _guarded(
                file.iter_batches(batch_size=batch_rows), path, fmt, batch_rows
            )
    except (pa.ArrowException, OSError) as bad:
        raise DataMismatch(path, f"a readable {fmt} file", str(bad)) from bad
    raise DataMismatch(path, f"tabular data as one of {', '.join(formats)}", f"format {fmt!r}")


def _guarded(
    batches: Iterator[pa.RecordBatch], path: Path, fmt: str, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as bad:
            raise DataMismatch(path, f"a readable {fmt} file", str(bad)) from bad
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


def _block_size(path: Path, batch_rows: int) -> int:
    """Bytes for about `batch_rows` rows, guessed from the header at 32 bytes a value."""
    try:
        with path.open("rb") as file:
            header = file.readline(1 << 20)
    except OSError:
        header = b""
    per_row = 32 * (header.count(b",") + 1)
    return int(min(max(batch_rows * per_row, 1 << 16), 1 << 26))


def _peek(path: Path, fmt: str) -> tuple[list[str], dict[str, pa.DataType]]:
    try:
        if fmt == "csv":
            found = pcsv.open_csv(path).schema
        elif fmt == "parquet":
            found = pq.ParquetFile(path).schema_arrow
        else:
            raise DataMismatch(path, f"tabular data as one of {', '.join(formats)}", f"format {fmt!r}")
    except (pa.ArrowException, OSError) as bad:
        raise DataMismatch(path, f"a readable {fmt} file", str(bad)) from bad
    return list(found.names), {field.name: field.type for field in found}


def _check_columns(names: list[str], schema: TabularSchema, path: Path) -> None:
    wanted = [*schema.features, schema.label]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    missing = [n for n in wanted if n not in names]
    extra = [n for n in names if n not in wanted]
    if duplicated or missing or extra:
        problems = [
            f"{what} {few(which)}"
            for what, which in (
                ("missing columns", missing),
                ("extra columns", extra),
                ("duplicated", duplicated),
            )
            if which
        ]
        raise DataMismatch(
            path,
            f"the {len(schema.features)} feature columns and the label {schema.label!r}",
            "; ".join(problems),
        )


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind))


def _text(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return pc.utf8_trim_whitespace(pc.cast(column, pa.string()))


def _numbers(column: pa.Array, name: str, path: Path) -> NDArray[np.float32]:
    text = _text(column) if _is_text(column.type) else None
    if column.null_count or (text is not None and pc.any(pc.equal(text, "")).as_py()):
        raise DataMismatch(path, f"a number in every row of {name!r}", "missing values")
    if text is not None:
        try:
            column = pc.cast(text, pa.float64())
        except pa.ArrowInvalid as bad:
            raise DataMismatch(path, f"numbers in {name!r}", f"{_first_non_number(text)!r}") from bad
    elif not any(
        test(column.type) for test in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    ):
        raise DataMismatch(path, f"numbers in {name!r}", f"values of type {column.type}")
    values = np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float32)
    if not np.isfinite(values).all():
        raise DataMismatch(path, f"finite numbers in {name!r}", "NaN or infinity")
    return values


def _first_non_number(text: pa.Array) -> str:
    for value in text.to_pylist():
        try:
            float(value)
        except ValueError:
            return str(value)
    return "a value pyarrow cannot parse as a number"


def _codes(column: pa.Array, name: str, categories: list[str], path: Path) -> NDArray[np.float32]:
    text = _text(column)
    codes = pc.index_in(text, value_set=pa.array(categories, pa.string()))
    if codes.null_count:
        unknown = pc.unique(pc.filter(text, pc.is_null(codes))).to_pylist()
        raise DataMismatch(
            path, f"one of the {len(categories)} categories of {name!r}", f"unknown {few(unknown)}"
        )
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.float32)


def _labels(schema: TabularSchema, column: pa.Array, path: Path) -> NDArray[Any]:
    if schema.classes is None:
        return _numbers(column, schema.label, path)
    text = _text(column)
    indices = pc.index_in(text, value_set=pa.array(schema.classes, pa.string()))
    if indices.null_count:
        unknown = pc.unique(pc.filter(text, pc.is_null(indices))).to_pylist()
        raise DataMismatch(
            path,
            f"labels in {schema.label!r} among the classes {few(schema.classes)}",
            f"unknown {few(unknown)}",
        )
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64)


def _count(counts: dict[str, int], column: pa.Array, name: str, path: Path) -> None:
    text = _text(column)
    if text.null_count or pc.any(pc.equal(text, "")).as_py():
        raise DataMismatch(path, f"a value in every row of {name!r}", "missing values")
    for entry in pc.value_counts(text).to_pylist():
        counts[entry["values"]] = counts.get(entry["values"], 0) + entry["counts"]
    if len(counts) > MAX_DISTINCT:
        raise DataMismatch(
            path,
            f"at most {MAX_DISTINCT} distinct values in {name!r} (a numeric target? a column to leave out?)",
            f"more than {MAX_DISTINCT}",
        )
