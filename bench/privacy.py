"""What privacy costs: the accuracy of differential privacy, and the time and memory of sealing.

1. DP accuracy. 4 workers hold Dirichlet(1.0) shares of a demo source (digits; breast cancer). Each
   round every worker trains the global model on its share, with the worker's own code path
   (`decentralml.privacy.dp`: DP-SGD, its noise calibrated so that every round fits the budget),
   and the real `Referee.judge` (with in-process chain and store twins) checks and aggregates. The
   baseline is the same run without DP, side by side. Reported per (source, ε): final test accuracy
   over seeds, its gap to no DP, and the referee's rejections of the (noisy, honest) updates.

2. Sealing. One round of 8 updates of a 1.1M-parameter MLP judged by the real referee, once with
   every update and the model in plaintext and once sealed (each worker seals to the validator; the
   referee opens each update streamed and seals the aggregate to the validator and the creator).
   Reported: the round time (the slowest worker trains one epoch and seals, then the referee
   judges), the judging time alone, the workers' sealing time and the peak traced memory as a
   multiple of one model, plaintext vs sealed, median of the repeats.

    python -m bench.privacy [--seeds 3] [--rounds 5] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import torch

from coordinator.federation.referee import Received, Referee
from decentralml import codec
from decentralml.content import sha256_hex
from decentralml.crypto import sealing_key_hex, sealing_statement
from decentralml.data import DataSpec, demo_splits, partition
from decentralml.kinds.schema import Objective
from decentralml.manifest import ContentRef, DPSpec, PrivacySpec, SealingStatement, TaskManifest
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.privacy import dp, sealing
from decentralml.training import TrainSpec, score, train
from decentralml_bindings.dev import ALICE, FERDIE
from support.twins import ChainTwin, StoreTwin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WORKERS = 4
SOURCES = {
    "sklearn-digits": ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32]),
    "sklearn-breast-cancer": ModelSpec(architecture="mlp", input_shape=[30], classes=2, hidden=[16]),
}
TRAINING = TrainSpec(epochs=2, batch_size=32, learning_rate=0.1)
EPSILONS: tuple[float | None, ...] = (None, 8.0, 3.0, 1.0)
DELTA = 1e-5
CLIP = 1.0


def manifest_for(source: str, model: ModelSpec, data: DataSpec, initial: bytes, **extra: Any) -> TaskManifest:
    return TaskManifest(
        name=f"privacy-{source}",
        model=model,
        initial_weights=ContentRef(cid="twin-initial", sha256=sha256_hex(initial)),
        training=TRAINING,
        data=data,
        min_workers=WORKERS,
        **extra,
    )


def dp_run(source: str, epsilon: float | None, seed: int, rounds: int) -> dict[str, Any]:
    """One federated run; its final test accuracy and the referee's rejections."""
    torch.set_num_threads(1)
    model_spec = SOURCES[source]
    data = DataSpec(dataset=source, scheme="dirichlet", alpha=1.0, parts=WORKERS, seed=seed)
    splits = demo_splits(data)
    shares = [partition(data, part) for part in range(WORKERS)]
    weights = weights_of(build(model_spec, seed))
    manifest = manifest_for(source, model_spec, data, codec.encode(weights))
    spec = DPSpec(epsilon=epsilon, delta=DELTA, clip_norm=CLIP) if epsilon is not None else None
    plans = [
        dp.plan(spec, "classification", len(s.y), TRAINING.batch_size, TRAINING.epochs, rounds)
        if spec
        else None
        for s in shares
    ]
    chain, store = ChainTwin(), StoreTwin()
    objective: Objective = "classification"
    rejected = sent = 0
    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp)
        referee = Referee(chain, store, FERDIE, splits.validation, state_dir=spool)
        for round_ in range(1, rounds + 1):
            received = []
            for part, share in enumerate(shares):
                model = build(model_spec)
                load_weights(model, weights)
                task_plan = plans[part]
                if task_plan is None:
                    train(model, share, TRAINING.model_copy(update={"seed": seed * 100 + round_ * 10 + part}))
                else:
                    dp.dp_sgd(
                        model, share, task_plan, CLIP, TRAINING.learning_rate, TRAINING.momentum, objective
                    )
                blob = codec.encode(weights_of(model))
                stored = store.put(blob)
                worker = f"worker-{part}"
                chain.send_result(1, round_, worker, stored.cid, stored.sha256)
                received.append(Received.spool(spool, worker, blob, len(share.y)))
            outcome, weights = referee.judge(1, round_, manifest, weights, received, spool=spool)
            sent += len(received)
            rejected += len(outcome.rejected)
            for item in received:
                item.path.unlink(missing_ok=True)
    final = build(model_spec)
    load_weights(final, weights)
    spent = plans[0].epsilon_after(rounds) if plans[0] is not None else None
    noise = plans[0].noise_multiplier if plans[0] is not None else None
    return {
        "source": source,
        "epsilon": epsilon,
        "seed": seed,
        "accuracy": score(final, splits.test)["accuracy"],
        "rejected": rejected,
        "sent": sent,
        "epsilon_spent": spent,
        "noise_multiplier": noise,
    }


def summarise_dp(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for source in SOURCES:
        base = [r["accuracy"] for r in runs if r["source"] == source and r["epsilon"] is None]
        for epsilon in EPSILONS:
            mine = [r for r in runs if r["source"] == source and r["epsilon"] == epsilon]
            accuracy = [r["accuracy"] for r in mine]
            rows.append(
                {
                    "source": source,
                    "epsilon": epsilon,
                    "accuracy_mean": statistics.fmean(accuracy),
                    "accuracy_sd": statistics.pstdev(accuracy),
                    "gap_to_no_dp": statistics.fmean(base) - statistics.fmean(accuracy),
                    "honest_rejected": sum(r["rejected"] for r in mine)
                    / max(sum(r["sent"] for r in mine), 1),
                    "noise_multiplier": mine[0]["noise_multiplier"],
                    "epsilon_spent": mine[0]["epsilon_spent"],
                }
            )
    return rows


SEAL_MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[1024, 1024])
SEAL_WORKERS = 8


def seal_round(sealed: bool, seed: int) -> dict[str, float]:
    """One round of 8 updates judged plaintext or sealed: seconds and peak memory (in models)."""
    torch.set_num_threads(1)
    data = DataSpec(dataset="sklearn-digits", scheme="iid", parts=SEAL_WORKERS, seed=seed)
    splits = demo_splits(data)
    weights = weights_of(build(SEAL_MODEL, seed))
    model_bytes = len(codec.encode(weights))
    privacy = PrivacySpec()
    if sealed:
        privacy = PrivacySpec(
            seal_to=[SealingStatement.model_validate(sealing_statement(FERDIE))],
            creator=SealingStatement.model_validate(sealing_statement(ALICE)),
        )
    manifest = manifest_for("seal", SEAL_MODEL, data, codec.encode(weights), privacy=privacy)
    chain, store = ChainTwin(), StoreTwin()
    chain.open_task(1, ALICE.ss58_address, [FERDIE.ss58_address], 1)
    recipients = [sealing_key_hex(FERDIE)]
    blobs, seal_seconds, work_seconds = [], [], []
    for part in range(SEAL_WORKERS):
        model = build(SEAL_MODEL)
        load_weights(model, weights)
        trained = time.perf_counter()
        train(model, partition(data, part), TrainSpec(epochs=1, batch_size=32, learning_rate=0.05))
        blob = codec.encode(weights_of(model))
        work_seconds.append(time.perf_counter() - trained)
        began = time.perf_counter()
        if sealed:
            context = sealing.Context("update", 1, 1, f"worker-{part}")
            blob = sealing.seal_bytes(blob, context, recipients)
        seal_seconds.append(time.perf_counter() - began)
        blobs.append(blob)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp)
        received = []
        for part, blob in enumerate(blobs):
            stored = store.put(blob)
            chain.send_result(1, 1, f"worker-{part}", stored.cid, stored.sha256)
            received.append(Received.spool(spool, f"worker-{part}", blob, 100))
        del blobs
        referee = Referee(chain, store, FERDIE, splits.validation, state_dir=spool)
        referee.best_loss = referee.validation_loss(manifest, weights)
        tracemalloc.start()
        began = time.perf_counter()
        outcome, _ = referee.judge(1, 1, manifest, weights, received, spool=spool)
        judge_seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if len(outcome.accepted) == 0:
        raise RuntimeError("no update accepted: the sealing benchmark measured a degenerate round")
    return {
        "worker_seal_seconds": max(seal_seconds),
        "judge_seconds": judge_seconds,
        # Judging alone: the referee's part, with the slowest worker's sealing before it.
        "judging_round_seconds": max(seal_seconds) + judge_seconds,
        # A round without its network and chain waits: the slowest worker trains (one epoch on its
        # share) and seals, then the referee judges.
        "round_seconds": max(w + s for w, s in zip(work_seconds, seal_seconds, strict=True)) + judge_seconds,
        "peak_models": peak / model_bytes,
        "accepted": float(len(outcome.accepted)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 rounds, 1 repeat: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS / "privacy.json")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.rounds, args.repeats = 1, 2, 1
    began = time.perf_counter()
    runs = [
        dp_run(source, epsilon, seed, args.rounds)
        for source in SOURCES
        for epsilon in EPSILONS
        for seed in range(args.seeds)
    ]
    rows = summarise_dp(runs)
    print(f"{'source':<24}{'epsilon':>8}{'accuracy':>10}{'sd':>7}{'gap':>8}{'rejected':>10}{'noise':>8}")
    for row in rows:
        eps = "none" if row["epsilon"] is None else f"{row['epsilon']:g}"
        noise = "-" if row["noise_multiplier"] is None else f"{row['noise_multiplier']:.2f}"
        print(
            f"{row['source']:<24}{eps:>8}{row['accuracy_mean']:>10.3f}{row['accuracy_sd']:>7.3f}"
            f"{row['gap_to_no_dp']:>8.3f}{row['honest_rejected']:>10.2%}{noise:>8}"
        )
    sealing_runs: dict[str, list[dict[str, float]]] = {"plaintext": [], "sealed": []}
    for repeat in range(args.repeats):  # side by side, alternating, so load hits both alike
        for name in ("plaintext", "sealed"):
            sealing_runs[name].append(seal_round(name == "sealed", repeat))
    medians = {
        name: {key: float(np.median([r[key] for r in found])) for key in found[0]}
        for name, found in sealing_runs.items()
    }
    ratio = medians["sealed"]["round_seconds"] / medians["plaintext"]["round_seconds"]
    judging = medians["sealed"]["judging_round_seconds"] / medians["plaintext"]["judging_round_seconds"]
    print(
        f"sealing: round {medians['plaintext']['round_seconds']:.2f} s plaintext, "
        f"{medians['sealed']['round_seconds']:.2f} s sealed ({ratio:.3f}x); "
        f"judging alone {judging:.3f}x; peak "
        f"{medians['plaintext']['peak_models']:.2f}x one model plaintext, "
        f"{medians['sealed']['peak_models']:.2f}x sealed"
    )
    report = {
        "workers": WORKERS,
        "rounds": args.rounds,
        "seeds": args.seeds,
        "delta": DELTA,
        "clip_norm": CLIP,
        "training": TRAINING.model_dump(),
        "dp_rows": rows,
        "dp_runs": runs,
        "sealing": {
            "model_parameters": sum(int(np.prod(s.shape)) for s in weights_of(build(SEAL_MODEL)).values()),
            "updates": SEAL_WORKERS,
            "medians": medians,
            "round_time_ratio": ratio,
            "judging_time_ratio": judging,
            "runs": sealing_runs,
        },
        "seconds": time.perf_counter() - began,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
