"""`Idempotency` keeps each client's answers apart: a flood of keyed requests from anonymous
addresses cannot evict an operator's key (whose retry would then write twice), and only a 2xx
answer is replayed."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from coordinator.api.middleware import BODY, CLIENT, Idempotency


class Writes:
    """An ASGI app that counts the writes it made and answers each with `status`."""

    def __init__(self, status: int = 201) -> None:
        self.made, self.status = 0, status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.made += 1
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": f"write {self.made}".encode()})


def post(app: Idempotency, client: str, key: str, body: bytes = b"{}") -> tuple[int, bytes, bool]:
    """(status, body, replayed) of one keyed POST from `client`."""
    sent: list[Message] = []
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/tasks",
        "headers": [(b"idempotency-key", key.encode())],
        CLIENT: client,
        BODY: body,
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    replayed = (b"idempotent-replayed", b"true") in sent[0].get("headers", [])
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:]), replayed


def test_anonymous_keys_cannot_evict_an_operators_answer() -> None:
    writes = Writes()
    app = Idempotency(writes, per_client=5, addresses=3)

    first = post(app, "operator", "create-1")
    for i in range(50):  # many addresses, many keys each: each table stays within its own bound
        post(app, f"address:10.0.0.{i % 7}", f"flood-{i}")
    retry = post(app, "operator", "create-1")

    assert first == (201, b"write 1", False)
    assert retry == (201, b"write 1", True)  # the first answer, not a second write
    assert writes.made == 51
    assert len(app.addressed) == 3
    assert all(len(answers) <= 5 for answers in app.addressed.values())


def test_a_client_keeps_at_most_its_own_share_of_keys() -> None:
    writes = Writes()
    app = Idempotency(writes, per_client=2)
    for key in ("a", "b", "c"):
        post(app, "operator", key)

    assert post(app, "operator", "c")[2] is True  # kept
    assert post(app, "operator", "a")[1] == b"write 4"  # its oldest key went: written again
    assert post(app, "operator", "a", b'{"other": 1}')[0] == 422  # same key, another body


def test_only_a_successful_write_is_replayed() -> None:
    refused = Writes(status=400)
    app = Idempotency(refused)

    first = post(app, "operator", "k")
    again = post(app, "operator", "k")

    assert (first[0], again[0]) == (400, 400)
    assert again[2] is False  # judged again, not replayed
    assert refused.made == 2
