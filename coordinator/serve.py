"""Running the coordinator: the REST API and the indexer in one process."""

from __future__ import annotations

import logging
import threading

import uvicorn

from coordinator import logs
from coordinator.api import create_app
from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.indexer import Indexer
from coordinator.settings import Settings
from decentralml_bindings import DecentralMl

log = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the API on host:port while the indexer follows the chain; stops on SIGINT/SIGTERM."""
    logs.configure(settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = session_factory(engine)
    log.info("coordinator starting", extra={"chain": settings.chain_url, "host": host, "port": port})
    stop = threading.Event()
    indexer = Indexer(
        DecentralMl.connect(settings.chain_url), sessions, batch_blocks=settings.indexer_batch_blocks
    )
    follower = threading.Thread(target=indexer.run, args=(stop, settings.indexer_poll_seconds), daemon=True)
    follower.start()
    app = create_app(
        DecentralMl.connect(settings.chain_url), sessions, settings.keystore_uris, settings.max_body_bytes
    )
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, log_level=settings.log_level.lower())
    finally:
        stop.set()
        follower.join(timeout=10)


def reindex(settings: Settings) -> int:
    """Rebuild the mirror from the chain; returns the blocks applied."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    return Indexer(DecentralMl.connect(settings.chain_url), session_factory(engine)).reindex()
