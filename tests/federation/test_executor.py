"""The worker runs its SuperNode's ClientApp tasks on a thread of its own process
(`worker.executor`): a real SuperLink and stock FedAvg (`bench.plain_flower`'s ServerApp), three
SuperNodes in Flower's `process` isolation, each answered in this process. No SuperExec and no
ClientApp process is started, a ClientApp that raises is answered with an error reply and its
executor carries on, no other process can claim a node's tasks, and a message kind the worker's
ClientApp has no function for is refused."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.app import RecordDict as Content
from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=E0611
from flwr.supercore.constant import TaskType

from coordinator.federation.flower import SuperLink
from support.devnet import ROOT, free_port
from worker import client_app
from worker.executor import ClientAppExecutor
from worker.supernode import SuperNode

APP = ROOT / "bench" / "flower_app_warm"  # stock FedAvg; its ClientApp is never started here


def _children(pid: int) -> list[str]:
    """The command lines of `pid`'s child processes."""
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append((status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return found


def _status_without_the_secret(address: str) -> int | None:
    """The HTTP status of an AcquireTask at the SuperNode's runtime API `address` signed by no
    secret (None: it was answered), once the API listens."""
    outsider = ClientAppExecutor(address, lambda msg, context: msg)
    request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP.value], agentapp_fab_hashes=[])
    deadline = time.monotonic() + 30
    while True:
        try:
            outsider._client().AcquireTask(request)
        except httpx.HTTPStatusError as refused:
            return refused.response.status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
            continue
        return None


def test_clientapp_tasks_run_in_the_workers_process_and_a_failing_one_gets_an_error_reply(
    tmp_path: Path,
) -> None:
    answered: list[int] = []
    children: list[str] = []
    nodes: list[SuperNode] = []

    def answer(msg: Message, context: Context) -> Message:
        """Half a step toward zero: a trained model, made in this process."""
        for node in nodes:
            assert node.pid is not None
            children.extend(_children(node.pid))
        arrays = msg.content.array_records["arrays"]
        trained = ArrayRecord({k: Array((v.numpy() * 0.5).astype(np.float32)) for k, v in arrays.items()})
        answered.append(context.node_id)
        return Message(
            RecordDict({"arrays": trained, "metrics": MetricRecord({"num-examples": 10})}), reply_to=msg
        )

    def broken(msg: Message, context: Context) -> Message:
        raise RuntimeError("no data on this node")

    superlink = SuperLink(tmp_path / "link", free_port(), {"PYTHONPATH": str(ROOT)})
    superlink.start()
    try:
        for i, handler in enumerate((answer, answer, broken)):
            node = SuperNode(
                superlink=superlink.address,
                home=tmp_path / f"home{i}",
                log=tmp_path / f"supernode{i}.log",
                config={},
                answer=handler,
            )
            node.start()
            nodes.append(node)
        # Another process on the machine cannot claim a node's task: AcquireTask needs the secret.
        assert nodes[0].executor is not None
        assert _status_without_the_secret(nodes[0].executor.runtime_address) in (401, 403)

        times = tmp_path / "times.jsonl"
        config: dict[str, str | int] = {"rounds": 2, "min-nodes": 3, "times": str(times), "fast-poll": "0.2"}
        run = superlink.run_app(APP, config, tmp_path / "run.log")
        run.wait(timeout=600)
        deadline = time.monotonic() + 30
        while (not times.exists() or len(times.read_text().splitlines()) < 2) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert times.exists(), (tmp_path / "run.log").read_text()[-3000:]
        rounds = [json.loads(line)["round"] for line in times.read_text().splitlines()]
        assert rounds == [1, 2], (tmp_path / "run.log").read_text()[-3000:]

        # Both healthy nodes trained both rounds, here; the broken one answered each with an error.
        assert len(answered) == 4
        assert sorted(answered.count(n) for n in set(answered)) == [2, 2]
        assert [n.executor.done for n in nodes if n.executor] == [2, 2, 2]
        assert all(n.alive() for n in nodes), "an executor or SuperNode died"
        assert children == [], f"the SuperNode started processes: {children}"
        logs = "".join((tmp_path / f"supernode{i}.log").read_text() for i in range(3))
        assert "flower-superexec" not in logs
        assert "flwr-clientapp" not in logs
    finally:
        for node in nodes:
            node.stop()
        superlink.stop()
    assert not any(n.alive() for n in nodes)


def test_the_workers_clientapp_refuses_a_message_kind_it_has_no_function_for() -> None:
    answer = client_app.answering("http://127.0.0.1:9", "token")
    message = Message(Content(), dst_node_id=1, message_type="query")
    with pytest.raises(ValueError, match="train messages only"):
        answer(message, Context(run_id=1, node_id=1, node_config={}, state=Content(), run_config={}))


def test_a_killed_supernode_is_seen_and_stopping_it_ends_its_executor(tmp_path: Path) -> None:
    # No SuperLink listens: the SuperNode keeps trying to connect, its executor keeps polling.
    node = SuperNode(
        superlink=f"127.0.0.1:{free_port()}",
        home=tmp_path / "home",
        log=tmp_path / "supernode.log",
        config={},
        answer=lambda msg, context: msg,
    )
    node.start()
    try:
        assert node.executor is not None
        assert _status_without_the_secret(node.executor.runtime_address) in (401, 403)
        assert node.alive()
        assert node.pid is not None
        os.kill(node.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while node.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not node.alive(), "a killed SuperNode still looks alive"
        assert node.executor.alive(), "the executor polls on until the daemon stops the node"
    finally:
        node.stop()
    assert not node.executor.alive()
    assert oct((tmp_path / "home" / "superexec.secret").stat().st_mode & 0o777) == "0o600"
