"""What the coordinator knows about running each task, beyond what the chain says.

`run.json` in the task's directory holds the launcher's view: `waiting` (for workers),
`running` (attempt n), `refused` (before any round: its data or bundle cannot be judged),
`stalled` (the run failed `MAX_ATTEMPTS` times in a row without committing a round; the launcher
stopped trying). It is coordinator-local state, not rebuilt from the chain: a restarted
coordinator tries a stalled task again.

`rounds.jsonl` beside it is the round log: each committed round and each failed attempt, one JSON
object a line, as the runner and committee members append them. Both are read by the REST
process, which must not load what judging needs: this module imports nothing heavy.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

State = Literal["waiting", "running", "refused", "stalled", "ended"]  # ended: shown, never written
RUN_FILE = "run.json"
ROUND_LOG = "rounds.jsonl"


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


def read_rounds(root: Path, task_id: int) -> list[dict[str, Any]]:
    """The task's round log, oldest first, as `run_task` wrote it (none if it has none): committed
    rounds and failed attempts (`status`)."""
    path = root / f"task-{task_id}" / ROUND_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def committed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The committed rounds of a round log."""
    return [r for r in records if r.get("status", "committed") == "committed"]


def append_record(directory: Path, record: dict[str, Any]) -> None:
    with (directory / ROUND_LOG).open("a") as f:
        f.write(json.dumps(record, default=str) + "\n")


def task_dir(root: Path, task_id: int) -> Path:
    """The task's directory under the federation directory `root` (made if missing)."""
    path = root / f"task-{task_id}"
    path.mkdir(parents=True, exist_ok=True)
    return path
