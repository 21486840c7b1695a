"""What both sides need to run Flower's deployment engine: the environment, the SuperNode's command
(with its TLS and authentication material), and one way to run and stop a background process.

Every Flower process is started with the virtualenv's `bin` first on PATH (the SuperLink spawns
`flower-superexec` and `flwr-serverapp` from there) and telemetry off. Every background process
(SuperLink, SuperNode, the demo's daemons) runs in its own session and is stopped by its PID:
SIGTERM to its process group, then SIGKILL after a grace period. Never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent


def flower_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return (
        os.environ
        | {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "FLWR_HOME": str(home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            # How often a SuperExec looks for app processes to launch. Flower's default, 1 s: at
            # 0.1 s an idle SuperLink and SuperNode burn 16% of a core polling (2.9% at 1 s;
            # bench/scale.py), and a round waits at most a second more for its ClientApp.
            "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": os.environ.get("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", "1.0"),
        }
        | dict(extra or {})
    )


def node_config(values: Mapping[str, str | int]) -> str:
    """Flower's `--node-config` syntax: key=value pairs, strings quoted."""
    return " ".join(f"{k}={v}" if isinstance(v, int) else f"{k}='{v}'" for k, v in values.items())


def supernode_command(
    superlink: str,
    port: int,
    config: Mapping[str, str | int],
    *,
    root_certificates: Path | None = None,
    auth_key: Path | None = None,
    superexec_secret: Path | None = None,
) -> list[str]:
    """`flower-supernode` joining `superlink`, its runtime API on 127.0.0.1:`port`.

    Without `superexec_secret` (Flower's default isolation) the SuperNode starts a SuperExec, which
    starts a ClientApp process per message. With it (a file holding the secret) the SuperNode runs
    in `process` isolation and hands its tasks only to a caller that signs with that secret: the
    worker daemon's executor (`worker.executor`).

    With `root_certificates` (a PEM CA bundle) the SuperNode speaks TLS and accepts only a
    SuperLink whose certificate that CA signed; without, it runs `--insecure` (loopback demos).
    With `auth_key` (its EC private key, PEM) it authenticates to a SuperLink that admits only
    registered nodes (`--enable-supernode-auth`; needs TLS)."""
    if auth_key is not None and root_certificates is None:
        raise ValueError("SuperNode authentication needs TLS: give the SuperLink's CA certificate too")
    security = (
        ["--insecure"] if root_certificates is None else ["--root-certificates", str(root_certificates)]
    )
    if auth_key is not None:
        security += ["--auth-supernode-private-key", str(auth_key)]
    return [
        str(BIN / "flower-supernode"),
        *security,
        "--superlink",
        superlink,
        "--port",
        str(port),
        "--node-config",
        node_config(config),
        *(
            []
            if superexec_secret is None
            else ["--isolation", "process", "--superexec-auth-secret-file", str(superexec_secret)]
        ),
    ]


class Process:
    """A background process in its own session, its output appended to `log`, stopped by PID."""

    def __init__(self, popen: subprocess.Popen[bytes], name: str) -> None:
        self.popen, self.name = popen, name

    @classmethod
    def start(
        cls,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        log: Path,
        cwd: Path | None = None,
    ) -> Process:
        with log.open("ab") as out:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                list(command),
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(popen, name)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the process's group (it and what it spawned), if it still runs."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to its group; SIGKILL if it has not exited after `grace` seconds."""
        self.signal(signal.SIGTERM)
        self.wait_or_kill(grace)

    def wait_or_kill(self, grace: float) -> None:
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def stop_all(processes: Sequence[Process], grace: float = 30) -> None:
    """SIGTERM to every process (last started first), then wait for each, killing stragglers."""
    for process in reversed(processes):
        process.signal(signal.SIGTERM)
    for process in reversed(processes):
        process.wait_or_kill(grace)
