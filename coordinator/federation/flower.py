"""Flower's deployment engine as the coordinator and the workers run it: processes and commands.

- `SuperLink`: the coordinator's `flower-superlink` on 127.0.0.1 (port 9091 by default), its
  state in the federation directory, and `start_run(task_id)`: `flwr run` of the bundled app.
- `supernode_command`: what a worker runs to join (`flower-supernode`), with its node config.
Every process is started with the virtualenv's `bin` first on PATH (the SuperLink spawns
`flower-superexec` and `flwr-serverapp` from there), telemetry off, and is stopped by its PID.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

APP_DIR = Path(__file__).resolve().parent / "flower_app"
BIN = Path(sys.executable).parent
FEDERATION = "dml"


def flower_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return (
        os.environ
        | {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "FLWR_HOME": str(home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            # How often a SuperExec looks for app processes to launch (Flower's default: 1 s).
            "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.1",
        }
        | dict(extra or {})
    )


def node_config(values: Mapping[str, str | int]) -> str:
    """Flower's `--node-config` syntax: key=value pairs, strings quoted."""
    return " ".join(f"{k}={v}" if isinstance(v, int) else f"{k}='{v}'" for k, v in values.items())


def supernode_command(superlink: str, port: int, config: Mapping[str, str | int]) -> list[str]:
    return [
        str(BIN / "flower-supernode"),
        "--insecure",
        "--superlink",
        superlink,
        "--port",
        str(port),
        "--node-config",
        node_config(config),
    ]


class SuperLink:
    """The coordinator's SuperLink process."""

    def __init__(
        self, directory: Path, port: int, env: Mapping[str, str] | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.directory, self.port, self.host = directory, port, host
        self.home = directory / "flwr-home"
        self.env = flower_env(self.home, env)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """Where this machine reaches it (the CLI's federation config, the health check)."""
        return f"127.0.0.1:{self.port}" if self.host in ("0.0.0.0", "::") else f"{self.host}:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{FEDERATION}"\n\n'
            f'[superlink.{FEDERATION}]\naddress = "{self.address}"\ninsecure = true\n'
        )
        log = (self.directory / "superlink.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(BIN / "flower-superlink"),
                "--insecure",
                "--disable-runtime-dependency-installation",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--database",
                str(self.directory / "superlink.db"),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flower-superlink did not start: see {self.directory / 'superlink.log'}")
            time.sleep(0.2)

    def _listening(self) -> bool:
        try:
            httpx.get(f"http://{self.address}/", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    def start_run(self, task_id: int, min_nodes: int, log: Path) -> subprocess.Popen[bytes]:
        """`flwr run` for the task, streaming its logs to `log` until the run ends."""
        return self.run_app(APP_DIR, {"task-id": task_id, "min-nodes": min_nodes}, log)

    def run_app(
        self, app_dir: Path, run_config: Mapping[str, str | int], log: Path
    ) -> subprocess.Popen[bytes]:
        """`flwr run` of the app in `app_dir`; it streams the run's logs to `log` until the run ends.

        Its exit status does not tell whether the ServerApp succeeded (Flower 1.41 exits 0 either
        way): the chain, or the app's own output, does.
        """
        out = log.open("ab")
        return subprocess.Popen(
            [
                str(BIN / "flwr"),
                "run",
                str(app_dir),
                FEDERATION,
                "--run-config",
                node_config(run_config),
                "--stream",
            ],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        """Stop the SuperLink and what it spawned (its own process group, by PID)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)
