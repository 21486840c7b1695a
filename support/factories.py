"""Factories that put real work on the devnet through the bindings; keyword overrides welcome."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from substrateinterface import Keypair

from coordinator.cli import main as dml
from coordinator.federation.referee import Received, WorkerFailure
from coordinator.federation.tasks import PublishedTask, load_task, publish_task
from decentralml import codec, downlink, samples
from decentralml.content import ContentStore
from decentralml.crypto import sealing_statement
from decentralml.data import partition
from decentralml.manifest import TaskManifest
from decentralml_bindings import DecentralMl, calls, events
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, UNIT
from decentralml_bindings.types import OUTLIER, TaskType, ValidationStrategy
from worker.trainer import Behaviour, Trainer


def create_task(
    chain: DecentralMl,
    *,
    rounds: int = 2,
    slots: int = 3,
    reward: int = UNIT,
    label: str = "bafy-factory",
    validation: ValidationStrategy | None = None,
    validators: Sequence[str] | None = None,
) -> int:
    """A task Alice creates; its validators are Eve unless `validators` names others."""
    call = calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=rounds,
        max_assignments=slots,
        expires_at=chain.block_number() + 5_000,
        validation=validation or ValidationStrategy.manual_accept(),
        validators=list(validators or [EVE.ss58_address]),
        reward_per_result=reward,
        manifest_cid=label,
        manifest_hash=bytes([rounds]) * 32,
    )
    return chain.submit(call, ALICE).one(events.TaskCreated).task_id


def publish(
    chain: DecentralMl,
    store: ContentStore,
    manifest: TaskManifest,
    *,
    rounds: int,
    workers: int,
    base_model: int | None = None,
    sealed: bool = True,
    committee: Sequence[Keypair] = (FERDIE,),
) -> PublishedTask:
    """Alice signs and publishes a federated task that `committee` judges: Ferdie (the
    coordinator's key) alone by default; with more members, the first carries the rounds and a
    majority must agree. Private (updates and models sealed to every member, models also to
    Alice) unless `sealed` is False."""
    return publish_task(
        chain,
        store,
        ALICE,
        manifest,
        rounds=rounds,
        workers=workers,
        reward_per_result=UNIT,
        validator=[member.ss58_address for member in committee],
        base_model=base_model,
        sealing=[sealing_statement(member) for member in committee] if sealed else None,
        threshold=None if len(committee) == 1 else len(committee) // 2 + 1,
    )


def enlist(
    chain: DecentralMl,
    store: ContentStore,
    task: PublishedTask,
    workers: Mapping[Keypair, Behaviour],
    state_root: Path,
) -> list[Trainer]:
    """Each worker claims a slot in `task` and gets a Trainer on its part of the task's data
    (parts in the order given), keeping its updates under `state_root`."""
    trainers = []
    for part, (key, behaviour) in enumerate(workers.items()):
        chain.submit(calls.assign_task(task.task_id), key)
        share = partition(task.manifest.data, part)
        trainers.append(Trainer(chain, store, key, share, state_root / key.ss58_address, behaviour))
    return trainers


def _hash_of(worker: Keypair, round_: int) -> bytes:
    """A distinct stand-in update hash per worker and round (the chain refuses a hash twice in a round)."""
    return hashlib.sha256(f"{worker.ss58_address}/{round_}".encode()).digest()


def run_task(chain: DecentralMl, *, rounds: int = 2, label: str = "bafy-factory") -> int:
    """A whole task: Bob, Charlie and Dave work every round, Dave is rejected, Eve commits."""
    task_id = create_task(chain, rounds=rounds, label=label)
    workers = [BOB, CHARLIE, DAVE]
    for worker in workers:
        chain.submit(calls.assign_task(task_id), worker)
    for round_ in range(1, rounds + 1):
        accepted = []
        for worker in workers:
            sent = chain.submit(
                calls.send_task_result(task_id, round_, f"{label}-{round_}", _hash_of(worker, round_)), worker
            )
            result_id = sent.one(events.ResultSubmitted).result_id
            honest = worker is not DAVE
            chain.submit(calls.validate_task_result(result_id, honest, 800_000), EVE)
            if honest:
                chain.submit(calls.accept_task_result(result_id), ALICE)
                accepted.append(result_id)
            else:
                chain.submit(calls.reject_task_result(result_id, OUTLIER), ALICE)
        chain.submit(
            calls.commit_model(task_id, round_, f"{label}-model-{round_}", bytes([1]) * 32, accepted), EVE
        )
    return task_id


class InProcess:
    """Carries a round to in-process Trainers (no Flower): what `run_task` needs of a transport.
    Like a worker daemon, it reads the task's manifest from its signed bundle (hash on chain), and
    takes the model through `Trainer.model_from`: as the round's 1-bit delta when it answered the
    round before (as `FlowerTransport` does), whole otherwise or when it says it needs it whole.
    `sent` counts the bytes of model sent down each round."""

    def __init__(self, trainers: list[Trainer], stop_after: int | None = None) -> None:
        self.trainers, self.stop_after = trainers, stop_after
        self.manifests: dict[int, TaskManifest] = {}
        self.replied: dict[str, int] = {}  # worker -> the last round it answered
        self.sent: dict[int, int] = {}

    def _model(
        self,
        trainer: Trainer,
        task_id: int,
        round_: int,
        weights: codec.Weights,
        delta: downlink.Delta | None,
    ) -> codec.Weights:
        if delta is not None and self.replied.get(trainer.address) == round_ - 1:
            self.sent[round_] = self.sent.get(round_, 0) + len(delta.data)
            try:
                return trainer.model_from(task_id, delta.data)
            except downlink.MissingBaseError:
                pass
        whole = codec.encode(weights)
        self.sent[round_] = self.sent.get(round_, 0) + len(whole)
        return trainer.model_from(task_id, whole)

    def train_round(
        self,
        task_id: int,
        round_: int,
        weights: codec.Weights,
        spool: Path,
        delta: downlink.Delta | None = None,
    ) -> Iterator[Received | WorkerFailure]:
        if self.stop_after is not None and round_ > self.stop_after:
            raise KeyboardInterrupt("the coordinator stops here")
        for trainer in self.trainers:
            try:
                if task_id not in self.manifests:
                    self.manifests[task_id] = load_task(trainer.chain, trainer.store, task_id)
                model = self._model(trainer, task_id, round_, weights, delta)
                update = trainer.train_round(task_id, round_, self.manifests[task_id], model)
                self.replied[trainer.address] = round_
            except Exception as failed:  # what a SuperNode's error reply carries
                yield WorkerFailure(trainer.address, f"{type(failed).__name__}: {failed}")
                continue
            yield Received.spool(spool, trainer.address, update.data, update.examples, update.epsilon)


def dml_json(*args: str, key: str = "//Alice") -> dict[str, Any]:
    """`dml --key KEY --json ...` in this process, as a user types it; its JSON answer."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = dml(["--key", key, "--json", *args])
    assert code == 0, err.getvalue()
    found: dict[str, Any] = json.loads(out.getvalue())
    return found


def init_and_pack(
    store: ContentStore,
    folder: Path,
    files: samples.SampleFiles,
    recipient: str,
    *,
    min_workers: int = 2,
    regression: bool = False,
    release: str = "none",
) -> tuple[str, str]:
    """Alice's `dml task init` (a breast-cancer task from CSV, validation sealed to `recipient`,
    updates and models to Ferdie by his signed statement) then `dml task pack`; the bundle's
    (CID, sha256). With `regression`, the task is `samples.regression_files`' diabetes regression
    ("diabetes", at task init's regression defaults). `release`: none (usable at once) or council."""
    statement = folder.parent / f"{folder.name}-ferdie-sealing.json"
    statement.write_text(json.dumps(sealing_statement(FERDIE)))
    kind = (
        ["--label", samples.REGRESSION_LABEL, "--regression", "--dataset", "diabetes"]
        if regression
        else ["--label", samples.LABEL, "--dataset", "cancer", "--epochs", "5", "--learning-rate", "0.01"]
    )
    dml_json(
        "task", "init", str(folder), "--kind", "tabular", *kind,
        "--data", str(files.shares[0]), "--validation", str(files.validation), "--test", str(files.test),
        "--validator", FERDIE.ss58_address, "--sealing-key", recipient,
        "--sealing-statement", str(statement),
        "--hidden", "16", "--release", release,
        "--min-workers", str(min_workers),
    )  # fmt: skip
    packed = dml_json("task", "pack", str(folder), "--ipfs-api", store.api)
    return str(packed["bundle_cid"]), str(packed["bundle_sha256"])


def create_own_task(chain: DecentralMl, cid: str, sha256: str, *, rounds: int = 3, slots: int = 3) -> int:
    """Alice creates an AutoAccept task for the bundle, judged by Ferdie; its id."""
    call = calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=rounds,
        max_assignments=slots,
        expires_at=chain.block_number() + 5_000,
        validation=ValidationStrategy.auto_accept(),
        validators=[FERDIE.ss58_address],
        reward_per_result=UNIT,
        manifest_cid=cid,
        manifest_hash=sha256,
    )
    return chain.submit(call, ALICE).one(events.TaskCreated).task_id
