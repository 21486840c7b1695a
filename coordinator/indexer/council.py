"""Applying council events to the mirror.

The chain forgets a motion once it is closed, so motions and votes are built from the events
themselves (plus the proposed call, read from storage at the block that proposed it). Later events
name a motion only by its proposal hash: it is the open motion with that hash (the council refuses
a second open motion with the same hash).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db import models
from decentralml_bindings import DecentralMl

OUTCOME_LIMIT = 256


def apply_council_event(
    session: Session, chain: DecentralMl, number: int, block_hash: str, name: str, attrs: dict[str, Any]
) -> None:
    if name == "Proposed":
        proposal_hash = str(attrs["proposal_hash"])
        session.merge(
            models.CouncilMotion(
                index=int(attrs["proposal_index"]),
                proposal_hash=proposal_hash,
                proposer=str(attrs["account"]),
                threshold=int(attrs["threshold"]),
                call=chain.council_proposal(proposal_hash, at=block_hash),
                status="Voting",
                ayes=0,
                nays=0,
                proposed_at=number,
                closed_at=None,
                outcome=None,
            )
        )
        return
    motion = _open_motion(session, str(attrs.get("proposal_hash", "")))
    if motion is None:  # a motion proposed before the mirror's first block, or not a motion event
        return
    if name == "Voted":
        session.merge(
            models.CouncilVote(
                motion=motion.index, voter=str(attrs["account"]), aye=bool(attrs["voted"]), at=number
            )
        )
        motion.ayes, motion.nays = int(attrs["yes"]), int(attrs["no"])
    elif name == "Closed":
        motion.ayes, motion.nays, motion.closed_at = int(attrs["yes"]), int(attrs["no"]), number
    elif name in ("Approved", "Disapproved"):
        motion.status, motion.closed_at = name, number
    elif name == "Executed":
        result = attrs.get("result")
        failed = isinstance(result, dict) and "Err" in result
        motion.status = "ExecutionFailed" if failed else "Executed"
        motion.outcome = str(result["Err"])[:OUTCOME_LIMIT] if failed and isinstance(result, dict) else "Ok"


def _open_motion(session: Session, proposal_hash: str) -> models.CouncilMotion | None:
    """The newest motion with this hash that has not finished (executed or disapproved)."""
    return session.scalars(
        select(models.CouncilMotion)
        .where(
            models.CouncilMotion.proposal_hash == proposal_hash,
            models.CouncilMotion.status.in_(("Voting", "Approved")),
        )
        .order_by(models.CouncilMotion.index.desc())
        .limit(1)
    ).first()
