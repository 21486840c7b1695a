"""Running a federated task round by round, whatever carries the updates (`Transport`).

The run resumes where the chain says it stands: it starts at the round after the last committed
one, from that round's committed model (fetched from IPFS and checked against its hash on chain),
so a coordinator that crashed mid-task picks up without redoing or losing a round. Each round's
outcome, with the new global model's accuracy on the held-out test split, is appended to
`rounds.jsonl` in the task's directory.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from substrateinterface import Keypair

from coordinator.federation.referee import Received, Referee, RoundOutcome
from coordinator.federation.tasks import initial_weights, load_task, unreleased_base
from decentralml import codec
from decentralml.content import ContentStore
from decentralml.data import digits
from decentralml.models import build, load_weights
from decentralml.training import evaluate
from decentralml_bindings import DecentralMl

log = logging.getLogger(__name__)
# A round that received no update at all is asked again this many times before it is committed
# unchanged (workers that crashed get the chance to come back).
EMPTY_ROUND_ATTEMPTS = 3


class Transport(Protocol):
    """Sends the global model to the task's workers and yields their updates as they arrive."""

    def train_round(
        self, task_id: int, round_: int, weights: codec.Weights, spool: Path
    ) -> Iterator[Received]: ...


ROUND_LOG = "rounds.jsonl"


def task_dir(root: Path, task_id: int) -> Path:
    path = root / f"task-{task_id}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_rounds(root: Path, task_id: int) -> list[dict[str, Any]]:
    """The task's refereed rounds, oldest first, as `run_task` logged them (none if it has none)."""
    path = root / f"task-{task_id}" / ROUND_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def current_weights(chain: DecentralMl, store: ContentStore, task_id: int) -> tuple[int, codec.Weights]:
    """(rounds committed so far, the global weights to continue from): the last committed round's
    model, else the task's base model, else the manifest's initial weights."""
    task = chain.task(task_id)
    if task is None:
        raise LookupError(f"no task {task_id} on chain")
    if task.committed_rounds == 0 and task.base_model is None:
        return 0, initial_weights(store, load_task(chain, store, task_id))
    # A task started from a released model continues that model's lineage as a new branch; a
    # model the council revoked is never a starting point.
    if (base := unreleased_base(chain, task)) is not None:
        raise PermissionError(f"task {task_id} starts from model {base}, which the council has not released")
    model_id = chain.round_model(task_id, task.committed_rounds) if task.committed_rounds else task.base_model
    model = chain.model(model_id) if model_id is not None else None
    if model is None:
        raise LookupError(f"task {task_id} has {task.committed_rounds} rounds but no model for the last")
    return task.committed_rounds, codec.decode(store.get(model.cid, model.hash))


def run_task(
    chain: DecentralMl,
    store: ContentStore,
    validator: Keypair,
    transport: Transport,
    task_id: int,
    root: Path,
) -> list[RoundOutcome]:
    """Every remaining round of `task_id`; returns their outcomes."""
    manifest = load_task(chain, store, task_id)
    task = chain.task(task_id)
    assert task is not None
    done, weights = current_weights(chain, store, task_id)
    splits = digits(manifest.data.seed)
    referee = Referee(chain, store, validator, splits.validation)
    directory = task_dir(root, task_id)
    outcomes = []
    for round_ in range(done + 1, task.rounds + 1):
        started = time.monotonic()
        spool = directory / f"round-{round_}"
        spool.mkdir(exist_ok=True)
        received = list(transport.train_round(task_id, round_, weights, spool))
        for attempt in range(2, EMPTY_ROUND_ATTEMPTS + 1):
            if received:
                break
            log.warning(
                "no update arrived: asking again",
                extra={"task": task_id, "round": round_, "attempt": attempt},
            )
            received = list(transport.train_round(task_id, round_, weights, spool))
        collected = time.monotonic()
        outcome, weights = referee.judge(task_id, round_, manifest, weights, received)
        judged = time.monotonic()
        for item in received:
            item.path.unlink(missing_ok=True)
        model = build(manifest.model)
        load_weights(model, weights)
        accuracy, loss = evaluate(model, splits.test)
        record = asdict(outcome) | {
            "test_accuracy": accuracy,
            "test_loss": loss,
            "seconds": round(time.monotonic() - started, 3),
            "collect_seconds": round(collected - started, 3),
            "judge_seconds": round(judged - collected, 3),
            "workers_replied": len(received),
        }
        record["checks"] = [asdict(c) for c in outcome.checks]
        with (directory / ROUND_LOG).open("a") as f:
            f.write(json.dumps(record, default=str) + "\n")
        log.info("round done", extra={"task": task_id, "round": round_, "test_accuracy": accuracy})
        outcomes.append(outcome)
    return outcomes
