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
from coordinator.federation.runner import current_weights, run_task
from coordinator.federation.status import read_rounds
from coordinator.federation.tasks import initial_manifest, initial_weights
from decentralml import codec, downlink
from decentralml.content import ContentStore, sha256_hex
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


@pytest.mark.devnet
def test_a_task_compact_both_ways_trains_resumes_and_every_model_verifies(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # 1-bit updates up and the model down as 1-bit deltas (`model_encoding: sign1`), with the
    # outer optimizer; the coordinator stops after round 2 and a new one resumes from the chain.
    manifest = initial_manifest(
        store,
        "both-ways-lm",
        MODEL,
        training=TRAINING,
        data=DataSpec(dataset="python-stdlib", parts=2),
        update_encoding="sign1",
        model_encoding="sign1",
        aggregation={"rule": "fedavg", "outer": OuterSpec(lr=0.7, momentum=0.9, nesterov=True)},
    )
    task = publish(chain, store, manifest, rounds=4, workers=2)
    trainers = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path / "w")
    full = len(codec.encode(initial_weights(store, task.manifest)))

    before = InProcess(trainers, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_task(chain, store, FERDIE, before, task.task_id, tmp_path / "a")
    after = InProcess(trainers)
    rest = run_task(chain, store, FERDIE, after, task.task_id, tmp_path / "a")

    assert [o.round for o in rest] == [3, 4]
    log = read_rounds(tmp_path / "a", task.task_id)
    rounds = {r["round"]: r for r in log if r["status"] == "committed"}
    assert sorted(rounds) == [1, 2, 3, 4]
    losses = [rounds[r]["validation_loss"] for r in range(1, 5)]
    assert losses[0] > losses[1] > losses[3], losses
    # Down: whole in each run's first round, then a delta under a twentieth of the model to each
    # worker; up: a sealed 1-bit update from each. Both ways, a delta round is > 20x smaller.
    assert before.sent[1] == after.sent[3] == 2 * full
    for round_ in (2, 4):
        assert rounds[round_]["down_bytes"] < 2 * full / 20
        assert rounds[round_]["down_bytes"] + rounds[round_]["up_bytes"] < 2 * 2 * full / 20
    # The workers trained from the base the deltas rebuilt, not the committed model itself; it
    # is what replaying the committed models gives, and each commit recomputes from the chain.
    committed = [current_weights(chain, store, task.task_id, FERDIE, before=r)[1] for r in range(1, 5)]
    held = trainers[0]._held(task.task_id).read_bytes()
    assert sha256_hex(held) == downlink.model_sha(downlink.replay(committed))
    assert sha256_hex(held) != downlink.model_sha(committed[-1])
    for round_ in range(1, 5):
        model_id = chain.round_model(task.task_id, round_)
        assert model_id is not None
        assert len(rounds[round_]["accepted"]) == 2, rounds[round_]["rejected"]
        found = verify_model(chain, store, FERDIE, model_id)
        assert found.match, (round_, found)
