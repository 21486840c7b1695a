"""Simulated workers for rounds of any size, judged by the real referee.

A `SimulatedWorker` holds its share and trains the round's global model on it in this process
(DecentralML's own `train`), or misbehaves as its `role` says. `simulate_round` is what a round of
real workers does, with the transport taken out: every update is stored (the content store),
its hash sent on chain (`send_result`, one result per worker), and the update handed to the
real `Referee.judge`, which checks, scores, aggregates and commits. `bench/scale.py` drives it
against the devnet (`DevnetCrowd`: each worker its own funded account, sending from it), with
the content store as the in-process twin (`support.twins`); `bench/robustness.py` uses both twins.

Roles: `honest`; `label_flip` (trains on labels y -> classes - 1 - y: a harmful update that
still points roughly the usual way); `free_rider` (sends the global model back with a little
noise).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import websocket
from substrateinterface import Keypair

from coordinator.federation.referee import Received, Referee, RoundOutcome
from decentralml import codec
from decentralml.content import Stored
from decentralml.data import Split
from decentralml.manifest import TaskManifest
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, train
from decentralml_bindings import DecentralMl, calls, events
from decentralml_bindings.calls import Call
from decentralml_bindings.client import Receipt
from decentralml_bindings.dev import ALICE, UNIT
from decentralml_bindings.types import TaskInfo, TaskResult, TaskType, ValidationStrategy

Role = Literal["honest", "label_flip", "free_rider"]


class SimulationChain(Protocol):
    """Where a simulated worker sends its result's hash (`ChainTwin.send_result`, or
    `DevnetCrowd.send_result`); `settle` returns once every result sent is on chain."""

    def send_result(self, task_id: int, round_: int, worker: str, cid: str, sha256: str) -> None: ...

    def settle(self) -> None: ...


class DevnetCrowd:
    """Simulated workers on a real chain: worker `i` is the account `//{label}-{i}`, funded by
    Alice (fresh accounts, so their nonces are counted here from 0), and signs its own calls:
    its slot, and each round's `send_task_result` when it has trained (as a worker's own machine
    would). `settle` hands everything signed to the node at once (`author_submitExtrinsic` on
    one connection: a round's results reach the pool together, as independent workers' do) and
    waits until the chain shows it. `calls` keeps every call sent, to be sized."""

    def __init__(self, chain: DecentralMl, label: str, workers: int, *, deadline: float = 600.0) -> None:
        self.chain = chain
        self.keys = [Keypair.create_from_uri(f"//{label}-{i}") for i in range(workers)]
        self.by_name = {key.ss58_address: key for key in self.keys}
        self.nonces = dict.fromkeys(self.by_name, 0)
        self.calls: list[Call] = []
        self.deadline = deadline
        self._outbox: list[str] = []
        self._sent: dict[tuple[int, int], set[str]] = {}  # (task, round) -> its senders

    @property
    def names(self) -> list[str]:
        return [key.ss58_address for key in self.keys]

    def fund(self, amount: int = UNIT) -> None:
        """One batch from Alice giving every worker `amount` (their fees)."""
        transfers = [calls.transfer_keep_alive(name, amount) for name in self.names]
        self.chain.batch(transfers, ALICE, deadline=300)

    def open_task(
        self, manifest_cid: str, manifest_sha256: str, rounds: int, validators: Sequence[str]
    ) -> int:
        """Alice creates a task with a slot per worker that `validators` judge (the first alone
        settles, AutoAccept), and every worker takes its slot; the task's id."""
        call = calls.create_task(
            task_type=TaskType.MODEL_CONTRIBUTOR,
            rounds=rounds,
            max_assignments=len(self.keys),
            expires_at=self.chain.block_number() + 5_000,
            validation=ValidationStrategy.auto_accept(),
            validators=list(validators),
            reward_per_result=UNIT,
            manifest_cid=manifest_cid,
            manifest_hash=manifest_sha256,
        )
        task_id = self.chain.submit(call, ALICE).one(events.TaskCreated).task_id
        for key in self.keys:
            self._sign(calls.assign_task(task_id), key)
        self._flush()

        def assigned() -> bool:
            task = self.chain.task(task_id)
            return task is not None and task.assigned == len(self.keys)

        self._wait(assigned, f"every worker's slot of task {task_id}")
        return task_id

    def _sign(self, call: Call, key: Keypair) -> None:
        nonce = self.nonces[key.ss58_address]
        self._outbox.append(self.chain.sign(call, key, nonce=nonce))
        self.nonces[key.ss58_address] = nonce + 1
        self.calls.append(call)

    def send_result(self, task_id: int, round_: int, worker: str, cid: str, sha256: str) -> None:
        self._sign(calls.send_task_result(task_id, round_, cid, sha256), self.by_name[worker])
        self._sent.setdefault((task_id, round_), set()).add(worker)

    def settle(self) -> None:
        """Submit everything signed, then wait until every result sent is on chain."""
        self._flush()
        sent, self._sent = self._sent, {}
        for (task_id, round_), workers in sent.items():

            def arrived(task_id: int = task_id, round_: int = round_, workers: set[str] = workers) -> bool:
                return workers <= set(self.chain.round_results(task_id, round_))

            self._wait(arrived, f"{len(workers)} results of round {round_} of task {task_id}")

    def _flush(self) -> None:
        """Every signed extrinsic to the node's pool on one connection; raises on a refusal."""
        outbox, self._outbox = self._outbox, []
        if not outbox:
            return
        socket = websocket.create_connection(self.chain.url, timeout=60)
        try:
            for number, signed in enumerate(outbox):
                request = {
                    "jsonrpc": "2.0",
                    "id": number,
                    "method": "author_submitExtrinsic",
                    "params": [signed],
                }
                socket.send(json.dumps(request))
            for _ in outbox:
                answer = json.loads(socket.recv())
                if "error" in answer:
                    raise RuntimeError(f"the node refused extrinsic {answer.get('id')}: {answer['error']}")
        finally:
            socket.close()

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        end = time.monotonic() + self.deadline
        while not done():
            if time.monotonic() > end:
                raise TimeoutError(f"the chain did not show {what} within {self.deadline:.0f} s")
            time.sleep(0.2)


class SimulationStore(Protocol):
    def put(self, data: bytes) -> Stored: ...


@dataclass(frozen=True)
class SimulatedWorker:
    """One worker of a simulated round: its account name, its share and how it behaves."""

    name: str
    share: Split
    role: Role = "honest"

    def update(self, spec: ModelSpec, weights: codec.Weights, training: TrainSpec, seed: int) -> bytes:
        """The codec bytes of this worker's update from the global `weights`."""
        if self.role == "free_rider":
            rng = np.random.default_rng(seed)
            return codec.encode(
                {k: (v + rng.normal(0, 1e-4, v.shape)).astype(v.dtype) for k, v in weights.items()}
            )
        share = self.share
        if self.role == "label_flip":
            share = Split(share.x, (spec.classes - 1 - np.asarray(share.y)).astype(np.int64))
        model = build(spec)
        load_weights(model, weights)
        train(model, share, training.model_copy(update={"seed": seed}))
        return codec.encode(weights_of(model))


@dataclass(frozen=True)
class SimulatedRound:
    """A judged round: the referee's outcome, the new global weights, and what the round cost:
    `training` the workers' seconds, `sending` the seconds after the last worker trained until
    every result was on chain, `judging` and `judging_cpu` the referee's wall and CPU
    seconds, `referee_peak` the referee's peak resident memory above the process's before it
    judged (bytes; 0 where the kernel cannot reset the peak), `update_bytes` the updates' bytes."""

    outcome: RoundOutcome
    weights: codec.Weights
    training: float
    sending: float
    judging: float
    judging_cpu: float
    referee_peak: int
    update_bytes: int


class RecordingChain:
    """The referee's view of a real chain that keeps each batch it signs (`batches`, to be sized
    and weighed) and the batch's receipt (`receipts`: its `ResultAccepted` events carry the pay)."""

    def __init__(self, chain: DecentralMl) -> None:
        self.chain = chain
        self.batches: list[Call] = []
        self.receipts: list[Receipt] = []

    def result(self, result_id: int) -> TaskResult | None:
        return self.chain.result(result_id)

    def task(self, task_id: int) -> TaskInfo | None:
        return self.chain.task(task_id)

    def result_of(self, task_id: int, round_: int, worker: str) -> int | None:
        return self.chain.result_of(task_id, round_, worker)

    def round_results(self, task_id: int, round_: int) -> dict[str, int]:
        return self.chain.round_results(task_id, round_)

    def round_model(self, task_id: int, round_: int) -> int | None:
        return self.chain.round_model(task_id, round_)

    def batch(self, inner: Sequence[Call], signer: Keypair) -> Receipt:
        self.batches.append(calls.batch_all(inner))
        receipt = self.chain.batch(inner, signer, deadline=300)
        self.receipts.append(receipt)
        return receipt


def simulate_round(
    chain: SimulationChain,
    store: SimulationStore,
    referee: Referee,
    manifest: TaskManifest,
    weights: codec.Weights,
    workers: list[SimulatedWorker],
    task_id: int,
    round_: int,
    spool: Path,
) -> SimulatedRound:
    """Every worker trains and sends (stored, hash on chain, spooled), then the referee judges."""
    began = time.perf_counter()
    received = []
    sent = 0
    for i, worker in enumerate(workers):
        blob = worker.update(manifest.model, weights, manifest.training, round_ * 100_003 + i)
        stored = store.put(blob)
        chain.send_result(task_id, round_, worker.name, stored.cid, stored.sha256)
        received.append(Received.spool(spool, worker.name, blob, len(worker.share.y)))
        sent += len(blob)
    trained = time.perf_counter()
    chain.settle()
    settled = time.perf_counter()
    before = _rss()
    reset = _reset_peak()
    cpu = time.process_time()
    outcome, new_weights = referee.judge(task_id, round_, manifest, weights, received, spool=spool)
    judging_cpu = time.process_time() - cpu
    judged = time.perf_counter()
    peak = max(_peak() - before, 0) if reset else 0
    for item in received:
        item.path.unlink(missing_ok=True)
    return SimulatedRound(
        outcome, new_weights, trained - began, settled - trained, judged - settled, judging_cpu, peak, sent
    )


def _rss() -> int:
    return _status("VmRSS")


def _peak() -> int:
    return _status("VmHWM")


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    """Reset this process's peak resident size (Linux: 5 to clear_refs); whether it could."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
