"""The coordinator's tests run once per database backend: SQLite (the default) and PostgreSQL.

PostgreSQL is the server `scripts/postgres.sh` starts (`make test` does); its URL comes in
`DML_TEST_POSTGRES_URL`. Without it the PostgreSQL runs are skipped, unless
`DML_TEST_REQUIRE_POSTGRES=1` (as in `make test`) makes that a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from decentralml.content import ContentStore
from support.devnet import ROOT, Devnet, free_port

NewDatabase = Callable[[str], str]
DML = [sys.executable, "-m", "coordinator.cli"]


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases of the backend under test and returns their URLs; drops them after."""
    if request.param == "sqlite":
        yield lambda name: f"sqlite:///{tmp_path / name}.sqlite"
        return
    admin_url = os.environ.get("DML_TEST_POSTGRES_URL")
    if not admin_url:
        if os.environ.get("DML_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("DML_TEST_POSTGRES_URL is not set: start one with scripts/postgres.sh start")
        pytest.skip("no PostgreSQL: set DML_TEST_POSTGRES_URL (scripts/postgres.sh start prints one)")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(name: str) -> str:
        database = f"dml_test_{name}_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        made.append(database)
        return make_url(admin_url).set(database=database).render_as_string(hide_password=False)

    yield make
    with admin.connect() as connection:
        for database in made:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def serving(environment: dict[str, str], log: Path) -> Iterator[str]:
    """`dml coordinator serve` on a free loopback port with `environment` (over this process's),
    its stderr in `log`; yields its URL once its mirror has caught up, stops it by its PID."""
    port = free_port()
    out = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "coordinator", "serve", "--port", str(port)],
        env=os.environ | environment,
        cwd=ROOT,
        stderr=out,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Bounded by progress, not by a guess of how long it takes: a fresh mirror indexes the
        # session devnet's every block, more with every test before it and slower on a busy
        # machine. The wait fails once the process exits or its lag stops falling for 60 s.
        progressed, best = time.monotonic(), None
        while True:
            try:
                lag = int(httpx.get(f"{url}/health", timeout=2).json()["indexer_lag"])
            except (httpx.HTTPError, KeyError, ValueError, TypeError):
                lag = None
            if lag == 0:
                break
            if lag is not None and (best is None or lag < best):
                progressed, best = time.monotonic(), lag
            if process.poll() is not None:
                pytest.fail(f"the coordinator exited with {process.returncode} before its mirror caught up")
            if time.monotonic() - progressed > 60:
                pytest.fail(f"the coordinator's mirror made no progress for 60 s (lag {best} blocks)")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        out.close()


@pytest.fixture
def coordinator(devnet: Devnet, store: ContentStore, tmp_path: Path) -> Iterator[str]:
    """`dml coordinator serve` on a free port, with the tests' Kubo as its content store (test_cli
    has its own, over both database backends)."""
    environment = {
        "DML_CHAIN_URL": devnet.url,
        "DML_IPFS_API": store.api,
        "DML_DATABASE_URL": f"sqlite:///{tmp_path / 'coordinator.sqlite'}",
        "DML_INDEXER_POLL_SECONDS": "0.2",
    }
    with serving(environment, tmp_path / "coordinator.log") as url:
        yield url


def dml(
    devnet: Devnet, coordinator: str, store: ContentStore, *args: str
) -> subprocess.CompletedProcess[str]:
    """`dml` against that coordinator, the devnet and Kubo."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "coordinator.cli",
            "--coordinator",
            coordinator,
            "--chain-url",
            devnet.url,
            *args,
            "--ipfs-api",
            store.api,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
