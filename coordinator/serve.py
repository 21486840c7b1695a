"""Running the coordinator: the REST API and the indexer in one process."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import uvicorn
from substrateinterface import Keypair

from coordinator.api import create_app
from coordinator.committee.member import Member
from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.federation.flower import SuperLink
from coordinator.federation.launcher import Launcher
from coordinator.federation.nodes import NodeRegistry
from coordinator.federation.publisher import Publisher
from coordinator.http import with_head_timeout
from coordinator.indexer import Indexer
from coordinator.settings import Settings
from decentralml import logs
from decentralml.content import ContentStore
from decentralml.crypto import sealing_statement
from decentralml.tls import SuperLinkCertificates, fingerprint
from decentralml_bindings import DecentralMl

log = logging.getLogger(__name__)


MemberFactory = Callable[[DecentralMl, ContentStore, Keypair, Path], Member]


def serve(settings: Settings, host: str, port: int, member: MemberFactory = Member) -> None:
    """Serve the API on host:port while the indexer follows the chain; stops on SIGINT/SIGTERM.
    `member` makes what judges the rounds of committees this coordinator is on."""
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
    # The API, its head watch and the node registry share one client (each read holds its lock
    # for one request); the indexer and the launcher keep their own, so a long catch-up or a round
    # never queues the API's reads. Each client holds its own copy of the runtime's metadata.
    chain = DecentralMl.connect(settings.chain_url)
    app = create_app(
        chain,
        sessions,
        settings.keystore_uris,
        settings.max_body_bytes,
        ContentStore(settings.ipfs_api),
        settings.api_config(),
    )
    superlink, launcher = _federation(settings, stop, member)
    certificates = None if superlink is None else superlink.certificates
    app.state.federation = {
        "validator": None if launcher is None else launcher.validator,
        "sealing": None if launcher is None else sealing_statement(launcher.key),
        "superlink": None if superlink is None else settings.superlink_address,
        "tls": None
        if certificates is None
        else {
            "ca_certificate": certificates.ca_certificate.read_text(),
            "fingerprint": fingerprint(certificates.ca_certificate.read_bytes()),
        },
        "node_auth": superlink is not None and superlink.node_auth,
        "directory": str(Path(settings.federation_dir).resolve()),
    }
    if superlink is not None and launcher is not None and superlink.node_auth:
        app.state.nodes = NodeRegistry(
            Path(settings.federation_dir).resolve(),
            settings.superlink_address,
            chain,
            launcher.validator,
            superlink.register_node,
        )
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            log_level=settings.log_level.lower(),
            # h11 bounds the request line and headers (h11_max_incomplete_event_size); this
            # protocol bounds how long they may take to arrive.
            http=with_head_timeout(settings.header_timeout_seconds),
            h11_max_incomplete_event_size=settings.max_header_bytes,
            # X-Forwarded-For only from the proxies named: from anyone else (even loopback, which
            # uvicorn trusts by default) rotating it would dodge the per-client rate limits.
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or None,
        )
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()
    finally:
        stop.set()
        follower.join(timeout=10)
        if superlink is not None:
            superlink.stop()


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: it re-raises SIGTERM after shutting down, which would kill
    this process before it stops what it started (the SuperLink); `serve` handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _federation(
    settings: Settings, stop: threading.Event, member: MemberFactory
) -> tuple[SuperLink | None, Launcher | None]:
    """The Flower SuperLink and the launcher of task runs, when the coordinator has a validator key."""
    if settings.validator_uri is None:
        log.info("no DML_VALIDATOR_URI: federated rounds are off")
        return None, None
    root = Path(settings.federation_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    certificates = None
    if settings.superlink_tls:
        given = Path(settings.superlink_tls_dir) if settings.superlink_tls_dir else None
        if given is not None:
            certificates = SuperLinkCertificates.in_directory(given)
            if not certificates.exist():
                raise RuntimeError(f"DML_SUPERLINK_TLS_DIR {given} needs ca.crt, server.pem and server.key")
        else:
            hosts = list(dict.fromkeys([*settings.superlink_hosts, "127.0.0.1", "localhost"]))
            certificates = SuperLinkCertificates.ensure(root / "tls", hosts)
    superlink = SuperLink(
        root,
        settings.superlink_port,
        host=settings.superlink_host,
        certificates=certificates,
        node_auth=settings.superlink_node_auth,
    )
    superlink.start()
    validator = Keypair.create_from_uri(settings.validator_uri)
    chain, store = DecentralMl.connect(settings.chain_url), ContentStore(settings.ipfs_api)
    launcher = Launcher(
        chain,
        store,
        superlink,
        validator,
        root,
        attempts=settings.run_attempts,
        retry_seconds=settings.run_retry_seconds,
        publisher=Publisher(chain, store, validator),
        member=member(chain, store, validator, root),
    )
    threading.Thread(target=launcher.run, args=(stop, settings.indexer_poll_seconds), daemon=True).start()
    log.info(
        "federated rounds on", extra={"superlink": superlink.address, "validator": validator.ss58_address}
    )
    return superlink, launcher


def reindex(settings: Settings) -> int:
    """Rebuild the mirror from the chain; returns the blocks applied."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    return Indexer(DecentralMl.connect(settings.chain_url), session_factory(engine)).reindex()
