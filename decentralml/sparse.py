"""Sparse updates (SparseLoCo-style): the top-k of a worker's delta, 8-bit, with error feedback.

A worker sends, for each tensor, only the `density` share of its delta from the round's global
model with the largest magnitude, each value quantised to int8 against one float32 scale per
tensor. What it did not send (the rest of the delta, and the rounding of what it sent) is its
**residual**, kept on the worker and added to its next round's delta, so nothing it learnt is lost,
only delayed (error feedback).

    b"DMLS1\\n" | u32 header length | header JSON | per tensor: its indices, then k int8 values

Indices are ascending. Written today (header `"indices": "gaps"`), they are the gaps between
them (the first index itself), each an unsigned LEB128 varint, the tensor's `index_bytes` long: at
2% density most gaps take one byte, so an entry costs about 2.1 bytes and an update about 1/95 of
the float32 model. Files without the field (written before) hold k uint32 indices, 5 bytes an
entry, and still decode.

The header names the base model's sha256 (a delta from any other model is refused), the example
count, and per tensor its name, shape, k and scale. The exact bytes are what is hashed on chain and
sealed, like every update. `decode_sparse` refuses anything malformed: another base, tensors that
do not fit it, indices out of range or not strictly ascending, a varint that is cut short, too
long or not minimal, a k beyond the tensor's size, a non-finite scale, or sizes that do not add
up.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from decentralml.codec import DTYPE, SPARSE_MAGIC, CodecError, Weights, _count, change_head

INDEX = np.dtype("<u4")  # the indices of files without "indices": "gaps"
VALUE = np.dtype("i1")
LEVELS = 127
GAPS = "gaps"
VARINT_BYTES = 5  # enough for any uint32 gap


def encode_gaps(indices: NDArray[np.integer]) -> bytes:
    """Strictly ascending indices as LEB128 varints of their gaps (the first index itself)."""
    ascending = np.asarray(indices, dtype=np.uint64)
    gaps = ascending.copy()
    gaps[1:] -= ascending[:-1]
    if gaps.size and (np.any(gaps[1:] == 0) or int(gaps.max()) >= 1 << 32):
        raise ValueError("indices must be strictly ascending uint32")
    sizes = np.ones(gaps.size, dtype=np.int64)
    for bits in (7, 14, 21, 28):
        sizes += gaps >= (1 << bits)
    starts = np.cumsum(sizes) - sizes
    out = np.zeros(int(sizes.sum()), dtype=np.uint8)
    for byte in range(VARINT_BYTES):
        has = sizes > byte
        group = ((gaps[has] >> np.uint64(7 * byte)) & np.uint64(0x7F)).astype(np.uint8)
        more = (sizes[has] > byte + 1).astype(np.uint8) << 7
        out[starts[has] + byte] = group | more
    return out.tobytes()


def decode_gaps(block: bytes | memoryview, k: int, size: int, name: str) -> NDArray[np.int64]:
    """The k strictly ascending indices below `size` that `block` (exactly their varints) holds;
    CodecError for a varint cut short, longer than 5 bytes or not minimal, a count other than k,
    a zero gap after the first, or an index out of range."""
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw < 0x80)
    if ends.size != k or (k and ends[-1] != raw.size - 1) or (not k and raw.size):
        raise CodecError(f"{name}: the index block does not hold {k} whole varints")
    if not k:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > VARINT_BYTES or np.any((lengths > 1) & (raw[ends] == 0)):
        raise CodecError(f"{name}: an index varint is too long or not minimal")
    gaps = np.zeros(k, dtype=np.uint64)
    for byte in range(VARINT_BYTES):
        has = lengths > byte
        gaps[has] |= (raw[starts[has] + byte] & np.uint8(0x7F)).astype(np.uint64) << np.uint64(7 * byte)
    if np.any(gaps[1:] == 0):
        raise CodecError(f"{name}: indices out of range or not strictly ascending")
    indices = np.cumsum(gaps, dtype=np.uint64)
    if int(gaps.max()) >= 1 << 32 or int(indices[-1]) >= size:
        raise CodecError(f"{name}: indices out of range or not strictly ascending")
    return indices.astype(np.int64)


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
        index = encode_gaps(chosen)
        entries.append(
            {"name": name, "shape": list(delta.shape), "k": int(k), "scale": scale, "index_bytes": len(index)}
        )
        bodies.append(index + codes.tobytes())
    fields: dict[str, object] = {"base": base_sha256, "density": density, "indices": GAPS}
    if examples is not None:
        fields["examples"] = _count(examples)
    fields["tensors"] = entries
    head = json.dumps(fields, separators=(",", ":")).encode()
    return b"".join([SPARSE_MAGIC, struct.pack("<I", len(head)), head, *bodies]), left


def decode_sparse(data: bytes | memoryview, base: Weights, base_sha256: str) -> Weights:
    """The float32 update a sparse file stands for, rebuilt on `base`; CodecError if malformed."""
    head, layout, offset = change_head(data, SPARSE_MAGIC, "sparse update", base, base_sha256)
    entries = head["tensors"]
    gapped = head.get("indices")
    if gapped not in (None, GAPS):
        raise CodecError(f"unknown index encoding {gapped!r}")
    buffer = memoryview(data)
    out: Weights = {}
    for entry, (name, shape) in zip(entries, layout, strict=True):
        size = int(np.prod(shape, dtype=np.int64))
        try:
            k, scale = int(entry["k"]), float(entry["scale"])
            index_bytes = int(entry["index_bytes"]) if gapped else k * INDEX.itemsize
        except (KeyError, TypeError, ValueError) as bad:
            raise CodecError(f"{name}: unreadable k, scale or index_bytes ({bad})") from bad
        if not 0 <= k <= size or not math.isfinite(scale) or scale < 0 or index_bytes < 0:
            raise CodecError(f"{name}: k {k} of {size} values, scale {scale}, {index_bytes} index bytes")
        end = offset + index_bytes + k * VALUE.itemsize
        if end > len(data):
            raise CodecError(f"{name}: the file ends inside the tensor")
        if gapped:
            indices = decode_gaps(buffer[offset : offset + index_bytes], k, size, name)
        else:
            indices = np.frombuffer(buffer, dtype=INDEX, count=k, offset=offset).astype(np.int64)
            if k and (indices[-1] >= size or np.any(np.diff(indices) <= 0)):
                raise CodecError(f"{name}: indices out of range or not strictly ascending")
        codes = np.frombuffer(buffer, dtype=VALUE, count=k, offset=offset + index_bytes)
        flat = base[name].astype(np.float64).ravel().copy()
        flat[indices] += codes.astype(np.float64) * scale
        out[name] = flat.reshape(shape).astype(DTYPE)
        offset = end
    if offset != len(data):
        raise CodecError(f"{len(data) - offset} bytes after the last tensor")
    return out
