"""The daemon's trainer, served on loopback to its SuperNode's ClientApp.

The ClientApp runs on a thread of the daemon (`worker.executor`), or, under Flower's default
isolation, in a fresh process per message. Either way it only hands the trainer the round's
global model and returns the update it gets back: the long-running daemon keeps PyTorch, the
chain connection and the data warm and holds the key.

`POST /train?task=T&round=R`, body: the global weights (codec bytes), or a 1-bit delta from the
model the worker holds of the task (`decentralml.downlink`), header `X-DML-Token`: the token the
daemon gave its ClientApp. Answer: the update's bytes, exactly as hashed on chain, with
`X-DML-Worker`, `X-DML-Examples` and `X-DML-Cid` headers (and `X-DML-Epsilon`, the privacy spent so
far, on a task with differential privacy); 409 for a delta from a model the worker does not hold
(the body says it needs the full model), 400 for a body that is neither. Binds 127.0.0.1 only.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from decentralml import codec, downlink
from decentralml.manifest import TaskManifest
from worker.trainer import Trainer

log = logging.getLogger(__name__)
MAX_BODY = 1 << 31


class TrainerService:
    """Trains rounds for the SuperNode's ClientApps; one round at a time."""

    def __init__(
        self,
        trainer_for: Callable[[int], tuple[Trainer, TaskManifest]],
        port: int = 0,
    ) -> None:
        self.trainer_for = trainer_for
        self.token = secrets.token_hex(16)
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                log.debug(format, *args)

            def do_POST(self) -> None:
                service._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        token = request.headers.get("X-DML-Token", "")
        if not hmac.compare_digest(token, self.token):
            return _answer(request, 403, b"wrong or missing X-DML-Token")
        url = urlparse(request.path)
        query = parse_qs(url.query)
        try:
            task_id, round_ = int(query["task"][0]), int(query["round"][0])
            length = int(request.headers.get("Content-Length", "0"))
            if url.path != "/train" or not 0 < length <= MAX_BODY:
                raise ValueError("POST /train?task=T&round=R with the global weights as body")
            body = request.rfile.read(length)
        except (KeyError, ValueError) as bad:
            return _answer(request, 400, str(bad).encode())
        try:
            with self._lock:
                trainer, manifest = self.trainer_for(task_id)
                try:
                    weights = trainer.model_from(task_id, body)
                except downlink.MissingBaseError as missing:
                    return _answer(request, 409, str(missing).encode())
                except codec.CodecError as bad:
                    return _answer(request, 400, f"not a model or a model delta: {bad}".encode())
                update = trainer.train_round(task_id, round_, manifest, weights)
        except Exception as failed:  # reported to the ClientApp, which turns it into a Flower error reply
            log.exception("training failed", extra={"task": task_id, "round": round_})
            return _answer(request, 500, f"{type(failed).__name__}: {failed}".encode())
        headers = {
            "X-DML-Worker": trainer.address,
            "X-DML-Examples": str(update.examples),
            "X-DML-Cid": update.cid,
        }
        if update.epsilon is not None:
            headers["X-DML-Epsilon"] = repr(update.epsilon)
        _answer(request, 200, update.data, headers)


def _answer(
    request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    request.send_response(status)
    request.send_header("Content-Type", "application/octet-stream")
    request.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)
