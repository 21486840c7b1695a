"""Model weights as bytes: a fixed, pickle-free layout, so a hash names exactly one set of weights.

    b"DMLW1\\n" | u32 header length (little endian) | header JSON | float32 tensors, little endian

The header lists each tensor's name and shape in order: a JSON list of {name, shape}, or, for a
worker's update, {"examples": n, "tensors": [...]}, so the number of examples it trained on is
bound by the hash on chain and every validator reads the same count from the same bytes.
Decoding never executes anything from the bytes (unlike `torch.load`'s pickle), so updates from
untrusted workers are safe to read.
`tensors` yields one tensor at a time as a view into the bytes: readers need not copy a model.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAGIC = b"DMLW1\n"
DTYPE = np.dtype("<f4")
MAX_HEADER = 1 << 20

Weights = dict[str, NDArray[np.float32]]

# The Flower record a worker's reply carries (worker.client_app builds it, the coordinator's
# ServerApp reads it): a ConfigRecord with the update's bytes in this format, exactly as hashed on
# chain, the worker's address and its number of training examples.
FLOWER_REPLY = "dml-update"


class CodecError(ValueError):
    """Bytes that are not a weights file of this format."""


def encode(weights: Mapping[str, NDArray[np.floating]], examples: int | None = None) -> bytes:
    """The weights' bytes; with `examples` (an update), the count it was trained on in the header."""
    entries = [{"name": name, "shape": list(array.shape)} for name, array in weights.items()]
    body: object = entries if examples is None else {"examples": _count(examples), "tensors": entries}
    header = json.dumps(body, separators=(",", ":")).encode()
    parts = [MAGIC, struct.pack("<I", len(header)), header]
    parts += [np.ascontiguousarray(array, dtype=DTYPE).tobytes() for array in weights.values()]
    return b"".join(parts)


def _count(examples: object) -> int:
    if isinstance(examples, bool) or not isinstance(examples, int) or not 0 < examples < 1 << 53:
        raise CodecError(f"an example count must be a positive integer, not {examples!r}")
    return examples


def _head(data: bytes | memoryview, magic: bytes) -> tuple[object, int]:
    """The parsed JSON header after `magic`, and where the tensor data starts."""
    if bytes(data[: len(magic)]) != magic:
        raise CodecError("not a DecentralML weights file (bad magic)")
    start = len(magic) + 4
    if len(data) < start:
        raise CodecError("truncated header")
    (length,) = struct.unpack("<I", bytes(data[len(magic) : start]))
    if length > MAX_HEADER or start + length > len(data):
        raise CodecError("header length out of range")
    try:
        return json.loads(bytes(data[start : start + length])), start + length
    except ValueError as bad:
        raise CodecError(f"unreadable header: {bad}") from bad


def named_base(data: bytes | memoryview) -> str:
    """The sha256 of the model a compact file (delta, sparse or 1-bit) was made from, as its
    header names it; CodecError if it names none."""
    magic = bytes(data[: len(MAGIC)])
    if magic not in (DELTA_MAGIC, SPARSE_MAGIC, SIGN_MAGIC):
        raise CodecError("not a DecentralML change file (bad magic)")
    head, _ = _head(data, magic)
    if not isinstance(head, dict) or not isinstance(head.get("base"), str):
        raise CodecError("unreadable header: no base model named")
    return str(head["base"])


def examples(data: bytes | memoryview) -> int | None:
    """The example count an update (full or delta) carries in its header, or None if it has none;
    CodecError if the header is unreadable or the count is not a positive integer."""
    start = bytes(data[: len(MAGIC)])
    magic = start if start in (DELTA_MAGIC, SPARSE_MAGIC, SIGN_MAGIC) else MAGIC
    head, _ = _head(data, magic)
    if not isinstance(head, dict) or "examples" not in head:
        return None
    return _count(head["examples"])


def examples_in(path: Path) -> int | None:
    """`examples` of the update in a file, reading only its header."""
    with path.open("rb") as f:
        return examples(f.read(len(MAGIC) + 4 + MAX_HEADER))


def header(data: bytes | memoryview) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    """The tensors' (name, shape) in order, and where their data starts."""
    head, start = _head(data, MAGIC)
    if isinstance(head, dict):
        _count(head.get("examples"))
        head = head.get("tensors")
    layout = _layout(head)
    return layout, start


def _layout(entries: object) -> list[tuple[str, tuple[int, ...]]]:
    if not isinstance(entries, list):
        raise CodecError("unreadable header: no list of tensors")
    try:
        layout = [(str(e["name"]), tuple(int(d) for d in e["shape"])) for e in entries]
    except (ValueError, KeyError, TypeError) as bad:
        raise CodecError(f"unreadable header: {bad}") from bad
    if any(d < 0 for _, shape in layout for d in shape):
        raise CodecError("negative dimension")
    return layout


def tensors(data: bytes | memoryview) -> Iterator[tuple[str, NDArray[np.float32]]]:
    """(name, read-only float32 view) of each tensor, in order, checking the sizes add up."""
    layout, offset = header(data)
    expected = offset + sum(int(np.prod(shape, dtype=np.int64)) * DTYPE.itemsize for _, shape in layout)
    if expected != len(data):
        raise CodecError(f"the tensors take {expected - offset} bytes, the file has {len(data) - offset}")
    buffer = memoryview(data)
    for name, shape in layout:
        count = int(np.prod(shape, dtype=np.int64))
        yield name, np.frombuffer(buffer, dtype=DTYPE, count=count, offset=offset).reshape(shape)
        offset += count * DTYPE.itemsize


def decode(data: bytes | memoryview) -> Weights:
    """Every tensor, as writable copies."""
    return {name: array.copy() for name, array in tensors(data)}


def layout(data: bytes | memoryview) -> list[tuple[str, tuple[int, ...]]]:
    return header(data)[0]


# Compact updates: the worker's update as float16 deltas from the global model it trained from.
#
#     b"DMLD1\n" | u32 header length | header JSON {"base": sha256 of the global model's bytes,
#     "tensors": [{name, shape}, ...]} | float16 deltas (update - base), little endian
#
# Half the bytes of a float32 delta and exactly reproducible: the worker hashes these bytes on
# chain, and the referee rebuilds the float32 update from the global model it sent (refusing a
# delta whose base is another model). A delta beyond float16's range becomes inf, and an update
# that is not finite is rejected as Malformed. The aggregate stays float32.
DELTA_MAGIC = b"DMLD1\n"
SPARSE_MAGIC = b"DMLS1\n"  # decentralml.sparse's format
SIGN_MAGIC = b"DMLB1\n"  # decentralml.signs's format
DELTA_DTYPE = np.dtype("<f2")


def is_delta(data: bytes | memoryview) -> bool:
    return bytes(data[: len(DELTA_MAGIC)]) == DELTA_MAGIC


def encode_delta(
    weights: Mapping[str, NDArray[np.floating]], base: Weights, base_sha256: str, examples: int | None = None
) -> bytes:
    """`weights` as float16 deltas from `base` (whose codec bytes hash to `base_sha256`); with
    `examples`, the count the update was trained on in the header (as `encode`)."""
    if list(weights) != list(base) or any(weights[n].shape != base[n].shape for n in weights):
        raise CodecError("the update and its base model have different tensors")
    fields: dict[str, object] = {"base": base_sha256}
    if examples is not None:
        fields["examples"] = _count(examples)
    fields["tensors"] = [{"name": name, "shape": list(array.shape)} for name, array in weights.items()]
    head = json.dumps(fields, separators=(",", ":")).encode()
    parts = [DELTA_MAGIC, struct.pack("<I", len(head)), head]
    with np.errstate(over="ignore"):
        parts += [
            (np.asarray(weights[n], dtype=np.float64) - base[n]).astype(DELTA_DTYPE).tobytes()
            for n in weights
        ]
    return b"".join(parts)


def change_head(
    data: bytes | memoryview, magic: bytes, what: str, base: Weights, base_sha256: str
) -> tuple[dict[str, Any], list[tuple[str, tuple[int, ...]]], int]:
    """The header, tensor layout and data offset of a compact update (`what`, behind `magic`)
    made from `base`; CodecError for another magic, no base named or another base, an unreadable
    example count, or tensors that do not fit `base`."""
    if bytes(data[: len(magic)]) != magic:
        raise CodecError(f"not a DecentralML {what} (bad magic)")
    head, offset = _head(data, magic)
    if not isinstance(head, dict) or "base" not in head:
        raise CodecError("unreadable header: no base model named")
    if str(head["base"]) != base_sha256:
        raise CodecError(
            f"the update is from model {head['base']}, not the round's global model {base_sha256}"
        )
    if "examples" in head:
        _count(head["examples"])
    layout = _layout(head.get("tensors"))
    if layout != [(n, tuple(a.shape)) for n, a in base.items()]:
        raise CodecError("the update's tensors do not fit the global model")
    return head, layout, offset


def decode_delta(data: bytes | memoryview, base: Weights, base_sha256: str) -> Weights:
    """The float32 update a delta file stands for, rebuilt on `base`; CodecError if the file is
    malformed, was made from another base model, or does not fit the base's tensors."""
    _, layout, offset = change_head(data, DELTA_MAGIC, "delta file", base, base_sha256)
    expected = offset + sum(int(np.prod(s, dtype=np.int64)) for _, s in layout) * DELTA_DTYPE.itemsize
    if expected != len(data):
        raise CodecError(f"the deltas take {expected - offset} bytes, the file has {len(data) - offset}")
    out: Weights = {}
    buffer = memoryview(data)
    for name, shape in layout:
        count = int(np.prod(shape, dtype=np.int64))
        delta = np.frombuffer(buffer, dtype=DELTA_DTYPE, count=count, offset=offset).reshape(shape)
        out[name] = (base[name] + delta.astype(np.float32)).astype(DTYPE)
        offset += count * DELTA_DTYPE.itemsize
    return out
