"""`Phases`: the wall seconds of a procedure's steps, for the round log."""

from __future__ import annotations

import time


class Phases:
    """Wall seconds by phase, into `seconds` (a new dict, or the caller's): each `mark(name)` closes
    the phase that ran since the last mark (a name marked twice adds up)."""

    def __init__(self, seconds: dict[str, float] | None = None) -> None:
        self.seconds: dict[str, float] = {} if seconds is None else seconds
        self._last = time.monotonic()

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now
