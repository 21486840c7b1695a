"""A small network of Linux network namespaces for the multi-host test: the project's own test
hosts, on private addresses, created and removed by the test. Nothing leaves the machine.

    with Network(["a", "b", "c", "d"]) as net:
        net.address("a")            # 10.N.0.1: the hub (host A); b, c, d are .2, .3, .4
        net.run("a", ["ip", "addr"])
        net.cut("b"); net.restore("b")

Host A holds a bridge; every other host is joined to it by a veth link, and so is the test
process itself (the control link, 10.N.0.254), so the test can reach its hosts and nothing else.
`cut(host)` takes a host's link down (its processes keep running, cut off); `restore` brings it
back. Leaving the context deletes the namespaces and links.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType


def available() -> str | None:
    """None if namespaces can be made here; else why not (the test skips with it)."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"dml-probe-{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Network:
    """Namespaces named `dml-<tag>-<host>`; the first host is the hub."""

    def __init__(self, hosts: Sequence[str], subnet: int | None = None) -> None:
        self.hosts = list(hosts)
        self.tag = secrets.token_hex(2)
        self.subnet = subnet if subnet is not None else 64 + secrets.randbelow(128)
        self._made: list[str] = []
        self._links: list[str] = []

    def name(self, host: str) -> str:
        return f"dml-{self.tag}-{host}"

    def address(self, host: str) -> str:
        return f"10.{self.subnet}.0.{self.hosts.index(host) + 1}"

    @property
    def control_address(self) -> str:
        return f"10.{self.subnet}.0.254"

    def _veth(self, host: str) -> tuple[str, str]:
        """(the end in the hub's bridge, the end in the host)."""
        return f"dv{self.tag}{host}h", f"dv{self.tag}{host}x"

    def __enter__(self) -> Network:
        try:
            hub = self.hosts[0]
            for host in self.hosts:
                _ip("netns", "add", self.name(host))
                self._made.append(self.name(host))
                self.run(host, ["ip", "link", "set", "lo", "up"])
            self.run(hub, ["ip", "link", "add", "br0", "type", "bridge"])
            self.run(hub, ["ip", "addr", "add", f"{self.address(hub)}/24", "dev", "br0"])
            self.run(hub, ["ip", "link", "set", "br0", "up"])
            for host in [*self.hosts[1:], "control"]:
                inner, outer = self._veth(host)
                _ip("link", "add", inner, "type", "veth", "peer", "name", outer)
                self._links.append(outer)
                _ip("link", "set", inner, "netns", self.name(hub))
                self.run(hub, ["ip", "link", "set", inner, "master", "br0"])
                self.run(hub, ["ip", "link", "set", inner, "up"])
                address = self.control_address if host == "control" else self.address(host)
                if host != "control":
                    _ip("link", "set", outer, "netns", self.name(host))
                    self.run(host, ["ip", "addr", "add", f"{address}/24", "dev", outer])
                    self.run(host, ["ip", "link", "set", outer, "up"])
                else:
                    _ip("addr", "add", f"{address}/24", "dev", outer)
                    _ip("link", "set", outer, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for link in self._links:  # the control link lives in this namespace
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        for name in reversed(self._made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self._made.clear()
        self._links.clear()

    def prefix(self, host: str) -> list[str]:
        """The command prefix that runs a program on `host`."""
        return ["ip", "netns", "exec", self.name(host)]

    def run(
        self,
        host: str,
        command: Sequence[str],
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` on `host` to its end; RuntimeError with its stderr if it fails."""
        done = subprocess.run(
            [*self.prefix(host), *command],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=None if env is None else dict(env),
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} on {host} failed: {done.stderr[-3000:]}")
        return done

    def pids(self, host: str) -> list[int]:
        """Every process running on `host` (in its namespace), by PID."""
        done = subprocess.run(["ip", "netns", "pids", self.name(host)], capture_output=True, text=True)
        return [int(word) for word in done.stdout.split()]

    def cut(self, host: str) -> None:
        """Take `host`'s link to the hub down (at the hub's end)."""
        self.run(self.hosts[0], ["ip", "link", "set", self._veth(host)[0], "down"])

    def restore(self, host: str) -> None:
        self.run(self.hosts[0], ["ip", "link", "set", self._veth(host)[0], "up"])
