"""Reading task data by kind from real files: CSV, Parquet, .npz and PNG folders."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from numpy.typing import NDArray
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_digits

from decentralml import kinds
from decentralml.kinds import DataMismatch, Raw, image, tabular, text
from decentralml.kinds.schema import ImageSchema, TabularSchema, TextSchema


def cancer_table(rows: int | None = None, **overrides: Any) -> pa.Table:
    """Breast cancer as a table: 30 feature columns and "label"; keyword columns replace or add."""
    bunch = load_breast_cancer()
    data, target = bunch.data[:rows], bunch.target[:rows]
    columns: dict[str, Any] = {name: data[:, j] for j, name in enumerate(bunch.feature_names)}
    columns["label"] = target
    columns.update(overrides)
    return pa.table(columns)


def write_csv(path: Path, table: pa.Table) -> Path:
    pcsv.write_csv(table, path)
    return path


def cancer_schema(tmp_path: Path) -> TabularSchema:
    return tabular.infer(write_csv(tmp_path / "infer.csv", cancer_table()), "csv", label="label")


def digits_folder(root: Path, per_class: int = 12, size: int = 16) -> tuple[Path, NDArray[np.int64]]:
    """The first `per_class` digits of each class as 8x8 PNGs upscaled to `size`, one folder per class."""
    bunch = load_digits()
    labels = []
    for digit in range(10):
        (root / str(digit)).mkdir(parents=True)
        for k, i in enumerate(np.flatnonzero(bunch.target == digit)[:per_class]):
            pixels = (bunch.images[i] * (255 / 16)).astype(np.uint8)
            Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.NEAREST).save(
                root / str(digit) / f"{k:03}.png"
            )
            labels.append(digit)
    return root, np.asarray(labels, dtype=np.int64)


def image_schema(**overrides: Any) -> ImageSchema:
    fields: dict[str, Any] = {
        "channels": 1,
        "height": 16,
        "width": 16,
        "classes": [str(d) for d in range(10)],
        "mean": [0.3],
        "std": [0.4],
    }
    return ImageSchema(**(fields | overrides))


def test_csv_and_parquet_of_the_same_rows_read_identically(tmp_path: Path) -> None:
    schema = cancer_schema(tmp_path)
    table = cancer_table()
    csv = write_csv(tmp_path / "rows.csv", table)
    parquet = tmp_path / "rows.parquet"
    pq.write_table(table.select(list(reversed(table.column_names))), parquet)

    from_csv = kinds.read(schema, csv)
    from_parquet = kinds.read(schema, parquet)

    assert from_csv.x.dtype == np.float32
    assert from_csv.x.shape == (569, 30)
    assert from_csv.y.dtype == np.int64
    np.testing.assert_array_equal(from_csv.x, from_parquet.x)
    np.testing.assert_array_equal(from_csv.y, from_parquet.y)
    np.testing.assert_array_equal(from_csv.y, load_breast_cancer().target)
    np.testing.assert_allclose(from_csv.x, load_breast_cancer().data, rtol=1e-6)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_batches_smaller_than_the_file_read_every_row_identically(tmp_path: Path, fmt: str) -> None:
    schema = cancer_schema(tmp_path)
    path = tmp_path / f"rows.{fmt}"
    if fmt == "csv":
        write_csv(path, cancer_table())
    else:
        pq.write_table(cancer_table(), path, row_group_size=100)

    whole = tabular.read(schema, path, fmt)
    streamed = tabular.read(schema, path, fmt, batch_rows=50)
    batches = list(tabular._open(path, fmt, 50, [*schema.features, schema.label])[1])

    assert len(batches) >= 12
    assert max(b.num_rows for b in batches) <= 50
    np.testing.assert_array_equal(streamed.x, whole.x)
    np.testing.assert_array_equal(streamed.y, whole.y)


def test_infer_on_breast_cancer_gives_a_schema_that_standardises(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cancer.csv", cancer_table())

    schema = tabular.infer(path, "csv", label="label", batch_rows=64)
    prepared = kinds.load(schema, path)

    assert len(schema.features) == 30
    assert schema.features[0] == "mean radius"
    assert schema.classes == ["0", "1"]
    assert schema.categories == {}
    np.testing.assert_allclose(prepared.x.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(prepared.x.std(axis=0), 1.0, atol=1e-3)
    assert prepared.x.dtype == np.float32
    assert prepared.y.dtype == np.int64
    assert kinds.check(schema, path) == 569


def test_categorical_features_are_coded_and_an_unknown_category_is_refused(tmp_path: Path) -> None:
    colours = ["red", "blue", "green", "blue"] * 10
    path = write_csv(tmp_path / "small.csv", cancer_table(rows=40, colour=colours))
    schema = tabular.infer(path, "csv", label="label")
    unknown = write_csv(tmp_path / "unknown.csv", cancer_table(rows=40, colour=["mauve", *colours[1:]]))

    raw = kinds.read(schema, path)

    assert schema.categories == {"colour": ["blue", "green", "red"]}
    column = raw.x[:, schema.features.index("colour")]
    np.testing.assert_array_equal(column[:4], [2.0, 0.0, 1.0, 0.0])
    j = schema.features.index("colour")
    assert schema.mean[j] == pytest.approx(column.mean(), abs=1e-6)
    with pytest.raises(DataMismatch, match=r"unknown\.csv.*'colour'.*'mauve'"):
        kinds.read(schema, unknown)


def test_a_regression_target_is_read_as_float32(tmp_path: Path) -> None:
    targets = np.linspace(-1.0, 1.0, 40)
    path = write_csv(tmp_path / "target.csv", cancer_table(rows=40, label=targets))
    broken = write_csv(tmp_path / "broken.csv", cancer_table(rows=40, label=[*targets[:-1], float("nan")]))

    schema = tabular.infer(path, "csv", label="label", regression=True)
    prepared = kinds.load(schema, path)

    assert schema.classes is None
    assert schema.objective == "regression"
    assert prepared.y.dtype == np.float32
    # Models learn the standardised target; `to_target` maps outputs back to the target's units.
    assert schema.target_mean == pytest.approx(targets.mean(), abs=1e-6)
    assert schema.target_std == pytest.approx(targets.std(), rel=1e-6)
    np.testing.assert_allclose(prepared.y, (targets - targets.mean()) / targets.std(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(schema.to_target(prepared.y), targets, rtol=1e-5, atol=1e-6)
    with pytest.raises(DataMismatch, match=r"broken\.csv.*'label'"):
        kinds.read(schema, broken)


def test_a_target_scale_is_for_a_finite_regression_only(tmp_path: Path) -> None:
    classes = cancer_schema(tmp_path)
    regression = tabular.infer(
        write_csv(tmp_path / "r.csv", cancer_table(rows=40, label=np.linspace(0, 400, 40))),
        "csv",
        label="label",
        regression=True,
    )
    constant = tabular.infer(
        write_csv(tmp_path / "c.csv", cancer_table(rows=40, label=np.full(40, 7.0))),
        "csv",
        label="label",
        regression=True,
    )

    assert (classes.target_mean, classes.target_std) == (0.0, 1.0)
    assert (constant.target_mean, constant.target_std) == (7.0, 1.0)  # nothing to divide by
    for bad, message in (
        (classes.model_dump() | {"target_std": 2.0}, "are for a regression"),
        (regression.model_dump() | {"target_std": 0.0}, "greater than 0"),
        (regression.model_dump() | {"target_mean": float("inf")}, "must be finite numbers"),
        (regression.model_dump() | {"target_std": float("nan")}, "greater than 0"),
        (regression.model_dump() | {"target_std": float("inf")}, "must be finite numbers"),
    ):
        with pytest.raises(ValueError, match=message):
            TabularSchema.model_validate(bad)
    # An old schema (before target scaling) reads as the identity: its models keep their meaning.
    old = regression.model_dump()
    del old["target_mean"], old["target_std"]
    assert TabularSchema.model_validate(old).to_target(np.array([2.5])).tolist() == [2.5]


def rewrite(path: Path, edit: str) -> None:
    """Break a written CSV in one way."""
    lines = path.read_text().splitlines()
    if edit == "missing":
        cells = [line.split(",") for line in lines]
        lines = [",".join(row[1:]) for row in cells]
    elif edit == "extra":
        lines = [lines[0] + ',"patient id"'] + [line + f",{i}" for i, line in enumerate(lines[1:])]
    elif edit == "label":
        lines[5] = lines[5].rsplit(",", 1)[0] + ",7"
    elif edit == "number":
        lines[9] = "abc" + lines[9][lines[9].index(",") :]
    elif edit == "blank":
        lines[9] = lines[9][lines[9].index(",") :]
    elif edit == "header":
        lines = lines[:1]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ("missing", r"missing columns \['mean radius'\]"),
        ("extra", r"extra columns \['patient id'\]"),
        ("label", r"'label'.*unknown \['7'\]"),
        ("number", r"'mean radius'.*'abc'"),
        ("blank", r"'mean radius'.*missing"),
        ("header", r"at least one row"),
    ],
)
def test_a_csv_that_does_not_fit_the_schema_is_refused_naming_the_problem(
    tmp_path: Path, edit: str, named: str
) -> None:
    schema = cancer_schema(tmp_path)
    path = write_csv(tmp_path / "bad.csv", cancer_table(rows=30))
    rewrite(path, edit)

    with pytest.raises(DataMismatch, match=named) as refused:
        kinds.read(schema, path)

    assert refused.value.path == str(path)
    assert str(refused.value).startswith(f"{path}: expected ")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\x00\xff\xfe" + bytes(range(256)) * 40])
def test_an_empty_or_binary_file_is_refused(tmp_path: Path, content: bytes) -> None:
    schema = cancer_schema(tmp_path)
    for name in ("junk.csv", "junk.parquet", "junk.npz"):
        path = tmp_path / name
        path.write_bytes(content)

        with pytest.raises(DataMismatch) as refused:
            kinds.read(schema, path)

        assert str(refused.value).startswith(f"{path}: expected ")
        assert "\n" not in str(refused.value)


def test_a_png_folder_reads_to_its_shape_and_labels(tmp_path: Path) -> None:
    root, labels = digits_folder(tmp_path / "digits")

    schema = image.infer(root, "folder")
    raw = kinds.read(schema, root)
    smaller = kinds.read(schema.model_copy(update={"height": 8, "width": 8}), root)
    prepared = kinds.prepare(schema, raw)

    assert schema.classes == [str(d) for d in range(10)]
    assert (schema.channels, schema.height, schema.width) == (1, 16, 16)
    assert raw.x.shape == (120, 1, 16, 16)
    assert raw.x.dtype == np.uint8
    np.testing.assert_array_equal(raw.y, labels)
    assert smaller.x.shape == (120, 1, 8, 8)
    assert prepared.x.dtype == np.float32
    assert float(prepared.x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(prepared.x.std()) == pytest.approx(1.0, abs=1e-3)


def test_a_folder_with_an_unknown_class_or_a_broken_image_is_refused(tmp_path: Path) -> None:
    root, _ = digits_folder(tmp_path / "digits", per_class=2)
    schema = image_schema()
    (root / "ten").mkdir()
    (root / "ten" / "a.png").write_bytes(b"")

    with pytest.raises(DataMismatch, match=r"digits: expected subfolders named after the classes.*'ten'"):
        kinds.read(schema, root)

    (root / "ten" / "a.png").rename(root / "3" / "broken.png")
    (root / "ten").rmdir()
    with pytest.raises(DataMismatch, match=r"broken\.png: expected a readable image"):
        kinds.read(schema, root)


def test_npy_images_in_a_folder_are_accepted_in_any_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
    np.save(tmp_path / "cat" / "hwc.npy", pixels)
    np.save(tmp_path / "dog" / "chw.npy", pixels.transpose(2, 0, 1))

    schema = image.infer(tmp_path, "folder")
    raw = kinds.read(schema, tmp_path)

    assert (schema.channels, schema.classes) == (3, ["cat", "dog"])
    np.testing.assert_array_equal(raw.x[0], pixels.transpose(2, 0, 1))
    np.testing.assert_array_equal(raw.x[1], raw.x[0])
    np.testing.assert_array_equal(raw.y, [0, 1])


def test_an_image_npz_is_read_in_either_layout_and_a_wrong_shape_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    names = np.array(["b", "a", "b", "a", "a", "b"])
    np.savez(tmp_path / "hwc.npz", x=x, y=names)
    np.savez(tmp_path / "chw.npz", x=x.transpose(0, 3, 1, 2), y=names)
    np.savez(tmp_path / "small.npz", x=x[:, :8], y=names)

    schema = image.infer(tmp_path / "hwc.npz", "npz")
    hwc = kinds.read(schema, tmp_path / "hwc.npz")
    chw = kinds.read(schema, tmp_path / "chw.npz")

    assert (schema.channels, schema.height, schema.width, schema.classes) == (3, 16, 16, ["a", "b"])
    np.testing.assert_array_equal(hwc.x, x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(chw.x, hwc.x)
    np.testing.assert_array_equal(hwc.y, [1, 0, 1, 0, 0, 1])
    with pytest.raises(DataMismatch, match=r"small\.npz: expected x of shape \[n, 3, 16, 16\]"):
        kinds.read(schema, tmp_path / "small.npz")
    with pytest.raises(DataMismatch, match=r"one\.npy: expected an \.npz holding x and y, or a folder"):
        kinds.read(schema, tmp_path / "one.npy", "npy")


def test_raw_bytes_round_trip_and_a_wrong_shape_is_refused(tmp_path: Path) -> None:
    schema = cancer_schema(tmp_path)
    raw = kinds.read(schema, write_csv(tmp_path / "rows.csv", cancer_table(rows=50)))
    pictures = Raw(np.zeros((3, 1, 16, 16), np.uint8), np.array([0, 9, 4], np.int64))
    narrow = kinds.raw_to_bytes(Raw(raw.x[:, :29], raw.y))

    back = kinds.raw_from_bytes(schema, kinds.raw_to_bytes(raw), "the validation set")
    images = kinds.raw_from_bytes(image_schema(), kinds.raw_to_bytes(pictures), "the test set")

    np.testing.assert_array_equal(back.x, raw.x)
    np.testing.assert_array_equal(back.y, raw.y)
    np.testing.assert_array_equal(images.x, pictures.x)
    np.testing.assert_array_equal(images.y, pictures.y)
    with pytest.raises(DataMismatch, match=r"^the validation set: expected numeric x of shape \[n, 30\]"):
        kinds.raw_from_bytes(schema, narrow, "the validation set")
    with pytest.raises(DataMismatch, match=r"^the test set: expected x of shape"):
        kinds.raw_from_bytes(image_schema(height=8), kinds.raw_to_bytes(pictures), "the test set")
    with pytest.raises(DataMismatch, match=r"class indices 0\.\.1"):
        kinds.raw_from_bytes(schema, kinds.raw_to_bytes(Raw(raw.x, raw.y + 1)), "labels")
    with pytest.raises(DataMismatch, match=r"^junk: "):
        kinds.raw_from_bytes(schema, b"not an npz at all", "junk")


def test_tabular_npz_labels_may_be_indices_or_class_names(tmp_path: Path) -> None:
    schema = cancer_schema(tmp_path)
    bunch = load_breast_cancer()
    np.savez(tmp_path / "names.npz", x=bunch.data, y=np.array([str(v) for v in bunch.target]))

    raw = kinds.read(schema, tmp_path / "names.npz")

    np.testing.assert_array_equal(raw.y, bunch.target)
    np.testing.assert_allclose(raw.x, bunch.data, rtol=1e-6)


def test_formats_are_detected_by_suffix_and_unknown_ones_refused(tmp_path: Path) -> None:
    suffixes = {"a.csv": "csv", "b.parquet": "parquet", "c.PQ": "parquet", "d.npz": "npz", "e.npy": "npy"}

    found = {name: kinds.detect_format(tmp_path / name) for name in suffixes}

    assert found == suffixes
    assert kinds.detect_format(tmp_path) == "folder"
    with pytest.raises(DataMismatch, match=r"data\.xlsx: expected a folder or a file ending in .csv"):
        kinds.detect_format(tmp_path / "data.xlsx")


def test_the_table_covers_every_kind_and_text_reads_its_formats(tmp_path: Path) -> None:
    assert set(kinds.KINDS) == {"tabular", "image", "text"}
    assert kinds.KINDS["text"].formats == ("folder", "txt", "jsonl")
    with pytest.raises(DataMismatch, match="corpus"):
        kinds.read(TextSchema(), tmp_path / "corpus", "txt")  # no such file
    (tmp_path / "notes.txt").write_text("plain text, long enough for a window of tokens. " * 10)
    assert text.infer(tmp_path / "notes.txt", "txt", context=16) == TextSchema(context=16)


def test_a_mismatch_says_what_was_expected_and_found_and_survives_pickling() -> None:
    mismatch = DataMismatch(Path("/data/rows.csv"), "numbers in 'age'", "'old'\nand more")

    back = pickle.loads(pickle.dumps(mismatch))

    assert str(mismatch) == "/data/rows.csv: expected numbers in 'age'; found 'old' and more"
    assert (back.path, back.expected, back.found) == ("/data/rows.csv", "numbers in 'age'", "'old' and more")
    assert isinstance(mismatch, ValueError)


def test_the_package_exports_exist() -> None:
    assert all(hasattr(kinds, name) for name in kinds.__all__)
