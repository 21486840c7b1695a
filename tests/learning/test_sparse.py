"""Sparse 8-bit updates with error feedback (`decentralml.sparse`): about 1/40 of the model at 2%,
what is not sent kept and sent later, and every malformed file refused."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from decentralml import codec
from decentralml.codec import SPARSE_MAGIC, CodecError
from decentralml.content import sha256_hex
from decentralml.models import ModelSpec, build, weights_of
from decentralml.sparse import decode_sparse, encode_sparse

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[64])


def trained(base: codec.Weights, seed: int, scale: float = 0.01) -> codec.Weights:
    rng = np.random.default_rng(seed)
    return {k: (v + scale * rng.standard_normal(v.shape)).astype(np.float32) for k, v in base.items()}


def test_two_percent_is_about_a_fortieth_and_rebuilds_the_largest_changes() -> None:
    # 76k parameters: the header (a few hundred bytes) no longer counts, as in a real model.
    base = weights_of(build(SPEC.model_copy(update={"hidden": [1024]}), 0))
    sha = sha256_hex(codec.encode(base))
    update = trained(base, 1)
    data, residual = encode_sparse(update, base, sha, 0.02, None, 100)

    full = len(codec.encode(update, 100))
    assert full / len(data) > 30
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


def test_malformed_sparse_updates_are_refused() -> None:
    base = weights_of(build(SPEC, 0))
    sha = sha256_hex(codec.encode(base))
    data, _ = encode_sparse(trained(base, 3), base, sha, 0.02)
    head_end = len(SPARSE_MAGIC) + 4 + struct.unpack("<I", data[len(SPARSE_MAGIC) : len(SPARSE_MAGIC) + 4])[0]
    first = json.loads(data[len(SPARSE_MAGIC) + 4 : head_end])["tensors"]
    k0 = first[0]["k"]
    swapped = bytearray(data)
    swapped[head_end : head_end + 8] = swapped[head_end + 4 : head_end + 8] + swapped[head_end : head_end + 4]
    out_of_range = bytearray(data)
    out_of_range[head_end + 4 * (k0 - 1) : head_end + 4 * k0] = struct.pack("<I", 10**9)
    bad_k = [dict(first[0], k=10**12), *first[1:]]
    bad_scale = [dict(first[0], scale="nan"), *first[1:]]
    cases = {
        "another base": (data, "0x" + "0" * 64, "not the round's global model"),
        "truncated": (data[:-3], sha, "ends inside|bytes after"),
        "trailing": (data + b"\0", sha, "bytes after the last tensor"),
        "unsorted": (bytes(swapped), sha, "not strictly ascending"),
        "out of range": (bytes(out_of_range), sha, "out of range"),
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
