"""The SuperNode's ClientApp tasks, run in the worker daemon's own process.

By default (`--isolation subprocess`) Flower 1.41's SuperNode starts a SuperExec process that asks
the SuperNode for a task every second, and a fresh `flwr-clientapp` process for every message it
gets: each imports Flower (about 1.3 s of CPU on these machines, as much as a digits round's
training) and unpacks the run's FAB, to hand the global model to this daemon's trainer over
loopback. Two processes of about 95 MB each per worker, and one more start per round.

The daemon runs its SuperNode with `--isolation process` instead and is that SuperExec itself:
`ClientAppExecutor` is a thread that claims each ClientApp task from the SuperNode's Runtime API
(`AcquireTask`), pulls the task's message, answers it with the worker's own ClientApp
(`worker.client_app.reply`, given in), pushes the reply and the task's status, and sends the
task's heartbeats while it trains. The worker runs its installed ClientApp whatever FAB the run
carries: it never runs code a SuperLink sends it. A ClientApp that raises is answered with
Flower's error reply, as `flwr-clientapp` would.

Only this executor may claim the SuperNode's tasks: the SuperNode is started with a secret
(`--superexec-auth-secret-file`, a file only the daemon's user reads) and `AcquireTask` is signed
with it, so another local process cannot take the round's model or answer for the worker. (Flower's
default isolation leaves `AcquireTask` open to any process on the machine.)

Flower's own helpers for this stop their process on some failures (its HTTP retry sends SIGINT on
a 401, its heartbeat on a refused heartbeat); here a failed call is logged and the task or the poll
given up, and the daemon's loop sees a SuperNode that is gone through `alive()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections.abc import Callable

import httpx
from flwr.app import Context, Message
from flwr.app.error import Error
from flwr.common.constant import HEARTBEAT_DEFAULT_INTERVAL, ErrorCode, SubStatus
from flwr.proto.runtime_pb2 import AcquireTaskRequest, SendTaskHeartbeatRequest  # pylint: disable=E0611
from flwr.supercore.constant import TaskType
from flwr.supercore.interceptors import (
    RuntimeTokenHttpInterceptor,
    RuntimeVersionHttpInterceptor,
    SuperExecAuthHttpInterceptor,
)
from flwr.supercore.protobuf.client import ProtobufClientInterceptor
from flwr.supercore.runtime import RuntimeHttpClient
from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

from decentralml import memory

log = logging.getLogger(__name__)
THREAD_NAME = b"dml-clientapp"  # the executor's threads for the OS (bench/scale.py counts their CPU)

Answer = Callable[[Message, Context], Message]
PR_SET_NAME = 15


def poll_seconds() -> float:
    """How often an idle executor asks for a task: Flower's SuperExec setting, 1 s by default."""
    try:
        value = float(os.environ.get("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", "1.0"))
    except ValueError:
        return 1.0
    return min(max(value, 0.01), 60.0)


class ClientAppExecutor:
    """Runs the ClientApp tasks of the SuperNode whose Runtime API is at `runtime_address`
    (host:port, plain HTTP on loopback), one at a time, on a thread of this process; `secret` the
    SuperNode's SuperExec secret (None: a SuperNode started without one)."""

    def __init__(
        self, runtime_address: str, answer: Answer, secret: bytes | None = None, poll: float | None = None
    ) -> None:
        self.runtime_address = runtime_address
        self.secret = secret
        self.answer = answer
        self.poll = poll_seconds() if poll is None else poll
        self.done = 0  # tasks answered (an error reply counts)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"clientapp-{runtime_address}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _client(self, token: str | None = None) -> RuntimeHttpClient:
        interceptors: list[ProtobufClientInterceptor] = [
            RuntimeVersionHttpInterceptor(component_name="flwr-clientapp")
        ]
        if token is not None:
            interceptors.append(RuntimeTokenHttpInterceptor(token))
        elif self.secret is not None:
            methods = frozenset({"/flwr.proto.Runtime/AcquireTask"})
            interceptors.append(
                SuperExecAuthHttpInterceptor(master_secret=self.secret, protected_methods=methods)
            )
        return RuntimeHttpClient.from_server_address(
            server_address=self.runtime_address,
            insecure=True,
            root_certificates=None,
            interceptors=interceptors,
        )

    def _run(self) -> None:
        _name_this_thread()
        client = self._client()
        request = AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP.value], agentapp_fab_hashes=[])
        try:
            while not self._stop.is_set():
                try:
                    found = client.AcquireTask(request)
                except httpx.HTTPError as failed:  # the SuperNode is starting, restarting or gone
                    log.debug("no task from the SuperNode: %s", failed)
                    found = None
                if found is not None and found.HasField("task") and found.token:
                    self.run_task(found.token)
                    continue  # a round's messages come together: ask again at once
                self._stop.wait(self.poll)
        finally:
            client.close()

    def run_task(self, token: str) -> None:
        """Pull the task's message, answer it and push the reply and the task's status."""
        client = self._client(token)
        beating = threading.Event()
        beat = threading.Thread(target=self._heartbeats, args=(client, beating), daemon=True)
        beat.start()
        context: Context | None = None
        status, details = SubStatus.FAILED, "the ClientApp task failed"
        try:
            message, context, _run, _fab = pull_task_input(client)
            try:
                reply = self.answer(message, context)
                status, details = SubStatus.COMPLETED, ""
            except Exception as failed:  # the ClientApp raised: Flower's error reply, as flwr-clientapp
                log.exception("the ClientApp raised", extra={"run": context.run_id})
                reason = f"{type(failed)}:<'{failed}'>"
                reply = Message(
                    Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message
                )
                details = reason
            push_message(client, reply, context)
            self.done += 1
        except Exception:  # the SuperNode went away mid-task, or refused it: the round goes on without us
            log.exception("a ClientApp task could not be completed")
        finally:
            beating.set()
            beat.join()
            try:
                push_task_output(client=client, context=context, sub_status=status, details=details)
            finally:
                client.close()
                memory.give_back()  # the model's copies (`decentralml.memory`)

    def _heartbeats(self, client: RuntimeHttpClient, done: threading.Event) -> None:
        """The task's heartbeats while it runs (the SuperNode gives up a task that sends none)."""
        _name_this_thread()
        while not done.wait(HEARTBEAT_DEFAULT_INTERVAL / 3):
            try:
                client.SendTaskHeartbeat(SendTaskHeartbeatRequest())
            except httpx.HTTPError as failed:
                log.warning("a task heartbeat failed: %s", failed)


def _name_this_thread() -> None:
    """Name the calling thread `THREAD_NAME` for the OS (/proc/PID/task/TID/comm), where Linux
    allows it: its CPU can then be told from the training's."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, ctypes.c_char_p(THREAD_NAME), 0, 0, 0)
