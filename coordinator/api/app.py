"""The FastAPI application: routers, error handlers, and the middleware every request passes."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from coordinator import web
from coordinator.api import errors, openapi
from coordinator.api.auth import ApiToken, Authenticator
from coordinator.api.head import HeadWatch
from coordinator.api.limits import RateLimiter
from coordinator.api.middleware import BodyLimit, Idempotency, RateLimit, RequestContext
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
from coordinator.api.services.limits import ChainLimits
from coordinator.api.signing import Signer
from coordinator.api.submissions import Submissions
from decentralml.admission import Admission
from decentralml.content import ContentStore
from decentralml_bindings import DecentralMl


@dataclass(frozen=True)
class ApiConfig:
    """What the API enforces; `coordinator.settings.Settings` has each with its `DML_` variable."""

    tokens: list[ApiToken] = field(default_factory=list)
    allowed_hosts: list[str] | None = None  # None: any Host header
    write_rate_per_minute: int = 600
    read_rate_per_minute: int = 6_000
    account_rate_per_minute: int = 120
    inclusion_deadline_seconds: float = 60.0
    head_poll_seconds: float = 1.0
    max_header_bytes: int = 16_384


def create_app(
    chain: DecentralMl,
    sessions: sessionmaker[Session],
    keystore_uris: list[str],
    max_body_bytes: int = 1 << 20,
    store: ContentStore | None = None,
    config: ApiConfig | None = None,
) -> FastAPI:
    config = config or ApiConfig()
    head = HeadWatch(chain, config.head_poll_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        head.start(stop)
        yield
        stop.set()

    app = FastAPI(
        title="DecentralML coordinator",
        description="Every pallet call (relayed, or keystore-signed for an authenticated operator "
        "client) and the chain state mirrored in SQL. Every refusal answers `{error, detail}`; every "
        "response carries `X-Request-ID`; writes take an `Idempotency-Key`.",
        version="0.2.0",
        lifespan=lifespan,
    )
    auth = Authenticator(config.tokens)
    app.state.chain = chain
    app.state.store = store
    # Bundles verified once per task for the weights route's release rule.
    app.state.admission = Admission(chain, store) if store is not None else None
    app.state.sessions = sessions
    app.state.head = head
    app.state.limits = ChainLimits.of(chain)
    app.state.submissions = Submissions()
    app.state.signer = Signer(
        chain,
        keystore_uris,
        app.state.submissions,
        auth,
        RateLimiter(config.account_rate_per_minute),
        config.inclusion_deadline_seconds,
    )
    errors.install(app)
    # add_middleware wraps: the last added runs first.
    app.add_middleware(Idempotency)
    app.add_middleware(
        RateLimit,
        writes=RateLimiter(config.write_rate_per_minute),
        reads=RateLimiter(config.read_rate_per_minute),
    )
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)
    app.add_middleware(
        RequestContext,
        allowed_hosts=config.allowed_hosts,
        auth=auth,
        max_header_bytes=config.max_header_bytes,
    )

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
    web.mount(app)  # the dashboard's static files, outside the OpenAPI
    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]
    return app
