"""The chain's finalized head, followed by a thread of its own, so `/health` answers from state it
already has: it never waits on the chain, or on anyone's transaction."""

from __future__ import annotations

import logging
import threading
import time

from decentralml_bindings import DecentralMl

log = logging.getLogger(__name__)


class HeadWatch:
    """Polls the finalized head every `interval` seconds on `chain` (the API's client: each read
    takes its lock for one request, and it reconnects by itself after a lost connection; a
    connection of its own would hold a second copy of the runtime's metadata, about 18 MB)."""

    def __init__(self, chain: DecentralMl, interval: float = 1.0) -> None:
        self.chain, self.interval = chain, interval
        self._head: tuple[int, float] | None = None  # (number, monotonic time seen)

    def poll(self) -> None:
        try:
            number, _ = self.chain.finalized_head()
            self._head = (number, time.monotonic())
        except Exception as lost:  # any failure: the client reconnects on the next read
            log.debug("chain head unreachable", extra={"error": repr(lost)})
            self._head = None

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.poll()
            stop.wait(self.interval)

    def start(self, stop: threading.Event) -> None:
        self.poll()
        threading.Thread(target=self.run, args=(stop,), daemon=True, name="dml-head").start()

    def latest(self) -> int | None:
        """The finalized head if it was seen recently (within a few polls), else None."""
        if self._head is None:
            return None
        number, seen = self._head
        return number if time.monotonic() - seen <= max(5.0, 3 * self.interval) else None
