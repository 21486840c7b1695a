"""Rate limits: a token bucket per key (a client, or a keystore account), in memory.

Each key may spend `per_minute` requests a minute, in bursts of up to `burst`. `take` spends one
and answers None, or answers how many seconds to wait before one is free again (the 429's
Retry-After). The table forgets its least recently used keys past `keep`, so a flood of new keys
cannot grow it without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None, keep: int = 100_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self.burst = float(burst if burst is not None else max(1, per_minute // 4))
        self.rate = per_minute / 60.0
        self.keep = keep
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            while len(self._buckets) > self.keep:
                self._buckets.popitem(last=False)
            return None
