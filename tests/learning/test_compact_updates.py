"""Compact updates: float16 deltas from the round's global model, hashed as sent, rebuilt in
float32 by the referee; a delta from another model, a truncated one or one beyond float16's range
is refused and never aggregated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coordinator.federation.referee import Received, Referee
from decentralml import codec
from decentralml.content import sha256_hex
from decentralml.data import DataSpec, digits
from decentralml.manifest import ContentRef, TaskManifest, ValidationPolicy
from decentralml.models import ModelSpec, build, weights_of
from decentralml_bindings.dev import FERDIE
from support.twins import ChainTwin, StoreTwin

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[16])


def test_a_delta_is_half_the_bytes_and_rebuilds_the_update_closely() -> None:
    base = weights_of(build(SPEC, 0))
    update = {
        k: v + np.float32(0.01) * np.random.default_rng(1).standard_normal(v.shape).astype(np.float32)
        for k, v in base.items()
    }
    base_sha = sha256_hex(codec.encode(base))

    data = codec.encode_delta(update, base, base_sha)
    rebuilt = codec.decode_delta(data, base, base_sha)

    assert len(data) < 0.55 * len(codec.encode(update))
    for name in base:
        np.testing.assert_allclose(rebuilt[name], update[name], atol=1e-4)
        assert rebuilt[name].dtype == np.float32
    other = sha256_hex(codec.encode({k: v + 1 for k, v in base.items()}))
    with pytest.raises(codec.CodecError, match="not the round's global model"):
        codec.decode_delta(data, base, other)
    with pytest.raises(codec.CodecError, match="bytes"):
        codec.decode_delta(data[:-2], base, base_sha)
    with pytest.raises(codec.CodecError, match="magic"):
        codec.decode_delta(codec.encode(update), base, base_sha)
    smaller = weights_of(build(SPEC.model_copy(update={"hidden": [8]}), 0))
    with pytest.raises(codec.CodecError, match="fit"):
        codec.decode_delta(data, smaller, base_sha)


def test_the_referee_judges_deltas_and_rejects_one_beyond_float16(tmp_path: Path) -> None:
    # Prepare: three honest float16 deltas and one whose delta overflows float16 (inf).
    validation = digits().validation
    base = weights_of(build(SPEC, 0))
    base_sha = sha256_hex(codec.encode(base))
    rng = np.random.default_rng(2)
    updates = [
        {k: v + np.float32(0.01) * rng.standard_normal(v.shape).astype(np.float32) for k, v in base.items()}
        for _ in range(3)
    ]
    huge = {k: v + np.float32(1e6) for k, v in base.items()}
    manifest = TaskManifest(
        name="compact",
        model=SPEC,
        initial_weights=ContentRef(cid="twin", sha256=base_sha),
        data=DataSpec(parts=4),
        update_encoding="float16_delta",
        # Checked against the plain mean: no stamp unlearning after it (test_unlearning.py's).
        validation=ValidationPolicy(min_cosine=None, max_harm=10, unlearn_steps=0),
    )
    chain, store = ChainTwin(), StoreTwin()
    received = []
    for i, weights in enumerate([*updates, huge]):
        data = codec.encode_delta(weights, base, base_sha)
        stored = store.put(data)
        chain.send_result(1, 1, f"w{i}", stored.cid, stored.sha256)
        received.append(Received.spool(tmp_path, f"w{i}", data, 100))

    # Execute
    outcome, aggregate = Referee(chain, store, FERDIE, validation, state_dir=tmp_path).judge(
        1, 1, manifest, base, received, spool=tmp_path
    )

    # Assert: the three honest deltas aggregated as float32 updates; the overflow is Malformed.
    assert outcome.accepted == [1, 2, 3]
    assert outcome.rejected == {4: "Malformed"}
    for name in base:
        expected = np.mean([u[name] for u in updates], axis=0)
        np.testing.assert_allclose(aggregate[name], expected, atol=1e-4)
