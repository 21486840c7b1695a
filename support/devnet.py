"""Start and stop a real Chopsticks devnet (our committed runtime) for tests.

Each devnet gets its own state directory and a free loopback port, and is stopped by the PID
its start script recorded, never by name.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVNET_SH = ROOT / "chain" / "devnet" / "devnet.sh"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Devnet:
    """A devnet whose state lives in `state_dir`, serving JSON-RPC on `port`."""

    state_dir: Path
    port: int
    host: str = "127.0.0.1"
    netns: str | None = None  # run inside this network namespace (the multi-host test)
    block_mode: str = "Instant"  # or "Batch": many extrinsics per block (chain/devnet/devnet.sh)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def _run(self, command: str) -> None:
        env = os.environ | {
            "DML_DEVNET_DIR": str(self.state_dir),
            "DML_CHAIN_PORT": str(self.port),
            "DML_CHAIN_HOST": self.host,
            "DML_BLOCK_MODE": self.block_mode,
        }
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        subprocess.run([*prefix, str(DEVNET_SH), command], env=env, check=True, timeout=300)

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


IPFS_SH = ROOT / "scripts" / "ipfs.sh"


@dataclass
class Ipfs:
    """A Kubo daemon with its repo in `repo_dir`, its RPC API on `port` (scripts/ipfs.sh)."""

    repo_dir: Path
    port: int
    swarm: str = "/ip4/127.0.0.1/tcp/0"
    peers: list[dict[str, object]] = field(default_factory=list)  # Kubo's Peering.Peers
    netns: str | None = None  # run inside this network namespace (the multi-host test)
    block_mode: str = "Instant"  # or "Batch": many extrinsics per block (chain/devnet/devnet.sh)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, command: str) -> None:
        env = os.environ | {
            "DML_IPFS_DIR": str(self.repo_dir),
            "DML_IPFS_PORT": str(self.port),
            "DML_IPFS_SWARM": self.swarm,
            "DML_IPFS_PEERS": json.dumps(self.peers),
        }
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        subprocess.run(
            [*prefix, str(IPFS_SH), command], env=env, check=True, timeout=900, stdout=subprocess.DEVNULL
        )

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")
