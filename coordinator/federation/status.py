"""What the coordinator knows about running each task, beyond what the chain says.

`run.json` in the task's directory holds the launcher's view: `waiting` (for workers),
`running` (attempt n), `refused` (before any round: its data or bundle cannot be judged),
`stalled` (the run failed `MAX_ATTEMPTS` times in a row without committing a round; the launcher
stopped trying). It is coordinator-local state, not rebuilt from the chain: a restarted
coordinator tries a stalled task again. Failed rounds are in the round log (`runner`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

State = Literal["waiting", "running", "refused", "stalled", "ended"]  # ended: shown, never written
RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunStatus:
    state: State
    reason: str | None = None
    attempts: int = 0


def write_status(directory: Path, status: RunStatus) -> None:
    """Replace the task's run status atomically (a reader never sees half a file)."""
    partial = directory / f".{RUN_FILE}.{os.getpid()}"
    partial.write_text(json.dumps(asdict(status)))
    partial.replace(directory / RUN_FILE)


def read_status(root: Path, task_id: int) -> RunStatus | None:
    """The task's run status, or None when this coordinator never looked at the task."""
    path = root / f"task-{task_id}" / RUN_FILE
    try:
        found = json.loads(path.read_text())
        return RunStatus(state=found["state"], reason=found.get("reason"), attempts=int(found["attempts"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
