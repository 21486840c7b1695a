"""What routes receive: a database session, the chain client, the signing helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from substrateinterface import Keypair

from coordinator.api.errors import NotFoundError
from coordinator.api.schemas import U32_MAX, Address, Signing, Submitted
from coordinator.api.signing import Signer
from coordinator.db.models import Base
from decentralml_bindings import Call


async def _session(request: Request) -> AsyncIterator[Session]:
    # An async dependency: a sync generator would cost two extra thread-pool hops per request
    # (measured: a third of GET /tasks). Creating and closing a session does no blocking I/O
    # beyond returning its connection to the pool.
    session: Session = request.app.state.sessions()
    try:
        yield session
    finally:
        session.close()


class RequestSigner:
    """The coordinator's signer, for this request's caller (its Authorization header)."""

    def __init__(self, signer: Signer, authorization: str | None) -> None:
        self.signer, self.authorization = signer, authorization

    def execute(self, call: Call, how: Signing) -> Submitted | JSONResponse:
        return self.signer.execute(call, how, self.authorization)

    def key_for(self, account: str, what: str, instead: str) -> Keypair:
        return self.signer.key_for(account, self.authorization, what, instead)


def _signer(request: Request) -> RequestSigner:
    return RequestSigner(request.app.state.signer, request.headers.get("authorization"))


Row = TypeVar("Row", bound=Base)


def mirrored(session: Session, table: type[Row], row_id: int, noun: str) -> Row:
    """The mirrored row with this id, or a 404 that says it may just not be indexed yet."""
    row = session.get(table, row_id)
    if row is None:
        raise NotFoundError("NotFound", f"no {noun} {row_id} in the mirror (it may not be indexed yet)")
    return row


SessionDep = Annotated[Session, Depends(_session)]
SignerDep = Annotated[RequestSigner, Depends(_signer)]
# Ids are u64 on chain; the mirror (SQLite, PostgreSQL) holds signed 64-bit integers, and the
# chain's counters will not pass 2^63 in this universe.
IdPath = Annotated[int, Path(ge=0, le=2**63 - 1, description="an id (u64 on chain, below 2^63)")]
IndexPath = Annotated[int, Path(ge=0, le=U32_MAX, description="a u32 index")]
AccountPath = Annotated[Address, Path(description="an SS58 address (checksum checked)")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
