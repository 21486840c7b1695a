"""May this task run here, and may this model be handed out? One module decides, for the worker
daemon, the coordinator's launcher and runner, and the weights route.

- A task's manifest is read from its signed bundle: the bytes hash to the sha256 on chain, the
  creator signed it, it asks only for shipped architectures, and its assets hash to what it says.
  A bundle cannot change once its hash is on chain, so each is verified once per task and cached.
- A task is admitted when its bundle checks out and, if it starts from a base model, the council's
  release of that model stands. The release is asked of the chain every time: a council can
  revoke.
- A committed model may be handed out unless it was revoked; where its task's manifest says
  `release: council`, only once the council approved it. A task whose manifest cannot be read gets
  the strict policy.

Exceptions::

    Exception
     ├── RefusedError     the task must not run here (the message says why)
     └── WithheldError    the model must not be handed out; `code` is Revoked or NotReleased

`ManifestError` (a bundle that does not check out) and `ContentError` (IPFS unreachable: try
again later, refuse nothing) come through from `decentralml.bundle`.
"""

from __future__ import annotations

from typing import Literal, Protocol

from decentralml.bundle import open_bundle
from decentralml.content import ContentError, ContentStore, ContentUnreachableError
from decentralml.manifest import ManifestError, TaskManifest
from decentralml_bindings.types import ModelCommit, ModelStatus, TaskInfo


class Chain(Protocol):
    """What admission reads from the chain (`DecentralMl`)."""

    def task(self, task_id: int) -> TaskInfo | None: ...

    def released(self, model_id: int) -> bool: ...


class RefusedError(Exception):
    """The task must not run here; the message says why (a worker or a launcher logs it once)."""


class WithheldError(Exception):
    """The model must not be handed out: `code` Revoked (the council withdrew it) or NotReleased."""

    def __init__(self, code: Literal["Revoked", "NotReleased"], message: str) -> None:
        super().__init__(message)
        self.code = code


def unreleased_base(chain: Chain, task: TaskInfo) -> int | None:
    """The model a not-yet-started task would start from, if the council's release of it does not
    stand (never released, or revoked since): such a task must not run. None when it may."""
    if task.committed_rounds == 0 and task.base_model is not None and not chain.released(task.base_model):
        return task.base_model
    return None


class Admission:
    """Bundle checks and base-model release for tasks, cached per task (see the module's contract).

    `sealed`: also fetch and check the data sets sealed to the validator (the coordinator opens
    them; a worker has no use for them)."""

    def __init__(self, chain: Chain, store: ContentStore, *, sealed: bool = True) -> None:
        self.chain, self.store, self.sealed = chain, store, sealed
        self._manifests: dict[int, TaskManifest] = {}

    def manifest(self, task_id: int, task: TaskInfo | None = None) -> TaskManifest:
        """The task's manifest from its verified bundle (verified once, then cached).

        Raises LookupError (no such task), ManifestError (the bundle does not check out) or
        ContentError (IPFS unreachable)."""
        if task_id not in self._manifests:
            task = task or self.chain.task(task_id)
            if task is None:
                raise LookupError(f"no task {task_id} on chain")
            self._manifests[task_id] = open_bundle(
                self.store, task.manifest_cid, task.manifest_hash, task.creator, sealed=self.sealed
            )
        return self._manifests[task_id]

    def admit(self, task_id: int, task: TaskInfo | None = None) -> TaskManifest:
        """The manifest of a task that may run here; RefusedError with the reason when it may not.
        ContentError (IPFS unreachable) comes through: try again later."""
        task = task or self.chain.task(task_id)
        if task is None:
            raise RefusedError(f"there is no task {task_id} on chain")
        try:
            manifest = self.manifest(task_id, task)
        except ManifestError as bad:
            raise RefusedError(f"its bundle is unusable: {bad}") from bad
        if (base := unreleased_base(self.chain, task)) is not None:
            raise RefusedError(f"it starts from model {base}, which the council has not released")
        return manifest

    def may_hand_out(self, model_id: int, model: ModelCommit) -> None:
        """Nothing if the model may be handed out; WithheldError otherwise. ContentUnreachableError
        (IPFS down) comes through: the release rule cannot be read now."""
        if model.status == ModelStatus.REVOKED:
            raise WithheldError("Revoked", f"model {model_id} was withdrawn by the council: do not use it")
        try:
            release = self.manifest(model.task_id).release
        except ContentUnreachableError:
            raise
        except (ManifestError, LookupError, ContentError):
            release = "council"  # no usable signed manifest: the strict policy
        if release == "council" and model.status != ModelStatus.APPROVED:
            raise WithheldError(
                "NotReleased",
                f"model {model_id} is not released: task {model.task_id} requires a council approval "
                "(approve_model) before its models are handed out",
            )
