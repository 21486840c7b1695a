"""Where a worker hears of open tasks: the coordinator's REST mirror. The mirror only says which
task ids to look at; the daemon confirms every one on chain and in its signed bundle before it
claims anything, so a lying mirror can waste its time but not make it work on a bogus task."""

from __future__ import annotations

from typing import Protocol

import httpx


class TaskSource(Protocol):
    """What the daemon asks for open tasks."""

    def candidates(self) -> list[int]:
        """Ids of tasks that may be open, oldest first (to be confirmed on chain)."""
        ...


class MirrorSource:
    """Open task ids from the coordinator's `GET /tasks` (Created and InProgress)."""

    def __init__(self, coordinator_url: str, timeout: float = 10) -> None:
        self.url, self.timeout = coordinator_url.rstrip("/"), timeout

    def candidates(self) -> list[int]:
        found: list[int] = []
        for status in ("InProgress", "Created"):
            response = httpx.get(
                f"{self.url}/tasks", params={"status": status, "limit": 500}, timeout=self.timeout
            )
            response.raise_for_status()
            found += [int(t["id"]) for t in response.json()["items"]]
        return sorted(set(found))
