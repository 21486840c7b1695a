"""The coordinator's federated side: where workers join, and each task's round log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request

router = APIRouter(tags=["federation"])


@router.get("/federation")
def federation(request: Request) -> dict[str, Any]:
    """The validator account tasks must list, and the SuperLink address workers join (or nulls)."""
    found: dict[str, Any] = getattr(request.app.state, "federation", {"validator": None, "superlink": None})
    return {k: v for k, v in found.items() if k != "directory"}


@router.get("/tasks/{task_id}/rounds")
def rounds(task_id: int, request: Request) -> list[dict[str, Any]]:
    """Each refereed round of a task: verdicts, the committed model, test accuracy, timings."""
    directory = getattr(request.app.state, "federation", {}).get("directory")
    path = Path(directory) / f"task-{task_id}" / "rounds.jsonl" if directory else None
    if path is None or not path.exists():
        raise HTTPException(404, f"this coordinator has refereed no round of task {task_id}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
