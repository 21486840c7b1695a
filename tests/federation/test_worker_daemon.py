"""The worker daemon's loop, driven for real with `--once` on the devnet, its verbs injected: a
task source that names one task, and SuperNodes that record what the loop asks of them.

The loop admits the task (signed bundle, data), claims a slot on chain, starts a SuperNode,
restarts one that exits (by looping, after a doubling back-off, never by recursion), and stops the
SuperNode and returns when the chain says the task is over. A task the source names but the
chain refuses (a bundle that does not check out) is never claimed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from coordinator.federation.tasks import initial_manifest
from decentralml import cards
from decentralml.content import ContentStore, ContentUnreachableError, Stored
from decentralml.data import DataSpec
from decentralml.models import ModelSpec
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB
from decentralml_bindings.types import TaskStatus
from support.factories import create_task, publish
from worker.daemon import WorkerDaemon
from worker.settings import WorkerSettings

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[8])


class Named:
    """A task source that names the same tasks every time."""

    def __init__(self, *task_ids: int) -> None:
        self.task_ids = list(task_ids)
        self.asked = 0

    def candidates(self) -> list[int]:
        self.asked += 1
        return self.task_ids


class Recorded:
    """A SuperNode that lives for `lives` polls after each start, then exits."""

    def __init__(self, log: list[str], lives: int) -> None:
        self.log, self.lives, self.polls, self.running = log, lives, 0, False

    def start(self) -> None:
        self.running, self.polls = True, 0
        self.log.append("start")

    def alive(self) -> bool:
        self.polls += 1
        if self.running and self.polls > self.lives:
            self.running = False
            self.log.append("exited")
        return self.running

    def stop(self) -> None:
        if self.running:
            self.log.append("stop")
        self.running = False

    @property
    def pid(self) -> int | None:
        return 4242 if self.running else None


def settings(chain_url: str, ipfs_api: str, tmp_path: Path) -> WorkerSettings:
    return WorkerSettings(
        key="//Bob",
        chain_url=chain_url,
        ipfs_api=ipfs_api,
        state_dir=str(tmp_path / "state"),
        data_part=0,
        poll_seconds=0.2,
        restart_seconds=0.3,
    )


@pytest.mark.devnet
def test_once_admits_claims_serves_and_restarts_a_supernode_by_looping(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: a published task; a bogus one named first by the source (the bytes under its CID
    # do not hash to the hash on chain).
    manifest = initial_manifest(store, "daemon-loop", MODEL, data=DataSpec(parts=2))
    task = publish(chain, store, manifest, rounds=1, workers=2)
    bogus = create_task(chain, rounds=1, slots=2, label=store.put(b"not a bundle").cid)
    events: list[str] = []
    made: list[Recorded] = []

    def supernodes(task_id: int) -> Recorded:
        assert task_id == task.task_id
        made.append(Recorded(events, lives=2 if len(made) < 2 else 10_000))
        return made[-1]

    source = Named(bogus, task.task_id)
    daemon = WorkerDaemon(settings(chain.url, store.api, tmp_path), source=source, supernodes=supernodes)

    # The task ends once the loop has restarted the SuperNode twice: the creator cancels it.
    def cancel_after_restarts() -> None:
        deadline = time.monotonic() + 120
        while daemon.restarts < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        chain.submit(calls.cancel_task(task.task_id), ALICE)

    ender = threading.Thread(target=cancel_after_restarts, daemon=True)
    ender.start()

    # What a worker keeps of a task while it runs, and what it keeps after.
    running = [
        f"model-{task.task_id}.bin",
        f"residual-{task.task_id}-1.bin",
        f"residual-{task.task_id}-2.partial",
    ]
    kept = [f"update-{task.task_id}-1.bin", f"dp-{task.task_id}.json", f"model-{task.task_id}0.bin"]
    for name in running + kept:
        (daemon.state / name).write_bytes(b"kept while the task runs")

    # Execute
    served = daemon.run(once=True)

    # Assert: one task served; the bogus one refused without a claim; two restarts by the loop,
    # the second after a longer wait; the SuperNode stopped at the end.
    ender.join(timeout=10)
    assert served == 1
    assert chain.assignment(task.task_id, BOB.ss58_address) is not None
    assert chain.assignment(bogus, BOB.ss58_address) is None
    assert bogus in daemon.refused
    assert daemon.restarts == 2
    assert events[:6] == ["start", "exited", "start", "exited", "start", "stop"]
    assert len(made) == 3
    on_chain = chain.task(task.task_id)
    assert on_chain is not None
    assert on_chain.status == TaskStatus.WITHDRAWN
    # The task is over: the model it was last sent and its residuals are gone, nothing else.
    assert sorted(p.name for p in daemon.state.iterdir() if p.name in running + kept) == sorted(kept)
    # The claim declared the demo source's dataset card, pinned and hashed as on chain.
    claimed = chain.assignment(task.task_id, BOB.ss58_address)
    assert claimed is not None
    assert claimed.dataset is not None
    card = store.get(claimed.dataset.cid, claimed.dataset.hash)
    assert cards.parse(card) == cards.DEMO_CARDS["sklearn-digits"]


class CardsRefused(ContentStore):
    """A Kubo that refuses to store dataset cards (it stores everything else)."""

    def put(self, data: bytes) -> Stored:
        if data.startswith(b"---\n"):
            raise ContentUnreachableError("IPFS is down (for cards)")
        return super().put(data)


@pytest.mark.devnet
def test_a_card_that_cannot_be_declared_does_not_stop_the_work_and_a_restart_declares_it(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    manifest = initial_manifest(store, "daemon-card", MODEL, data=DataSpec(parts=2))
    task = publish(chain, store, manifest, rounds=1, workers=2)
    daemon = WorkerDaemon(settings(chain.url, store.api, tmp_path), source=Named(task.task_id))
    admitted = daemon.suitable(task.task_id)
    assert admitted is not None

    daemon.store = CardsRefused(store.api)
    daemon.claim(task.task_id, admitted)  # claims; the card fails, logged, not raised
    first = chain.assignment(task.task_id, BOB.ss58_address)
    daemon.store = store
    daemon.claim(task.task_id, admitted)  # a restart: already assigned, the card now declared
    second = chain.assignment(task.task_id, BOB.ss58_address)
    daemon.claim(task.task_id, admitted)  # and never twice (the chain would refuse it)

    assert first is not None
    assert first.dataset is None
    assert second is not None
    assert second.dataset is not None
    assert second.slot == first.slot
    assert chain.assignment(task.task_id, BOB.ss58_address) == second
