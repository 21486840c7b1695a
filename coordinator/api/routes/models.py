"""Committed models."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from coordinator.api.deps import SessionDep
from coordinator.api.schemas import ModelOut
from coordinator.db import models

router = APIRouter(prefix="/models", tags=["models"])


@router.get("/{model_id}", response_model=ModelOut)
def show_model(model_id: int, session: SessionDep) -> ModelOut:
    """A committed model: CID, hash, the accepted results it was built from, its parent, release status."""
    model = session.get(models.Model, model_id)
    if model is None:
        raise HTTPException(404, f"no model {model_id} in the mirror (it may not be indexed yet)")
    return ModelOut.model_validate(model)
