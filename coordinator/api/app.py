"""The FastAPI application: routers, error handlers, request size limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from coordinator.api import errors
from coordinator.api.routes import accounts, council, health, models, results, submissions, tasks
from coordinator.api.signing import Signer
from coordinator.api.submissions import Submissions
from decentralml_bindings import DecentralMl


def create_app(
    chain: DecentralMl,
    sessions: sessionmaker[Session],
    keystore_uris: list[str],
    max_body_bytes: int = 1 << 20,
) -> FastAPI:
    app = FastAPI(
        title="DecentralML coordinator",
        description="Every pallet call (relayed or keystore-signed) and the chain state mirrored in SQL.",
        version="0.1.0",
    )
    app.state.chain = chain
    app.state.sessions = sessions
    app.state.submissions = Submissions()
    app.state.signer = Signer(chain, keystore_uris, app.state.submissions)
    errors.install(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body_bytes):
            return JSONResponse(
                status_code=413,
                content={
                    "error": "BodyTooLarge",
                    "detail": f"request bodies are limited to {max_body_bytes} bytes",
                },
            )
        return await call_next(request)

    for router in (
        tasks.router,
        results.router,
        models.router,
        accounts.router,
        council.router,
        submissions.router,
        health.router,
    ):
        app.include_router(router)
    return app
