"""Queued writes: what became of a write sent with `wait: false`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from coordinator.api.schemas import Submission

router = APIRouter(prefix="/submissions", tags=["submissions"])


@router.get("/{submission_id}", response_model=Submission)
def show_submission(submission_id: str, request: Request) -> Submission:
    """A queued write: pending, included (with its receipt) or failed (with the error it got)."""
    found: Submission | None = request.app.state.submissions.get(submission_id)
    if found is None:
        raise HTTPException(404, f"no submission {submission_id} on this coordinator (ids live in memory)")
    return found
