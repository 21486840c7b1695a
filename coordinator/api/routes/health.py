"""Health: chain, database and indexer lag, from state the coordinator already has."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from sqlalchemy import text

from coordinator.api.head import HeadWatch
from coordinator.api.schemas import Health, Limits
from coordinator.api.services.limits import ChainLimits
from coordinator.db import models

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    """Whether the chain (its head, followed in the background) and the database answer, and how
    far the mirror is behind the chain. Never waits on the chain."""
    head: HeadWatch = request.app.state.head
    finalized = head.latest()
    indexed: int | None = None
    try:
        with request.app.state.sessions() as session:
            session.execute(text("select 1"))
            cursor = session.get(models.IndexerCursor, 1)
            indexed = cursor.block_number if cursor else 0
        database = "ok"
    except Exception:  # any failure to reach the database is reported, not raised
        database = "unreachable"
    if finalized is not None and indexed is not None:
        finalized = max(finalized, indexed)  # the indexer only applies finalized blocks
    lag = None if finalized is None or indexed is None else finalized - indexed
    return Health(
        chain="unreachable" if finalized is None else "ok",
        database=database,
        finalized_block=finalized,
        indexed_block=indexed,
        indexer_lag=lag,
    )


@router.get("/limits", response_model=Limits)
def limits(request: Request) -> Limits:
    """The chain's limits (read from its metadata) that every create is checked against before
    it is relayed, so a request the chain would refuse costs no fee."""
    found: ChainLimits = request.app.state.limits
    return Limits(**asdict(found) | {"existential_deposit": str(found.existential_deposit)})
