"""The devnet keeps its state across a restart, and signed extrinsics still work after it; in Batch
mode it packs extrinsics that arrive together into one block."""

from __future__ import annotations

import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from substrateinterface import Keypair

from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import BOB, CHARLIE, DAVE, EVE
from support.devnet import DEVNET_SH, Devnet, free_port
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


@pytest.mark.devnet
def test_a_batch_devnet_packs_extrinsics_that_arrive_together_into_one_block(tmp_path: Path) -> None:
    # Prepare: a devnet in Batch mode and a task with four slots.
    net = Devnet(state_dir=tmp_path / "devnet", port=free_port(), block_mode="Batch")
    net.start()
    try:
        chain = DecentralMl.connect(net.url)
        task_id = create_task(chain, label="bafy-batch", slots=4)
        workers = [BOB, CHARLIE, DAVE, EVE]
        ready = threading.Barrier(len(workers))

        def claim(worker: Keypair) -> int:
            ready.wait()
            return chain.submit(calls.assign_task(task_id), worker).block_number

        # Execute: four accounts claim a slot at once.
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            blocks = list(pool.map(claim, workers))

        # Assert: every claim is on chain, and fewer blocks hold them than there are claims.
        assert all(chain.assignment(task_id, w.ss58_address) is not None for w in workers)
        assert len(set(blocks)) < len(workers), blocks
        chain.close()
    finally:
        net.stop()


def test_the_devnet_refuses_an_unknown_block_mode_in_one_line(tmp_path: Path) -> None:
    env = os.environ | {"DML_DEVNET_DIR": str(tmp_path), "DML_BLOCK_MODE": "Fast"}
    done = subprocess.run([str(DEVNET_SH), "start"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "DML_BLOCK_MODE must be Instant or Batch, got 'Fast'" in done.stderr
    assert not (tmp_path / "chopsticks.pid").exists(), "nothing started"
