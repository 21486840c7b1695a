"""Flower's deployment engine as the coordinator runs it: the SuperLink process and `flwr run`.

- `SuperLink`: the coordinator's `flower-superlink` on 127.0.0.1 (port 9091 by default), its
  state in the federation directory, and `start_run(task_id)`: `flwr run` of the bundled app.
What workers share with it (the environment, the SuperNode's command, stopping by PID) lives in
`decentralml.flower`.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from decentralml.flower import BIN, Process, flower_env, node_config
from decentralml.tls import SuperLinkCertificates

APP_DIR = Path(__file__).resolve().parent / "flower_app"
FEDERATION = "dml"


class SuperLink:
    """The coordinator's SuperLink process."""

    def __init__(
        self,
        directory: Path,
        port: int,
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        *,
        certificates: SuperLinkCertificates | None = None,
        node_auth: bool = False,
    ) -> None:
        if node_auth and certificates is None:
            raise ValueError("SuperNode authentication needs TLS certificates")
        self.directory, self.port, self.host = directory, port, host
        self.certificates, self.node_auth = certificates, node_auth
        self.home = directory / "flwr-home"
        self.env = flower_env(self.home, env)
        self.process: Process | None = None

    @property
    def address(self) -> str:
        """Where this machine reaches it (the CLI's federation config, the health check)."""
        return f"127.0.0.1:{self.port}" if self.host in ("0.0.0.0", "::") else f"{self.host}:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        security = (
            "insecure = true\n"
            if self.certificates is None
            else f'root-certificates = "{self.certificates.ca_certificate}"\n'
        )
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{FEDERATION}"\n\n'
            f'[superlink.{FEDERATION}]\naddress = "{self.address}"\n{security}'
        )
        if self.certificates is None:
            tls = ["--insecure"]
        else:
            tls = [
                "--ssl-ca-certfile",
                str(self.certificates.ca_certificate),
                "--ssl-certfile",
                str(self.certificates.certificate),
                "--ssl-keyfile",
                str(self.certificates.private_key),
            ]
        if self.node_auth:
            tls.append("--enable-supernode-auth")
        self.process = Process.start(
            "superlink",
            [
                str(BIN / "flower-superlink"),
                *tls,
                "--disable-runtime-dependency-installation",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--database",
                str(self.directory / "superlink.db"),
            ],
            self.env,
            self.directory / "superlink.log",
        )
        deadline = time.monotonic() + timeout
        while not self._listening():
            if not self.process.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"flower-superlink did not start: see {self.directory / 'superlink.log'}")
            time.sleep(0.2)

    def _listening(self) -> bool:
        scheme = "http" if self.certificates is None else "https"
        verify: str | bool = False if self.certificates is None else str(self.certificates.ca_certificate)
        try:
            httpx.get(f"{scheme}://{self.address}/", timeout=1, verify=verify)
        except httpx.HTTPError:
            return False
        return True

    def register_node(self, public_key: Path) -> int:
        """Register a SuperNode's public key (OpenSSH) with this SuperLink; its node id.
        RuntimeError with Flower's message if the SuperLink refuses."""
        done = subprocess.run(
            [str(BIN / "flwr"), "supernode", "register", str(public_key), FEDERATION, "--format", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        try:
            answer = json.loads(done.stdout)
        except json.JSONDecodeError:
            answer = {}
        if not answer.get("success") or "node-id" not in answer:
            message = answer.get("error-message") or done.stderr[-500:] or done.stdout[-500:]
            raise RuntimeError(f"the SuperLink refused the node key: {message}")
        return int(answer["node-id"])

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
        if self.process is not None:
            self.process.stop()
