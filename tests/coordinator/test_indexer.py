"""The indexer against the real devnet: the mirror equals the chain, replays change nothing, a
killed indexer resumes to the same mirror as a fresh reindex, and a devnet restart is survived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.indexer import Indexer
from decentralml_bindings import DecentralMl
from support.devnet import ROOT, Devnet
from support.factories import create_task, run_task
from tests.coordinator.conftest import NewDatabase
from tests.coordinator.mirror_checks import assert_mirror_matches_chain, snapshot


def mirror_db(url: str) -> tuple[str, sessionmaker[Session]]:
    engine = make_engine(url)
    migrate(engine)
    return url, session_factory(engine)


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.devnet
def test_the_mirror_equals_the_chain_and_replaying_changes_nothing(
    chain: DecentralMl, new_database: NewDatabase
) -> None:
    # Prepare
    run_task(chain, rounds=2, label="bafy-indexer")
    _, sessions = mirror_db(new_database("mirror"))
    indexer = Indexer(chain, sessions, batch_blocks=7)

    # Execute
    applied = indexer.sync_once()

    # Assert
    assert applied == chain.finalized_head()[0]
    assert indexer.lag() == 0
    with sessions() as session:
        assert_mirror_matches_chain(session, chain)
        first = snapshot(session)
    assert indexer.sync_once() == 0
    assert indexer.reindex() == applied
    with sessions() as session:
        assert snapshot(session) == first


@pytest.mark.devnet
def test_a_killed_indexer_resumes_to_the_same_mirror_as_a_fresh_reindex(
    chain: DecentralMl, devnet: Devnet, new_database: NewDatabase
) -> None:
    # Prepare: enough blocks that indexing them takes a while.
    run_task(chain, rounds=3, label="bafy-kill")
    head = chain.finalized_head()[0]
    url, sessions = mirror_db(new_database("killed"))
    env = os.environ | {"DML_CHAIN_URL": devnet.url, "DML_DATABASE_URL": url, "DML_INDEXER_BATCH_BLOCKS": "2"}
    command = [sys.executable, "-m", "coordinator.indexer"]
    watcher = Indexer(chain, sessions)

    # Execute: kill it mid-way (SIGKILL, no chance to clean up), then start it again.
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        wait_until(
            lambda: (watcher.cursor() or (0, ""))[0] >= 10, 120, "the indexer to start applying blocks"
        )
        killed_at = (watcher.cursor() or (0, ""))[0]
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert killed_at < head, "the indexer finished before it could be killed"
    subprocess.run([*command, "--once"], env=env, cwd=ROOT, check=True, timeout=600)

    # Assert: no block was made meanwhile, so both mirrors stand at the same head.
    _, fresh = mirror_db(new_database("fresh"))
    Indexer(chain, fresh).sync_once()
    with sessions() as resumed_session, fresh() as fresh_session:
        assert snapshot(resumed_session) == snapshot(fresh_session)
        assert_mirror_matches_chain(resumed_session, chain)


@pytest.mark.devnet
def test_the_indexer_survives_a_devnet_restart(fresh_devnet: Devnet, new_database: NewDatabase) -> None:
    chain = DecentralMl.connect(fresh_devnet.url)
    create_task(chain, label="bafy-before-restart")
    _, sessions = mirror_db(new_database("mirror"))
    indexer = Indexer(chain, sessions)
    stop = threading.Event()
    follower = threading.Thread(target=indexer.run, args=(stop, 0.2))
    follower.start()
    try:
        wait_until(lambda: indexer.cursor() is not None and indexer.lag() == 0, 60, "the first catch-up")

        fresh_devnet.stop()
        time.sleep(1.5)  # the follower meets a closed connection
        fresh_devnet.start()
        chain = DecentralMl.connect(fresh_devnet.url)
        create_task(chain, label="bafy-after-restart")
        head = chain.finalized_head()[0]

        wait_until(
            lambda: (indexer.cursor() or (0, ""))[0] >= head, 60, "the indexer to catch up after the restart"
        )
    finally:
        stop.set()
        follower.join(timeout=30)
    with sessions() as session:
        assert_mirror_matches_chain(session, chain)
    chain.close()
