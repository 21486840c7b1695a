"""`dml` against a real coordinator (`dml coordinator serve`) on the devnet: create, list, show,
cancel with a user-supplied key, and clear messages for mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from coordinator.settings import Settings
from decentralml_bindings.dev import ALICE
from tests.coordinator.conftest import NewDatabase
from tests.devnet import ROOT, Devnet, free_port

DML = [sys.executable, "-m", "coordinator.cli"]


@pytest.fixture
def coordinator(devnet: Devnet, new_database: NewDatabase) -> Iterator[str]:
    port = free_port()
    env = os.environ | {
        "DML_CHAIN_URL": devnet.url,
        "DML_DATABASE_URL": new_database("cli"),
        "DML_INDEXER_POLL_SECONDS": "0.2",
    }
    process = subprocess.Popen([*DML, "coordinator", "serve", "--port", str(port)], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).json()["indexer_lag"] == 0:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the coordinator did not come up and catch up within 60 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def dml(devnet: Devnet, coordinator: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DML, "--coordinator", coordinator, "--chain-url", devnet.url, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_indexed(coordinator: str) -> None:
    deadline = time.monotonic() + 30
    while httpx.get(f"{coordinator}/health", timeout=5).json()["indexer_lag"] != 0:
        assert time.monotonic() < deadline, "the indexer did not catch up"
        time.sleep(0.2)


@pytest.mark.devnet
def test_a_task_from_the_command_line(devnet: Devnet, coordinator: str) -> None:
    created = dml(
        devnet,
        coordinator,
        "--key",
        "//Alice",
        "--json",
        "task",
        "create",
        "--max-assignments",
        "2",
        "--reward",
        "1.5",
        "--manifest-cid",
        "bafy-cli",
        "--manifest-hash",
        "0x" + "cc" * 32,
    )
    assert created.returncode == 0, created.stderr
    task_id = next(e for e in json.loads(created.stdout)["events"] if e["event"] == "TaskCreated")["task_id"]
    wait_indexed(coordinator)

    listed = dml(
        devnet, coordinator, "--json", "task", "list", "--creator", ALICE.ss58_address, "--limit", "500"
    )
    assert task_id in [t["id"] for t in json.loads(listed.stdout)["items"]]
    shown = dml(devnet, coordinator, "task", "show", str(task_id))
    assert shown.returncode == 0
    assert "Created" in shown.stdout
    assert "escrowed" in shown.stdout
    cancelled = dml(devnet, coordinator, "--key", "//Alice", "task", "cancel", str(task_id))
    assert cancelled.returncode == 0
    assert "TaskCancelled" in cancelled.stdout

    again = dml(devnet, coordinator, "--key", "//Alice", "task", "cancel", str(task_id))
    assert again.returncode == 1
    assert "TaskNotOpen" in again.stderr
    assert "Traceback" not in again.stderr
    unsigned = dml(devnet, coordinator, "task", "cancel", str(task_id))
    assert unsigned.returncode == 1
    assert "give --key" in unsigned.stderr
    nobody = subprocess.run(
        [*DML, "--coordinator", "http://127.0.0.1:9", "task", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nobody.returncode == 1
    assert "dml coordinator serve" in nobody.stderr


def test_production_refuses_the_public_dev_keys() -> None:
    with pytest.raises(ValueError, match="public"):
        Settings(environment="production", keystore_uris=["//Alice"])
    assert Settings(environment="dev", keystore_uris=["//Alice"]).keystore_uris == ["//Alice"]
