"""`Indexer`: applies finalized blocks to the mirror in order, remembering where it stopped.

Each batch of blocks is one database transaction that also moves the cursor, so a crash at any
point leaves the mirror at a block boundary and a restart resumes from there. If the chain no
longer has the block the cursor names (a reset devnet), the mirror is rebuilt from block 1.

A batch is read in runs of batch requests (`DecentralMl.blocks_events`: hashes, runtime versions
and raw events, only the indexed pallets' events decoded), and the storage reads its blocks' events
call for are fetched together beforehand (`DecentralMl.prefetch`), so applying a block makes no
request of its own: catching up costs about 2 ms a block instead of about 7.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db import models
from coordinator.indexer.mirror import apply_block, storage_reads
from decentralml_bindings import DecentralMl
from decentralml_bindings.calls import PALLET
from decentralml_bindings.council import COUNCIL

log = logging.getLogger(__name__)

INDEXED_PALLETS = (PALLET, COUNCIL)
MIRROR_TABLES = (
    models.CouncilVote,
    models.CouncilMotion,
    models.Verdict,
    models.Model,
    models.Result,
    models.Assignment,
    models.Task,
    models.ChainEvent,
    models.IndexerCursor,
)


class Indexer:
    """Keeps the mirror behind `sessions` equal to the chain behind `chain`."""

    def __init__(
        self, chain: DecentralMl, sessions: sessionmaker[Session], *, batch_blocks: int = 200
    ) -> None:
        self.chain = chain
        self.sessions = sessions
        self.batch_blocks = batch_blocks

    def cursor(self) -> tuple[int, str] | None:
        with self.sessions() as session:
            row = session.get(models.IndexerCursor, 1)
            return None if row is None else (row.block_number, row.block_hash)

    def lag(self) -> int:
        """Finalized blocks not applied yet."""
        head, _ = self.chain.finalized_head()
        cursor = self.cursor()
        return head - (cursor[0] if cursor else 0)

    def sync_once(self) -> int:
        """Apply every finalized block not applied yet; returns how many were applied."""
        cursor = self.cursor()
        if cursor is not None and self.chain.block_hash(cursor[0]) != cursor[1]:
            log.warning(
                "the chain no longer has the cursor's block: rebuilding the mirror",
                extra={"block": cursor[0], "block_hash": cursor[1]},
            )
            self.clear()
            cursor = None
        head, _ = self.chain.finalized_head()
        next_block = 1 if cursor is None else cursor[0] + 1
        applied = 0
        while next_block <= head:
            last = min(head, next_block + self.batch_blocks - 1)
            blocks = self.chain.blocks_events(next_block, last, INDEXED_PALLETS)
            self.chain.prefetch(
                [read for _, block_hash, events in blocks for read in storage_reads(block_hash, events)]
            )
            with self.sessions.begin() as session:
                for number, block_hash, events in blocks:
                    apply_block(session, self.chain, number, block_hash, events)
                    session.merge(models.IndexerCursor(id=1, block_number=number, block_hash=block_hash))
            applied += last - next_block + 1
            log.info("blocks applied", extra={"first": next_block, "last": last, "head": head})
            next_block = last + 1
        return applied

    def clear(self) -> None:
        """Empty the mirror; the next sync rebuilds it from block 1."""
        with self.sessions.begin() as session:
            for table in MIRROR_TABLES:
                session.execute(delete(table))

    def reindex(self) -> int:
        """Rebuild the mirror from the chain alone."""
        self.clear()
        return self.sync_once()

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        """Follow the chain until `stop` is set; a lost connection is retried, not fatal."""
        while not stop.is_set():
            try:
                self.sync_once()
            except Exception as lost:  # websocket errors do not share a base class with OSError
                log.warning("chain unreachable or failing; reconnecting", extra={"error": repr(lost)})
                self._reconnect(stop, poll_seconds)
            stop.wait(poll_seconds)

    def _reconnect(self, stop: threading.Event, poll_seconds: float) -> None:
        url = self.chain.url
        while not stop.is_set():
            try:
                self.chain = DecentralMl.connect(url)
                return
            except Exception:  # the chain is still down
                stop.wait(poll_seconds)
