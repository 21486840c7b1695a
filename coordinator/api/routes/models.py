"""Committed models."""

from __future__ import annotations

from fastapi import APIRouter

from coordinator.api.deps import SessionDep, mirrored
from coordinator.api.schemas import ModelOut
from coordinator.db import models

router = APIRouter(prefix="/models", tags=["models"])


@router.get("/{model_id}", response_model=ModelOut)
def show_model(model_id: int, session: SessionDep) -> ModelOut:
    """A committed model: CID, hash, the accepted results it was built from, its parent, release status."""
    model = mirrored(session, models.Model, model_id, "model")
    return ModelOut.model_validate(model)
