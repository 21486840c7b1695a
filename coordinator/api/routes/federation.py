"""The coordinator's federated side: where workers join, and each task's round log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from coordinator.federation.runner import read_rounds

router = APIRouter(tags=["federation"])


@router.get("/federation")
def federation(request: Request) -> dict[str, Any]:
    """The validator account tasks must list, and the SuperLink address workers join (or nulls)."""
    found: dict[str, Any] = getattr(request.app.state, "federation", {"validator": None, "superlink": None})
    return {k: v for k, v in found.items() if k != "directory"}


def refereed_rounds(request: Request, task_id: int) -> list[dict[str, Any]]:
    """The rounds of `task_id` this coordinator refereed (none if it runs no federated rounds)."""
    directory = getattr(request.app.state, "federation", {}).get("directory")
    return read_rounds(Path(directory), task_id) if directory else []


@router.get("/tasks/{task_id}/rounds")
def rounds(task_id: int, request: Request) -> list[dict[str, Any]]:
    """Each refereed round of a task: verdicts, the committed model, test accuracy, timings."""
    found = refereed_rounds(request, task_id)
    if not found:
        raise HTTPException(404, f"this coordinator has refereed no round of task {task_id}")
    return found
