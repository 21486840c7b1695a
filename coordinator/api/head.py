"""The chain's finalized head, followed on a connection of its own, so `/health` answers from
state it already has: it never waits on the chain, or on anyone's transaction."""

from __future__ import annotations

import logging
import threading
import time

from decentralml_bindings import DecentralMl

log = logging.getLogger(__name__)


class HeadWatch:
    """Polls the finalized head every `interval` seconds; reconnects after a failure."""

    def __init__(self, url: str, interval: float = 1.0) -> None:
        self.url, self.interval = url, interval
        self._head: tuple[int, float] | None = None  # (number, monotonic time seen)
        self._chain: DecentralMl | None = None

    def poll(self) -> None:
        try:
            if self._chain is None:
                self._chain = DecentralMl.connect(self.url)
            number, _ = self._chain.finalized_head()
            self._head = (number, time.monotonic())
        except Exception as lost:  # any failure: reconnect on the next poll
            log.debug("chain head unreachable", extra={"error": repr(lost)})
            self._head = None
            if self._chain is not None:
                try:
                    self._chain.close()
                except Exception:  # already broken
                    log.debug("closing a broken chain connection failed")
            self._chain = None

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
