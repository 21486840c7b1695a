"""Committed models and their lineage."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from sqlalchemy import select

from coordinator.api.deps import SessionDep, mirrored
from coordinator.api.schemas import Lineage, LineageNode, ModelOut
from coordinator.db import models

router = APIRouter(prefix="/models", tags=["models"])


@router.get("/{model_id}", response_model=ModelOut)
def show_model(model_id: int, session: SessionDep) -> ModelOut:
    """A committed model: CID, hash, the accepted results it was built from, its parent, release status."""
    model = mirrored(session, models.Model, model_id, "model")
    return ModelOut.model_validate(model)


@router.get("/{model_id}/lineage", response_model=Lineage)
def lineage(model_id: int, session: SessionDep, request: Request) -> Lineage:
    """The whole tree the model belongs to: its ancestors up to the root, and every descendant of
    the root, across tasks (a task started from another task's released model is a branch)."""
    model = mirrored(session, models.Model, model_id, "model")
    root = model
    while root.parent is not None and (parent := session.get(models.Model, root.parent)) is not None:
        root = parent
    children: dict[int | None, list[models.Model]] = {}
    for row in session.scalars(select(models.Model).order_by(models.Model.id)):
        children.setdefault(row.parent, []).append(row)
    nodes: list[LineageNode] = []
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        nodes.append(
            LineageNode(
                id=node.id,
                parent=node.parent,
                iteration=depth,
                task_id=node.task_id,
                round=node.round,
                hash=node.hash,
                cid=node.cid,
                status=node.status,
                committed_at=node.committed_at,
                accuracy=_accuracy(request, node.task_id, node.round),
            )
        )
        stack += [(child, depth + 1) for child in reversed(children.get(node.id, []))]
    return Lineage(root=root.id, model=model_id, nodes=nodes)


def _accuracy(request: Request, task_id: int, round_: int) -> float | None:
    directory = getattr(request.app.state, "federation", {}).get("directory")
    path = Path(directory) / f"task-{task_id}" / "rounds.jsonl" if directory else None
    if path is None or not path.exists():
        return None
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record.get("round") == round_:
            return float(record["test_accuracy"])
    return None
