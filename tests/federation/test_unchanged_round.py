"""A round in which no update is accepted still commits (the round is over and its workers judged),
but the creator is told: the round log, `GET /tasks/{id}`'s run and `dml task show` say the model
was left unchanged, and why (the issue's regression had four such rounds end `Completed` silently)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from coordinator.api.routes.federation import run_of
from coordinator.cli.task import run_lines
from coordinator.federation.runner import run_task
from coordinator.federation.status import RunStatus, read_rounds, task_dir, write_status
from coordinator.federation.tasks import initial_manifest
from decentralml.content import ContentStore
from decentralml.data import DataSpec
from decentralml.models import ModelSpec
from decentralml_bindings import DecentralMl
from decentralml_bindings.dev import DAVE, EVE, FERDIE
from support.factories import InProcess, enlist, publish
from worker.trainer import Behaviour

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[16])


@pytest.mark.devnet
def test_a_round_with_nothing_accepted_says_the_model_is_unchanged(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: a 1-round task whose two workers both tamper with their updates (their bytes never
    # match the hashes they sent), so the referee can accept neither.
    task = publish(chain, store, initial_manifest(store, "unchanged", MODEL, data=DataSpec(parts=3)),
                   rounds=1, workers=3)  # fmt: skip
    trainers = enlist(chain, store, task, {DAVE: Behaviour.TAMPER, EVE: Behaviour.TAMPER}, tmp_path / "w")
    root = tmp_path / "fed"

    outcomes = run_task(chain, store, FERDIE, InProcess(trainers), task.task_id, root)

    # Assert: committed, nothing accepted, and said so in every place the creator looks.
    assert [o.accepted for o in outcomes] == [[]]
    assert outcomes[0].model_id is not None
    line = read_rounds(root, task.task_id)[-1]
    assert line["warning"] == (
        "round 1: no update was accepted (HashMismatch); the committed model is the previous one, unchanged"
    )
    write_status(task_dir(root, task.task_id), RunStatus("running"))
    request: Any = SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(federation={"directory": str(root)}))
    )
    run = run_of(request, task.task_id, "Completed")
    assert run is not None
    assert run.warnings == [line["warning"]]
    assert f"warning: {line['warning']}" in run_lines(run.model_dump())
