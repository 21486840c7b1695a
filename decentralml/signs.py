"""1-bit updates: the sign of every value of a worker's delta and one scale per block, with error
feedback (scaled signSGD with error feedback, as in EF-SignSGD and 1-bit Adam).

Local training with AdamW moves most parameters by about the same amount, so the largest few
values (`decentralml.sparse`) carry only a small part of a delta; the signs of all of them, each
block of `BLOCK` values scaled by its mean magnitude, carry most of it. What the signs do not carry
is the worker's **residual**, kept on the worker and added to its next round's delta, so nothing
it learnt is lost, only delayed. An update is 1 bit a value and a float32 scale per 256 values:
about 1/28 of the float32 model.

    b"DMLB1\\n" | u32 header length | header JSON | per tensor: ceil(n / block) float32 scales,
    then ceil(n / 8) bytes of signs (bit i of byte j, little-endian bit order, is value 8j + i:
    1 for a value >= 0, 0 below; the bits past the tensor's end are 0)

The header names the base model's sha256 (a delta from any other model is refused), the block,
the example count, and each tensor's name and shape. The exact bytes are what is hashed on chain
and sealed, like every update. `decode_signs` refuses anything malformed: another base, tensors
that do not fit it, a block outside 1 .. 65536, a scale that is negative or not finite, set bits
past a tensor's end, or sizes that do not add up.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from decentralml.codec import DTYPE, SIGN_MAGIC, CodecError, Weights, _count, change_head

BLOCK = 256
MAX_BLOCK = 1 << 16
SCALE = np.dtype("<f4")


def is_signs(data: bytes | memoryview) -> bool:
    return bytes(data[: len(SIGN_MAGIC)]) == SIGN_MAGIC


def _blocks(size: int, block: int) -> int:
    return -(-size // block)


def encode_signs(
    weights: Mapping[str, NDArray[np.floating]],
    base: Weights,
    base_sha256: str,
    residual: Weights | None = None,
    examples: int | None = None,
    block: int = BLOCK,
) -> tuple[bytes, Weights]:
    """(the 1-bit update's bytes, the new residual) for `weights` trained from `base`, carrying
    the `residual` left from the worker's previous round. ValueError for a block outside
    1 .. 65536 or a delta that is not finite."""
    if not 1 <= block <= MAX_BLOCK:
        raise ValueError(f"block {block}: must be 1 .. {MAX_BLOCK}")
    if list(weights) != list(base) or any(weights[n].shape != base[n].shape for n in weights):
        raise CodecError("the update and its base model have different tensors")
    entries: list[dict[str, object]] = []
    bodies: list[bytes] = []
    left: Weights = {}
    for name, array in weights.items():
        delta = np.asarray(array, dtype=np.float64) - base[name]
        if residual is not None and name in residual and residual[name].shape == delta.shape:
            delta = delta + residual[name]
        if not np.isfinite(delta).all():
            raise ValueError(f"{name}: the delta is not finite")
        flat = delta.ravel()
        blocks = _blocks(flat.size, block)
        padded = np.zeros(blocks * block)
        padded[: flat.size] = np.abs(flat)
        counts = np.full(blocks, block, dtype=np.float64)
        if blocks:
            counts[-1] = flat.size - (blocks - 1) * block
        scales = (padded.reshape(blocks, block).sum(axis=1) / counts).astype(SCALE)
        positive = flat >= 0
        sent = np.where(positive, 1.0, -1.0) * np.repeat(scales.astype(np.float64), block)[: flat.size]
        left[name] = (flat - sent).reshape(delta.shape).astype(np.float32)
        entries.append({"name": name, "shape": list(delta.shape)})
        bodies.append(scales.tobytes() + np.packbits(positive, bitorder="little").tobytes())
    fields: dict[str, object] = {"base": base_sha256, "block": block}
    if examples is not None:
        fields["examples"] = _count(examples)
    fields["tensors"] = entries
    head = json.dumps(fields, separators=(",", ":")).encode()
    return b"".join([SIGN_MAGIC, struct.pack("<I", len(head)), head, *bodies]), left


def decode_signs(data: bytes | memoryview, base: Weights, base_sha256: str) -> Weights:
    """The float32 update a 1-bit file stands for, rebuilt on `base`; CodecError if malformed."""
    head, layout, offset = change_head(data, SIGN_MAGIC, "1-bit update", base, base_sha256)
    block = head.get("block")
    if isinstance(block, bool) or not isinstance(block, int) or not 1 <= block <= MAX_BLOCK:
        raise CodecError(f"block {block!r}: must be an integer 1 .. {MAX_BLOCK}")
    buffer = memoryview(data)
    out: Weights = {}
    for name, shape in layout:
        size = int(np.prod(shape, dtype=np.int64))
        blocks, packed = _blocks(size, block), _blocks(size, 8)
        end = offset + blocks * SCALE.itemsize + packed
        if end > len(data):
            raise CodecError(f"{name}: the file ends inside the tensor")
        scales = np.frombuffer(buffer, dtype=SCALE, count=blocks, offset=offset).astype(np.float64)
        if not np.isfinite(scales).all() or np.any(scales < 0):
            raise CodecError(f"{name}: a scale is negative or not finite")
        raw = np.frombuffer(buffer, dtype=np.uint8, count=packed, offset=offset + blocks * SCALE.itemsize)
        bits = np.unpackbits(raw, bitorder="little")
        if np.any(bits[size:]):
            raise CodecError(f"{name}: bits set past the tensor's end")
        values = np.where(bits[:size] == 1, 1.0, -1.0) * np.repeat(scales, block)[:size]
        out[name] = (base[name].astype(np.float64).ravel() + values).reshape(shape).astype(DTYPE)
        offset = end
    if offset != len(data):
        raise CodecError(f"{len(data) - offset} bytes after the last tensor")
    return out
