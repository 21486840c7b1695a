"""`python -m coordinator.indexer`: follow the chain into the mirror (or `--once`, or `--reindex`)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.indexer.sync import Indexer
from coordinator.settings import Settings
from decentralml import logs
from decentralml_bindings import DecentralMl

log = logging.getLogger("coordinator.indexer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="apply the blocks finalized now, then exit")
    mode.add_argument("--reindex", action="store_true", help="rebuild the mirror from the chain, then exit")
    args = parser.parse_args()
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    engine = make_engine(settings.database_url)
    migrate(engine)
    indexer = Indexer(
        DecentralMl.connect(settings.chain_url),
        session_factory(engine),
        batch_blocks=settings.indexer_batch_blocks,
    )
    if args.once:
        log.info("blocks applied", extra={"blocks": indexer.sync_once()})
    elif args.reindex:
        log.info("mirror rebuilt", extra={"blocks": indexer.reindex()})
    else:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        indexer.run(stop, settings.indexer_poll_seconds)


if __name__ == "__main__":
    main()
