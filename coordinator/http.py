"""`HeadTimeoutProtocol`: uvicorn's h11 protocol with a deadline on reading a request's head.

uvicorn bounds how long an idle keep-alive connection stays open, but not how long a client may
take to send a request line and headers: a client that sends a byte every few seconds (or opens
a connection and sends nothing) holds a connection, and its buffer, for as long as it likes, and
enough of them exhaust the server (slowloris). Here a connection waiting for a request's head
gets `head_timeout` seconds to send all of it, counted from the moment it started waiting (the
connection opened, or the previous response was sent); then it is closed. A request whose head
arrived in time is not limited: its body and the response take as long as they take.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)
HEAD_TIMEOUT_SECONDS = 10.0


class HeadTimeoutProtocol(H11Protocol):
    head_timeout = HEAD_TIMEOUT_SECONDS  # `with_head_timeout` makes a subclass with another

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        """Armed while the connection waits for a request's head; disarmed once it has one."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting and self.head_deadline is None:
            self.head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)
        elif not waiting:
            self._disarm()

    def _disarm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_timed_out(self) -> None:
        self.head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.warning(
                "closed a connection that sent no whole request head in time",
                extra={"client": f"{self.client}", "seconds": self.head_timeout},
            )
            self.transport.close()


def with_head_timeout(seconds: float) -> type[HeadTimeoutProtocol]:
    """`HeadTimeoutProtocol` closing connections after `seconds` without a whole request head."""
    return type("HeadTimeoutProtocol", (HeadTimeoutProtocol,), {"head_timeout": seconds})
