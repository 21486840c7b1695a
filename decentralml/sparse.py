"""Sparse updates (SparseLoCo-style): the top-k of a worker's delta, 8-bit, with error feedback.

A worker sends, for each tensor, only the `density` share of its delta from the round's global
model with the largest magnitude, each value quantised to int8 against one float32 scale per
tensor. What it did not send (the rest of the delta, and the rounding of what it sent) is its
**residual**, kept on the worker and added to its next round's delta, so nothing it learnt is lost,
only delayed (error feedback). At 2% density an update is about 1/40 of the float32 model.

    b"DMLS1\\n" | u32 header length | header JSON | per tensor: k uint32 indices (ascending), k int8

The header names the base model's sha256 (a delta from any other model is refused), the example
count, and per tensor its name, shape, k and scale. The exact bytes are what is hashed on chain and
sealed, like every update. `decode_sparse` refuses anything malformed: another base, tensors that
do not fit it, indices out of range or not strictly ascending, a k beyond the tensor's size, a
non-finite scale, or sizes that do not add up.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from decentralml.codec import DTYPE, SPARSE_MAGIC, CodecError, Weights, _count, _head, _layout

INDEX = np.dtype("<u4")
VALUE = np.dtype("i1")
LEVELS = 127


def is_sparse(data: bytes | memoryview) -> bool:
    return bytes(data[: len(SPARSE_MAGIC)]) == SPARSE_MAGIC


def encode_sparse(
    weights: Mapping[str, NDArray[np.floating]],
    base: Weights,
    base_sha256: str,
    density: float,
    residual: Weights | None = None,
    examples: int | None = None,
) -> tuple[bytes, Weights]:
    """(the sparse update's bytes, the new residual) for `weights` trained from `base`, carrying
    the `residual` left from the worker's previous round."""
    if not 0 < density <= 1:
        raise ValueError(f"density {density}: must be in (0, 1]")
    if list(weights) != list(base) or any(weights[n].shape != base[n].shape for n in weights):
        raise CodecError("the update and its base model have different tensors")
    entries: list[dict[str, object]] = []
    bodies: list[bytes] = []
    left: Weights = {}
    for name, array in weights.items():
        delta = np.asarray(array, dtype=np.float64) - base[name]
        if residual is not None and name in residual and residual[name].shape == delta.shape:
            delta = delta + residual[name]
        flat = delta.ravel()
        k = min(flat.size, max(1, math.ceil(density * flat.size))) if flat.size else 0
        chosen = (
            np.sort(np.argpartition(np.abs(flat), flat.size - k)[flat.size - k :])
            if k
            else flat[:0].astype(int)
        )
        values = flat[chosen]
        peak = float(np.max(np.abs(values))) if k else 0.0
        scale = peak / LEVELS if peak > 0 and math.isfinite(peak) else 0.0
        codes = (
            np.zeros(k, VALUE)
            if scale == 0
            else np.clip(np.rint(values / scale), -LEVELS, LEVELS).astype(VALUE)
        )
        sent = np.zeros_like(flat)
        sent[chosen] = codes.astype(np.float64) * scale
        left[name] = (flat - sent).reshape(delta.shape).astype(np.float32)
        entries.append({"name": name, "shape": list(delta.shape), "k": int(k), "scale": scale})
        bodies.append(chosen.astype(INDEX).tobytes() + codes.tobytes())
    fields: dict[str, object] = {"base": base_sha256, "density": density}
    if examples is not None:
        fields["examples"] = _count(examples)
    fields["tensors"] = entries
    head = json.dumps(fields, separators=(",", ":")).encode()
    return b"".join([SPARSE_MAGIC, struct.pack("<I", len(head)), head, *bodies]), left


def decode_sparse(data: bytes | memoryview, base: Weights, base_sha256: str) -> Weights:
    """The float32 update a sparse file stands for, rebuilt on `base`; CodecError if malformed."""
    if not is_sparse(data):
        raise CodecError("not a DecentralML sparse update (bad magic)")
    head, offset = _head(data, SPARSE_MAGIC)
    if not isinstance(head, dict) or "base" not in head:
        raise CodecError("unreadable header: no base model named")
    if str(head["base"]) != base_sha256:
        raise CodecError(
            f"the update is from model {head['base']}, not the round's global model {base_sha256}"
        )
    if "examples" in head:
        _count(head["examples"])
    entries = head.get("tensors")
    layout = _layout(entries)
    assert isinstance(entries, list)
    if [(n, s) for n, s in layout] != [(n, tuple(a.shape)) for n, a in base.items()]:
        raise CodecError("the update's tensors do not fit the global model")
    buffer = memoryview(data)
    out: Weights = {}
    for entry, (name, shape) in zip(entries, layout, strict=True):
        size = int(np.prod(shape, dtype=np.int64))
        try:
            k, scale = int(entry["k"]), float(entry["scale"])
        except (KeyError, TypeError, ValueError) as bad:
            raise CodecError(f"{name}: unreadable k or scale ({bad})") from bad
        if not 0 <= k <= size or not math.isfinite(scale) or scale < 0:
            raise CodecError(f"{name}: k {k} of {size} values, scale {scale}")
        end = offset + k * (INDEX.itemsize + VALUE.itemsize)
        if end > len(data):
            raise CodecError(f"{name}: the file ends inside the tensor")
        indices = np.frombuffer(buffer, dtype=INDEX, count=k, offset=offset).astype(np.int64)
        codes = np.frombuffer(buffer, dtype=VALUE, count=k, offset=offset + k * INDEX.itemsize)
        if k and (indices[-1] >= size or np.any(np.diff(indices) <= 0)):
            raise CodecError(f"{name}: indices out of range or not strictly ascending")
        flat = base[name].astype(np.float64).ravel().copy()
        flat[indices] += codes.astype(np.float64) * scale
        out[name] = flat.reshape(shape).astype(DTYPE)
        offset = end
    if offset != len(data):
        raise CodecError(f"{len(data) - offset} bytes after the last tensor")
    return out
