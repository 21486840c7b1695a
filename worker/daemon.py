"""`dml worker run`: the daemon on an edge machine.

It looks for open tasks (the coordinator's REST mirror says which; the chain confirms), fetches
each candidate's manifest from IPFS and refuses it unless its sha256 is the one on chain and it
asks only for a shipped architecture. It claims a slot (`assign_task`), then joins the task's
Flower run as a SuperNode that trains on the worker's own data every round, until the chain says
the task is over. The training itself happens here, in the daemon (`worker.service`): PyTorch,
the chain connection, the data and the key stay warm in this one process, and the SuperNode's
short-lived ClientApp processes only pass models to it and updates back. SIGTERM stops the
SuperNode and the daemon cleanly; `--once` serves one task.
A restart finds its assignment on chain and rejoins without claiming or submitting twice.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Literal

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from substrateinterface import Keypair

from coordinator.federation.flower import flower_env, supernode_command
from coordinator.federation.tasks import unreleased_base
from decentralml.bundle import open_bundle
from decentralml.content import ContentError, ContentStore
from decentralml.manifest import ManifestError, TaskManifest
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.types import TaskInfo, TaskStatus
from worker.catalogue import Catalogue, DataRefusedError
from worker.service import TrainerService
from worker.trainer import Behaviour, Trainer

log = logging.getLogger(__name__)
DONE = (TaskStatus.COMPLETED, TaskStatus.WITHDRAWN, TaskStatus.EXPIRED)


class WorkerSettings(BaseSettings):
    """A worker's configuration, from `DML_WORKER_*` variables (or `dml worker run` options)."""

    model_config = SettingsConfigDict(env_prefix="DML_WORKER_", extra="ignore")

    key: str = Field(description="the worker account's secret URI or mnemonic; stays on this machine")
    chain_url: str = "ws://127.0.0.1:9944"
    ipfs_api: str = "http://127.0.0.1:5001"
    coordinator_url: str = "http://127.0.0.1:8000"
    superlink: str = Field("127.0.0.1:9091", description="the coordinator's Flower SuperLink")
    state_dir: str = ".dml/worker"
    data: list[str] = Field(
        default_factory=list,
        description="the data catalogue: NAME=PATH (or PATH, named after the file) per dataset a task "
        "may name; CSV, Parquet, .npz or an image folder (JSON list in DML_WORKER_DATA)",
    )
    data_part: int | None = Field(
        None, ge=0, le=999, description="demo sources: this worker's part of the bundled split"
    )
    data_file: str | None = Field(None, description="one more catalogue entry, named after the file")
    supernode_port: int | None = Field(
        None, ge=1, le=65_535, description="the SuperNode's ClientApp port (default: one the OS picks)"
    )
    trainer_port: int | None = Field(
        None, ge=1, le=65_535, description="the loopback trainer service's port (default: one the OS picks)"
    )
    behaviour: Literal["honest", "poison", "tamper"] = "honest"
    poll_seconds: float = Field(2.0, gt=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WorkerDaemon:
    def __init__(self, settings: WorkerSettings) -> None:
        specs = [*settings.data, *([settings.data_file] if settings.data_file else [])]
        self.catalogue = Catalogue.parse(specs, settings.data_part)
        if not self.catalogue:
            raise ValueError("give the worker its data: --data NAME=PATH (or --data-part N for the demo)")
        self.settings = settings
        self.key = Keypair.create_from_uri(settings.key)
        self.chain = DecentralMl.connect(settings.chain_url)
        self.store = ContentStore(settings.ipfs_api)
        self.state = Path(settings.state_dir).resolve() / self.key.ss58_address
        self.state.mkdir(parents=True, exist_ok=True)
        self.refused: set[int] = set()
        self.stop = threading.Event()
        self._trainers: dict[int, tuple[Trainer, TaskManifest]] = {}
        # A bundle is immutable once its hash is on chain: verified (and its assets fetched) once.
        self._verified: dict[int, TaskManifest] = {}
        self.service = TrainerService(self._trainer_for, port=settings.trainer_port or 0)

    def _manifest(self, task_id: int, task: TaskInfo) -> TaskManifest:
        """The task's manifest from its signed bundle, checked once per task."""
        if task_id not in self._verified:
            bundle = open_bundle(
                self.store, task.manifest_cid, task.manifest_hash, task.creator, sealed=False
            )
            self._verified[task_id] = bundle
        return self._verified[task_id]

    def _trainer_for(self, task_id: int) -> tuple[Trainer, TaskManifest]:
        """The warm trainer of a task this worker is assigned to (built once per task)."""
        if task_id not in self._trainers:
            if self.chain.assignment(task_id, self.address) is None:
                raise PermissionError(f"this worker is not assigned to task {task_id}")
            task = self.chain.task(task_id)
            assert task is not None
            manifest = self._manifest(task_id, task)
            data = self.catalogue.data_for(manifest)
            behaviour = Behaviour(self.settings.behaviour)
            trainer = Trainer(self.chain, self.store, self.key, data, self.state, behaviour)
            self._trainers[task_id] = (trainer, manifest)
        return self._trainers[task_id]

    @property
    def address(self) -> str:
        return str(self.key.ss58_address)

    def candidates(self) -> list[int]:
        """Open task ids from the coordinator's mirror, oldest first."""
        found: list[int] = []
        for status in ("InProgress", "Created"):
            response = httpx.get(
                f"{self.settings.coordinator_url}/tasks", params={"status": status, "limit": 500}, timeout=10
            )
            response.raise_for_status()
            found += [int(t["id"]) for t in response.json()["items"]]
        return sorted(set(found))

    def suitable(self, task_id: int) -> TaskManifest | None:
        """The task's verified manifest if this worker can and may work on it, else None."""
        if task_id in self.refused:
            return None
        task = self.chain.task(task_id)
        if task is None or task.status in DONE or task.creator == self.address:
            return None
        mine = self.chain.assignment(task_id, self.address) is not None
        if not mine and task.assigned >= task.max_assignments:
            return None
        try:
            manifest = self._manifest(task_id, task)
        except ManifestError as refused:  # wrong hash or signature, unsigned, or asks for what is not shipped
            log.error("task refused", extra={"task": task_id, "reason": str(refused)})
            self.refused.add(task_id)
            return None
        except ContentError as unreachable:  # IPFS is down: try the task again later, do not refuse it
            log.warning("task bundle unreachable", extra={"task": task_id, "error": str(unreachable)})
            return None
        if unreleased_base(self.chain, task) is not None:
            log.error(
                "task refused: it starts from a model the council revoked",
                extra={"task": task_id, "base_model": task.base_model},
            )
            self.refused.add(task_id)
            return None
        try:
            examples = self.catalogue.check(manifest)
        except DataRefusedError as unfit:  # checked before claiming: nothing goes on chain
            log.error("task refused: %s", unfit, extra={"task": task_id, "reason": str(unfit)})
            self.refused.add(task_id)
            return None
        log.info("data fits the task", extra={"task": task_id, "examples": examples})
        return manifest

    def claim(self, task_id: int) -> None:
        if self.chain.assignment(task_id, self.address) is None:
            self.chain.submit(calls.assign_task(task_id), self.key)
            log.info("slot claimed", extra={"task": task_id, "worker": self.address})
        else:
            log.info("already assigned: rejoining", extra={"task": task_id})

    def serve(self, task_id: int) -> TaskStatus:
        """Run a SuperNode until the task is over (or the daemon is stopped); the task's status."""
        config: dict[str, str | int] = {"trainer-url": self.service.url}
        log_file = (self.state / f"supernode-{task_id}.log").open("ab")
        process = subprocess.Popen(
            supernode_command(self.settings.superlink, self.settings.supernode_port or _free_port(), config),
            env=flower_env(self.state / "flwr-home", {"DML_TRAINER_TOKEN": self.service.token}),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.info("joined the task's Flower run", extra={"task": task_id, "supernode_pid": process.pid})
        try:
            while not self.stop.is_set():
                try:
                    task = self.chain.task(task_id)
                except Exception as lost:  # the chain restarted: the SuperNode carries on meanwhile
                    log.warning("chain unreachable while serving", extra={"error": repr(lost)})
                    self._reconnect()
                    task = None
                if task is not None and task.status in DONE:
                    return task.status
                if process.poll() is not None:
                    log.warning("the SuperNode exited: restarting it", extra={"code": process.returncode})
                    return self.serve(task_id)
                self.stop.wait(self.settings.poll_seconds)
            return TaskStatus.IN_PROGRESS
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            log_file.close()

    def run(self, once: bool = False) -> int:
        """Serve tasks until stopped (or one task with `once`); the number of tasks served."""
        self.service.start()
        try:
            return self._serve_tasks(once)
        finally:
            self.service.stop()

    def _serve_tasks(self, once: bool) -> int:
        served = 0
        while not self.stop.is_set():
            try:
                task_id = next((t for t in self.candidates() if self.suitable(t) is not None), None)
                if task_id is None:
                    self.stop.wait(self.settings.poll_seconds)
                    continue
                self.claim(task_id)
                status = self.serve(task_id)
                served += 1
                log.info("task over", extra={"task": task_id, "status": status.value})
                if once:
                    break
            except Exception as failed:  # websocket, HTTP and IPFS failures share no base class
                log.warning("coordinator, chain or IPFS unreachable: retrying", extra={"error": repr(failed)})
                self.stop.wait(self.settings.poll_seconds)
                self._reconnect()
        return served

    def _reconnect(self) -> None:
        try:
            self.chain = DecentralMl.connect(self.settings.chain_url)
            self._trainers.clear()  # they hold the old connection
        except Exception:  # still down: the next loop tries again
            log.debug("chain still unreachable")

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
