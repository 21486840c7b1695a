"""Sparse 8-bit updates with error feedback (`decentralml.sparse`): about 1/95 of the model at 2%
(indices as varint gaps), what is not sent kept and sent later, files of the older uint32 index
layout still read, and every malformed file refused."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from decentralml import codec
from decentralml.codec import SPARSE_MAGIC, CodecError
from decentralml.content import sha256_hex
from decentralml.models import ModelSpec, build, weights_of
from decentralml.sparse import decode_gaps, decode_sparse, encode_gaps, encode_sparse

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[64])


def trained(base: codec.Weights, seed: int, scale: float = 0.01) -> codec.Weights:
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in base.items()}


def test_two_percent_is_about_a_ninetieth_and_rebuilds_the_largest_changes() -> None:
    # 76k parameters: the header (a few hundred bytes) no longer counts, as in a real model.
    base = weights_of(build(SPEC.model_copy(update={"hidden": [1024]}), 0))
    sha = sha256_hex(codec.encode(base))
    update = trained(base, 1)
    data, residual = encode_sparse(update, base, sha, 0.02, None, 100)

    full = len(codec.encode(update, 100))
    assert full / len(data) > 75  # 2% of the values at about 2.1 bytes each, and the header
    rebuilt = decode_sparse(data, base, sha)
    assert codec.examples(codec.encode(update, 100)) == 100
    for name, array in update.items():
        delta = array.astype(np.float64) - base[name]
        got = rebuilt[name].astype(np.float64) - base[name]
        kept = np.count_nonzero(got)
        assert kept <= max(1, int(np.ceil(0.02 * delta.size)))
        # What was sent plus what is kept is the whole delta (error feedback loses nothing).
        assert np.allclose(got + residual[name], delta, atol=1e-6)
        # The largest changes are the ones sent.
        top = np.argsort(-np.abs(delta.ravel()))[:kept]
        assert np.all(got.ravel()[top] != 0)


def test_the_residual_is_sent_in_later_rounds() -> None:
    base = weights_of(build(SPEC, 0))
    sha = sha256_hex(codec.encode(base))
    update = trained(base, 2)
    sent_total = {k: np.zeros(v.shape) for k, v in base.items()}
    residual = None
    for round_ in range(60):  # the same update again and again: the residual drains into it
        data, residual = encode_sparse(update if round_ == 0 else base, base, sha, 0.05, residual)
        for k, v in decode_sparse(data, base, sha).items():
            sent_total[k] += v.astype(np.float64) - base[k]
    for k in base:
        assert np.allclose(sent_total[k], update[k].astype(np.float64) - base[k], atol=2e-4)


def _rewritten(data: bytes, change: dict[str, object]) -> bytes:
    (length,) = struct.unpack("<I", data[len(SPARSE_MAGIC) : len(SPARSE_MAGIC) + 4])
    start = len(SPARSE_MAGIC) + 4
    head = json.loads(data[start : start + length])
    head.update(change)
    new = json.dumps(head).encode()
    return SPARSE_MAGIC + struct.pack("<I", len(new)) + new + data[start + length :]


def _parts(data: bytes) -> tuple[dict[str, object], int]:
    (length,) = struct.unpack("<I", data[len(SPARSE_MAGIC) : len(SPARSE_MAGIC) + 4])
    start = len(SPARSE_MAGIC) + 4
    head: dict[str, object] = json.loads(data[start : start + length])
    return head, start + length


def _first_indices(data: bytes, block: bytes, k: int | None = None) -> bytes:
    """`data` with its first tensor's index block replaced by `block` (its header made to fit)."""
    head, body = _parts(data)
    tensors = head["tensors"]
    assert isinstance(tensors, list)
    old = tensors[0]["index_bytes"]
    tensors[0] = dict(tensors[0], index_bytes=len(block), k=tensors[0]["k"] if k is None else k)
    return _rewritten(data[:body] + block + data[body + old :], {"tensors": tensors})


@pytest.mark.parametrize("seed", range(5))
def test_varint_gaps_round_trip_any_ascending_uint32_indices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.choice([10, 1000, 1 << 20, (1 << 32) - 1]))
    indices = np.unique(rng.integers(0, size, size=min(size, 500)))
    if seed == 0:
        indices = np.array([0, 127, 128, 16_383, 16_384, (1 << 21) + 5, (1 << 32) - 1])
        size = 1 << 32
    block = encode_gaps(indices)

    assert np.array_equal(decode_gaps(block, len(indices), size, "t"), indices)
    assert len(block) <= 5 * len(indices)
    assert encode_gaps(np.zeros(0, dtype=np.int64)) == b""
    with pytest.raises(ValueError, match="strictly ascending"):
        encode_gaps(np.array([3, 3]))


def test_an_update_in_the_older_uint32_index_layout_still_decodes() -> None:
    # Written before "indices": "gaps": per tensor k uint32 indices, then k int8 values.
    base = weights_of(build(SPEC, 0))
    sha = sha256_hex(codec.encode(base))
    data, _ = encode_sparse(trained(base, 4), base, sha, 0.05)
    head, offset = _parts(data)
    body = len(data) - offset
    tensors = head["tensors"]
    assert isinstance(tensors, list)
    assert head["indices"] == "gaps"
    bodies = []
    for entry in tensors:
        k, size = entry["k"], int(np.prod(entry["shape"]))
        indices = decode_gaps(data[offset : offset + entry["index_bytes"]], k, size, entry["name"])
        codes = data[offset + entry["index_bytes"] : offset + entry["index_bytes"] + k]
        bodies.append(indices.astype("<u4").tobytes() + codes)
        offset += entry["index_bytes"] + k
    old_head = {k: v for k, v in head.items() if k != "indices"}
    old_head["tensors"] = [{k: v for k, v in e.items() if k != "index_bytes"} for e in tensors]
    encoded = json.dumps(old_head).encode()
    old = SPARSE_MAGIC + struct.pack("<I", len(encoded)) + encoded + b"".join(bodies)

    new, older = decode_sparse(data, base, sha), decode_sparse(old, base, sha)
    assert all(np.array_equal(new[n], older[n]) for n in base)
    assert len(b"".join(bodies)) > 2 * body  # 5 bytes an entry then, about 2 now


def test_malformed_sparse_updates_are_refused() -> None:
    base = weights_of(build(SPEC, 0))
    sha = sha256_hex(codec.encode(base))
    data, _ = encode_sparse(trained(base, 3), base, sha, 0.02)
    head, _ = _parts(data)
    first = head["tensors"]
    assert isinstance(first, list)
    k0, size0 = first[0]["k"], int(np.prod(first[0]["shape"]))
    bad_k = [dict(first[0], k=10**12), *first[1:]]
    bad_scale = [dict(first[0], scale="nan"), *first[1:]]
    no_index_bytes = [{k: v for k, v in first[0].items() if k != "index_bytes"}, *first[1:]]
    ones = encode_gaps(np.arange(k0 - 1))  # k0 - 1 one-byte gaps
    cases = {
        "another base": (data, "0x" + "0" * 64, "not the round's global model"),
        "truncated": (data[:-3], sha, "ends inside|bytes after"),
        "trailing": (data + b"\0", sha, "bytes after the last tensor"),
        "zero gap": (_first_indices(data, ones + b"\x00"), sha, "not strictly ascending"),
        "out of range": (_first_indices(data, ones + encode_gaps(np.array([size0]))), sha, "out of range"),
        "cut short": (_first_indices(data, ones + b"\x81"), sha, "whole varints"),
        "too long": (_first_indices(data, ones + b"\x81\x80\x80\x80\x80\x01"), sha, "too long"),
        "not minimal": (_first_indices(data, ones + b"\x81\x00"), sha, "not minimal"),
        "fewer than k": (_first_indices(data, ones), sha, "whole varints"),
        "index bytes": (_rewritten(data, {"tensors": no_index_bytes}), sha, "index_bytes"),
        "unknown indices": (_rewritten(data, {"indices": "zigzag"}), sha, "unknown index encoding"),
        "k too large": (_rewritten(data, {"tensors": bad_k}), sha, "k 1000000000000"),
        "nan scale": (_rewritten(data, {"tensors": bad_scale}), sha, "scale nan"),
        "no base": (SPARSE_MAGIC + struct.pack("<I", 2) + b"{}", sha, "no base"),
        "bad magic": (b"DMLW1\n" + data[6:], sha, "bad magic"),
    }
    for what, (bytes_, expected_sha, message) in cases.items():
        with pytest.raises(CodecError, match=message):
            decode_sparse(bytes_, base, expected_sha)
        assert what
    with pytest.raises(ValueError, match="density"):
        encode_sparse(base, base, sha, 0)
