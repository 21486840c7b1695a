"""Comparing the SQL mirror with the chain, and with another mirror."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db import models
from decentralml_bindings import DecentralMl

TABLES = (
    models.Task,
    models.Assignment,
    models.Result,
    models.Verdict,
    models.Model,
    models.CouncilMotion,
    models.CouncilVote,
    models.ChainEvent,
    models.IndexerCursor,
)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every mirror table, in a stable order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table in TABLES:
        columns = [c.key for c in table.__table__.columns]
        rows = [tuple(repr(getattr(row, c)) for c in columns) for row in session.scalars(select(table))]
        found[table.__tablename__] = sorted(rows)
    return found


def assert_mirror_matches_chain(session: Session, chain: DecentralMl) -> None:
    """Every task, result and model on chain is mirrored with the same values, and nothing else is."""
    next_task, next_result, next_model = chain.next_ids()
    tasks = {row.id: row for row in session.scalars(select(models.Task))}
    assert set(tasks) == set(range(next_task))
    for task_id, row in tasks.items():
        task = chain.task(task_id)
        assert task is not None
        assert (row.status, row.assigned, row.committed_rounds) == (
            task.status.value,
            task.assigned,
            task.committed_rounds,
        )
        assert (row.paid, row.refunded, row.escrowed) == (task.paid, task.refunded, task.escrowed)
        assert (row.manifest_cid, row.manifest_hash, row.validators) == (
            task.manifest_cid,
            task.manifest_hash,
            list(task.validators),
        )
    assignments = list(session.scalars(select(models.Assignment)))
    assert len(assignments) == sum(row.assigned for row in tasks.values())
    for a in assignments:
        on_chain = chain.assignment(a.task_id, a.worker)
        assert on_chain is not None
        assert on_chain.slot == a.slot
    results = {row.id: row for row in session.scalars(select(models.Result))}
    assert set(results) == set(range(next_result))
    for result_id, r in results.items():
        result = chain.result(result_id)
        assert result is not None
        assert (r.status, r.worker, r.cid, r.approvals, r.disapprovals) == (
            result.status.value,
            result.worker,
            result.cid,
            result.approvals,
            result.disapprovals,
        )
    for v in session.scalars(select(models.Verdict)):
        verdict = chain.verdict(v.result_id, v.validator)
        assert verdict is not None
        assert (verdict.approved, verdict.score) == (v.approved, v.score)
    mirrored_models = {row.id: row for row in session.scalars(select(models.Model))}
    assert set(mirrored_models) == set(range(next_model))
    for model_id, m in mirrored_models.items():
        model = chain.model(model_id)
        assert model is not None
        assert (m.status, m.hash, m.parent, m.accepted) == (
            model.status.value,
            model.hash,
            model.parent,
            list(model.accepted),
        )
