"""The council's motions and votes, from the mirror (voting itself happens in Polkadot-JS Apps
or with the bindings' `council` calls: members sign their own votes)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlalchemy import select

from coordinator.api.deps import IndexPath, Limit, Offset, SessionDep, mirrored
from coordinator.api.schemas import CouncilMotionOut, CouncilVoteOut
from coordinator.db import models

router = APIRouter(prefix="/council", tags=["council"])

MotionStatus = Literal["Voting", "Approved", "Disapproved", "Executed", "ExecutionFailed"]


@router.get("/motions", response_model=list[CouncilMotionOut])
def list_motions(
    session: SessionDep,
    status: MotionStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[CouncilMotionOut]:
    """Council motions, newest first, optionally by status."""
    query = select(models.CouncilMotion)
    if status:
        query = query.where(models.CouncilMotion.status == status)
    rows = session.scalars(query.order_by(models.CouncilMotion.index.desc()).limit(limit).offset(offset))
    return [CouncilMotionOut.model_validate(r) for r in rows]


@router.get("/motions/{index}", response_model=CouncilMotionOut)
def show_motion(index: IndexPath, session: SessionDep) -> CouncilMotionOut:
    """A motion with every member's current vote."""
    motion = mirrored(session, models.CouncilMotion, index, "council motion")
    votes = session.scalars(select(models.CouncilVote).where(models.CouncilVote.motion == index))
    return CouncilMotionOut.model_validate(motion).model_copy(
        update={"votes": [CouncilVoteOut.model_validate(v) for v in votes]}
    )
