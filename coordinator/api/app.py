"""The FastAPI application: routers, error handlers, request size limit."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from coordinator.api import errors
from coordinator.api.routes import (
    accounts,
    council,
    federation,
    health,
    models,
    results,
    submissions,
    tasks,
)
from coordinator.api.signing import Signer
from coordinator.api.submissions import Submissions
from decentralml.content import ContentStore
from decentralml_bindings import DecentralMl


class BodyLimit:
    """Refuses a request whose declared body exceeds the limit with 413, before reading it.

    Plain ASGI rather than `@app.middleware("http")`, which costs every request a task switch.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
                detail = f"request bodies are limited to {self.max_body_bytes} bytes"
                response = JSONResponse(status_code=413, content={"error": "BodyTooLarge", "detail": detail})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    chain: DecentralMl,
    sessions: sessionmaker[Session],
    keystore_uris: list[str],
    max_body_bytes: int = 1 << 20,
    store: ContentStore | None = None,
) -> FastAPI:
    app = FastAPI(
        title="DecentralML coordinator",
        description="Every pallet call (relayed or keystore-signed) and the chain state mirrored in SQL.",
        version="0.1.0",
    )
    app.state.chain = chain
    app.state.store = store
    app.state.sessions = sessions
    app.state.submissions = Submissions()
    app.state.signer = Signer(chain, keystore_uris, app.state.submissions)
    errors.install(app)
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)

    for router in (
        tasks.router,
        results.router,
        models.router,
        accounts.router,
        council.router,
        federation.router,
        submissions.router,
        health.router,
    ):
        app.include_router(router)
    return app
