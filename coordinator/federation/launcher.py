"""`Launcher`: starts a Flower run for every task this coordinator judges, once enough workers
are assigned, and starts it again if it stops before the task is done (the run resumes from the
last committed round). It reads tasks from the chain; the SuperLink runs beside the REST API.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from coordinator.federation.flower import SuperLink
from coordinator.federation.runner import task_dir
from coordinator.federation.tasks import load_task, unreleased_base
from decentralml.content import ContentStore
from decentralml.manifest import ManifestError, TaskManifest
from decentralml_bindings import DecentralMl
from decentralml_bindings.types import TaskInfo, TaskStatus

log = logging.getLogger(__name__)
OPEN = (TaskStatus.CREATED, TaskStatus.IN_PROGRESS)


@dataclass
class _Run:
    process: subprocess.Popen[bytes]
    attempts: int


class Launcher:
    def __init__(
        self, chain: DecentralMl, store: ContentStore, superlink: SuperLink, validator: str, root: Path
    ) -> None:
        self.chain, self.store, self.superlink, self.validator, self.root = (
            chain,
            store,
            superlink,
            validator,
            root,
        )
        self.runs: dict[int, _Run] = {}
        self.refused: set[int] = set()
        # A bundle is immutable once its hash is on chain: verified once per task, not every tick.
        self.manifests: dict[int, TaskManifest] = {}

    def open_tasks(self) -> list[tuple[int, TaskInfo]]:
        """Open tasks that list this coordinator's validator."""
        next_task, _, _ = self.chain.next_ids()
        found = []
        for task_id in range(next_task):
            task = self.chain.task(task_id)
            if task and task.status in OPEN and self.validator in task.validators:
                found.append((task_id, task))
        return found

    def tick(self) -> None:
        for task_id, task in self.open_tasks():
            if task_id in self.refused:
                continue
            run = self.runs.get(task_id)
            if run is not None and run.process.poll() is None:
                continue
            try:
                manifest = self.manifests.get(task_id) or load_task(self.chain, self.store, task_id)
                self.manifests[task_id] = manifest
            except ManifestError as bad:
                log.error(
                    "task refused: its manifest is unusable", extra={"task": task_id, "error": str(bad)}
                )
                self.refused.add(task_id)
                continue
            if unreleased_base(self.chain, task) is not None:
                log.error("task refused: its base model is not released", extra={"task": task_id})
                self.refused.add(task_id)
                continue
            need = min(manifest.min_workers, task.max_assignments)
            if task.assigned < need:
                continue
            attempts = 1 if run is None else run.attempts + 1
            if run is not None:
                log.warning("flower run ended before the task: starting it again", extra={"task": task_id})
            process = self.superlink.start_run(task_id, need, task_dir(self.root, task_id) / "flwr-run.log")
            self.runs[task_id] = _Run(process, attempts)
            log.info(
                "flower run started", extra={"task": task_id, "workers": task.assigned, "attempt": attempts}
            )

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception as failed:  # the chain or IPFS is down: try again next tick
                log.warning("launcher tick failed", extra={"error": repr(failed)})
            stop.wait(poll_seconds)
        for run in self.runs.values():
            if run.process.poll() is None:
                run.process.terminate()
