"""Plain ASGI middleware around every request (cheaper than `@app.middleware("http")`).

Outermost first:
- `RequestContext`: a request id (the caller's `X-Request-ID` when it is a short token, else a new
  one) on every response and, through `decentralml.logs`, on every log line of the request; and
  the `Host` header checked against the configured list (400 `UnknownHost`); a request line and
  headers longer than `max_header_bytes` refused (431 `HeadersTooLarge`: the server's parser bounds
  only a request that arrives in pieces, so one sent whole is measured here).
- `BodyLimit`: the body is read here, counting every chunk, so a chunked body is held to the limit
  as a declared one is (413 `BodyTooLarge`), before any route sees it.
- `RateLimit`: per client (its token's name, else its address), writes and reads separately; 429
  with `Retry-After`.
- `Idempotency`: a write (POST) with an `Idempotency-Key` is run once per client and key: a repeat
  gets the first answer (`Idempotent-Replayed: true`), a concurrent repeat waits for it, and the
  same key with another body is refused (422 `IdempotencyKeyReused`). Each client has its own
  table (one client cannot evict another's keys), and only 2xx answers are kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator.api.auth import Authenticator
from coordinator.api.limits import RateLimiter
from decentralml.logs import request_id

BODY = "dml.body"  # the scope key under which BodyLimit leaves the body it read
CLIENT = "dml.client"  # and RequestContext the caller's identity (token name or address)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


async def _refuse(
    send: Send, status: int, error: str, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] | None,
        auth: Authenticator,
        max_header_bytes: int = 16_384,
    ) -> None:
        self.app, self.auth, self.max_header_bytes = app, auth, max_header_bytes
        self.hosts = (
            None if allowed_hosts is None or "*" in allowed_hosts else {h.lower() for h in allowed_hosts}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        tagged = [(b"x-request-id", rid.encode())]

        async def tag(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *tagged]
            await send(message)

        try:
            size = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self.max_header_bytes:
                detail = f"the request line and headers are limited to {self.max_header_bytes} bytes"
                await _refuse(tag, 431, "HeadersTooLarge", detail)
                return
            host = (_header(scope, b"host") or "").lower()
            name = (
                host[1:].split("]")[0]
                if host.startswith("[")
                else host.rsplit(":", 1)[0]
                if host.count(":") == 1
                else host
            )
            if self.hosts is not None and name not in self.hosts:
                await _refuse(tag, 400, "UnknownHost", f"this coordinator does not serve the host {host!r}")
                return
            client = self.auth.client_name(_header(scope, b"authorization"))
            peer = scope.get("client")
            scope[CLIENT] = client or (f"address:{peer[0]}" if peer else "address:unknown")
            await self.app(scope, receive, tag)
        finally:
            request_id.reset(token)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request bodies are limited to {self.max_body_bytes} bytes"
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _refuse(send, 413, "BodyTooLarge", detail)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _refuse(send, 413, "BodyTooLarge", detail)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        scope[BODY] = body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimit:
    def __init__(self, app: ASGIApp, writes: RateLimiter, reads: RateLimiter) -> None:
        self.app, self.writes, self.reads = app, writes, reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        write = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        limiter = self.writes if write else self.reads
        wait = limiter.take(str(scope.get(CLIENT, "")))
        if wait is not None:
            retry = str(max(1, int(wait + 0.999))).encode()
            kind = "writes" if write else "reads"
            detail = f"too many {kind} from this client: at most {limiter.per_minute} a minute; retry later"
            await _refuse(send, 429, "TooManyRequests", detail, [(b"retry-after", retry)])
            return
        await self.app(scope, receive, send)


@dataclass
class _Answer:
    fingerprint: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    start: Message | None = None
    body: bytes = b""
    at: float = field(default_factory=time.monotonic)


class Idempotency:
    """Answers kept per client: each client's own table holds at most `per_client` of its keys
    for `ttl_seconds`, so one client's requests never evict another's. Clients known only by
    their address (no token) are forgotten least recently used past `addresses`; a token's
    client is never evicted by them. Only a 2xx answer is kept: a refused write changed nothing,
    and its retry is judged again."""

    def __init__(
        self, app: ASGIApp, per_client: int = 1_000, addresses: int = 10_000, ttl_seconds: float = 86_400
    ) -> None:
        self.app, self.per_client, self.addresses, self.ttl = app, per_client, addresses, ttl_seconds
        self.named: dict[str, OrderedDict[str, _Answer]] = {}  # token clients: as many as configured
        self.addressed: OrderedDict[str, OrderedDict[str, _Answer]] = OrderedDict()  # LRU, bounded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 200 or not key.isprintable():
            await _refuse(
                send, 400, "BadIdempotencyKey", "Idempotency-Key must be 1 to 200 printable characters"
            )
            return
        fingerprint = hashlib.sha256(scope["path"].encode() + b"\0" + scope.get(BODY, b"")).hexdigest()
        client = str(scope.get(CLIENT, ""))
        answers = self._table(client)
        known = answers.get(key)
        if known is not None:
            if known.fingerprint != fingerprint:
                await _refuse(
                    send, 422, "IdempotencyKeyReused",
                    "this Idempotency-Key was used for another request: use a new key for a new write",
                )  # fmt: skip
                return
            await known.done.wait()
            if known.start is not None:
                replay = {
                    **known.start,
                    "headers": [*known.start["headers"], (b"idempotent-replayed", b"true")],
                }
                await send(replay)
                await send({"type": "http.response.body", "body": known.body})
                return
        answer = _Answer(fingerprint)
        answers[key] = answer
        while len(answers) > self.per_client:
            answers.popitem(last=False)
        try:
            await self.app(scope, receive, self._recording(send, answer))
        finally:
            status = answer.start["status"] if answer.start else 500
            if not 200 <= status < 300:  # nothing to repeat: a retry is judged again
                if answers.get(key) is answer:
                    del answers[key]
                answer.start = None
            answer.done.set()

    def _table(self, client: str) -> OrderedDict[str, _Answer]:
        """`client`'s answers, without those older than the TTL; made when it has none."""
        if client.startswith("address:"):
            answers = self.addressed.setdefault(client, OrderedDict())
            self.addressed.move_to_end(client)
            while len(self.addressed) > self.addresses:  # the least recently seen address goes
                self.addressed.popitem(last=False)
        else:
            answers = self.named.setdefault(client, OrderedDict())
        cutoff = time.monotonic() - self.ttl
        while answers and next(iter(answers.values())).at < cutoff:
            answers.popitem(last=False)
        return answers

    def _recording(self, send: Send, answer: _Answer) -> Callable[[Message], Awaitable[None]]:
        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.start = {**message, "headers": list(message.get("headers", []))}
            elif message["type"] == "http.response.body":
                answer.body += message.get("body", b"")
            await send(message)

        return record
