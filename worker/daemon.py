"""`dml worker run`: the daemon on an edge machine.

It looks for open tasks (its `TaskSource`, the coordinator's REST mirror, says which; the chain
confirms), and admits one only if its signed bundle checks out and its base model is released
(`decentralml.admission`) and its own data fits (`worker.catalogue`): nothing goes on chain for a
task it refuses. It claims a slot (`assign_task`), then joins the task's Flower run as a SuperNode
that trains on the worker's own data every round, until the chain says the task is over. The
training itself happens here, in the daemon (`worker.service`): PyTorch, the chain connection, the
data and the key stay warm in this one process. The SuperNode's ClientApp tasks run here too, on a
thread (`worker.executor`, the SuperNode in Flower's `process` isolation): they only pass models to
the trainer and updates back, with no process started per round.

The loop calls verbs on injected objects: `source.candidates()`, and a SuperNode made per task by
`supernodes(task_id)` (`start`, `alive`, `stop`). A SuperNode that exits is restarted by the loop,
after a back-off that doubles (`restart_seconds`, at most 60 s). SIGTERM stops the SuperNode and
the daemon cleanly; `--once` serves one task through the same loop. A restart finds its assignment
on chain and rejoins without claiming or submitting twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from substrateinterface import Keypair

from decentralml.admission import Admission, RefusedError
from decentralml.content import ContentError, ContentStore
from decentralml.identity import Binding, NodeKey
from decentralml.manifest import TaskManifest
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.types import TaskStatus
from worker.catalogue import Catalogue, DataRefusedError
from worker.service import TrainerService
from worker.settings import WorkerSettings
from worker.source import MirrorSource, TaskSource
from worker.supernode import SuperNode, SuperNodeProcess
from worker.trainer import Behaviour, Trainer, forget_task

__all__ = ["WorkerDaemon", "WorkerSettings"]

log = logging.getLogger(__name__)
DONE = (TaskStatus.COMPLETED, TaskStatus.WITHDRAWN, TaskStatus.EXPIRED)
MAX_RESTART_SECONDS = 60.0


def _on_this_machine(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def declare_card(chain: DecentralMl, store: ContentStore, key: Keypair, task_id: int, card: bytes) -> str:
    """Pin a dataset card (DATASET.md) in IPFS and declare its CID and sha256 on chain for the
    key's assignment; the CID. The card is public: it describes the data, it does not hold it."""
    stored = store.put(card)
    chain.submit(calls.declare_dataset(task_id, stored.cid, stored.sha256), key)
    return stored.cid


class WorkerDaemon:
    def __init__(
        self,
        settings: WorkerSettings,
        *,
        source: TaskSource | None = None,
        supernodes: Callable[[int], SuperNodeProcess] | None = None,
    ) -> None:
        specs = [*settings.data, *([settings.data_file] if settings.data_file else [])]
        self.catalogue = Catalogue.parse(specs, settings.data_part)
        if not self.catalogue:
            raise ValueError("give the worker its data: --data NAME=PATH (or --data-part N for the demo)")
        self.settings = settings
        if settings.torch_threads is not None:  # several workers sharing one machine's cores
            import torch

            torch.set_num_threads(settings.torch_threads)
        self.key = Keypair.create_from_uri(settings.key)
        self.chain = DecentralMl.connect(settings.chain_url)
        self.store = ContentStore(settings.ipfs_api)
        self.source: TaskSource = source or MirrorSource(settings.coordinator_url)
        self.supernodes = supernodes or self._supernode
        self.state = Path(settings.state_dir).resolve() / self.key.ss58_address
        self.state.mkdir(parents=True, exist_ok=True)
        self.refused: set[int] = set()
        self.stop = threading.Event()
        self.restarts = 0  # SuperNode restarts, over the daemon's life
        self._trainers: dict[int, tuple[Trainer, TaskManifest]] = {}
        # A bundle is immutable once its hash is on chain: verified once per task.
        self.admission = Admission(self.chain, self.store, sealed=False)
        self.service = TrainerService(self._trainer_for, port=settings.trainer_port or 0)

    def _supernode(self, task_id: int) -> SuperNodeProcess:
        """The task's SuperNode: over TLS to the SuperLink its signed manifest names, trusting only
        the CA the manifest carries, and authenticated with this worker's bound node key when the
        task asks for it (the binding is sent to the coordinator first)."""
        manifest = self.admission.manifest(task_id)
        superlink, root, auth_key = self.settings.superlink, None, None
        if manifest.federation is not None:
            superlink = manifest.federation.superlink or superlink
            root = self.state / "tls" / f"task-{task_id}-ca.crt"
            root.parent.mkdir(parents=True, exist_ok=True)
            root.write_text(manifest.federation.ca_certificate)
            if manifest.federation.node_auth:
                auth_key = self._bind_node_key(superlink)
        from worker import client_app  # Flower's records: only once a task is joined

        return SuperNode(
            superlink=superlink,
            home=self.state / "flwr-home",
            log=self.state / f"supernode-{task_id}.log",
            config={"trainer-url": self.service.url},
            port=self.settings.supernode_port,
            root_certificates=root,
            auth_key=auth_key,
            answer=client_app.answering(self.service.url, self.service.token),
        )

    def _bind_node_key(self, superlink: str) -> Path:
        """This worker's node key, bound to its account at the coordinator; the private key's path.
        Raises (HTTP errors, a refusal) so the loop tries again later."""
        key = NodeKey.ensure(self.state / "node-key")
        binding = Binding.sign(self.key, superlink, key.public_text())
        response = httpx.post(
            f"{self.settings.coordinator_url}/federation/nodes",
            json={
                "account": binding.account,
                "superlink": binding.superlink,
                "public_key": binding.public_key,
                "signature": binding.signature,
            },
            timeout=60,
        )
        if response.status_code != 201:
            raise RuntimeError(
                f"the coordinator refused the node key ({response.status_code}): {response.text}"
            )
        log.info("node key bound", extra={"node_id": response.json()["node_id"], "superlink": superlink})
        return key.private

    def _trainer_for(self, task_id: int) -> tuple[Trainer, TaskManifest]:
        """The warm trainer of a task this worker is assigned to (built once per task)."""
        if task_id not in self._trainers:
            if self.chain.assignment(task_id, self.address) is None:
                raise PermissionError(f"this worker is not assigned to task {task_id}")
            manifest = self.admission.manifest(task_id)
            data = self.catalogue.data_for(manifest)
            behaviour = Behaviour(self.settings.behaviour)
            trainer = Trainer(self.chain, self.store, self.key, data, self.state, behaviour)
            self._trainers[task_id] = (trainer, manifest)
        return self._trainers[task_id]

    @property
    def address(self) -> str:
        return str(self.key.ss58_address)

    def candidates(self) -> list[int]:
        """Open task ids from the task source, oldest first."""
        return self.source.candidates()

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
            manifest = self.admission.admit(task_id, task)
        except RefusedError as refused:  # bad bundle, or a base model the council has not released
            log.error("task refused: %s", refused, extra={"task": task_id, "reason": str(refused)})
            self.refused.add(task_id)
            return None
        except ContentError as unreachable:  # IPFS is down: try the task again later, do not refuse it
            log.warning("task bundle unreachable", extra={"task": task_id, "error": str(unreachable)})
            return None
        if manifest.federation is None and not _on_this_machine(self.settings.superlink):
            reason = (
                f"the task names no TLS certificate for its SuperLink, and {self.settings.superlink} is "
                "not on this machine: its updates would travel unencrypted"
            )
            log.error("task refused: %s", reason, extra={"task": task_id, "reason": reason})
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

    def claim(self, task_id: int, manifest: TaskManifest | None = None) -> None:
        """Take a slot in the task (or find ours after a restart), and declare the card of the
        data we train on if we have one and have not yet declared it."""
        assignment = self.chain.assignment(task_id, self.address)
        if assignment is None:
            self.chain.submit(calls.assign_task(task_id), self.key)
            log.info("slot claimed", extra={"task": task_id, "worker": self.address})
        else:
            log.info("already assigned: rejoining", extra={"task": task_id})
        card = None if manifest is None else self.catalogue.card_for(manifest)
        if card is None or (assignment is not None and assignment.dataset is not None):
            return
        try:
            cid = declare_card(self.chain, self.store, self.key, task_id, card)
        except Exception as failed:  # the card is provenance, not the work: train all the same
            log.error(
                "dataset card not declared (the next start tries again)",
                extra={"task": task_id, "error": repr(failed)},
            )
            return
        log.info("dataset card declared", extra={"task": task_id, "cid": cid})

    def serve(self, task_id: int) -> TaskStatus:
        """Run a SuperNode until the task is over (or the daemon is stopped); the task's status.
        A SuperNode that exits is restarted here, by the loop, after a doubling back-off."""
        node = self.supernodes(task_id)
        node.start()
        log.info("joined the task's Flower run", extra={"task": task_id, "supernode_pid": node.pid})
        backoff = self.settings.restart_seconds
        restart_at: float | None = None
        waited = 0.0
        try:
            while not self.stop.is_set():
                try:
                    task = self.chain.task(task_id)
                except Exception as lost:  # the chain restarted: the SuperNode carries on meanwhile
                    log.warning("chain unreachable while serving", extra={"error": repr(lost)})
                    self._reconnect()
                    task = None
                if task is not None and task.status in DONE:
                    # Its warm trainer (the data in memory) and its running state go with it.
                    self._trainers.pop(task_id, None)
                    forget_task(self.state, task_id)
                    return task.status
                if restart_at is None and not node.alive():
                    log.warning(
                        "the SuperNode exited: restarting it",
                        extra={"task": task_id, "in_seconds": backoff},
                    )
                    restart_at = waited + backoff
                if restart_at is not None and waited >= restart_at:
                    node.stop()
                    node = self.supernodes(task_id)
                    node.start()
                    self.restarts += 1
                    log.info("SuperNode restarted", extra={"task": task_id, "supernode_pid": node.pid})
                    restart_at = None
                    backoff = min(backoff * 2, MAX_RESTART_SECONDS)
                step = self.settings.poll_seconds
                if restart_at is not None:
                    step = min(step, max(restart_at - waited, 0.01))
                self.stop.wait(step)
                waited += step
            return TaskStatus.IN_PROGRESS
        finally:
            node.stop()

    def run(self, once: bool = False) -> int:
        """Serve tasks until stopped (or one task with `once`); the number of tasks served.
        ValueError, before anything starts, if another daemon on this machine has this key."""
        with one_daemon_per_key(self.address):
            self.service.start()
            try:
                return self._serve_tasks(once)
            finally:
                self.service.stop()

    def _serve_tasks(self, once: bool) -> int:
        served = 0
        while not self.stop.is_set():
            try:
                found = next(((t, m) for t in self.candidates() if (m := self.suitable(t)) is not None), None)
                if found is None:
                    self.stop.wait(self.settings.poll_seconds)
                    continue
                task_id, manifest = found
                self.claim(task_id, manifest)
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
            self.admission.chain = self.chain
            self._trainers.clear()  # they hold the old connection
        except Exception:  # still down: the next loop tries again
            log.debug("chain still unreachable")

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())


LOCKS = Path(tempfile.gettempdir()) / "decentralml-worker-locks"


@contextlib.contextmanager
def one_daemon_per_key(address: str, locks: Path = LOCKS) -> Iterator[None]:
    """Hold this machine's lock for the worker `address` while the body runs. Two daemons with one
    key would both claim slots and send results, and the second's SuperNode would be turned away
    and restarted forever: the second is refused at start (ValueError, one line), naming the
    first's PID. The lock goes with its process (flock), so a killed daemon leaves none behind."""
    locks.mkdir(parents=True, exist_ok=True)
    with (locks / f"{address}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise ValueError(
                f"another worker daemon (PID {holder}) runs with the key of {address} on this machine: "
                "stop it, or give this one a key of its own"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
