"""How often two committee members that judge the same round disagree, by PyTorch thread count.

Every member of a task's committee fetches the round's updates and judges them itself; the chain
commits a model only when t members attest the same plaintext hash and the same accepted set.
This benchmark replays federated runs (8 workers on Dirichlet(alpha) shares of digits, two of
them attacking: one poisons, one sends noise) and has each round judged by several members, each
with its own chain and content-store twin (`support.twins`) holding the same results:

    pinned-1     the committee's mode (`decentralml.judging.determinism`): 1 thread, deterministic
    pinned-1b    the same again: run-to-run reproducibility in one mode
    threads-2    deterministic algorithms, 2 threads (a member that changed the pinned count)

For each member against pinned-1 it reports the share of rounds where the accepted sets, the
committed hashes and every pay score agree, and the judging time as a ratio to pinned-1. The run
continues from pinned-1's model (what a committee whose majority runs the pinned mode commits).
BLAS paths other than this machine's are not measured here (one machine).

    python -m bench.agreement [--seeds 3] [--rounds 10] [--rules fedavg trust]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coordinator.federation.referee import Received, Referee
from decentralml import codec
from decentralml.content import sha256_hex
from decentralml.data import DataSpec, demo_splits, partition
from decentralml.manifest import AggregationSpec, ContentRef, TaskManifest, ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, train
from decentralml_bindings.dev import FERDIE
from support.twins import ChainTwin, StoreTwin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKERS = 8
MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
TRAINING = TrainSpec(epochs=5, batch_size=32, learning_rate=0.05)
MEMBERS = {"pinned-1": 1, "pinned-1b": 1, "threads-2": 2}


@dataclass
class Tally:
    rounds: int = 0
    same_accepted: int = 0
    same_hash: int = 0
    same_pay: int = 0
    seconds: float = 0.0
    differences: list[str] = field(default_factory=list)


def run(seed: int, rule: str, rounds: int, tallies: dict[str, Tally]) -> None:
    data = DataSpec(dataset="sklearn-digits", scheme="dirichlet", alpha=0.5, parts=WORKERS, seed=seed)
    splits = demo_splits(data)
    shares = [partition(data, part) for part in range(WORKERS)]
    weights = weights_of(build(MODEL, seed))
    manifest = TaskManifest(
        name=f"agreement-{rule}",
        model=MODEL,
        initial_weights=ContentRef(cid="twin", sha256=sha256_hex(codec.encode(weights))),
        training=TRAINING,
        data=data,
        validation=ValidationPolicy(),
        aggregation=AggregationSpec(rule=rule),
        min_workers=WORKERS,
    )
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp)
        members: dict[str, tuple[Referee, ChainTwin, StoreTwin]] = {}
        for name, threads in MEMBERS.items():
            chain, store = ChainTwin(), StoreTwin()
            (spool / name).mkdir()
            referee = Referee(chain, store, FERDIE, splits.validation, state_dir=spool / name)
            referee.threads = threads
            members[name] = (referee, chain, store)
        for round_ in range(1, rounds + 1):
            blobs = []
            for part in range(WORKERS):
                model = build(MODEL)
                load_weights(model, weights)
                train(
                    model,
                    shares[part],
                    TRAINING.model_copy(update={"seed": seed * 1000 + round_ * 10 + part}),
                )
                trained = weights_of(model)
                if part == 0:  # poisons: the opposite of its training, 5x
                    trained = {n: weights[n] - 5 * (w - weights[n]) for n, w in trained.items()}
                if part == 1:  # noise at the scale of an honest update
                    scale = float(np.mean([np.std(w - weights[n]) for n, w in trained.items()]))
                    trained = {
                        n: weights[n] + rng.normal(0, scale, w.shape).astype(np.float32)
                        for n, w in trained.items()
                    }
                blobs.append(codec.encode(trained, len(shares[part].y)))
            verdicts: dict[str, tuple[list[int], str, dict[int, int]]] = {}
            next_weights = weights
            for name, (referee, chain, store) in members.items():
                received = []
                for part, blob in enumerate(blobs):
                    stored = store.put(blob)
                    chain.send_result(1, round_, f"worker-{part}", stored.cid, stored.sha256)
                    received.append(Received.spool(spool, f"worker-{part}", blob, len(shares[part].y)))
                began = time.perf_counter()
                outcome, new_weights = referee.judge(1, round_, manifest, weights, received, spool=spool)
                tallies[name].seconds += time.perf_counter() - began
                pay = {v.result_id: v.score for v in chain.verdicts if v.approved}
                verdicts[name] = (outcome.accepted, outcome.model_hash, pay)
                if name == "pinned-1":
                    next_weights = new_weights
                for item in received:
                    item.path.unlink(missing_ok=True)
            base = verdicts["pinned-1"]
            for name, (accepted, model_hash, pay) in verdicts.items():
                tally = tallies[name]
                tally.rounds += 1
                tally.same_accepted += accepted == base[0]
                tally.same_hash += model_hash == base[1]
                tally.same_pay += pay == base[2]
                if (accepted, model_hash, pay) != base:
                    tally.differences.append(f"{rule} seed {seed} round {round_}: {accepted} vs {base[0]}")
            weights = next_weights


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rules", nargs="+", default=["fedavg", "trust"])
    parser.add_argument("--out", type=Path, default=RESULTS / "agreement.json")
    args = parser.parse_args()
    began = time.perf_counter()
    report: dict[str, Any] = {"seeds": args.seeds, "rounds": args.rounds, "workers": WORKERS, "rules": {}}
    for rule in args.rules:
        tallies = {name: Tally() for name in MEMBERS}
        for seed in range(args.seeds):
            run(seed, rule, args.rounds, tallies)
        base_seconds = tallies["pinned-1"].seconds
        report["rules"][rule] = {
            name: {
                "rounds": t.rounds,
                "accepted_agree": t.same_accepted / t.rounds,
                "hash_agree": t.same_hash / t.rounds,
                "pay_agree": t.same_pay / t.rounds,
                "judge_time_ratio": t.seconds / base_seconds,
                "differences": t.differences[:10],
            }
            for name, t in tallies.items()
        }
        print(json.dumps({rule: report["rules"][rule]}, indent=1), flush=True)
    report["seconds"] = round(time.perf_counter() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
