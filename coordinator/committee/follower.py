"""`Follower`: a committee member's judging, off the launcher's thread.

Judging a round (fetching every sealed update, training the reference, scoring, aggregating)
takes seconds to minutes. Done inside the launcher's tick it held up everything else that tick
does: starting and watching the Flower runs this coordinator carries, and publishing releases.
The launcher now hands the follower, each tick, the committee tasks this member is on; the
follower follows them one after another in a thread of its own, and a tick that finds it busy
hands over nothing (the next tick offers the tasks again, as they then stand on chain). One
judging at a time: a round's judging already uses every core PyTorch is given.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from decentralml.manifest import TaskManifest
from decentralml_bindings.types import TaskInfo

log = logging.getLogger(__name__)


class Follows(Protocol):
    """What the follower drives: `committee.member.Member.follow`."""

    def follow(self, task_id: int, task: TaskInfo, manifest: TaskManifest) -> object: ...


class Follower:
    def __init__(self, member: Follows) -> None:
        self.member = member
        self.thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def offer(self, tasks: Sequence[tuple[int, TaskInfo, TaskManifest]]) -> bool:
        """Follow `tasks` in a thread, in order, unless the last offer is still being followed;
        whether this offer was taken. One task that fails (the chain, IPFS, its content) is logged
        and does not keep the others from being followed."""
        if self.busy or not tasks:
            return False
        work = list(tasks)

        def follow_all() -> None:
            for task_id, task, manifest in work:
                try:
                    self.member.follow(task_id, task, manifest)
                except Exception as failed:  # the next offer tries again
                    log.warning("committee round not judged", extra={"task": task_id, "error": repr(failed)})

        self.thread = threading.Thread(target=follow_all, name="committee-member", daemon=True)
        self.thread.start()
        return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the judging under way (at shutdown: an attestation half sent is sent)."""
        if self.thread is not None:
            self.thread.join(timeout)
