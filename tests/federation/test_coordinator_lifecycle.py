"""`dml coordinator serve` with a validator key runs a Flower SuperLink, and SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from decentralml_bindings.dev import FERDIE
from support.devnet import ROOT, Devnet, free_port


def superlink_pids(federation_dir: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"{federation_dir}/superlink.db"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.mark.devnet
def test_sigterm_stops_the_coordinator_and_its_superlink(devnet: Devnet, tmp_path: Path) -> None:
    federation = tmp_path / "federation"
    api = free_port()
    env = os.environ | {
        "DML_CHAIN_URL": devnet.url,
        "DML_DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite'}",
        "DML_VALIDATOR_URI": "//Ferdie",
        "DML_FEDERATION_DIR": str(federation),
        "DML_SUPERLINK_PORT": str(free_port()),
    }
    log = (tmp_path / "coordinator.log").open("w")
    command = [sys.executable, "-m", "coordinator.cli", "coordinator", "serve", "--port", str(api)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=log)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                found = httpx.get(f"http://127.0.0.1:{api}/federation", timeout=2).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "coordinator.log").read_text()[-2000:]
                time.sleep(0.5)
        assert found["validator"] == FERDIE.ss58_address
        assert found["superlink"] == f"127.0.0.1:{env['DML_SUPERLINK_PORT']}"
        assert superlink_pids(federation), "no SuperLink is running for this coordinator"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        time.sleep(1)
        assert superlink_pids(federation) == []
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
