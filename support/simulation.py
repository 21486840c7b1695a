"""Simulated workers for rounds of any size, judged by the real referee.

A `SimulatedWorker` holds its share and trains the round's global model on it in this process
(DecentralML's own `train`), or misbehaves as its `role` says. `simulate_round` is what a round of
real workers does, with the transport taken out: every update is stored (the content store),
its hash sent on chain (`send_result`, one result per worker), and the update handed to the
real `Referee.judge`, which checks, scores, aggregates and commits. `bench/scale.py` drives it
with the chain and the store as in-process twins (`support.twins`).

Roles: `honest`; `label_flip` (trains on labels y -> classes - 1 - y: a harmful update that
still points roughly the usual way); `free_rider` (sends the global model back with a little
noise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from coordinator.federation.referee import Received, Referee, RoundOutcome
from decentralml import codec
from decentralml.content import Stored
from decentralml.data import Split
from decentralml.manifest import TaskManifest
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, train

Role = Literal["honest", "label_flip", "free_rider"]


class SimulationChain(Protocol):
    """Where a simulated worker sends its result's hash (`ChainTwin.send_result`)."""

    def send_result(self, task_id: int, round_: int, worker: str, cid: str, sha256: str) -> int: ...


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
    `training` the workers' seconds, `judging` and `judging_cpu` the referee's wall and CPU
    seconds, `referee_peak` the referee's peak resident memory above the process's before it
    judged (bytes; 0 where the kernel cannot reset the peak), `update_bytes` the updates' bytes."""

    outcome: RoundOutcome
    weights: codec.Weights
    training: float
    judging: float
    judging_cpu: float
    referee_peak: int
    update_bytes: int


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
    before = _rss()
    reset = _reset_peak()
    cpu = time.process_time()
    outcome, new_weights = referee.judge(task_id, round_, manifest, weights, received, spool=spool)
    judging_cpu = time.process_time() - cpu
    judged = time.perf_counter()
    peak = max(_peak() - before, 0) if reset else 0
    for item in received:
        item.path.unlink(missing_ok=True)
    return SimulatedRound(outcome, new_weights, trained - began, judged - trained, judging_cpu, peak, sent)


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
