"""Failures a creator can see, through the real coordinator (`dml coordinator serve`): a task whose
validation set the coordinator cannot open is refused before any round, and a task whose ServerApp
keeps failing is retried a bounded number of times, then shown as stalled, through REST and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from decentralml import crypto, samples
from decentralml.content import ContentStore
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import BOB, FERDIE
from support.devnet import ROOT, Devnet, Ipfs, free_port
from support.factories import create_own_task, init_and_pack


@pytest.fixture
def devnet(fresh_devnet: Devnet) -> Devnet:
    """A devnet of this test's own (the `chain` fixture connects to it too). Late in the suite the
    session devnet holds thousands of blocks and hundreds of tasks, and while the new coordinator
    caught up with them the devnet twice left this test's first extrinsic unanswered for 60 s."""
    return fresh_devnet


@pytest.fixture
def coordinator(devnet: Devnet, ipfs_daemon: Ipfs, tmp_path: Path) -> Iterator[str]:
    """A coordinator judging as //Ferdie, with short rounds and quick, bounded retries."""
    port = free_port()
    env = os.environ | {
        "DML_CHAIN_URL": devnet.url,
        "DML_IPFS_API": ipfs_daemon.api,
        "DML_DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite'}",
        "DML_VALIDATOR_URI": "//Ferdie",
        "DML_FEDERATION_DIR": str(tmp_path / "federation"),
        "DML_SUPERLINK_PORT": str(free_port()),
        "DML_INDEXER_POLL_SECONDS": "0.5",
        "DML_ROUND_TIMEOUT_SECONDS": "2",
        "DML_RUN_ATTEMPTS": "2",
        "DML_RUN_RETRY_SECONDS": "0.5",
    }
    log = (tmp_path / "coordinator.log").open("w")
    command = [sys.executable, "-m", "coordinator.cli", "coordinator", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: httpx.get(f"{url}/health", timeout=2).json()["chain"] == "ok", 120, tmp_path)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def wait(check: Callable[[], Any], timeout: float, logs: Path) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if found := check():
                return found
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        if time.monotonic() > deadline:
            tail = (logs / "coordinator.log").read_text()[-3000:]
            raise AssertionError(f"timed out after {timeout} s; coordinator log:\n{tail}")
        time.sleep(0.5)


def show(url: str, task_id: int) -> str:
    """`dml task show` as a creator runs it."""
    shown = subprocess.run(
        [sys.executable, "-m", "coordinator.cli", "--coordinator", url, "task", "show", str(task_id)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


@pytest.mark.devnet
def test_an_unopenable_validation_set_is_refused_and_a_failing_run_stalls(
    chain: DecentralMl, store: ContentStore, coordinator: str, tmp_path: Path
) -> None:
    # Prepare: one task sealed to Bob's key instead of the validator's; one sealed correctly, with
    # its one worker assigned but never running, so every round of its ServerApp fails.
    files = samples.tabular_files(tmp_path / "data", ["csv"], seed=2)
    wrong = init_and_pack(store, tmp_path / "wrong", files, crypto.sealing_key_hex(BOB))
    right = init_and_pack(store, tmp_path / "right", files, crypto.sealing_key_hex(FERDIE), min_workers=1)
    # And a task naming this validator with a CID IPFS refuses outright: it must not stop the rest.
    garbage = create_own_task(chain, "bafy-not-a-cid", "0x" + "ab" * 32, rounds=1, slots=1)
    refused = create_own_task(chain, *wrong, rounds=1, slots=1)
    stalling = create_own_task(chain, *right, rounds=1, slots=1)
    chain.submit(calls.assign_task(stalling), BOB)

    # Execute: the coordinator's launcher looks at both.
    def run_of(task_id: int, state: str) -> dict[str, Any] | None:
        run: dict[str, Any] | None = httpx.get(f"{coordinator}/tasks/{task_id}", timeout=5).json()["run"]
        return run if run and run["state"] == state else None

    refusal = wait(lambda: run_of(refused, "refused"), 90, tmp_path)
    unfetchable = wait(lambda: run_of(garbage, "refused"), 90, tmp_path)
    stall = wait(lambda: run_of(stalling, "stalled"), 240, tmp_path)

    # Assert: the refusal names the reason, before any round; nothing was judged or committed.
    assert "cannot be fetched" in unfetchable["reason"]
    assert "sealed to" in refusal["reason"]
    assert crypto.sealing_key_hex(BOB) in refusal["reason"]
    no_rounds = httpx.get(f"{coordinator}/tasks/{refused}/rounds", timeout=5)
    assert no_rounds.status_code == 404
    assert "refused" in no_rounds.json()["detail"]
    assert "run: refused" in show(coordinator, refused)
    # The failing run was tried exactly twice (DML_RUN_ATTEMPTS), each failure logged with its cause.
    logged = httpx.get(f"{coordinator}/tasks/{stalling}/rounds", timeout=5).json()
    assert [(r["status"], r["round"]) for r in logged] == [("failed", 1), ("failed", 1)]
    assert all("no worker could train" in r["reason"] for r in logged)
    assert stall["attempts"] == 2
    assert stall["last_failure"].startswith("round 1 failed: no worker could train")
    shown = show(coordinator, stalling)
    assert "run: stalled" in shown
    assert "round 1 failed:" in shown
    assert chain.round_model(stalling, 1) is None, "a failed round was committed as if it had succeeded"
    time.sleep(3)  # a stalled task is left alone: no further attempt
    assert len(httpx.get(f"{coordinator}/tasks/{stalling}/rounds", timeout=5).json()) == 2
