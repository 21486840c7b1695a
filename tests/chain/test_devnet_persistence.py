"""The devnet keeps its state across a restart, and signed extrinsics still work after it."""

from __future__ import annotations

import pytest
from decentralml_bindings import ALICE, BOB, PALLET, UNIT, bounded, cid, hex32, must, storage, submit
from substrateinterface import SubstrateInterface

from tests.devnet import Devnet


def create_task(substrate: SubstrateInterface, label: str) -> int:
    head = int(substrate.get_block_header()["header"]["number"])
    outcome = must(
        submit(
            substrate,
            ALICE,
            PALLET,
            "create_task",
            task_type="DataAnnotators",
            rounds=1,
            max_assignments=1,
            expires_at=head + 500,
            validation="ManualAccept",
            validators=bounded([]),
            reward_per_result=UNIT,
            manifest_cid=cid(label),
            manifest_hash=hex32(0x11),
            base_model=None,
        )
    )
    return int(outcome.event(PALLET, "TaskCreated")["task_id"])


@pytest.mark.devnet
def test_state_and_signing_survive_a_restart(fresh_devnet: Devnet) -> None:
    # Prepare: a task on chain, then a clean stop.
    substrate = SubstrateInterface(url=fresh_devnet.url)
    task_id = create_task(substrate, "bafy-before-restart")
    head_before = int(substrate.get_block_header()["header"]["number"])
    substrate.close()
    fresh_devnet.stop()

    # Execute
    fresh_devnet.start()

    # Assert: same head, same task, and new signed extrinsics from the same accounts succeed.
    substrate = SubstrateInterface(url=fresh_devnet.url)
    assert int(substrate.get_block_header()["header"]["number"]) == head_before
    assert storage(substrate, "Tasks", task_id)["manifest_cid"] == "bafy-before-restart"
    assert create_task(substrate, "bafy-after-restart") == task_id + 1
    must(submit(substrate, BOB, PALLET, "assign_task", task_id=task_id + 1))
    substrate.close()
