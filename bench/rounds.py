"""Time per round: DecentralML against plain Flower, same model, data, clients and rounds, one run.

Both run on Flower's deployment engine (a SuperLink, one SuperNode per client, `flwr run`) on this
machine. Plain Flower is stock `FedAvg` (bench/plain_flower.py), measured three times: as shipped
(replies polled every 3 s; Flower starts a ClientApp process per message, which imports PyTorch
each round), polling every 0.1 s as DecentralML's transport does, and polling every 0.1 s with
warm clients (bench/warm_flower.py: a light ClientApp hands the round to a long-lived trainer, as
DecentralML's ClientApp hands it to the worker daemon). The last is the like-for-like baseline. DecentralML is
the demo's system: the chain, IPFS, every update hashed on chain, validated and the aggregate
committed. Reported: mean seconds per round over rounds 2.. (round 1 includes nodes joining),
and DecentralML's ratio to each baseline. Target: at most 1.15 (to the warm baseline).

    python -m bench.rounds [--clients 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from coordinator.federation.flower import SuperLink
from decentralml.flower import Process, flower_env, stop_all, supernode_command
from scripts import demo
from support.devnet import ROOT, free_port

APP = ROOT / "bench" / "flower_app"
WARM_APP = ROOT / "bench" / "flower_app_warm"


def wait_listening(port: int, process: Process, timeout: float = 120) -> None:
    """Until something accepts on 127.0.0.1:`port`; fails if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not listen on {port} within {timeout:.0f} s")


def plain_flower(work: Path, clients: int, rounds: int, poll: float, warm: bool = False) -> list[float]:
    """Seconds of each round of stock FedAvg (replies polled every `poll` s, 0: Flower's own);
    `warm`: each ClientApp hands the round to a long-lived trainer (`bench.warm_flower`)."""
    work.mkdir(parents=True)
    extra = {"PYTHONPATH": str(ROOT)}
    superlink = SuperLink(work, free_port(), extra)
    superlink.start()
    nodes: list[Process] = []
    try:
        for part in range(clients):
            node: dict[str, str | int] = {"data-part": part, "parts": clients}
            if warm:
                port = free_port()
                trainer = [sys.executable, "-m", "bench.warm_flower", str(port), str(part), str(clients)]
                env = {**os.environ, **extra}
                nodes.append(Process.start(f"trainer{part}", trainer, env, work / f"trainer{part}.log", ROOT))
                wait_listening(port, nodes[-1])
                node["trainer-url"] = f"http://127.0.0.1:{port}"
            command = supernode_command(superlink.address, free_port(), node)
            env = flower_env(work / f"home{part}", extra)
            nodes.append(Process.start(f"supernode{part}", command, env, work / f"supernode{part}.log"))
        times = work / "times.jsonl"
        config: dict[str, str | int] = {"rounds": rounds, "min-nodes": clients, "times": str(times)}
        config["fast-poll"] = str(poll)
        run = superlink.run_app(WARM_APP if warm else APP, config, work / "run.log")
        run.wait(timeout=1800)
        deadline = time.monotonic() + 30
        while (
            not times.exists() or len(times.read_text().splitlines()) < rounds
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
        found = [json.loads(line)["seconds"] for line in times.read_text().splitlines()]
        if len(found) != rounds:
            raise RuntimeError(f"plain Flower finished {len(found)} of {rounds} rounds: see {work}/run.log")
        return found
    finally:
        stop_all(nodes)
        superlink.stop()


def decentralml(work: Path, clients: int, rounds: int) -> list[float]:
    summary_path = str(work / "summary.json")
    args = demo.parse(
        [
            "--free-ports",
            "--workers",
            str(clients),
            "--poisoned",
            "0",
            "--rounds",
            str(rounds),
            "--summary",
            summary_path,
        ]
    )
    summary = demo.run(args, work)
    return [float(r["seconds"]) for r in summary["rounds"]]


def steady(times: list[float]) -> float:
    return statistics.mean(times[1:]) if len(times) > 1 else times[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rounds.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dml-bench-rounds-") as tmp:
        work = Path(tmp)
        runs = {
            "flower_stock": plain_flower(work / "stock", args.clients, args.rounds, 0.0),
            "flower_polled_0.1s": plain_flower(work / "polled", args.clients, args.rounds, 0.1),
            "flower_warm_0.1s": plain_flower(work / "warm", args.clients, args.rounds, 0.1, warm=True),
            "decentralml": decentralml(work / "dml", args.clients, args.rounds),
        }
    means = {name: steady(times) for name, times in runs.items()}
    report = {
        "clients": args.clients,
        "rounds": args.rounds,
        "seconds_per_round": {name: [round(t, 2) for t in times] for name, times in runs.items()},
        "steady_mean_seconds": {name: round(m, 2) for name, m in means.items()},
        "ratio_to_flower_stock": round(means["decentralml"] / means["flower_stock"], 3),
        "ratio_to_flower_polled": round(means["decentralml"] / means["flower_polled_0.1s"], 3),
        # Like with like: both keep the trainer warm and poll every 0.1 s; what is left is the
        # chain, IPFS and the referee.
        "ratio_to_flower_warm": round(means["decentralml"] / means["flower_warm_0.1s"], 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
