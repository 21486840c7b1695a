"""Images: an ImageFolder (one subfolder per class) or an .npz, read into uint8 [n, C, H, W].

A folder's subfolders are named exactly as classes; each holds .png, .jpg, .jpeg or .bmp files
(decoded with Pillow) or .npy uint8 arrays (HxW, HxWxC or CxHxW), converted to the schema's
channels (L or RGB) and resized bilinearly to its size. Hidden entries and files beside the
subfolders are ignored. An .npz holds `x` uint8 [n, H, W, C], [n, C, H, W] or, for one channel,
[n, H, W], already at the schema's size, and `y` (class indices or names).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydantic import ValidationError

from decentralml.kinds.schema import DataMismatch, ImageSchema, Raw, Split, class_indices, few, npz_arrays

formats = ("folder", "npz")
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".npy")
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
MAX_SIDE = 1024
STD_FLOOR = 1e-6


def read(schema: ImageSchema, path: Path, fmt: str) -> Raw:
    """Every image under `path`, checked against `schema`; raises `DataMismatch`."""
    if fmt == "npz":
        x, y = npz_arrays(path, str(path))
        return from_arrays(schema, x, y, str(path))
    _check_format(path, fmt)
    files = _listing(path, schema.classes)
    x = np.empty((len(files), schema.channels, schema.height, schema.width), dtype=np.uint8)
    y = np.empty(len(files), dtype=np.int64)
    for i, (file, label) in enumerate(files):
        x[i] = _pixels(file, schema.channels, schema.height, schema.width)
        y[i] = label
    return Raw(x, y)


def from_arrays(schema: ImageSchema, x: NDArray[Any], y: NDArray[Any], name: str) -> Raw:
    """Arrays (an .npz, a sealed set) checked against `schema`, as uint8 [n, C, H, W].

    Raises `DataMismatch`."""
    c, h, w = schema.channels, schema.height, schema.width
    if x.dtype != np.uint8:
        raise DataMismatch(name, "x of dtype uint8", f"x of dtype {x.dtype}")
    if x.ndim == 3 and c == 1 and x.shape[1:] == (h, w):
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1:] == (h, w, c) and x.shape[1:] != (c, h, w):
        x = x.transpose(0, 3, 1, 2)
    elif x.ndim != 4 or x.shape[1:] != (c, h, w):
        shapes = [f"[n, {c}, {h}, {w}]", f"[n, {h}, {w}, {c}]"] + ([f"[n, {h}, {w}]"] if c == 1 else [])
        raise DataMismatch(name, f"x of shape {' or '.join(shapes)}", f"x of shape {list(x.shape)}")
    if y.shape != (len(x),):
        raise DataMismatch(name, f"y of shape [{len(x)}]", f"y of shape {list(y.shape)}")
    if len(x) == 0:
        raise DataMismatch(name, "at least one image", "none")
    return Raw(np.ascontiguousarray(x), class_indices(y, schema.classes, name))


def prepare(schema: ImageSchema, raw: Raw) -> Split:
    """Pixels scaled to [0, 1] and standardised per channel, float32; int64 class indices."""
    x = raw.x.astype(np.float32)
    x /= 255.0
    x -= np.asarray(schema.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    x /= np.asarray(schema.std, dtype=np.float32).reshape(1, -1, 1, 1)
    return Split(x, raw.y.astype(np.int64))


def infer(
    path: Path, fmt: str, height: int | None = None, width: int | None = None, channels: int | None = None
) -> ImageSchema:
    """A schema for `path`: classes are the sorted subfolder names (an .npz: its labels); size and
    channels those of the first image unless given (1 for a grey image, else 3); mean and std per
    channel of the resized pixels in [0, 1], in one streaming pass. Raises `DataMismatch`."""
    if fmt == "npz":
        return _infer_npz(path, height, width, channels)
    _check_format(path, fmt)
    classes = sorted(e.name for e in path.iterdir() if e.is_dir() and not e.name.startswith("."))
    files = _listing(path, classes)
    first_height, first_width, first_channels = _probe(files[0][0])
    h, w, c = height or first_height, width or first_width, channels or first_channels
    if max(h, w) > MAX_SIDE:
        raise DataMismatch(
            files[0][0], f"images at most {MAX_SIDE} pixels a side (or pass height and width)", f"{w}x{h}"
        )
    sums, squares, count = np.zeros(c), np.zeros(c), 0
    for file, _ in files:
        pixels = _pixels(file, c, h, w).reshape(c, -1).astype(np.float64) / 255.0
        sums += pixels.sum(axis=1)
        squares += (pixels**2).sum(axis=1)
        count += pixels.shape[1]
    mean = sums / count
    return _schema(path, c, h, w, classes, mean, np.sqrt(np.maximum(squares / count - mean**2, 0.0)))


def _infer_npz(path: Path, height: int | None, width: int | None, channels: int | None) -> ImageSchema:
    x, y = npz_arrays(path, str(path))
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and (x.shape[3] == channels or (channels is None and x.shape[3] in (1, 3))):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.dtype != np.uint8 or len(x) == 0:
        raise DataMismatch(
            path, "uint8 x of shape [n, H, W, C], [n, C, H, W] or [n, H, W]", f"{x.dtype} {list(x.shape)}"
        )
    c, h, w = x.shape[1:]
    for asked, found in ((channels, c), (height, h), (width, w)):
        if asked is not None and asked != found:
            raise DataMismatch(
                path, f"images {height}x{width} with {channels} channels", f"{list(x.shape[1:])}"
            )
    classes = (
        sorted(set(y.tolist())) if y.dtype.kind == "U" else [str(i) for i in range(int(y.max(initial=0)) + 1)]
    )
    sums, squares = np.zeros(c), np.zeros(c)
    for start in range(0, len(x), 1024):
        pixels = x[start : start + 1024].transpose(1, 0, 2, 3).reshape(c, -1).astype(np.float64) / 255.0
        sums += pixels.sum(axis=1)
        squares += (pixels**2).sum(axis=1)
    mean = sums / (x.size / c)
    schema = _schema(path, c, h, w, classes, mean, np.sqrt(np.maximum(squares / (x.size / c) - mean**2, 0.0)))
    from_arrays(schema, x, y, str(path))
    return schema


def _schema(
    path: Path,
    c: int,
    h: int,
    w: int,
    classes: list[str],
    mean: NDArray[np.float64],
    std: NDArray[np.float64],
) -> ImageSchema:
    if len(classes) < 2:
        raise DataMismatch(path, "at least two classes", f"{few(classes)}")
    try:
        return ImageSchema(
            channels=c,
            height=h,
            width=w,
            classes=classes,
            mean=mean.tolist(),
            std=np.where(std < STD_FLOOR, 1.0, std).tolist(),
        )
    except ValidationError as bad:
        raise DataMismatch(path, "values a schema can hold", bad.errors()[0]["msg"]) from bad


def _check_format(path: Path, fmt: str) -> None:
    if fmt == "npy":
        raise DataMismatch(path, "an .npz holding x and y, or a folder of images", "a single .npy array")
    if fmt != "folder":
        raise DataMismatch(path, f"images as one of {', '.join(formats)}", f"format {fmt!r}")
    if not path.is_dir():
        raise DataMismatch(path, "a folder with one subfolder per class", "not a folder")


def _listing(root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """(file, class index) of every image, by subfolder then file name."""
    index = {name: i for i, name in enumerate(classes)}
    found: list[tuple[Path, int]] = []
    for folder in sorted(e for e in root.iterdir() if e.is_dir() and not e.name.startswith(".")):
        if folder.name not in index:
            raise DataMismatch(root, f"subfolders named after the classes {few(classes)}", f"{folder.name!r}")
        for file in sorted(folder.rglob("*")):
            if file.is_dir() or any(part.startswith(".") for part in file.relative_to(folder).parts):
                continue
            if file.suffix.lower() not in SUFFIXES:
                raise DataMismatch(
                    file, f"an image ({', '.join(SUFFIXES)})", f"a {file.suffix or 'suffixless'} file"
                )
            found.append((file, index[folder.name]))
    if not found:
        raise DataMismatch(root, "at least one image in a class subfolder", "none")
    return found


MAX_BLOB_PIXELS = 4096 * 4096
"""The largest image `from_blobs` decodes (a small PNG can hold a huge blank image)."""


def from_blobs(schema: ImageSchema, blobs: list[bytes], name: str) -> NDArray[np.uint8]:
    """Encoded images (PNG, JPEG, ...) as uint8 [n, C, H, W], converted and resized like the
    files `read` takes; raises `DataMismatch` naming the first that cannot be decoded."""
    if not blobs:
        raise DataMismatch(name, "at least one image", "none")
    images = []
    for i, blob in enumerate(blobs):
        try:
            images.append(
                _pixels(io.BytesIO(blob), schema.channels, schema.height, schema.width, f"{name}[{i}]")
            )
        except DataMismatch:
            raise
        except Exception as bad:  # untrusted bytes: any decoder failure is the sender's image, not ours
            raise DataMismatch(f"{name}[{i}]", "a readable image", f"{type(bad).__name__}: {bad}") from bad
    return np.stack(images)


def _pixels(
    file: Path | io.BytesIO, channels: int, height: int, width: int, name: str | None = None
) -> NDArray[np.uint8]:
    """One image (a file, or encoded bytes named `name`) as uint8 [channels, height, width]."""
    mode = "L" if channels == 1 else "RGB"
    where = name or str(file)
    if isinstance(file, Path) and file.suffix.lower() == ".npy":
        image = Image.fromarray(_hwc(_array(file), file))
    else:
        try:
            with Image.open(file) as opened:
                if name is not None and opened.size[0] * opened.size[1] > MAX_BLOB_PIXELS:
                    found = f"{opened.size[0]}x{opened.size[1]} pixels"
                    raise DataMismatch(where, f"at most {MAX_BLOB_PIXELS} pixels", found)
                image = opened.convert(mode)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as bad:
            if isinstance(bad, DataMismatch):
                raise
            raise DataMismatch(where, "a readable image", f"{type(bad).__name__}: {bad}") from bad
    if image.mode != mode:
        image = image.convert(mode)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def _probe(file: Path) -> tuple[int, int, int]:
    """(height, width, channels) of one image, without decoding it."""
    if file.suffix.lower() == ".npy":
        shape = _hwc(_array(file), file).shape
        return shape[0], shape[1], 1 if len(shape) == 2 else 3
    try:
        with Image.open(file) as opened:
            width, height = opened.size
            return height, width, 1 if opened.mode in GRAY_MODES else 3
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as bad:
        raise DataMismatch(file, "a readable image", f"{type(bad).__name__}: {bad}") from bad


def _array(file: Path) -> NDArray[Any]:
    try:
        found = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as bad:
        raise DataMismatch(file, "a uint8 .npy array", f"unreadable data ({bad})") from bad
    if not isinstance(found, np.ndarray) or found.dtype != np.uint8:
        raise DataMismatch(file, "a uint8 .npy array", f"{getattr(found, 'dtype', type(found).__name__)}")
    return found


def _hwc(array: NDArray[Any], file: Path) -> NDArray[Any]:
    """An image array as HxW (grey) or HxWx3, from HxW, HxWxC or CxHxW with C 1 or 3."""
    if array.ndim == 3 and array.shape[2] not in (1, 3) and array.shape[0] in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3):
        return np.ascontiguousarray(array)
    raise DataMismatch(file, "an HxW, HxWxC or CxHxW array with C 1 or 3", f"shape {list(array.shape)}")
