"""The daemon's trainer service, as its SuperNode's ClientApps call it: the model whole, or the
1-bit delta from the model the worker holds (`decentralml.downlink`); a delta from a model it does
not hold is refused with 409 (the transport then sends the model whole), a body that is neither
with 400, a caller without the token with 403, and none of them trains or changes what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import httpx
import numpy as np
from substrateinterface import Keypair

from decentralml import codec, downlink
from decentralml.content import ContentStore
from decentralml.data import Split
from decentralml.manifest import TaskManifest
from decentralml.models import ModelSpec, build, weights_of
from decentralml_bindings import DecentralMl
from worker.service import TrainerService
from worker.trainer import Trainer, Update

SPEC = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[256])


class Recording(Trainer):
    """A trainer whose round records the model it was handed (no chain: the service is tested)."""

    def __init__(self, state_dir: Path) -> None:
        data = Split(np.zeros((4, 64), np.float32), np.zeros(4, np.int64))
        key = Keypair.create_from_uri("//Bob")
        super().__init__(cast(DecentralMl, None), cast(ContentStore, None), key, data, state_dir)
        self.trained: list[codec.Weights] = []

    def train_round(
        self, task_id: int, round_: int, manifest: TaskManifest, global_weights: codec.Weights
    ) -> Update:
        self.trained.append(global_weights)
        return Update(data=b"update", examples=4, result_id=1, cid="bafy")


def test_a_worker_takes_the_model_whole_then_as_deltas_and_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    trainer = Recording(tmp_path / "state")
    manifest = cast(TaskManifest, None)
    service = TrainerService(lambda task_id: (trainer, manifest))
    service.start()
    try:

        def post(body: bytes, token: str = service.token) -> httpx.Response:
            return httpx.post(
                f"{service.url}/train", params={"task": "7", "round": "2"}, content=body,
                headers={"X-DML-Token": token}, timeout=30,
            )  # fmt: skip

        first = weights_of(build(SPEC, 0))
        second = {k: (v + 0.01).astype(np.float32) for k, v in first.items()}
        delta, rebuilt = downlink.advance(first, second)

        # A worker that holds nothing: the delta is refused, nothing trained or kept.
        refused = post(delta.data)
        assert refused.status_code == 409, refused.text
        assert downlink.NEEDS_FULL_MODEL in refused.text
        assert trainer.trained == []
        assert not (tmp_path / "state" / "model-7.bin").exists()

        # The model whole; then the delta from it rebuilds the referee's base exactly.
        assert post(codec.encode(first)).status_code == 200
        answered = post(delta.data)
        assert answered.status_code == 200, answered.text
        assert answered.content == b"update"
        assert answered.headers["X-DML-Examples"] == "4"
        assert codec.encode(trainer.trained[-1]) == codec.encode(rebuilt)
        held = (tmp_path / "state" / "model-7.bin").read_bytes()
        assert held == codec.encode(rebuilt)

        # The same delta again no longer fits (the worker moved on): refused, what it holds kept.
        again = post(delta.data)
        assert again.status_code == 409
        # A damaged delta, a body that is no model, and a caller without the token.
        damaged = bytearray(downlink.advance(rebuilt, first)[0].data)
        del damaged[-5:]
        bad = post(bytes(damaged))
        assert bad.status_code == 400
        assert "not a model or a model delta" in bad.text
        assert post(b"hello").status_code == 400
        assert post(codec.encode(first), token="0" * 32).status_code == 403
        assert len(trainer.trained) == 2
        assert (tmp_path / "state" / "model-7.bin").read_bytes() == held
    finally:
        service.stop()
