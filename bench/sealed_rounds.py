"""What sealing costs a real round: the digits demo through Flower, sealed against plaintext.

`bench.privacy` times one judging round in process. This runs the whole system as the demo does
(the devnet, Kubo, the coordinator's Flower SuperLink, worker daemons, the chain) twice per pair:
once as the demo ships (updates sealed to the validator, models sealed until the council releases
them) and once with `--unsealed`, alternating so that load on the machine hits both alike. Per run
it reads the coordinator's round log and reports the mean over rounds 2.. (round 1 includes nodes
joining) of the round time, of collecting (Flower, the workers' training, sealing, IPFS and
`send_task_result`) and of judging (opening every update, the checks, the aggregate sealed and
committed). The ratio is of the medians over pairs. Target (issue 18): sealed rounds at most 10%
longer.

    python -m bench.sealed_rounds [--pairs 3] [--workers 3] [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from scripts import demo
from support.devnet import ROOT

PHASES = ("seconds", "collect_seconds", "judge_seconds")


def run(work: Path, sealed: bool, workers: int, rounds: int) -> dict[str, Any]:
    """One demo run: its steady means per phase, and every round's phases."""
    argv = ["--free-ports", "--workers", str(workers), "--poisoned", "0", "--rounds", str(rounds)]
    argv += ["--summary", str(work / "summary.json")] + ([] if sealed else ["--unsealed"])
    began = time.perf_counter()
    demo.run(demo.parse(argv), work)
    wall = time.perf_counter() - began
    logs = list(work.rglob("rounds.jsonl"))
    if len(logs) != 1:
        raise RuntimeError(f"expected one round log under {work}, found {len(logs)}")
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    committed = sorted((r for r in records if r.get("status") == "committed"), key=lambda r: r["round"])
    if len(committed) != rounds:
        raise RuntimeError(f"{len(committed)} of {rounds} rounds committed: see {work}/logs")
    steady = committed[1:] or committed
    return {
        "wall_seconds": round(wall, 1),
        "rounds": [{p: r[p] for p in ("round", *PHASES)} for r in committed],
        "steady": {p: statistics.mean(float(r[p]) for r in steady) for p in PHASES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sealed_rounds.json")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, Any]]] = {"plaintext": [], "sealed": []}
    with tempfile.TemporaryDirectory(prefix="dml-bench-sealed-") as tmp:
        for pair in range(args.pairs):
            order = ("plaintext", "sealed") if pair % 2 == 0 else ("sealed", "plaintext")
            for name in order:
                work = Path(tmp) / f"{name}-{pair}"
                work.mkdir()
                runs[name].append(run(work, name == "sealed", args.workers, args.rounds))
                print(name, pair, json.dumps(runs[name][-1]["steady"]), flush=True)
    medians = {
        name: {p: statistics.median(r["steady"][p] for r in found) for p in PHASES}
        for name, found in runs.items()
    }
    ratios = {p: medians["sealed"][p] / medians["plaintext"][p] for p in PHASES}
    report = {
        "workers": args.workers,
        "rounds": args.rounds,
        "pairs": args.pairs,
        "median_steady_seconds": medians,
        "ratio_sealed_to_plaintext": ratios,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({"medians": medians, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
