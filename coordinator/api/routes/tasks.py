"""Tasks: create, assign, send results, commit models, cancel; list and show from the mirror."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic_core
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import JSON, ColumnElement, Select, String, cast, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from coordinator.api.deps import IdPath, Limit, Offset, SessionDep, SignerDep, mirrored
from coordinator.api.routes.federation import run_of
from coordinator.api.schemas import (
    QUEUED,
    Address,
    AssignmentOut,
    AttestationOut,
    CommitModel,
    CreateTask,
    DisputeOut,
    ModelOut,
    Page,
    ResultOut,
    SendResult,
    Signing,
    Submitted,
    TaskDetail,
    TaskOut,
    VerdictOut,
)
from coordinator.api.services.limits import check_create
from coordinator.db import models
from decentralml_bindings import calls
from decentralml_bindings.types import TaskType, ValidationStrategy, text

router = APIRouter(prefix="/tasks", tags=["tasks"])

Status = Literal["Created", "InProgress", "Completed", "Withdrawn", "Expired", "Reaped"]


TASK_COLUMNS = tuple(
    # Amounts come as the decimal strings TaskOut gives them, and the validator list as its JSON
    # text, both converted by the database: cheaper than SQLAlchemy's per-value processing.
    cast(column, String).label(name) if isinstance(column.type, models.U128 | JSON) else column
    for name, column in ((name, models.Task.__table__.c[name]) for name in TaskOut.model_fields)
)


def task_rows(session: Session, query: Select[Any]) -> list[dict[str, object]]:
    """TaskOut's fields of the tasks `query` (a select of `TASK_COLUMNS`) finds, in order, as
    TaskOut serializes them (amounts as decimal strings). Read through SQLAlchemy Core and not
    validated again: they are the mirror's own rows, which the indexer wrote from the chain. A page
    of 50 costs a third of what loading ORM objects and validating each one did."""
    result = session.connection().execute(query)
    names = tuple(result.keys())
    items = [dict(zip(names, row, strict=True)) for row in result.all()]
    for item in items:
        item["validators"] = pydantic_core.from_json(str(item["validators"]))
    return items


@router.get("", response_model=Page)
async def list_tasks(
    session: SessionDep,
    status: Status | None = None,
    creator: Annotated[Address | None, Query()] = None,
    task_type: Literal["DataAnnotators", "ModelContributor", "ModelEngineer"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """List mirrored tasks, newest first, filtered by status, creator or type.

    A page is two bounded reads of the mirror (at most 500 rows, on indexed columns). From SQLite
    (a local file) they are served on the event loop: handing them to a worker thread under load
    cost more than the reads (bench.run: about 400 pages per second in the pool, 850 on the loop).
    From a database server (PostgreSQL) they go to the thread pool, so a server that stalls holds
    only the requests that wait on it, not every request the coordinator serves."""
    where = [
        column == value
        for column, value in (
            (models.Task.status, status),
            (models.Task.creator, creator),
            (models.Task.task_type, task_type),
        )
        if value
    ]
    if session.get_bind().dialect.name == "sqlite":
        page = _page(session, where, limit, offset)
    else:
        page = await run_in_threadpool(_page, session, where, limit, offset)
    return Response(pydantic_core.to_json(page), media_type="application/json")


def _page(session: Session, where: list[ColumnElement[bool]], limit: int, offset: int) -> dict[str, object]:
    total = session.scalar(select(func.count()).select_from(models.Task).where(*where)) or 0
    query = select(*TASK_COLUMNS).where(*where).order_by(models.Task.id.desc()).limit(limit).offset(offset)
    return {"total": total, "limit": limit, "offset": offset, "items": task_rows(session, query)}


@router.get("/{task_id}", response_model=TaskDetail)
def show_task(task_id: IdPath, session: SessionDep, request: Request) -> TaskDetail:
    """A task with its assignments, results per round with their verdicts, committed models, and
    this coordinator's run status (refused, stalled, the last failed round's reason)."""
    task = mirrored(session, models.Task, task_id, "task")
    assignments = session.scalars(select(models.Assignment).where(models.Assignment.task_id == task_id))
    results = list(
        session.scalars(
            select(models.Result)
            .where(models.Result.task_id == task_id)
            .order_by(models.Result.round, models.Result.id)
        )
    )
    verdicts: dict[int, list[VerdictOut]] = {}
    for v in session.scalars(
        select(models.Verdict).where(models.Verdict.result_id.in_([r.id for r in results]))
    ):
        verdicts.setdefault(v.result_id, []).append(VerdictOut.model_validate(v))
    mirrored_models = list(
        session.scalars(
            select(models.Model).where(models.Model.task_id == task_id).order_by(models.Model.round)
        )
    )
    model_views = [ModelOut.model_validate(m) for m in mirrored_models]
    attestations, disputes = committee_of(session, task_id, model_views)
    return TaskDetail(
        **TaskOut.model_validate(task).model_dump(),
        assignments=[AssignmentOut.model_validate(a) for a in assignments],
        results=[
            ResultOut.model_validate(r).model_copy(update={"verdicts": verdicts.get(r.id, [])})
            for r in results
        ],
        models=model_views,
        attestations=attestations,
        disputes=disputes,
        run=run_of(request, task_id, task.status),
    )


COMMITTEE_EVENTS = ("RoundAttested", "RoundDisputed", "DisputeResolved")


def committee_of(
    session: Session, task_id: int, committed: list[ModelOut]
) -> tuple[list[AttestationOut], list[DisputeOut]]:
    """The task's attestations (each marked agreeing or not with the round's committed model) and
    disputes, from the mirrored chain events."""
    by_round = {m.round: m for m in committed}
    attestations: list[AttestationOut] = []
    disputes: dict[int, DisputeOut] = {}
    rows = session.scalars(
        select(models.ChainEvent)
        .where(models.ChainEvent.name.in_(COMMITTEE_EVENTS))
        .order_by(models.ChainEvent.block_number, models.ChainEvent.event_index)
    )
    for row in rows:
        attributes = row.attributes
        if int(attributes.get("task_id", -1)) != task_id:
            continue
        round_ = int(attributes["round"])
        if row.name == "RoundAttested":
            model = by_round.get(round_)
            accepted = sorted(int(r) for r in attributes["accepted"])
            agrees = (
                None if model is None else (model.hash == attributes["hash"] and model.accepted == accepted)
            )
            attestations.append(
                AttestationOut(
                    round=round_,
                    validator=str(attributes["validator"]),
                    hash=str(attributes["hash"]),
                    cid=text(attributes["cid"]),
                    accepted=accepted,
                    block=row.block_number,
                    agrees=agrees,
                )
            )
        elif row.name == "RoundDisputed":
            disputes[round_] = DisputeOut(
                round=round_, raised_by=str(attributes["raised_by"]), block=row.block_number, resolved=False
            )
        elif round_ in disputes:  # DisputeResolved
            chosen, model_id = attributes.get("chosen"), attributes.get("model_id")
            disputes[round_] = disputes[round_].model_copy(
                update={
                    "resolved": True,
                    "chosen": None if chosen is None else str(chosen),
                    "model_id": None if model_id is None else int(model_id),
                }
            )
    return attestations, sorted(disputes.values(), key=lambda d: d.round)


@router.post("", response_model=Submitted, responses=QUEUED, status_code=201)
def create_task(body: CreateTask, signer: SignerDep, request: Request) -> Submitted | JSONResponse:
    """Create a task and escrow its reward budget (pallet call `create_task`)."""
    check_create(body, request.app.state.limits, request.app.state.chain.block_number())
    if body.validation == "CustomAccept":
        assert body.threshold is not None  # check_create refused a CustomAccept without one
        validation = ValidationStrategy.custom_accept(body.threshold)
    else:
        validation = ValidationStrategy(body.validation)
    call = calls.create_task(
        task_type=TaskType(body.task_type),
        rounds=body.rounds,
        max_assignments=body.max_assignments,
        expires_at=body.expires_at,
        validation=validation,
        validators=body.validators,
        reward_per_result=int(body.reward_per_result),
        manifest_cid=body.manifest_cid,
        manifest_hash=body.manifest_hash,
        base_model=body.base_model,
    )
    return signer.execute(call, body)


@router.post("/{task_id}/assign", response_model=Submitted, responses=QUEUED)
def assign_task(task_id: IdPath, body: Signing, signer: SignerDep) -> Submitted | JSONResponse:
    """Claim a slot in a task (pallet call `assign_task`)."""
    return signer.execute(calls.assign_task(task_id), body)


@router.post("/{task_id}/results", response_model=Submitted, responses=QUEUED, status_code=201)
def send_task_result(task_id: IdPath, body: SendResult, signer: SignerDep) -> Submitted | JSONResponse:
    """Send a result's CID and hash for the open round (pallet call `send_task_result`)."""
    return signer.execute(calls.send_task_result(task_id, body.round, body.cid, body.hash), body)


@router.post("/{task_id}/models", response_model=Submitted, responses=QUEUED, status_code=201)
def commit_model(task_id: IdPath, body: CommitModel, signer: SignerDep) -> Submitted | JSONResponse:
    """Attest a round's model as a validator: committed once the threshold agree (`commit_model`)."""
    call = calls.commit_model(task_id, body.round, body.cid, body.hash, body.accepted)
    return signer.execute(call, body)


@router.post("/{task_id}/reap", response_model=Submitted, responses=QUEUED)
def reap(task_id: IdPath, body: Signing, signer: SignerDep) -> Submitted | JSONResponse:
    """Remove an ended task's state and return its creator's storage deposit (pallet call `reap`;
    anyone may, `ReapDelay` blocks after its expiry block)."""
    return signer.execute(calls.reap(task_id), body)


@router.post("/{task_id}/cancel", response_model=Submitted, responses=QUEUED)
def cancel_task(task_id: IdPath, body: Signing, signer: SignerDep) -> Submitted | JSONResponse:
    """Cancel an open task and refund its unspent escrow (pallet call `cancel_task`)."""
    return signer.execute(calls.cancel_task(task_id), body)
