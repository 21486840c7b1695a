"""Which Flower node is which chain account: the coordinator's registry of bound node keys.

A worker sends a `decentralml.identity.Binding` (its node's public key, signed by its sr25519
account, naming this SuperLink). `NodeRegistry.bind` verifies the signature, checks that the
account is assigned to an open task this coordinator judges, registers the key with the SuperLink
(which then admits that node, and no unregistered one) and records node id -> account in
`nodes.json` in the federation directory. The ServerApp maps every reply to an account through
this record (`account_of`), never through a name the node reports about itself.

Binding the same key to the same account again returns the same node id; a key already bound to
another account is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from decentralml.identity import Binding, BindingError

log = logging.getLogger(__name__)


class NotAssignedError(PermissionError):
    """The account is assigned to no open task this coordinator judges."""


@dataclass(frozen=True)
class BoundNode:
    node_id: int
    account: str
    public_key: str


class NodeRegistry:
    """Bound node keys (see the module's contract); `register` is the SuperLink's."""

    def __init__(
        self,
        directory: Path,
        superlink_address: str,
        chain: Any,
        validator: str,
        register: Callable[[Path], int],
    ) -> None:
        self.path = directory / "nodes.json"
        self.keys = directory / "node-keys"
        self.superlink_address, self.chain, self.validator = superlink_address, chain, validator
        self.register = register
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}  # key -> its registration under way

    def _read(self) -> dict[int, BoundNode]:
        return read_nodes(self.path)

    def _write(self, nodes: dict[int, BoundNode]) -> None:
        data = {str(n.node_id): {"account": n.account, "public_key": n.public_key} for n in nodes.values()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".nodes-")
        with os.fdopen(fd, "w") as out:
            json.dump({"nodes": data}, out, indent=1)
        os.replace(tmp, self.path)

    def assigned_tasks(self, account: str) -> list[int]:
        """Open tasks this coordinator judges that `account` is assigned to."""
        next_task, _, _ = self.chain.next_ids()
        found = []
        for task_id in range(next_task):
            task = self.chain.task(task_id)
            if task is None or not task.status.is_open or self.validator not in task.validators:
                continue
            if self.chain.assignment(task_id, account) is not None:
                found.append(task_id)
        return found

    def bind(self, binding: Binding) -> BoundNode:
        """Verify and record `binding`; the bound node. BindingError (malformed or not signed by
        its account, or its key bound to another account), NotAssignedError, or RuntimeError (the
        SuperLink refused the key).

        Different keys register with the SuperLink concurrently (each `register` is a process of
        its own, seconds long): only reading and writing the record is serialised. Two bindings
        of one key at once register it once; the second waits for the first and gets its node."""
        binding.verify(self.superlink_address)
        if not self.assigned_tasks(binding.account):
            raise NotAssignedError(
                f"{binding.account} is assigned to no open task this coordinator judges: claim a slot first"
            )
        while True:
            with self._lock:
                node = self._bound(binding)
                if node is not None:
                    return node
                waiting = self._pending.get(binding.public_key)
                if waiting is None:
                    done = self._pending[binding.public_key] = threading.Event()
                    break
            waiting.wait()  # the other binding of this key ends (bound, or refused: try again)
        try:
            self.keys.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(binding.public_key.encode()).hexdigest()[:16]
            key_file = self.keys / f"{binding.account}-{digest}.pub"
            key_file.write_text(binding.public_key + "\n")
            node_id = self.register(key_file)
            node = BoundNode(node_id, binding.account, binding.public_key)
            with self._lock:
                nodes = self._read()
                nodes[node_id] = node
                self._write(nodes)
        finally:
            with self._lock:
                del self._pending[binding.public_key]
            done.set()
        log.info("node key bound", extra={"node_id": node_id, "account": binding.account})
        return node

    def _bound(self, binding: Binding) -> BoundNode | None:
        """The node `binding`'s key is bound to, if any (BindingError: to another account)."""
        for node in self._read().values():
            if node.public_key == binding.public_key:
                if node.account != binding.account:
                    raise BindingError("this node key is already bound to another account")
                return node
        return None


def read_nodes(path: Path) -> dict[int, BoundNode]:
    """node id -> bound node, from a registry file (empty if there is none)."""
    if not path.exists():
        return {}
    raw = json.loads(path.read_text()).get("nodes", {})
    return {int(k): BoundNode(int(k), str(v["account"]), str(v["public_key"])) for k, v in raw.items()}
