"""The devnet keeps its state across a restart, and signed extrinsics still work after it."""

from __future__ import annotations

import pytest

from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import BOB
from support.devnet import Devnet
from support.factories import create_task


@pytest.mark.devnet
def test_state_and_signing_survive_a_restart(fresh_devnet: Devnet) -> None:
    # Prepare: a task on chain, then a clean stop.
    chain = DecentralMl.connect(fresh_devnet.url)
    task_id = create_task(chain, label="bafy-before-restart")
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
    assert create_task(chain, label="bafy-after-restart") == task_id + 1
    chain.submit(calls.assign_task(task_id + 1), BOB)
    chain.close()
