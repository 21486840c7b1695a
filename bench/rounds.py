"""Time per round: DecentralML against plain Flower, same model, data, clients and rounds, one run.

Both run on Flower's deployment engine (a SuperLink, one SuperNode per client, `flwr run`) on this
machine. Plain Flower is stock `FedAvg` (bench/plain_flower.py), measured twice: as shipped
(replies polled every 3 s) and polling every 0.1 s as DecentralML's transport does. DecentralML is
the demo's system: the chain, IPFS, every update hashed on chain, validated and the aggregate
committed. Reported: mean seconds per round over rounds 2.. (round 1 includes nodes joining),
and DecentralML's ratio to each baseline. Target: at most 1.15.

    python -m bench.rounds [--clients 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from coordinator.federation.flower import SuperLink
from decentralml.flower import Process, flower_env, stop_all, supernode_command
from scripts import demo
from support.devnet import ROOT, free_port

APP = ROOT / "bench" / "flower_app"


def plain_flower(work: Path, clients: int, rounds: int, poll: float) -> list[float]:
    """Seconds of each round of stock FedAvg (replies polled every `poll` s, 0: Flower's own)."""
    work.mkdir(parents=True)
    extra = {"PYTHONPATH": str(ROOT)}
    superlink = SuperLink(work, free_port(), extra)
    superlink.start()
    nodes: list[Process] = []
    try:
        for part in range(clients):
            command = supernode_command(superlink.address, free_port(), {"data-part": part, "parts": clients})
            env = flower_env(work / f"home{part}", extra)
            nodes.append(Process.start(f"supernode{part}", command, env, work / f"supernode{part}.log"))
        times = work / "times.jsonl"
        config: dict[str, str | int] = {"rounds": rounds, "min-nodes": clients, "times": str(times)}
        config["fast-poll"] = str(poll)
        run = superlink.run_app(APP, config, work / "run.log")
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
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
