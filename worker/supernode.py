"""The worker's SuperNode process: started for a task, watched, stopped by PID.

`SuperNode` is what the daemon's loop drives (`start`, `alive`, `stop`); the process handling
itself (own session, log file, SIGTERM then SIGKILL to its group) is `decentralml.flower.Process`,
shared with the coordinator's SuperLink and the demo.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from decentralml.flower import Process, flower_env, supernode_command


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
    authentication)."""

    superlink: str
    home: Path
    log: Path
    config: Mapping[str, str | int]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    root_certificates: Path | None = None
    auth_key: Path | None = None
    process: Process | None = None

    def start(self) -> None:
        command = supernode_command(
            self.superlink,
            self.port or free_port(),
            self.config,
            root_certificates=self.root_certificates,
            auth_key=self.auth_key,
        )
        self.process = Process.start("supernode", command, flower_env(self.home, self.env), self.log)

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
