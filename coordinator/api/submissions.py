"""Writes a caller chose not to wait for: run one at a time in the background, looked up by id.

Every check that can refuse a request (schema, keystore, the relayed extrinsic matching the endpoint)
runs before a write is queued, so a queued write only fails on chain. The registry lives in the
coordinator's memory; what was included stays on chain and in the mirror whatever happens to it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from coordinator.api.errors import error_body
from coordinator.api.schemas import Submission, SubmissionState, Submitted
from decentralml_bindings import ChainError

log = logging.getLogger(__name__)


@dataclass
class _Entry:
    id: str
    call: str
    state: SubmissionState = "pending"
    result: Submitted | None = None
    error: dict[str, str] = field(default_factory=dict)
    status: int | None = None


class Submissions:
    """Queued writes and what became of them; the oldest are forgotten past `keep`."""

    def __init__(self, keep: int = 10_000) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dml-submit")
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._keep = keep

    def enqueue(self, call: str, run: Callable[[], Submitted]) -> Submission:
        entry = _Entry(id=uuid.uuid4().hex, call=call)
        with self._lock:
            self._entries[entry.id] = entry
            while len(self._entries) > self._keep:
                self._entries.popitem(last=False)
        self._pool.submit(self._run, entry, run)
        return self._view(entry)

    def get(self, submission_id: str) -> Submission | None:
        with self._lock:
            entry = self._entries.get(submission_id)
            return None if entry is None else self._view(entry)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    def _run(self, entry: _Entry, run: Callable[[], Submitted]) -> None:
        try:
            result = run()
        except ChainError as failed:
            status, body = error_body(failed)
            with self._lock:
                entry.state, entry.status, entry.error = "failed", status, body
            log.info("queued write failed", extra={"submission": entry.id, "call": entry.call, **body})
            return
        except Exception as broken:  # a chain outage: report it on the entry, keep the worker alive
            with self._lock:
                entry.state, entry.status = "failed", 503
                entry.error = {"error": "ChainUnavailable", "detail": str(broken)}
            log.warning("queued write could not reach the chain", extra={"submission": entry.id})
            return
        with self._lock:
            entry.state, entry.status, entry.result = "included", 200, result
        log.info(
            "queued write included",
            extra={"submission": entry.id, "call": entry.call, "block": result.block_number},
        )

    @staticmethod
    def _view(entry: _Entry) -> Submission:
        return Submission(
            id=entry.id,
            call=entry.call,
            state=entry.state,
            status_url=f"/submissions/{entry.id}",
            result=entry.result,
            error=entry.error or None,
            status=entry.status,
        )
