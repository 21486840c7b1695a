"""The worker's SuperNode process: started for a task, watched, stopped by PID.

`SuperNode` is what the daemon's loop drives (`start`, `alive`, `stop`); the process handling
itself (own session, log file, SIGTERM then SIGKILL to its group) is `decentralml.flower.Process`,
shared with the coordinator's SuperLink and the demo. Given an `answer` (the daemon's ClientApp),
the SuperNode runs in Flower's `process` isolation and its ClientApp tasks run on a thread of this
process (`worker.executor`): no SuperExec and no ClientApp process per message.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from decentralml.flower import Process, flower_env, supernode_command
from decentralml.tls import write_private

if TYPE_CHECKING:
    from worker.executor import Answer, ClientAppExecutor


class SuperNodeProcess(Protocol):
    def start(self) -> None: ...

    def alive(self) -> bool: ...

    def stop(self) -> None: ...

    @property
    def pid(self) -> int | None: ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SuperNode:
    """`flower-supernode` for one task, joining `superlink`.

    `port` is its runtime API port (None: one the OS picks, on 127.0.0.1); `root_certificates`
    the SuperLink's CA (TLS, else --insecure); `auth_key` the node's private key (SuperNode
    authentication); `answer` the ClientApp run in this process (None: Flower starts one per
    message)."""

    superlink: str
    home: Path
    log: Path
    config: Mapping[str, str | int]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    root_certificates: Path | None = None
    auth_key: Path | None = None
    answer: Answer | None = None
    process: Process | None = None
    executor: ClientAppExecutor | None = None

    def start(self) -> None:
        port = self.port or free_port()
        secret, secret_file = None, None
        if self.answer is not None:  # only this process's executor may claim the node's tasks
            secret, secret_file = secrets.token_bytes(32), self.home / "superexec.secret"
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            write_private(secret_file, secret)
        command = supernode_command(
            self.superlink,
            port,
            self.config,
            root_certificates=self.root_certificates,
            auth_key=self.auth_key,
            superexec_secret=secret_file,
        )
        self.process = Process.start("supernode", command, flower_env(self.home, self.env), self.log)
        if self.answer is not None:
            from worker.executor import ClientAppExecutor  # Flower's runtime client: only once joined

            self.executor = ClientAppExecutor(f"127.0.0.1:{port}", self.answer, secret)
            self.executor.start()

    def alive(self) -> bool:
        running = self.process is not None and self.process.alive()
        return running and (self.executor is None or self.executor.alive())

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def stop(self) -> None:
        if self.executor is not None:
            self.executor.stop()
        if self.process is not None:
            self.process.stop()
