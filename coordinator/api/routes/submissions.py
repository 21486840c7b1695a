"""Queued writes: what became of a write sent with `wait: false`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from coordinator.api.errors import NotFoundError
from coordinator.api.schemas import Submission

router = APIRouter(prefix="/submissions", tags=["submissions"])
SubmissionId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z-]+$")]


@router.get("/{submission_id}", response_model=Submission)
def show_submission(submission_id: SubmissionId, request: Request) -> Submission:
    """A queued write: pending, included (with its receipt) or failed (with the error it got)."""
    found: Submission | None = request.app.state.submissions.get(submission_id)
    if found is None:
        raise NotFoundError(
            "NoSubmission", f"no submission {submission_id} on this coordinator (ids live in memory)"
        )
    return found
