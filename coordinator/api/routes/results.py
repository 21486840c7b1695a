"""Results: validate, accept, reject; show one from the mirror."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import select

from coordinator.api.deps import IdPath, SessionDep, SignerDep, mirrored
from coordinator.api.errors import InvalidRequestError
from coordinator.api.schemas import QUEUED, Reject, ResultOut, Signing, Submitted, Validate, VerdictOut
from coordinator.db import models
from decentralml_bindings import calls
from decentralml_bindings.types import RejectionReason

router = APIRouter(prefix="/results", tags=["results"])


@router.get("/{result_id}", response_model=ResultOut)
def show_result(result_id: IdPath, session: SessionDep) -> ResultOut:
    """A result with its verdicts."""
    result = mirrored(session, models.Result, result_id, "result")
    verdicts = session.scalars(select(models.Verdict).where(models.Verdict.result_id == result_id))
    return ResultOut.model_validate(result).model_copy(
        update={"verdicts": [VerdictOut.model_validate(v) for v in verdicts]}
    )


@router.post("/{result_id}/validate", response_model=Submitted, responses=QUEUED)
def validate_task_result(result_id: IdPath, body: Validate, signer: SignerDep) -> Submitted | JSONResponse:
    """Record a verdict and score (pallet call `validate_task_result`)."""
    if body.approved and body.reason is not None:
        raise InvalidRequestError("VerdictReasonMismatch", "an approving verdict has no reason", status=422)
    reason = None if body.reason is None else RejectionReason(body.reason)
    return signer.execute(calls.validate_task_result(result_id, body.approved, body.score, reason), body)


@router.post("/{result_id}/accept", response_model=Submitted, responses=QUEUED)
def accept_task_result(result_id: IdPath, body: Signing, signer: SignerDep) -> Submitted | JSONResponse:
    """Accept a result and pay its worker (pallet call `accept_task_result`)."""
    return signer.execute(calls.accept_task_result(result_id), body)


@router.post("/{result_id}/reject", response_model=Submitted, responses=QUEUED)
def reject_task_result(result_id: IdPath, body: Reject, signer: SignerDep) -> Submitted | JSONResponse:
    """Reject a result with a reason (pallet call `reject_task_result`)."""
    if (body.reason == "Other") != (body.code is not None):
        raise InvalidRequestError(
            "InvalidRequest", "give a code with reason Other, and only then", status=422
        )
    reason = RejectionReason(body.reason, body.code)
    return signer.execute(calls.reject_task_result(result_id, reason), body)
