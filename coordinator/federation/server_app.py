"""The coordinator's Flower ServerApp: one Flower run per task, started by `launcher`.

Flower carries the model to the workers' SuperNodes and their updates back; everything else is
`runner.run_task`. The transport pushes the round's global model to every connected node and
pulls replies as they arrive, spooling each update to disk at once, so the ServerApp never holds
more than one update in memory. With a task's `model_encoding: sign1`, a node that trained the
round before in this run is sent the model's 1-bit delta instead (`decentralml.downlink`); one
whose worker answers that it does not hold the base is sent the model whole, in the same round.
The run's configuration: `task-id` in the run config; chain,
IPFS and the validator key from the coordinator's `DML_*` settings (the environment the
SuperLink passes on; no secret travels in a Flower message).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp
from substrateinterface import Keypair

from coordinator.federation.nodes import read_nodes
from coordinator.federation.referee import Received, WorkerFailure
from coordinator.federation.runner import run_task
from coordinator.settings import Settings
from decentralml import codec, downlink, logs, memory
from decentralml.content import ContentStore
from decentralml_bindings import DecentralMl

log = logging.getLogger(__name__)
POLL_SECONDS = 0.1
MAX_POLL_SECONDS = 1.0  # the longest wait between polls for replies while none arrive

app = ServerApp()


class FlowerTransport:
    """A round over Flower: push to the nodes, pull each reply as it arrives, spool it.

    With `accounts` (node authentication on), a node gets the model only if its key is bound to an
    account assigned to the task (`admitted(node_id)`), and every reply is attributed to the
    account bound to the node that sent it, whatever the reply says about itself. The workers
    train in processes of their own (`runner.Elsewhere`)."""

    trains_elsewhere = True

    def __init__(
        self,
        grid: Grid,
        min_nodes: int,
        timeout: float,
        accounts: Callable[[int], str | None] | None = None,
        admitted: Callable[[str], bool] | None = None,
    ) -> None:
        self.grid, self.min_nodes, self.timeout = grid, min_nodes, timeout
        self.accounts, self.admitted = accounts, admitted
        self.replied: dict[int, int] = {}  # node -> the last round it answered (it holds that model)
        self.sent: dict[int, int] = {}  # round -> bytes of model sent down (whole or delta)

    def _eligible(self, node: int) -> bool:
        if self.accounts is None:
            return True
        account = self.accounts(node)
        return account is not None and (self.admitted is None or self.admitted(account))

    def _nodes(self) -> list[int]:
        deadline = time.monotonic() + self.timeout
        while len(nodes := [n for n in self.grid.get_node_ids() if self._eligible(n)]) < self.min_nodes:
            if time.monotonic() > deadline:
                log.warning("fewer nodes than the task asks for", extra={"nodes": len(nodes)})
                break
            time.sleep(POLL_SECONDS)
        return nodes

    def _message(
        self,
        task_id: int,
        round_: int,
        node: int,
        whole: Callable[[], ArrayRecord],
        delta: downlink.Delta | None,
    ) -> Message:
        """Round `round_`'s model for `node`: as `delta` if given, else whole (its bytes counted)."""
        config = ConfigRecord({"task-id": task_id, "round": round_})
        if delta is not None:
            config["model-delta"] = delta.data
            content, size = RecordDict({"config": config}), len(delta.data)
        else:
            arrays = whole()
            content = RecordDict({"arrays": arrays, "config": config})
            size = sum(len(array.data) for array in arrays.values())
        self.sent[round_] = self.sent.get(round_, 0) + size
        return self.grid.create_message(content, "train", node, str(round_))

    def train_round(
        self,
        task_id: int,
        round_: int,
        weights: codec.Weights,
        spool: Path,
        delta: downlink.Delta | None = None,
    ) -> Iterator[Received | WorkerFailure]:
        made: list[ArrayRecord] = []

        def whole() -> ArrayRecord:  # one record, shared by every message that carries it
            if not made:
                made.append(ArrayRecord({name: Array(np.asarray(value)) for name, value in weights.items()}))
            return made[0]

        # A node that answered the round before holds its model: the delta rebuilds this one.
        nodes = self._nodes()
        delta_to = {n for n in nodes if delta is not None and self.replied.get(n) == round_ - 1}
        messages = [
            self._message(task_id, round_, node, whole, delta if node in delta_to else None) for node in nodes
        ]
        pending = set(self.grid.push_messages(messages))
        del messages
        made.clear()  # built again only for a node that turns out not to hold the base
        deadline = time.monotonic() + self.timeout
        wait = POLL_SECONDS
        while pending and time.monotonic() < deadline:
            arrived = False
            for reply in self.grid.pull_messages(list(pending)):
                pending.discard(reply.metadata.reply_to_message_id)
                arrived = True
                node = reply.metadata.src_node_id
                if (
                    reply.has_error()
                    and node in delta_to
                    and downlink.NEEDS_FULL_MODEL in (reply.error.reason or "")
                ):
                    # Its worker does not hold the base (a new state directory): the model whole.
                    delta_to.discard(node)
                    log.info("a node needs the full model", extra={"node": node, "round": round_})
                    again = self._message(task_id, round_, node, whole, None)
                    pending |= set(self.grid.push_messages([again]))
                    continue
                if not reply.has_error():
                    self.replied[node] = round_
                yield _spool(reply, spool, self.accounts)
            # Polled often while replies come in, less while the workers train (CPU, not latency).
            wait = POLL_SECONDS if arrived else min(wait * 1.5, MAX_POLL_SECONDS)
            if pending:
                time.sleep(wait)
        if pending:
            log.warning("round closed without some replies", extra={"round": round_, "missing": len(pending)})


def _spool(
    reply: Message, spool: Path, accounts: Callable[[int], str | None] | None = None
) -> Received | WorkerFailure:
    node = f"node {reply.metadata.src_node_id}"
    if reply.has_error():
        reason = (reply.error.reason or "no reason given")[-500:]
        log.info("a node could not train", extra={"node": node, "reason": reason})
        return WorkerFailure(node, reason)
    update = reply.content.config_records.get(codec.FLOWER_REPLY)
    data = update.get("update") if update else None
    worker = update.get("worker") if update else None
    examples = update.get("num-examples") if update else None
    if not (isinstance(data, bytes) and isinstance(worker, str) and isinstance(examples, int)):
        log.warning("malformed reply", extra={"node": node})
        return WorkerFailure(node, "a malformed reply (no update, worker or example count)")
    if accounts is not None:  # the binding says who sent it, not the reply
        bound = accounts(reply.metadata.src_node_id)
        if bound is None:
            return WorkerFailure(node, "a reply from a node whose key is bound to no account")
        if bound != worker:
            log.warning("a node named another account", extra={"node": node, "named": worker, "bound": bound})
        worker = bound
    epsilon = update.get("epsilon") if update else None  # privacy the worker says it spent (DP tasks)
    spent = float(epsilon) if isinstance(epsilon, int | float) else None
    return Received.spool(spool, worker, data, examples, spent)


@app.main()
def main(grid: Grid, context: Context) -> None:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    if settings.validator_uri is None:
        raise RuntimeError("DML_VALIDATOR_URI is not set: the coordinator has no key to judge rounds with")
    task_id = int(context.run_config["task-id"])
    min_nodes = int(context.run_config.get("min-nodes", 1))
    chain = DecentralMl.connect(settings.chain_url)
    store = ContentStore(settings.ipfs_api)
    accounts = admitted = None
    if settings.superlink_node_auth:
        registry = Path(settings.federation_dir).resolve() / "nodes.json"

        def accounts(node_id: int) -> str | None:
            found = read_nodes(registry).get(node_id)
            return None if found is None else found.account

        def admitted(account: str) -> bool:
            return chain.assignment(task_id, account) is not None

    transport = FlowerTransport(grid, min_nodes, settings.round_timeout_seconds, accounts, admitted)
    validator = Keypair.create_from_uri(settings.validator_uri)
    memory.keep_freed()  # a fresh model-sized array per delta and point: no page faults per round
    run_task(chain, store, validator, transport, task_id, Path(settings.federation_dir).resolve())
