"""What routes receive: a database session, the chain client, the signing helper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from coordinator.api.signing import Signer


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.signer
    return signer


SessionDep = Annotated[Session, Depends(_session)]
SignerDep = Annotated[Signer, Depends(_signer)]
