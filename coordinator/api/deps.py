"""What routes receive: a database session, the chain client, the signing helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from coordinator.api.signing import Signer
from coordinator.db.models import Base


async def _session(request: Request) -> AsyncIterator[Session]:
    # An async dependency: a sync generator would cost two extra thread-pool hops per request
    # (measured: a third of GET /tasks). Creating and closing a session does no blocking I/O
    # beyond returning its connection to the pool.
    session: Session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.signer
    return signer


Row = TypeVar("Row", bound=Base)


def mirrored(session: Session, table: type[Row], row_id: int, noun: str) -> Row:
    """The mirrored row with this id, or a 404 that says it may just not be indexed yet."""
    row = session.get(table, row_id)
    if row is None:
        raise HTTPException(404, f"no {noun} {row_id} in the mirror (it may not be indexed yet)")
    return row


SessionDep = Annotated[Session, Depends(_session)]
SignerDep = Annotated[Signer, Depends(_signer)]
