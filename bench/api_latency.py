"""Read latency of a real coordinator while it relays writes; prints a table and writes it as JSON.

One coordinator process (`dml coordinator serve`) on a devnet this benchmark starts. One reader
thread asks `GET /health` and `GET /tasks?limit=50` in turn, as fast as it can, for `--seconds`:
first on the idle coordinator (the baseline), then while `--writers` threads each send about one
keystore-signed `POST /tasks` a second. Reported per endpoint and phase: p50, p99 and max in ms,
requests, non-2xx answers and timeouts (the client gives up after 30 s), and the ratio of each
endpoint's p99 under writes to its idle p99.

When the coordinator has a `DML_API_TOKENS` setting, keystore signing needs a bearer token: the
one given with `--token` (or a new one) is configured for the keystore accounts, and the writers send
`Authorization: Bearer TOKEN`. With `DML_API_TOKENS` already in the environment it is left alone and
`--token` must be one of its tokens. Rate limits, where the coordinator has them, are raised to their
ceiling: the reader is one client asking as fast as it can.

    python -m bench.api_latency [--seconds 30] [--writers 2] [--token T]
                                [--out bench/results/api_latency.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from decentralml_bindings.dev import UNIT
from support.devnet import ROOT, Devnet, free_port

KEYSTORE = ("//Alice", "//Bob", "//Charlie", "//Dave")
READS = ("/health", "/tasks?limit=50")
CLIENT_TIMEOUT = 30.0
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Tally:
    """What one endpoint answered during a phase: latencies of every answer, and the failures."""

    latencies: list[float] = field(default_factory=list)
    non_2xx: dict[int, int] = field(default_factory=dict)
    timeouts: int = 0
    transport_errors: int = 0

    def record(self, send: typing.Callable[[], httpx.Response]) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = send()
        except httpx.TimeoutException:
            self.timeouts += 1
            return None
        except httpx.TransportError:
            self.transport_errors += 1
            return None
        self.latencies.append(time.perf_counter() - started)
        if not response.is_success:
            self.non_2xx[response.status_code] = self.non_2xx.get(response.status_code, 0) + 1
        return response

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def ms(quantile: float) -> float | None:
            if not ordered:
                return None
            # nearest rank: the smallest latency at or above the quantile
            rank = max(0, min(len(ordered) - 1, int(-(-quantile * len(ordered) // 1)) - 1))
            return round(ordered[rank] * 1000, 1)

        return {
            "requests": len(ordered) + self.timeouts + self.transport_errors,
            "p50_ms": ms(0.50),
            "p99_ms": ms(0.99),
            "max_ms": ms(1.0),
            "errors": {
                "non_2xx": sum(self.non_2xx.values()),
                "by_status": {str(k): v for k, v in sorted(self.non_2xx.items())},
                "timeouts": self.timeouts,
                "transport": self.transport_errors,
            },
        }


def coordinator_env(token: str | None, keystore: list[str]) -> tuple[dict[str, str], str | None]:
    """The coordinator's extra environment, and the bearer token the writers send (if any).

    Read from its settings at run time, since the API's guards change: rate limits are raised to
    their ceiling (one client reading as fast as it can would otherwise measure 429s), and where
    keystore signing wants a token, `token` (or a new one) is configured for every keystore account.
    """
    from coordinator.settings import Settings

    env: dict[str, str] = {}
    fields = Settings.model_fields
    for name, info in fields.items():
        if name.endswith("_rate_per_minute"):
            ceilings = [m.le for m in info.metadata if isinstance(getattr(m, "le", None), int)]
            env[f"DML_{name.upper()}"] = str(min(ceilings, default=1_000_000))
    declared = fields.get("api_tokens")
    if declared is None or "DML_API_TOKENS" in os.environ:
        return env, token  # no tokens, or the caller configured them
    token = token or "dml_bench_" + secrets.token_urlsafe(24)
    (item,) = typing.get_args(declared.annotation) or (str,)
    if isinstance(item, type) and issubclass(item, BaseModel):
        entry = {
            "client": "bench",
            "token": token,
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "accounts": [_address(uri) for uri in keystore],
        }
        env["DML_API_TOKENS"] = json.dumps([{k: v for k, v in entry.items() if k in item.model_fields}])
    else:
        env["DML_API_TOKENS"] = json.dumps([token])
    return env, token


def _address(uri: str) -> str:
    from substrateinterface import Keypair

    address: str = Keypair.create_from_uri(uri).ss58_address
    return address


def start_coordinator(chain_url: str, work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator.cli", "coordinator", "serve", "--port", str(port)],
        cwd=ROOT,
        env=os.environ
        | {
            "DML_CHAIN_URL": chain_url,
            "DML_DATABASE_URL": f"sqlite:///{work / 'coordinator.sqlite'}",
            "DML_FEDERATION_DIR": str(work / "federation"),
            "DML_KEYSTORE_URIS": json.dumps(list(KEYSTORE)),
            "DML_LOG_LEVEL": "WARNING",
        }
        | env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "coordinator.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=5).json()["indexer_lag"] == 0:
                return process, url
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            stop(process)
            log = (work / "coordinator.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the coordinator did not come up:\n{log}")
        time.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def reader(url: str, until: float, tallies: dict[str, Tally]) -> None:
    with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as http:
        turn = 0
        while time.monotonic() < until:
            path = READS[turn % len(READS)]
            tallies[path].record(lambda p=path: http.get(p))  # type: ignore[misc]
            turn += 1


def writer(url: str, signer: str, headers: dict[str, str], until: float, tally: Tally, serial: int) -> None:
    """About one `POST /tasks` a second, signed by `signer` from the coordinator's keystore."""
    with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT, headers=headers) as http:
        block = int(http.get("/health").json()["finalized_block"] or 0)
        sent = 0
        while (started := time.monotonic()) < until:
            body = {
                "signer": signer,
                "rounds": 1,
                "max_assignments": 2,
                "expires_at": block + 1_000,
                "reward_per_result": str(UNIT),
                "manifest_cid": f"bafy-latency-{serial}-{sent}",
                "manifest_hash": "0x" + f"{serial:02x}{sent:062x}",
            }
            response = tally.record(lambda b=body: http.post("/tasks", json=b))  # type: ignore[misc]
            if response is not None and response.is_success:
                block = max(block, int(response.json().get("block_number", block)))
            sent += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def phase(url: str, seconds: float, writers: int, headers: dict[str, str]) -> dict[str, Any]:
    reads = {path: Tally() for path in READS}
    writes = [Tally() for _ in range(writers)]
    signers = [_address(uri) for uri in KEYSTORE]
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=reader, args=(url, until, reads))]
    threads += [
        threading.Thread(target=writer, args=(url, signers[i % len(signers)], headers, until, writes[i], i))
        for i in range(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    found: dict[str, Any] = {
        "/health": reads["/health"].summary(),
        "/tasks": reads["/tasks?limit=50"].summary(),
    }
    if writers:
        merged = Tally()
        for w in writes:
            merged.latencies += w.latencies
            merged.timeouts += w.timeouts
            merged.transport_errors += w.transport_errors
            for status, n in w.non_2xx.items():
                merged.non_2xx[status] = merged.non_2xx.get(status, 0) + n
        found["POST /tasks"] = merged.summary() | {"writes_per_s": round(len(merged.latencies) / seconds, 2)}
    return found


def table(report: dict[str, Any]) -> str:
    lines = [
        f"{'phase':<13} {'endpoint':<12} {'reqs':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'errors':>7}"
    ]
    for name in ("idle", "under_writes"):
        for endpoint, s in report[name].items():
            errors = s["errors"]["non_2xx"] + s["errors"]["timeouts"] + s["errors"]["transport"]
            lines.append(
                f"{name:<13} {endpoint:<12} {s['requests']:>6} {s['p50_ms']!s:>9} {s['p99_ms']!s:>9} "
                f"{s['max_ms']!s:>9} {errors:>7}"
            )
    ratios = ", ".join(f"{k} {v}" for k, v in report["ratio_p99"].items())
    lines.append(f"p99 under writes / idle: {ratios}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--writers", type=int, default=2, help="threads sending ~1 create a second each")
    parser.add_argument("--token", default=os.environ.get("DML_BENCH_TOKEN"), help="bearer token for writes")
    parser.add_argument("--out", type=Path, default=RESULTS / "api_latency.json")
    args = parser.parse_args()
    env, token = coordinator_env(args.token, list(KEYSTORE))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        net = Devnet(state_dir=work / "devnet", port=free_port())
        net.start()
        try:
            process, url = start_coordinator(net.url, work, env)
            try:
                for path in READS:  # warm up
                    httpx.get(f"{url}{path}", timeout=CLIENT_TIMEOUT)
                idle = phase(url, args.seconds, 0, headers)
                busy = phase(url, args.seconds, args.writers, headers)
            finally:
                stop(process)
        finally:
            net.stop()
    report: dict[str, Any] = {
        "idle": idle,
        "under_writes": busy,
        "ratio_p99": {
            endpoint: (
                round(busy[endpoint]["p99_ms"] / idle[endpoint]["p99_ms"], 2)
                if busy[endpoint]["p99_ms"] and idle[endpoint]["p99_ms"]
                else None
            )
            for endpoint in ("/health", "/tasks")
        },
        "config": {
            "seconds": args.seconds,
            "writers": args.writers,
            "client_timeout_s": CLIENT_TIMEOUT,
            "bearer_token": token is not None,
            "coordinator_env": {k: v for k, v in env.items() if k != "DML_API_TOKENS"},
        },
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
