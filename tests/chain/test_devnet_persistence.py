"""The devnet keeps its state across a restart, and signed extrinsics still work after it."""

from __future__ import annotations

import pytest
from decentralml_bindings import DecentralMl, calls, events
from decentralml_bindings.dev import ALICE, BOB, UNIT
from decentralml_bindings.types import TaskType, ValidationStrategy

from tests.devnet import Devnet


def create_task(chain: DecentralMl, label: str) -> int:
    call = calls.create_task(
        task_type=TaskType.DATA_ANNOTATORS,
        rounds=1,
        max_assignments=1,
        expires_at=chain.block_number() + 500,
        validation=ValidationStrategy.manual_accept(),
        validators=[],
        reward_per_result=UNIT,
        manifest_cid=label,
        manifest_hash=bytes([0x11]) * 32,
    )
    return chain.submit(call, ALICE).one(events.TaskCreated).task_id


@pytest.mark.devnet
def test_state_and_signing_survive_a_restart(fresh_devnet: Devnet) -> None:
    # Prepare: a task on chain, then a clean stop.
    chain = DecentralMl.connect(fresh_devnet.url)
    task_id = create_task(chain, "bafy-before-restart")
    head_before = chain.block_number()
    chain.close()
    fresh_devnet.stop()

    # Execute
    fresh_devnet.start()

    # Assert: same head, same task, and new signed extrinsics from the same accounts succeed.
    chain = DecentralMl.connect(fresh_devnet.url)
    assert chain.block_number() == head_before
    task = chain.task(task_id)
    assert task is not None
    assert task.manifest_cid == "bafy-before-restart"
    assert create_task(chain, "bafy-after-restart") == task_id + 1
    chain.submit(calls.assign_task(task_id + 1), BOB)
    chain.close()
