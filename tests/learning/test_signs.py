"""1-bit updates with error feedback (`decentralml.signs`): about 1/28 of the model, most of an
AdamW-like delta carried in one round, what is not sent kept and sent later, and every malformed
file refused."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from decentralml import codec, compact
from decentralml.codec import SIGN_MAGIC, CodecError
from decentralml.content import sha256_hex
from decentralml.models import ModelSpec, build, weights_of
from decentralml.signs import decode_signs, encode_signs
from decentralml.sparse import decode_sparse, encode_sparse

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[64])


def moved(base: codec.Weights, seed: int, step: float = 1e-3, uniform: bool = True) -> codec.Weights:
    """`base` moved as AdamW moves it (every value by about `step`, either way), or by Gaussian
    noise of that size."""
    rng = np.random.default_rng(seed)

    def change(shape: tuple[int, ...]) -> np.ndarray:
        if uniform:
            return step * rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.8, 1.2, size=shape)
        return step * rng.standard_normal(shape)

    return {k: (v + change(v.shape)).astype(np.float32) for k, v in base.items()}


def _error(update: codec.Weights, rebuilt: codec.Weights, base: codec.Weights) -> float:
    """The share of the delta's squared norm a rebuilt update misses."""
    missed = sum(
        float(np.sum((rebuilt[n].astype(np.float64) - update[n].astype(np.float64)) ** 2)) for n in base
    )
    whole = sum(float(np.sum((update[n].astype(np.float64) - base[n]) ** 2)) for n in base)
    return missed / whole


def test_an_update_is_about_a_twenty_eighth_and_sent_plus_kept_is_the_delta() -> None:
    base = weights_of(build(SPEC.model_copy(update={"hidden": [1024]}), 0))  # 76k parameters
    sha = sha256_hex(codec.encode(base))
    update = moved(base, 1)
    data, residual = encode_signs(update, base, sha, None, 100)

    assert 26 < len(codec.encode(update, 100)) / len(data) < 32
    assert codec.examples(data) == 100
    rebuilt = decode_signs(data, base, sha)
    for name, array in update.items():
        delta = array.astype(np.float64) - base[name]
        got = rebuilt[name].astype(np.float64) - base[name]
        assert np.array_equal(np.sign(got), np.where(delta >= 0, 1.0, -1.0))
        assert np.allclose(got + residual[name], delta, atol=1e-6)  # error feedback loses nothing


def test_signs_carry_more_of_an_adamw_delta_than_top_k_in_the_same_bytes() -> None:
    base = weights_of(build(SPEC.model_copy(update={"hidden": [1024]}), 0))
    sha = sha256_hex(codec.encode(base))
    for uniform, most in ((True, 0.05), (False, 0.45)):  # Gaussian: 1 - 2/pi of it is missed
        update = moved(base, 2, uniform=uniform)
        signs, _ = encode_signs(update, base, sha)
        density = 0.9 * len(signs) / (2.1 * sum(v.size for v in base.values()))
        top, _ = encode_sparse(update, base, sha, density)
        assert len(top) <= len(signs)
        missed_signs = _error(update, decode_signs(signs, base, sha), base)
        missed_top = _error(update, decode_sparse(top, base, sha), base)
        assert missed_signs < most
        assert missed_signs < missed_top - 0.3


def test_the_residual_is_sent_in_later_rounds() -> None:
    base = weights_of(build(SPEC, 0))
    sha = sha256_hex(codec.encode(base))
    update = moved(base, 3, uniform=False)
    sent_total = {k: np.zeros(v.shape) for k, v in base.items()}
    residual = None
    for round_ in range(80):  # the update once, then nothing new: the residual drains into it
        data, residual = encode_signs(update if round_ == 0 else base, base, sha, residual, block=16)
        for k, v in decode_signs(data, base, sha).items():
            sent_total[k] += v.astype(np.float64) - base[k]
    for k in base:
        assert np.allclose(sent_total[k], update[k].astype(np.float64) - base[k], atol=1e-4)


def _parts(data: bytes) -> tuple[dict[str, object], int]:
    (length,) = struct.unpack("<I", data[len(SIGN_MAGIC) : len(SIGN_MAGIC) + 4])
    start = len(SIGN_MAGIC) + 4
    head: dict[str, object] = json.loads(data[start : start + length])
    return head, start + length


def _rewritten(data: bytes, change: dict[str, object]) -> bytes:
    head, body = _parts(data)
    head.update(change)
    new = json.dumps(head).encode()
    return SIGN_MAGIC + struct.pack("<I", len(new)) + new + data[body:]


def test_malformed_one_bit_updates_are_refused() -> None:
    base = weights_of(build(SPEC, 0))  # the last tensor has 10 values: 6 padding bits
    sha = sha256_hex(codec.encode(base))
    data, _ = encode_signs(moved(base, 4), base, sha)
    _, body = _parts(data)
    negative, nan, padding = bytearray(data), bytearray(data), bytearray(data)
    negative[body : body + 4] = struct.pack("<f", -1.0)
    nan[body : body + 4] = struct.pack("<f", float("nan"))
    padding[-1] |= 0x80
    cases = {
        "another base": (data, "0x" + "0" * 64, "not the round's global model"),
        "truncated": (data[:-1], sha, "ends inside"),
        "trailing": (data + b"\0", sha, "bytes after the last tensor"),
        "negative scale": (bytes(negative), sha, "negative or not finite"),
        "nan scale": (bytes(nan), sha, "negative or not finite"),
        "padding": (bytes(padding), sha, "past the tensor's end"),
        "block zero": (_rewritten(data, {"block": 0}), sha, "block 0"),
        "block too big": (_rewritten(data, {"block": 1 << 17}), sha, "block 131072"),
        "block not int": (_rewritten(data, {"block": "256"}), sha, "block '256'"),
        "no block": (_rewritten(data, {"block": None}), sha, "block None"),
        "other tensors": (_rewritten(data, {"tensors": [{"name": "x", "shape": [3]}]}), sha, "do not fit"),
        "no base": (SIGN_MAGIC + struct.pack("<I", 2) + b"{}", sha, "no base"),
        "bad magic": (b"DMLS1\n" + data[6:], sha, "bad magic"),
    }
    for what, (bytes_, expected_sha, message) in cases.items():
        with pytest.raises(CodecError, match=message):
            decode_signs(bytes_, base, expected_sha)
        assert what
    with pytest.raises(ValueError, match="block"):
        encode_signs(base, base, sha, block=0)
    broken = {k: v.copy() for k, v in base.items()}
    next(iter(broken.values())).flat[0] = np.inf
    with pytest.raises(ValueError, match="not finite"):
        encode_signs(broken, base, sha)


def test_every_compact_update_is_read_by_the_one_table_and_full_weights_by_none() -> None:
    base = weights_of(build(SPEC, 0))
    sha = sha256_hex(codec.encode(base))
    update = moved(base, 5)
    made = {
        "float16_delta": codec.encode_delta(update, base, sha, 7),
        "sparse_int8": encode_sparse(update, base, sha, 0.5, None, 7)[0],
        "sign1": encode_signs(update, base, sha, None, 7)[0],
    }
    for encoding, data in made.items():
        decode = compact.decoder(data[: compact.MAGIC_LENGTH])
        assert decode is not None, encoding
        assert set(decode(data, base, sha)) == set(base)
        assert codec.examples(data) == 7
    assert compact.decoder(codec.encode(update)[: compact.MAGIC_LENGTH]) is None
    assert len({len(magic) for magic in compact.DECODERS}) == 1
