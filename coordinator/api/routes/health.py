"""Health: chain, database and indexer lag."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from coordinator.api.schemas import Health
from coordinator.db import models

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    """Whether the chain and the database answer, and how far the mirror is behind the chain."""
    finalized: int | None = None
    indexed: int | None = None
    try:
        finalized = request.app.state.chain.finalized_head()[0]
        chain = "ok"
    except Exception:  # any failure to reach the chain is reported, not raised
        chain = "unreachable"
    try:
        with request.app.state.sessions() as session:
            session.execute(text("select 1"))
            cursor = session.get(models.IndexerCursor, 1)
            indexed = cursor.block_number if cursor else 0
        database = "ok"
    except Exception:  # likewise for the database
        database = "unreachable"
    lag = None if finalized is None or indexed is None else finalized - indexed
    return Health(
        chain=chain, database=database, finalized_block=finalized, indexed_block=indexed, indexer_lag=lag
    )
