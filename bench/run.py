"""Coordinator benchmarks against the real devnet; prints a report and writes it as JSON.

1. REST reads: `GET /tasks` (first page, 50 tasks) on the coordinator with 10,000 tasks in the
   mirror, against two bare FastAPI endpoints: one answering a tiny constant, one answering the very
   bytes of the coordinator's page (same HTTP and payload cost, no database). All three are served
   by uvicorn the same way and loaded by the same client in the same run, the coordinator with its
   rate limits off (with them on, one client is held to its read limit, and the rate measured is
   the limit's). Reported: 200s per second of each, the coordinator's ratio to each, and every
   answer that was not a 200, by status (a refusal is counted; it never stops a load thread).
2. Indexer catch-up: a fresh mirror applying every finalized block, in blocks per second (the
   median of 5 catch-ups), against two floors without a database: the same reads block by block
   (hash, then events: how the indexer read before batching), and the events read in batched runs
   (`DecentralMl.blocks_events`, how it reads now, without the storage reads of the entities).

    python -m bench.run [--tasks 10000] [--seconds 10] [--out bench/results/coordinator.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import insert

from coordinator.db import models
from coordinator.db.engine import make_engine, migrate, session_factory
from coordinator.indexer import Indexer
from coordinator.indexer.sync import INDEXED_PALLETS
from decentralml_bindings import DecentralMl
from support.devnet import ROOT, Devnet, free_port
from support.factories import run_task


def fill_mirror(database_url: str, tasks: int) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    creators = [f"5{'C' * 46}{i}"[:48] for i in range(20)]
    rows: list[dict[str, object]] = [
        {
            "id": i,
            "creator": creators[i % len(creators)],
            "task_type": "ModelContributor",
            "status": ("Created", "InProgress", "Completed")[i % 3],
            "rounds": 5,
            "committed_rounds": i % 5,
            "max_assignments": 8,
            "assigned": i % 8,
            "expires_at": 100_000 + i,
            "validation": "ManualAccept",
            "validation_threshold": None,
            "validators": [],
            "reward_per_result": 10**12,
            "deposited": 40 * 10**12,
            "paid": (i % 5) * 10**12,
            "refunded": 0,
            "escrowed": (40 - i % 5) * 10**12,
            "manifest_cid": f"bafy-bench-{i}",
            "manifest_hash": "0x" + f"{i:064x}",
            "base_model": None,
            "created_at": i,
            "synced_block": i,
        }
        for i in range(tasks)
    ]
    with session_factory(engine).begin() as session:
        session.execute(insert(models.Task), rows)
    engine.dispose()


def serve(factory: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"], env=os.environ | env, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/tasks", timeout=2).raise_for_status()
            return process, url
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"{factory} did not come up") from None
            time.sleep(0.2)


def load(url: str, seconds: float, clients: int = 4) -> tuple[float, dict[int, int]]:
    """Answered GET {url}/tasks per second from `clients` keep-alive connections, each asking
    again as soon as it has its answer for the whole time, and how many answers were not 200, by
    status (a refusal is counted, never a reason to stop: the rate is of 200s only)."""
    answers: list[Counter[int]] = [Counter() for _ in range(clients)]  # status -> count, per client
    stop = time.monotonic() + seconds

    def client(slot: int) -> None:
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < stop:
                answers[slot][http.get(f"{url}/tasks").status_code] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    merged = sum(answers, Counter[int]())
    ok = merged.pop(200, 0)
    return ok / seconds, dict(merged)


def bench_reads(chain_url: str, work: Path, tasks: int, seconds: float) -> dict[str, object]:
    database_url = f"sqlite:///{work / 'bench-mirror.sqlite'}"
    fill_mirror(database_url, tasks)
    page = work / "page.json"
    env = {"DML_DATABASE_URL": database_url, "DML_CHAIN_URL": chain_url, "DML_BENCH_PAGE": str(page)}
    found: dict[str, float] = {}
    refusals: dict[str, dict[str, int]] = {}
    process, url = serve("bench.apps:coordinator_app", env)
    page.write_bytes(httpx.get(f"{url}/tasks").content)
    process.terminate()
    process.wait(timeout=30)
    servers = (
        ("bare", "bench.apps:bare_app"),
        ("bare_same_page", "bench.apps:bare_page_app"),
        ("coordinator", "bench.apps:coordinator_app"),
    )
    for name, factory in servers:
        process, url = serve(factory, env)
        try:
            load(url, 1.0)  # warm up
            found[name], refused = load(url, seconds)
            refusals[name] = {str(status): n for status, n in sorted(refused.items())}
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {
        "tasks_in_mirror": tasks,
        "page_bytes": len(page.read_bytes()),
        "bare_rps": round(found["bare"], 1),
        "bare_same_page_rps": round(found["bare_same_page"], 1),
        "coordinator_rps": round(found["coordinator"], 1),
        "ratio_to_bare": round(found["coordinator"] / found["bare"], 3),
        "ratio_to_bare_same_page": round(found["coordinator"] / found["bare_same_page"], 3),
        "non_200_answers": refusals,  # with the limits off: none expected
    }


def bench_indexer(chain: DecentralMl, work: Path, repeats: int = 5) -> dict[str, object]:
    head, _ = chain.finalized_head()
    started = time.perf_counter()
    for number in range(1, head + 1):
        block_hash = chain.block_hash(number)
        assert block_hash is not None
        chain.block_events(block_hash, INDEXED_PALLETS)
    one_by_one = time.perf_counter() - started
    started = time.perf_counter()
    chain.blocks_events(1, head, INDEXED_PALLETS)
    batched = time.perf_counter() - started

    rates = []
    for attempt in range(repeats):
        engine = make_engine(f"sqlite:///{work / f'bench-indexer-{attempt}.sqlite'}")
        migrate(engine)
        indexer = Indexer(chain, session_factory(engine))
        started = time.perf_counter()
        applied = indexer.sync_once()
        rates.append(applied / (time.perf_counter() - started))
    rate = statistics.median(rates)
    return {
        "blocks": head,
        "indexer_blocks_per_s": round(rate, 1),
        "indexer_runs_blocks_per_s": [round(r, 1) for r in rates],
        # the reads alone, no database: block by block (hash, then events: the old indexer's way) ...
        "rpc_floor_blocks_per_s": round(head / one_by_one, 1),
        # ... and in runs of batch requests (`DecentralMl.blocks_events`: the indexer's way)
        "batched_reads_blocks_per_s": round(head / batched, 1),
        "ratio": round(rate / (head / one_by_one), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rounds", type=int, default=12, help="rounds of the task that makes blocks to index"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "coordinator.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        net = Devnet(state_dir=work / "devnet", port=free_port())
        net.start()
        try:
            chain = DecentralMl.connect(net.url)
            run_task(chain, rounds=args.rounds, label="bafy-bench")
            report = {
                "rest_reads": bench_reads(net.url, work, args.tasks, args.seconds),
                "indexer_catch_up": bench_indexer(chain, work),
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
            }
            chain.close()
        finally:
            net.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
