"""A language-model task with compact updates (the top 5% of each delta, 8-bit; or the sign of
every value, 1-bit; error feedback on the worker) and DiLoCo's outer optimizer
(`aggregation.outer`) on the devnet: every round refereed and committed by hash, validation loss
falling; each committed model recomputed by `verify_model` from the chain and IPFS alone, its
momentum replayed from the committed models: what a member that lost its directory, or any other
member, computes is what was committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.committee.verify import verify_model
from coordinator.federation.runner import run_task
from coordinator.federation.tasks import initial_manifest, initial_weights
from decentralml import codec
from decentralml.content import ContentStore
from decentralml.data import DataSpec
from decentralml.judging.outer import OuterSpec
from decentralml.lm.transformer import TransformerSpec
from decentralml.models import ModelSpec
from decentralml.privacy import sealing
from decentralml.training import TrainSpec
from decentralml_bindings import DecentralMl
from decentralml_bindings.dev import BOB, CHARLIE, FERDIE
from support.factories import InProcess, enlist, publish
from worker.trainer import Behaviour

SMALL = TransformerSpec(vocab_size=257, context=64, layers=1, heads=2, width=32)
MODEL = ModelSpec(architecture="transformer", input_shape=[64], classes=257, transformer=SMALL)
TRAINING = TrainSpec(learning_rate=3e-3, batch_size=16, tokens_per_round=4_096, warmup_steps=2)


@pytest.mark.devnet
@pytest.mark.parametrize("encoding", ["sparse_int8", "sign1"])
def test_an_lm_task_with_compact_updates_and_the_outer_optimizer_trains_and_every_model_verifies(
    chain: DecentralMl, store: ContentStore, tmp_path: Path, encoding: str
) -> None:
    manifest = initial_manifest(
        store,
        f"outer-lm-{encoding}",
        MODEL,
        training=TRAINING,
        data=DataSpec(dataset="python-stdlib", parts=2),
        update_encoding=encoding,
        update_density=0.05,
        aggregation={"rule": "fedavg", "outer": OuterSpec(lr=0.7, momentum=0.9, nesterov=True)},
    )
    task = publish(chain, store, manifest, rounds=3, workers=2)
    trainers = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path / "w")

    first = run_task(chain, store, FERDIE, InProcess(trainers), task.task_id, tmp_path / "a")

    assert len(first) == 3
    losses = [o.validation_loss for o in first]
    assert losses[0] > losses[1] > losses[2], losses
    # The updates sent (sealed to the referee) are the compact ones: 5% at about 2 bytes a value,
    # or 1 bit a value and a scale per 256; each under a twentieth of the float32 model.
    full = len(codec.encode(initial_weights(store, task.manifest)))
    magic = {"sparse_int8": codec.SPARSE_MAGIC, "sign1": codec.SIGN_MAGIC}[encoding]
    for trainer in trainers:
        sent = trainer._kept(task.task_id, 3).read_bytes()
        assert len(sent) < full / 20
        assert sealing.is_sealed(sent), "the task seals its updates by default"
        context = sealing.Context("update", task.task_id, 3, trainer.address)
        assert sealing.open_bytes(sent, FERDIE, context).startswith(magic)
    for outcome in first:
        assert outcome.model_id is not None
        assert len(outcome.accepted) == 2
        found = verify_model(chain, store, FERDIE, outcome.model_id)
        assert found.match, (outcome.round, found)
