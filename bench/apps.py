"""The two apps the REST read benchmark serves with uvicorn: the coordinator's, and a bare one."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response

from coordinator.api import create_app
from coordinator.api.app import ApiConfig
from coordinator.db.engine import make_engine, session_factory
from decentralml_bindings import DecentralMl

UNLIMITED = 10**9  # requests per minute: the rate limits out of the way of a throughput benchmark


def coordinator_app() -> FastAPI:
    """The real coordinator app over the mirror at DML_DATABASE_URL, its rate limits off (a
    benchmark measures how fast it serves, not the limit one client is held to)."""
    engine = make_engine(os.environ["DML_DATABASE_URL"])
    config = ApiConfig(read_rate_per_minute=UNLIMITED, write_rate_per_minute=UNLIMITED)
    chain = DecentralMl.connect(os.environ["DML_CHAIN_URL"])
    return create_app(chain, session_factory(engine), [], config=config)


def bare_app() -> FastAPI:
    """The floor: a FastAPI endpoint that answers GET /tasks with a small constant, no database."""
    app = FastAPI()
    page = {"total": 0, "limit": 50, "offset": 0, "items": []}

    @app.get("/tasks")
    def tasks() -> dict[str, object]:
        return page

    return app


def bare_page_app() -> FastAPI:
    """A bare endpoint answering with the very bytes the coordinator's first page has
    (DML_BENCH_PAGE names the file): the same HTTP and payload cost, no database, no models."""
    app = FastAPI()
    body = Path(os.environ["DML_BENCH_PAGE"]).read_bytes()

    @app.get("/tasks")
    def tasks() -> Response:
        return Response(body, media_type="application/json")

    return app
