"""The devnet keeps its state across a restart, and signed extrinsics still work after it; in Batch
mode it packs extrinsics that arrive together into one block; a block is saved with what changed,
not with the runtime a reader looked at."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import websocket

from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE
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
        # Signed beforehand and sent back to back on one connection: what arrives together is
        # then decided by the sender, not by how four threads are scheduled on a busy machine.
        signed = [chain.sign(calls.assign_task(task_id), worker) for worker in workers]
        before = chain.block_number()

        # Execute: the four claims arrive at once.
        sender = websocket.create_connection(net.url, timeout=60)
        for i, extrinsic in enumerate(signed):
            sender.send(
                json.dumps(
                    {"id": i, "jsonrpc": "2.0", "method": "author_submitExtrinsic", "params": [extrinsic]}
                )
            )
        answers = [json.loads(sender.recv()) for _ in signed]
        sender.close()
        deadline = time.monotonic() + 120  # Batch builds within 1 s of the first; a busy machine is slower
        while any(chain.assignment(task_id, w.ss58_address) is None for w in workers):
            assert time.monotonic() < deadline, "the claims were not included"
            time.sleep(0.2)

        # Assert: every claim is on chain, and fewer blocks hold them than there are claims.
        assert all("result" in answer for answer in answers), answers
        assert chain.block_number() - before < len(workers)
        chain.close()
    finally:
        net.stop()


def test_the_devnet_refuses_an_unknown_block_mode_in_one_line(tmp_path: Path) -> None:
    env = os.environ | {"DML_DEVNET_DIR": str(tmp_path), "DML_BLOCK_MODE": "Fast"}
    done = subprocess.run([str(DEVNET_SH), "start"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "DML_BLOCK_MODE must be Instant or Batch, got 'Fast'" in done.stderr
    assert not (tmp_path / "chopsticks.pid").exists(), "nothing started"


CODE = "0x" + b":code".hex()


@pytest.mark.devnet
def test_a_runtime_version_subscriber_does_not_make_every_block_carry_the_runtime(
    fresh_devnet: Devnet,
) -> None:
    # Prepare: a client subscribed to the runtime version (as every Polkadot-JS client is): each
    # new head's `:code` is read for it. Chopsticks cached that read in the block's storage layer
    # and saved the whole runtime (~0.9 MB) with the block, and a block loaded back with it
    # dropped its parent's metadata (a resumed devnet then took 34 s to answer its first client).
    watcher = websocket.create_connection(fresh_devnet.url, timeout=30)
    watcher.send(
        json.dumps({"id": 1, "jsonrpc": "2.0", "method": "state_subscribeRuntimeVersion", "params": []})
    )
    assert "specName" in watcher.recv()
    chain = DecentralMl.connect(fresh_devnet.url)
    first = chain.block_number()

    # Execute: five blocks while it watches, then a restart.
    for _ in range(5):
        chain.submit(calls.Call("System", "remark", {"remark": "0x00"}), ALICE)
    last = chain.block_number()
    chain.close()
    watcher.close()
    fresh_devnet.stop()
    with sqlite3.connect(fresh_devnet.state_dir / "chain.sqlite") as db:
        saved = dict(
            db.execute("select number, storageDiff from block where number > ?", (first,)).fetchall()
        )
    fresh_devnet.start()

    # Assert: the blocks were saved without the unchanged runtime, and the devnet resumes from them.
    assert sorted(saved) == list(range(first + 1, last + 1))
    assert all(CODE not in json.loads(diff) for diff in saved.values())
    assert max(len(diff) for diff in saved.values()) < 50_000
    chain = DecentralMl.connect(fresh_devnet.url)
    assert chain.block_number() == last
    chain.submit(calls.Call("System", "remark", {"remark": "0x01"}), ALICE)
    assert chain.block_number() == last + 1
    chain.close()
