"""An account's tasks and earnings."""

from __future__ import annotations

import pydantic_core
from fastapi import APIRouter, Response
from sqlalchemy import or_, select

from coordinator.api.deps import AccountPath, SessionDep
from coordinator.api.routes.tasks import TASK_COLUMNS, task_rows
from coordinator.api.schemas import Earnings, TaskOut
from coordinator.db import models

router = APIRouter(prefix="/accounts", tags=["accounts"])


@router.get("/{address}/tasks", response_model=list[TaskOut])
def account_tasks(address: AccountPath, session: SessionDep) -> Response:
    """Tasks the account created or works on."""
    who = address
    working = select(models.Assignment.task_id).where(models.Assignment.worker == who)
    query = (
        select(*TASK_COLUMNS)
        .where(or_(models.Task.creator == who, models.Task.id.in_(working)))
        .order_by(models.Task.id)
    )
    return Response(pydantic_core.to_json(task_rows(session, query)), media_type="application/json")


@router.get("/{address}/earnings", response_model=Earnings)
def account_earnings(address: AccountPath, session: SessionDep) -> Earnings:
    """What the account earned from accepted results."""
    who = address
    accepted = list(
        session.scalars(
            select(models.Result).where(models.Result.worker == who, models.Result.status == "Accepted")
        )
    )
    return Earnings(
        account=who,
        accepted_results=len(accepted),
        earned=str(sum(r.reward_paid for r in accepted)),
        tasks=sorted({r.task_id for r in accepted}),
    )
