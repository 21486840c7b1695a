"""What `dml coordinator serve` itself bounds, tested on the real server (uvicorn) over loopback:
X-Forwarded-For counts only from the proxies named in DML_TRUSTED_PROXIES, a request line or
headers beyond DML_MAX_HEADER_BYTES are refused without disturbing the server, and a stalled
database server holds only the requests that wait on it."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, text

from support.devnet import Devnet
from tests.coordinator.conftest import NewDatabase, serving


def writes(url: str, forwarded: list[str]) -> list[int]:
    """One write per X-Forwarded-For value (an empty body the API refuses: still a write)."""
    return [
        httpx.post(f"{url}/tasks", json={}, headers={"X-Forwarded-For": ip}, timeout=10).status_code
        for ip in forwarded
    ]


def environment(devnet: Devnet, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "DML_CHAIN_URL": devnet.url,
        "DML_DATABASE_URL": f"sqlite:///{tmp_path / 'mirror.sqlite'}",
        "DML_INDEXER_POLL_SECONDS": "0.2",
        "DML_WRITE_RATE_PER_MINUTE": "8",  # bursts of 2
        **extra,
    }


@pytest.mark.devnet
def test_a_client_rotating_x_forwarded_for_is_still_one_client(devnet: Devnet, tmp_path: Path) -> None:
    rotated = [f"10.9.0.{i}" for i in range(1, 6)]
    with serving(environment(devnet, tmp_path), tmp_path / "untrusted.log") as url:
        statuses = writes(url, rotated)
    assert statuses[:2] == [422, 422]  # refused as a bad body, counted as writes
    assert statuses[2:] == [429, 429, 429]  # the header names no one: the peer is the client

    # Behind a proxy the operator named, each forwarded address is a client of its own.
    trusted = environment(devnet, tmp_path, DML_TRUSTED_PROXIES='["127.0.0.1"]')
    with serving(trusted, tmp_path / "trusted.log") as url:
        assert writes(url, rotated) == [422] * 5
        assert writes(url, ["10.9.0.1", "10.9.0.1"]) == [422, 429]  # its burst of 2 spent


def raw(url: str, request: bytes) -> bytes:
    """Send `request` on a plain socket; the first bytes of the answer ("" if it hung up)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as conn:
        conn.sendall(request)
        try:
            return conn.recv(200)
        except ConnectionResetError:
            return b""


@pytest.mark.devnet
def test_an_oversized_request_line_or_header_is_refused(devnet: Devnet, tmp_path: Path) -> None:
    limits = environment(devnet, tmp_path, DML_MAX_HEADER_BYTES="4096")
    with serving(limits, tmp_path / "limits.log") as url:
        long_line = b"GET /tasks?" + b"a" * 64 * 1024 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        long_header = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"b" * 8192 + b"\r\n\r\n"
        answer = raw(url, long_line)  # streamed past the parser's bound: refused or hung up on
        assert answer == b"" or answer.split(b" ")[1].startswith(b"4"), answer
        assert raw(url, long_header).startswith(b"HTTP/1.1 431")  # arrived whole: the API measures it
        fits = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fits: " + b"c" * 1024 + b"\r\n\r\n"
        assert raw(url, fits).startswith(b"HTTP/1.1 200")
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # still serving


def dribble(url: str, request: bytes, every: float, budget: float) -> tuple[int, bytes]:
    """Send `request` a byte every `every` seconds; (bytes sent before the server hung up, what
    it answered). Gives up after `budget` seconds with the connection still open."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=budget) as conn:
        deadline = time.monotonic() + budget
        for sent, byte in enumerate(request):
            if time.monotonic() > deadline:
                return sent, b"(still open)"
            try:
                conn.sendall(bytes([byte]))
                conn.settimeout(every)
                answer = conn.recv(200)
            except TimeoutError:
                continue  # nothing yet: the server waits for the rest
            except (ConnectionResetError, BrokenPipeError):
                return sent, b""
            return sent, answer  # the server answered or hung up (b"")
    return len(request), b"(sent whole)"


@pytest.mark.devnet
def test_a_request_head_that_dribbles_in_is_cut_off(devnet: Devnet, tmp_path: Path) -> None:
    limits = environment(devnet, tmp_path, DML_HEADER_TIMEOUT_SECONDS="1")
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 200 + b"\r\n\r\n"
    with serving(limits, tmp_path / "slow.log") as url:
        sent, answer = dribble(url, head, every=0.1, budget=20)
        # A client that opens a connection and waits is let go too, and others are served meanwhile.
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=20) as idle:
            served = httpx.get(f"{url}/health", timeout=10).status_code
            idle_answer = idle.recv(200)
        prompt = raw(url, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    assert answer == b"", f"the server answered {answer!r} after {sent} of {len(head)} bytes"
    assert 0 < sent < len(head), "the head was cut off part way"
    assert idle_answer == b""
    assert served == 200
    assert prompt.startswith(b"HTTP/1.1 200")
    assert "sent no whole request head in time" in (tmp_path / "slow.log").read_text()


@pytest.mark.devnet
@pytest.mark.parametrize("new_database", ["postgresql"], indirect=True)
def test_a_stalled_database_server_stalls_only_the_requests_that_wait_on_it(
    devnet: Devnet, new_database: NewDatabase, tmp_path: Path
) -> None:
    """A PostgreSQL that stops answering holds `GET /tasks` (the table is locked here), and the
    server goes on answering everything else."""
    database = new_database("stalled")
    with serving(environment(devnet, tmp_path, DML_DATABASE_URL=database), tmp_path / "stalled.log") as url:
        locker = create_engine(database)
        listed: list[int] = []
        with locker.connect() as connection:
            connection.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))
            waiting = threading.Thread(
                target=lambda: listed.append(httpx.get(f"{url}/tasks", timeout=60).status_code)
            )
            waiting.start()
            time.sleep(1.0)  # the listing is now waiting on the lock
            assert waiting.is_alive()
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200
            assert httpx.get(f"{url}/openapi.json", timeout=10).status_code == 200
            assert waiting.is_alive()  # still held by the database, not by the server
            connection.rollback()  # the database answers again
        waiting.join(timeout=30)
        locker.dispose()
    assert listed == [200]
