"""`dml worker run`: clear messages for what is missing, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from decentralml_bindings.dev import BOB
from support.devnet import ROOT, Devnet, free_port
from worker.daemon import one_daemon_per_key

DML = [sys.executable, "-m", "coordinator.cli"]


def worker(*args: str, chain_url: str = "ws://127.0.0.1:9") -> list[str]:
    nowhere = f"http://127.0.0.1:{free_port()}"
    return [*DML, "--coordinator", nowhere, "--chain-url", chain_url, *args]


def test_a_worker_without_key_or_data_says_what_to_give() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DML_WORKER_KEY"}

    no_key = subprocess.run(
        worker("worker", "run"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    no_data = subprocess.run(
        worker("--key", "//Bob", "worker", "run"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert no_key.returncode == 1
    assert "DML_WORKER_KEY" in no_key.stderr
    assert no_data.returncode == 1
    assert "--data NAME=PATH" in no_data.stderr
    assert "Traceback" not in no_key.stderr + no_data.stderr


@pytest.mark.devnet
def test_sigterm_stops_a_waiting_worker_cleanly(devnet: Devnet, tmp_path: os.PathLike[str]) -> None:
    command = worker(
        "--key", "//Bob", "--json", "worker", "run", "--data-part", "0", "--state-dir", str(tmp_path),
        chain_url=devnet.url,
    )  # fmt: skip
    log = Path(tmp_path) / "worker.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    # Wait until it is connected to the chain and polling a coordinator that does not answer (a
    # fixed sleep was too short on a loaded machine: the signal came before the handler).
    deadline = time.monotonic() + 180
    while "unreachable" not in log.read_text():
        assert process.poll() is None, (process.communicate(), log.read_text())
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)

    # A second daemon with the same key (its own state directory) is refused at start, one line.
    second = subprocess.run(
        [*command[:-1], str(Path(tmp_path) / "second")], cwd=ROOT, capture_output=True, text=True, timeout=180
    )

    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    err = log.read_text()

    assert process.returncode == 0, err
    assert '"tasks_served": 0' in out
    assert "unreachable" in err
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1, second.stderr
    assert f"another worker daemon (PID {process.pid}) runs with the key of" in second.stderr
    with one_daemon_per_key(BOB.ss58_address):  # the first let go of it when it stopped
        pass
