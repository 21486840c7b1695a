"""`Launcher`: starts a Flower run for every task this coordinator judges, once enough workers
are assigned, and starts it again if it stops before the task is done (the run resumes from the
last committed round). It reads tasks from the chain; the SuperLink runs beside the REST API.

Before a task's first run it checks, once, that the task can be judged at all: its signed bundle
opens, its base model is released, and its validation set (sealed to this validator) opens and
fits the schema. A task that fails this is `refused`, with the reason in its run status.
Of a task judged by a committee, only its first validator (the carrier) starts Flower runs; every
member follows its rounds through `committee.member.Member` (judging from the chain and IPFS,
attesting, disputing a split), in a thread of its own (`committee.follower.Follower`) so that a
judging never holds up the runs this coordinator carries. A run that ends before the task is
done is retried with back-off (`retry_seconds`, doubling); after `attempts` runs in a row that
committed no round, the task is `stalled` and left alone.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from substrateinterface import Keypair

from coordinator.committee.follower import Follower
from coordinator.committee.member import Member, carrier
from coordinator.federation.datasets import TaskDataError, judging_sets
from coordinator.federation.flower import SuperLink
from coordinator.federation.publisher import Publisher
from coordinator.federation.status import RunStatus, read_rounds, task_dir, write_status
from decentralml.admission import Admission, RefusedError
from decentralml.content import ContentError, ContentRefusedError, ContentStore
from decentralml.manifest import TaskManifest
from decentralml_bindings import DecentralMl
from decentralml_bindings.types import TaskInfo

log = logging.getLogger(__name__)
UNREACHABLE_BACKOFF_SECONDS = 60.0
PUBLISH_SECONDS = 10.0  # how often the publisher looks for models the council released


@dataclass
class _Run:
    process: subprocess.Popen[bytes] | None
    attempts: int  # runs in a row that committed no round
    committed: int  # the task's committed rounds when this run started
    not_before: float = 0.0  # monotonic time before which it is not started again


class Launcher:
    def __init__(
        self,
        chain: DecentralMl,
        store: ContentStore,
        superlink: SuperLink,
        validator: Keypair,
        root: Path,
        *,
        attempts: int = 3,
        retry_seconds: float = 5.0,
        publisher: Publisher | None = None,
        member: Member | None = None,
    ) -> None:
        self.chain, self.store, self.superlink, self.root = chain, store, superlink, root
        self.publisher = publisher
        # A committee member's judging runs in a thread of its own (`Follower`), not in the tick.
        self.follower = Follower(member) if member is not None else None
        self.next_publish = 0.0  # monotonic time of the next look for released models
        self.attempts, self.retry_seconds = attempts, retry_seconds
        self.key = validator
        self.validator = str(validator.ss58_address)
        self.runs: dict[int, _Run] = {}
        self.refused: set[int] = set()
        # Bundle checks and base-model release (bundles verified once per task, not every tick).
        self.admission = Admission(chain, store)
        self.manifests: dict[int, TaskManifest] = {}  # admitted and judgeable
        # Tasks whose bundle IPFS could not deliver: left alone until then (a fetch can block).
        self.unreachable_until: dict[int, float] = {}
        # The task scan: ids below `seen` were looked at; `watching` may still need this validator.
        self.seen = 0
        self.watching: set[int] = set()
        self.scanned_at: str | None = None  # the head `open` was read at
        self.open: list[tuple[int, TaskInfo]] = []

    def open_tasks(self) -> list[tuple[int, TaskInfo]]:
        """Open tasks that list this coordinator's validator, as of the finalized head.

        Read again only when the head moved (nothing changes between blocks), and then only the
        new task ids and the tasks still open for this validator: a task that ended, was refused
        here or does not name this validator (fixed at creation) is never read again. Reading every
        task on every tick kept a devnet with a few hundred tasks too busy to answer anyone else."""
        _, head = self.chain.finalized_head()
        if head == self.scanned_at:
            return self.open
        next_task, _, _ = self.chain.next_ids()
        self.watching.update(range(self.seen, next_task))
        self.seen = max(self.seen, next_task)
        found = []
        for task_id in sorted(self.watching - self.refused):
            task = self.chain.task(task_id, at=head)
            if task is None:  # created after the finalized head: read again at a later one
                continue
            if not task.status.is_open or self.validator not in task.validators:
                self.watching.discard(task_id)
                continue
            found.append((task_id, task))
        self.watching -= self.refused
        self.scanned_at, self.open = head, found
        return found

    def _refuse(self, task_id: int, reason: str) -> None:
        log.error("task refused", extra={"task": task_id, "reason": reason})
        self.refused.add(task_id)
        write_status(task_dir(self.root, task_id), RunStatus("refused", reason))

    def _admit(self, task_id: int, task: TaskInfo) -> TaskManifest | None:
        """The task's manifest once it has passed the checks before a first run; None if refused.
        Raises ContentError while IPFS is unreachable or refuses the CID (`tick` decides: one
        task's bad CID never stops the others)."""
        if task_id in self.manifests:
            return self.manifests[task_id]
        try:
            manifest = self.admission.admit(task_id, task)
        except RefusedError as refused:
            self._refuse(task_id, str(refused))
            return None
        try:
            judging_sets(manifest, self.store, self.key)
        except TaskDataError as unfit:
            self._refuse(task_id, f"it cannot be judged: {unfit}")
            return None
        self.manifests[task_id] = manifest
        return manifest

    def tick(self) -> None:
        committees: list[tuple[int, TaskInfo, TaskManifest]] = []
        try:
            self._tick(committees)
        finally:  # judge and attest rounds another member carries, dispute splits: off this thread
            if self.follower is not None:
                self.follower.offer(committees)

    def _tick(self, committees: list[tuple[int, TaskInfo, TaskManifest]]) -> None:
        for task_id, task in self.open_tasks():
            if task_id in self.refused or time.monotonic() < self.unreachable_until.get(task_id, 0.0):
                continue
            run = self.runs.get(task_id)
            if run is not None and run.process is not None and run.process.poll() is None:
                continue
            try:
                manifest = self._admit(task_id, task)
            except ContentRefusedError as refused:  # IPFS refuses the CID itself: it never will open
                self._refuse(task_id, f"its bundle cannot be fetched: {refused}")
                continue
            except ContentError as unreachable:  # IPFS is down: the others now, this one in a minute
                log.warning("task bundle unreachable", extra={"task": task_id, "error": str(unreachable)})
                self.unreachable_until[task_id] = time.monotonic() + UNREACHABLE_BACKOFF_SECONDS
                continue
            if manifest is None:
                continue
            if len(task.validators) > 1:
                committees.append((task_id, task, manifest))
            if carrier(task) != self.validator:
                continue  # another member's SuperLink carries its rounds
            directory = task_dir(self.root, task_id)
            need = min(manifest.min_workers, task.max_assignments)
            if task.assigned < need:
                if run is None:
                    write_status(
                        directory, RunStatus("waiting", f"{task.assigned} of {need} workers assigned")
                    )
                continue
            if run is not None and run.process is not None:
                run = self._ended(task_id, task, run)
                if run is None:
                    continue
            if run is not None and time.monotonic() < run.not_before:
                continue
            attempts = 1 if run is None else run.attempts + 1
            process = self.superlink.start_run(task_id, need, directory / "flwr-run.log")
            self.runs[task_id] = _Run(process, attempts, task.committed_rounds)
            write_status(directory, RunStatus("running", None, attempts))
            log.info(
                "flower run started", extra={"task": task_id, "workers": task.assigned, "attempt": attempts}
            )

    def _ended(self, task_id: int, task: TaskInfo, run: _Run) -> _Run | None:
        """After a run ended before its task: the run to retry later, or None once the task stalls."""
        attempts = 0 if task.committed_rounds > run.committed else run.attempts
        failed = [r for r in read_rounds(self.root, task_id) if r.get("status") == "failed"]
        reason = failed[-1]["reason"] if failed else "the Flower run ended before the task did"
        if attempts >= self.attempts:
            log.error("task stalled", extra={"task": task_id, "attempts": attempts, "reason": reason})
            self.refused.add(task_id)
            write_status(
                task_dir(self.root, task_id),
                RunStatus("stalled", f"{attempts} runs in a row failed; the last: {reason}", attempts),
            )
            return None
        delay = self.retry_seconds * 2 ** max(attempts - 1, 0)
        log.warning(
            "flower run ended before the task: retrying", extra={"task": task_id, "in_seconds": delay}
        )
        retry = _Run(None, attempts, task.committed_rounds, time.monotonic() + delay)
        self.runs[task_id] = retry
        return retry

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception as failed:  # the chain or IPFS is down: try again next tick
                log.warning("launcher tick failed", extra={"error": repr(failed)})
            try:  # releases are rare: looked for every PUBLISH_SECONDS, not every tick
                if self.publisher is not None and time.monotonic() >= self.next_publish:
                    self.next_publish = time.monotonic() + PUBLISH_SECONDS
                    self.publisher.tick()
            except Exception as failed:  # likewise: the release is published on a later tick
                log.warning("publishing released models failed", extra={"error": repr(failed)})
            stop.wait(poll_seconds)
        for run in self.runs.values():
            if run.process is not None and run.process.poll() is None:
                run.process.terminate()
        if self.follower is not None:
            self.follower.join(timeout=30)
