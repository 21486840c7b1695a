"""The coordinator's federated side: where workers join, and each task's round log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from coordinator.api.deps import IdPath
from coordinator.api.errors import NotFoundError
from coordinator.api.schemas import RunOut
from coordinator.federation.runner import read_rounds
from coordinator.federation.status import read_status

router = APIRouter(tags=["federation"])


@router.get("/federation")
def federation(request: Request) -> dict[str, Any]:
    """The validator account tasks must list, the SuperLink address workers join, and the
    validator's sealing key (signed by its account) that creators seal validation sets to; nulls
    when this coordinator runs no federated rounds."""
    found: dict[str, Any] = getattr(
        request.app.state, "federation", {"validator": None, "superlink": None, "sealing": None}
    )
    return {k: v for k, v in found.items() if k != "directory"}


def _directory(request: Request) -> Path | None:
    directory = getattr(request.app.state, "federation", {}).get("directory")
    return Path(directory) if directory else None


def refereed_rounds(request: Request, task_id: int) -> list[dict[str, Any]]:
    """The round log of `task_id`, committed and failed rounds (none if it runs no federated rounds)."""
    directory = _directory(request)
    return read_rounds(directory, task_id) if directory else []


def run_of(request: Request, task_id: int) -> RunOut | None:
    """This coordinator's run status of the task, with the newest failed round's reason."""
    directory = _directory(request)
    status = read_status(directory, task_id) if directory else None
    if status is None:
        return None
    failed = [r for r in refereed_rounds(request, task_id) if r.get("status") == "failed"]
    last = str(failed[-1]["reason"]) if failed else None
    if last is not None and not last.startswith("round "):
        last = f"round {failed[-1].get('round', '?')} failed: {last}"
    return RunOut(state=status.state, reason=status.reason, attempts=status.attempts, last_failure=last)


@router.get(
    "/tasks/{task_id}/rounds",
    responses={404: {"description": "no round logged; the detail says why (e.g. the task was refused)"}},
)
def rounds(task_id: IdPath, request: Request) -> list[dict[str, Any]]:
    """The task's round log: each committed round (verdicts, the model, the task's own metrics on
    the test set, timings) and each failed attempt (`status: failed` and its reason)."""
    found = refereed_rounds(request, task_id)
    if not found:
        run = run_of(request, task_id)
        why = f": it is {run.state} ({run.reason})" if run is not None and run.reason else ""
        raise NotFoundError("NoRounds", f"this coordinator has refereed no round of task {task_id}{why}")
    return found
