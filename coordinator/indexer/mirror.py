"""Applying one block to the mirror.

Events say *which* entities a block changed; the rows are then copied from chain storage *at that
block*, so the mirror holds exactly what the chain holds, and applying a block twice writes the
same rows again (events are keyed by block number and index).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from coordinator.db import models
from coordinator.indexer.council import apply_council_event
from decentralml_bindings import DecentralMl
from decentralml_bindings.blocks import StorageRead
from decentralml_bindings.calls import PALLET
from decentralml_bindings.council import COUNCIL
from decentralml_bindings.types import ResultSubmissionStatus

# Which entities each event touches: (kind, attribute names forming its key).
TOUCHES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "TaskCreated": [("task", ("task_id",))],
    "TaskAssigned": [("task", ("task_id",)), ("assignment", ("task_id", "worker"))],
    "DatasetDeclared": [("assignment", ("task_id", "worker"))],
    "ResultSubmitted": [("result", ("result_id",))],
    "ResultValidated": [("result", ("result_id",)), ("verdict", ("result_id", "validator"))],
    "ResultAccepted": [("result", ("result_id",)), ("task", ("task_id",))],
    "ResultRejected": [("result", ("result_id",))],
    "ModelCommitted": [("model", ("model_id",)), ("task", ("task_id",))],
    "TaskCompleted": [("task", ("task_id",))],
    "TaskCancelled": [("task", ("task_id",))],
    "TaskExpired": [("task", ("task_id",))],
    "ModelApproved": [("model", ("model_id",))],
    "ModelRevoked": [("model", ("model_id",))],
    "ModelPublished": [("model", ("model_id",))],
    "DisputeResolved": [("task", ("task_id",))],
    "RewardToCreator": [],  # the event row records it; ResultAccepted refreshes the result
    "TaskReaped": [],  # the chain forgets the task; the mirror keeps its history, marked Reaped
    "TaskPartlyReaped": [],  # a page of the task's state forgotten on chain; the mirror keeps it
}
# Parents before children, so foreign keys hold within a block.
ORDER = ("task", "assignment", "result", "verdict", "model")
# The storage item each kind is read from (by `_refresh`, through the client), and its key's types.
STORAGE: dict[str, tuple[str, tuple[type[int] | type[str], ...]]] = {
    "task": ("Tasks", (int,)),
    "assignment": ("Assignments", (int, str)),
    "result": ("Results", (int,)),
    "verdict": ("Verdicts", (int, str)),
    "model": ("Models", (int,)),
}


def apply_block(
    session: Session,
    chain: DecentralMl,
    number: int,
    block_hash: str,
    events: list[tuple[int, str, str, dict[str, Any]]],
) -> None:
    """Record the block's DecentralMl and Council events and refresh every entity they touched."""
    touched = touched_by(events)
    rewards: dict[int, int] = {}  # result -> what its acceptance paid (a share of the reward)
    reaped: list[int] = []
    for index, pallet, name, attributes in events:
        session.merge(
            models.ChainEvent(
                block_number=number,
                event_index=index,
                block_hash=block_hash,
                pallet=pallet,
                name=name,
                attributes=_jsonable(attributes),
            )
        )
        if pallet == COUNCIL:
            apply_council_event(session, chain, number, block_hash, name, attributes)
            continue
        if name == "ResultAccepted":
            rewards[int(attributes["result_id"])] = int(attributes["reward"])
        if name == "TaskReaped":
            reaped.append(int(attributes["task_id"]))
    for kind, key in touched:
        row = _refresh(chain, kind, key, block_hash, number)
        if isinstance(row, models.Result) and row.status == ResultSubmissionStatus.ACCEPTED.value:
            known = session.get(models.Result, row.id)
            row.reward_paid = rewards.get(row.id, known.reward_paid if known is not None else 0)
        if row is not None:
            session.merge(row)
    for task_id in reaped:
        mirrored = session.get(models.Task, task_id)
        if mirrored is not None:
            mirrored.status, mirrored.synced_block = "Reaped", number


def touched_by(events: list[tuple[int, str, str, dict[str, Any]]]) -> list[tuple[str, tuple[Any, ...]]]:
    """The entities (kind, key) a block's events touched, parents first."""
    touched = {
        (kind, tuple(attributes[k] for k in keys))
        for _, pallet, name, attributes in events
        if pallet != COUNCIL
        for kind, keys in TOUCHES.get(name, [])
    }
    return sorted(touched, key=lambda t: (ORDER.index(t[0]), str(t[1])))


def storage_reads(block_hash: str, events: list[tuple[int, str, str, dict[str, Any]]]) -> list[StorageRead]:
    """The chain storage reads `apply_block` will make for the block: to prefetch in one batch."""
    return [
        (
            PALLET,
            STORAGE[kind][0],
            tuple(typed(value) for typed, value in zip(STORAGE[kind][1], key, strict=True)),
            block_hash,
        )
        for kind, key in touched_by(events)
    ]


def _refresh(chain: DecentralMl, kind: str, key: tuple[Any, ...], at: str, number: int) -> models.Base | None:
    if kind == "task":
        task = chain.task(int(key[0]), at=at)
        if task is None:
            return None
        return models.Task(
            id=int(key[0]),
            creator=task.creator,
            task_type=task.task_type.value,
            status=task.status.value,
            rounds=task.rounds,
            committed_rounds=task.committed_rounds,
            max_assignments=task.max_assignments,
            assigned=task.assigned,
            expires_at=task.expires_at,
            validation=task.validation.kind,
            validation_threshold=task.validation.threshold,
            validators=list(task.validators),
            reward_per_result=task.reward_per_result,
            deposited=task.deposited,
            paid=task.paid,
            refunded=task.refunded,
            escrowed=task.escrowed,
            manifest_cid=task.manifest_cid,
            manifest_hash=task.manifest_hash,
            base_model=task.base_model,
            created_at=task.created_at,
            synced_block=number,
        )
    if kind == "assignment":
        assignment = chain.assignment(int(key[0]), str(key[1]), at=at)
        if assignment is None:
            return None
        return models.Assignment(
            task_id=int(key[0]),
            worker=str(key[1]),
            slot=assignment.slot,
            assigned_at=assignment.assigned_at,
            dataset_cid=None if assignment.dataset is None else assignment.dataset.cid,
            dataset_hash=None if assignment.dataset is None else assignment.dataset.hash,
            synced_block=number,
        )
    if kind == "result":
        result = chain.result(int(key[0]), at=at)
        if result is None:
            return None
        return models.Result(
            id=int(key[0]),
            task_id=result.task_id,
            round=result.round,
            worker=result.worker,
            cid=result.cid,
            hash=result.hash,
            status=result.status.value,
            approvals=result.approvals,
            disapprovals=result.disapprovals,
            rejection=None
            if result.rejection is None
            else _reason(result.rejection.kind, result.rejection.code),
            reward_paid=0,  # set by apply_block from the ResultAccepted event
            submitted_at=result.submitted_at,
            synced_block=number,
        )
    if kind == "verdict":
        verdict = chain.verdict(int(key[0]), str(key[1]), at=at)
        if verdict is None:
            return None
        return models.Verdict(
            result_id=int(key[0]),
            validator=str(key[1]),
            approved=verdict.approved,
            score=verdict.score,
            reason=None if verdict.reason is None else _reason(verdict.reason.kind, verdict.reason.code),
            at=verdict.at,
            synced_block=number,
        )
    model = chain.model(int(key[0]), at=at)
    if model is None:
        return None
    return models.Model(
        id=int(key[0]),
        task_id=model.task_id,
        round=model.round,
        cid=model.cid,
        hash=model.hash,
        accepted=list(model.accepted),
        parent=model.parent,
        committed_by=model.committed_by,
        committed_at=model.committed_at,
        status=model.status.value,
        published=model.published,
        attestations=model.attestations,
        synced_block=number,
    )


def _reason(kind: str, code: int | None) -> str:
    return kind if code is None else f"{kind}({code})"


def _jsonable(value: Any) -> Any:
    """Event attributes as JSON: large integers (u128 amounts) become strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    return value
