"""More workers than the runtime used to allow (64) in one task, on the real devnet.

Every worker is its own funded account, takes its own slot and signs its own result; the real
referee judges the round and commits it in one batch, and the chain pays every accepted result.
The slots of the tasks that expire at one block are bounded (`MaxExpiringAssignments`), so the
expiry hook's payouts fit the block."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from coordinator.federation.referee import Referee
from decentralml import codec
from decentralml.data import Split, digits
from decentralml.manifest import ContentRef, TaskManifest
from decentralml.models import ModelSpec, build, weights_of
from decentralml.training import TrainSpec
from decentralml_bindings import DecentralMl, calls, errors, events
from decentralml_bindings.dev import ALICE, FERDIE
from decentralml_bindings.types import ResultSubmissionStatus, TaskType, ValidationStrategy
from support.devnet import Devnet, free_port
from support.simulation import DevnetCrowd, RecordingChain, SimulatedWorker, simulate_round
from support.twins import StoreTwin

WORKERS = 72  # beyond the old MaxAssignments (64)
RIDERS = 2  # the last two send the global model back with a little noise
MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])


@pytest.mark.devnet
def test_a_round_of_72_workers_commits_on_the_devnet_and_pays_each_accepted_worker(tmp_path: Path) -> None:
    net = Devnet(state_dir=tmp_path / "devnet", port=free_port(), block_mode="Batch")
    net.start()
    chain = DecentralMl.connect(net.url)
    crowd = DevnetCrowd(chain, "many", WORKERS)
    try:
        assert chain.pallet_constants()["MaxAssignments"] >= 300
        # Prepare: 72 funded accounts with IID shares of digits, the last two free riders.
        crowd.fund()
        splits = digits(0)
        order = np.random.default_rng(0).permutation(len(splits.train.y))
        shares = [
            Split(np.asarray(splits.train.x)[part], np.asarray(splits.train.y)[part])
            for part in np.array_split(order, WORKERS)
        ]
        workers = [
            SimulatedWorker(name, share, "free_rider" if i >= WORKERS - RIDERS else "honest")
            for i, (name, share) in enumerate(zip(crowd.names, shares, strict=True))
        ]
        store = StoreTwin()
        weights = weights_of(build(MODEL, 0))
        initial = store.put(codec.encode(weights))
        manifest = TaskManifest(
            name="many-workers",
            model=MODEL,
            initial_weights=ContentRef(cid=initial.cid, sha256=initial.sha256),
            training=TrainSpec(epochs=5, batch_size=16, learning_rate=0.1),
            min_workers=WORKERS,
        )
        described = store.put(manifest.model_dump_json().encode())
        task_id = crowd.open_task(described.cid, described.sha256, 1, [FERDIE.ss58_address])
        task = chain.task(task_id)
        assert task is not None
        assert (task.assigned, task.max_assignments) == (WORKERS, WORKERS)
        recorded = RecordingChain(chain)
        spool = tmp_path / "spool"
        spool.mkdir()
        referee = Referee(recorded, store, FERDIE, splits.validation, state_dir=spool)

        done = simulate_round(crowd, store, referee, manifest, weights, workers, task_id, 1, spool)

        # Every worker's result is on chain, the round is committed, and the verdicts match it.
        on_chain = chain.round_results(task_id, 1)
        assert sorted(on_chain) == sorted(crowd.names)
        assert chain.round_model(task_id, 1) is not None
        assert len(recorded.batches) == 1, "one batch judges and commits the round"
        status = {worker: chain.result(result_id) for worker, result_id in on_chain.items()}
        accepted = {w for w, r in status.items() if r and r.status is ResultSubmissionStatus.ACCEPTED}
        rejected = {w for w, r in status.items() if r and r.status is ResultSubmissionStatus.REJECTED}
        assert accepted | rejected == set(crowd.names), "every result was settled"
        assert {on_chain[w] for w in accepted} == set(done.outcome.accepted)
        paid = {e.worker: e.reward for r in recorded.receipts for e in r.all(events.ResultAccepted)}
        assert set(paid) == accepted
        honest = [w.name for w in workers if w.role == "honest"]
        riders = [w.name for w in workers if w.role == "free_rider"]
        turned_away = set(honest) - accepted  # the fairness target: at most 5% of honest updates
        assert len(turned_away) <= 0.05 * len(honest), f"honest rejected: {done.outcome.rejected}"
        typical = statistics.median(paid[w] for w in honest if w in paid)
        assert typical > 0
        for rider in riders:
            assert paid.get(rider, 0) <= 0.05 * typical, "a free rider is paid at most 5% of an honest worker"
    finally:
        chain.close()
        net.stop()


@pytest.mark.devnet
def test_an_expiry_block_takes_at_most_its_worker_slots_and_refuses_more_by_name(chain: DecentralMl) -> None:
    limits = chain.pallet_constants()
    largest, per_block = limits["MaxAssignments"], limits["MaxExpiringAssignments"]
    assert per_block >= largest, "the largest task can expire"
    at = chain.block_number() + 4_000
    reward = chain.existential_deposit()

    def create(slots: int, expires_at: int) -> int:
        call = calls.create_task(
            task_type=TaskType.MODEL_CONTRIBUTOR,
            rounds=1,
            max_assignments=slots,
            expires_at=expires_at,
            validation=ValidationStrategy.manual_accept(),
            validators=[FERDIE.ss58_address],
            reward_per_result=reward,
            manifest_cid="bafy-slots",
            manifest_hash=bytes([9]) * 32,
        )
        return chain.submit(call, ALICE).one(events.TaskCreated).task_id

    created = []
    try:
        # Fill the block's slots with the largest tasks, then the rest with one task.
        for _ in range(per_block // largest):
            created.append(create(largest, at))
        if per_block % largest:
            created.append(create(per_block % largest, at))
        before = chain.next_ids()
        with pytest.raises(errors.ExpiryQueueFull):
            create(1, at)
        assert chain.next_ids() == before, "a refused task changes nothing"
        created.append(create(1, at + 1))  # the next block has room
        # A cancelled task gives its slots back.
        chain.submit(calls.cancel_task(created[0]), ALICE)
        created.append(create(1, at))
    finally:
        for task_id in created[1:]:
            chain.submit(calls.cancel_task(task_id), ALICE)
