"""A micro-LLM trained federatedly from code, against the same model trained centrally.

The python-stdlib demo source (the Python standard library's own modules on this machine, byte
tokenizer, 64-token windows) is shared out to 4 and 8 workers, IID (chunks dealt out) and non-IID
(whole modules per worker). Each round every worker trains the global model on its share with the
task's token budget (DecentralML's `train`: AdamW, clipping, cosine schedule, batches from the seed
and the round), the updates are spooled and averaged by the streamed FedAvg rule, and the global
model is scored on the held-out validation modules. The central model trains on the union of the
workers' text with the same total token budget per round (workers x tokens_per_round) and the
same optimiser. Reported per round: validation loss and perplexity; per run: tokens per second
per worker, bytes sent per round (the model down and the update up: float32 codec bytes, and with
updates as float16 deltas, `update_encoding: float16_delta`) and the
peak memory of aggregation as a multiple of one model. The fair baseline is synchronous
data-parallel training (`data_parallel`): the same total tokens and the same optimiser steps as a
worker, each step's global batch one batch per worker, the gradients averaged; targets (issue 23):
federated within 3% of it with 8 workers by module, within 2% with 4 IID. The central model
(target: within 10%) and two more baselines show where a gap comes from: the central model with one
worker's tokens per round (as many optimiser steps as each worker takes), and one worker training
alone on its own share.

Compressed arms (issue 23: >= 20x fewer bytes per round both ways than float32 models, at <= 2%
validation loss against the same run uncompressed, `outer` or `federated`): `sparse` (top
`--density` 8-bit, sent down as the other workers' updates), `signs` (1-bit, likewise), and
`signs_both` (1-bit up, and down the referee's own 1-bit delta with its residual), with DiLoCo's
outer optimizer or, `_plain`, without.

    python -m bench.lm [--rounds 8] [--tokens 16384] [--workers 4 8] [--arms ...] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from decentralml import codec, signs, sparse
from decentralml.content import sha256_hex
from decentralml.data import DataSpec, Split, demo_splits, partition
from decentralml.judging import outer, rules
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.outer import OuterSpec
from decentralml.judging.rules import RuleParams
from decentralml.kinds.schema import Objective
from decentralml.lm.transformer import TransformerSpec
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, score, train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TRANSFORMER = TransformerSpec(vocab_size=257, context=64, layers=4, heads=4, width=192)
MODEL = ModelSpec(architecture="transformer", input_shape=[64], classes=257, transformer=TRANSFORMER)
LM: Objective = "language_modeling"


def union(shares: list[Split]) -> Split:
    return Split(np.concatenate([s.x for s in shares]), np.concatenate([s.y for s in shares]))


Up = Literal["float32", "sparse", "signs"]
Down = Literal["model", "gather", "signs"]


def federated(
    shares: list[Split],
    validation: Split,
    spec: TrainSpec,
    rounds: int,
    up: Up = "float32",
    density: float = 0.02,
    outer_spec: OuterSpec | None = None,
    down: Down = "model",
) -> dict[str, Any]:
    """Federated rounds through the library's own paths: each worker trains, its update is sent
    as float32 weights, a sparse 8-bit delta (`decentralml.sparse`, the top `density`) or a 1-bit
    delta (`decentralml.signs`), the compact ones with error feedback (the worker's residual kept
    across rounds); the referee rebuilds it, averages (FedAvg) and, with `outer_spec`, takes the
    outer step (`decentralml.judging.outer`). The model goes down as the float32 model (`model`),
    as every other worker's compact update, from which each worker rebuilds the same model (the same
    aggregation and outer step: SparseLoCo's all-gather, `gather`), or as the referee's own 1-bit
    delta of the new model from the last, with the referee's residual kept across rounds (`signs`:
    the new global model is what that delta rebuilds). Bytes per round per worker, both ways."""
    weights = weights_of(build(MODEL, spec.seed))
    curve, tokens_per_second, peaks, ups, downs = [], [], [], [], []
    model_bytes = len(codec.encode(weights))
    delta_bytes = len(codec.encode_delta(weights, weights, "0x" + "0" * 64))
    residuals: list[codec.Weights | None] = [None] * len(shares)
    kept: codec.Weights | None = None  # the referee's residual (down: signs)
    momentum = None
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(1, rounds + 1):
            files, sent = [], []
            base_sha = sha256_hex(codec.encode(weights))
            for part, share in enumerate(shares):
                model = build(MODEL)
                load_weights(model, weights)
                began = time.perf_counter()
                train(model, share, spec.model_copy(update={"seed": spec.seed + part}), LM, round_)
                tokens_per_second.append(spec.tokens_per_round / (time.perf_counter() - began))
                trained = weights_of(model)
                if up == "float32":
                    data = codec.encode(trained)
                    sent.append(len(data))
                else:
                    if up == "sparse":
                        compact, residuals[part] = sparse.encode_sparse(
                            trained, weights, base_sha, density, residuals[part]
                        )
                    else:
                        compact, residuals[part] = signs.encode_signs(
                            trained, weights, base_sha, residuals[part]
                        )
                    sent.append(len(compact))
                    decode = sparse.decode_sparse if up == "sparse" else signs.decode_signs
                    data = codec.encode(decode(compact, weights, base_sha))
                files.append(UpdateFile.spool(Path(tmp), f"r{round_}-{part}", data, float(len(share))))
            ups.extend(sent)
            tracemalloc.start()
            found = rules.aggregate("fedavg", files, RuleParams())
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            peaks.append(peak / model_bytes)
            aggregate = {k: np.array(v) for k, v in found.weights.items()}
            if outer_spec is not None:
                aggregate, momentum = outer.step(weights, aggregate, momentum, outer_spec)
            if down == "signs":
                delta, kept = signs.encode_signs(aggregate, weights, base_sha, kept)
                aggregate = signs.decode_signs(delta, weights, base_sha)
                downs.append(len(delta))
            elif down == "gather":  # each worker fetches the others' updates: it holds its own
                downs.extend(sum(sent) - own for own in sent)
            else:
                downs.append(model_bytes)
            weights = aggregate
            for f in files:
                f.path.unlink()
            model = build(MODEL)
            load_weights(model, weights)
            metrics = score(model, validation, LM)
            curve.append({"round": round_, "loss": metrics["loss"], "perplexity": metrics["perplexity"]})
            print(f"  round {round_}: validation loss {metrics['loss']:.3f}", flush=True)
    up_bytes, down_bytes = float(np.mean(ups)), float(np.mean(downs))
    return {
        "curve": curve,
        "up": up,
        "down": down,
        "density": density if up == "sparse" else None,
        "outer": None if outer_spec is None else outer_spec.model_dump(),
        "tokens_per_second_per_worker": float(np.mean(tokens_per_second)),
        "bytes_per_round": 2 * model_bytes * len(shares),
        "bytes_per_round_float16_delta": (model_bytes + delta_bytes) * len(shares),
        "up_bytes_per_worker": up_bytes,
        "down_bytes_per_worker": down_bytes,
        "compression_both_ways": 2 * model_bytes / (up_bytes + down_bytes),
        "model_bytes": model_bytes,
        "float16_delta_bytes": delta_bytes,
        "aggregation_peak_x_model": float(max(peaks)),
    }


def data_parallel(
    shares: list[Split], validation: Split, spec: TrainSpec, rounds: int
) -> list[dict[str, float]]:
    """The fair baseline (issue 23, DiLoCo's): synchronous data-parallel training at the federated
    run's tokens and a worker's optimiser steps, each step's global batch one batch per share, the
    gradients averaged (`train_lm_data_parallel`)."""
    from decentralml.lm.training import train_lm_data_parallel
    from decentralml.lm.transformer import TinyGpt

    model = build(MODEL, spec.seed)
    assert isinstance(model, TinyGpt)
    curve = []
    for round_ in range(1, rounds + 1):
        train_lm_data_parallel(model, [s.x for s in shares], spec.lm(), round_)
        metrics = score(model, validation, LM)
        curve.append({"round": round_, "loss": metrics["loss"], "perplexity": metrics["perplexity"]})
        print(f"  round {round_}: data-parallel validation loss {metrics['loss']:.3f}", flush=True)
    return curve


def central(
    shares: list[Split], validation: Split, spec: TrainSpec, rounds: int, scale: int | None = None
) -> list[dict[str, float]]:
    """One model on the union of `shares`, `scale` (default: one per share) times a worker's tokens
    per round; a single share with scale 1 is a worker training alone."""
    data = union(shares)
    model = build(MODEL, spec.seed)
    tokens = spec.tokens_per_round * (len(shares) if scale is None else scale)
    budget = spec.model_copy(update={"tokens_per_round": tokens})
    curve = []
    for round_ in range(1, rounds + 1):
        train(model, data, budget, LM, round_)
        metrics = score(model, validation, LM)
        curve.append({"round": round_, "loss": metrics["loss"], "perplexity": metrics["perplexity"]})
    return curve


DILOCO = OuterSpec(lr=0.7, momentum=0.9, nesterov=True)
# The compressed arms: (up, outer optimizer, down), each against the same run uncompressed.
COMPRESSED: dict[str, tuple[Up, OuterSpec | None, Down]] = {
    "sparse": ("sparse", DILOCO, "gather"),
    "sparse_plain": ("sparse", None, "gather"),
    "signs": ("signs", DILOCO, "gather"),
    "signs_both": ("signs", DILOCO, "signs"),
    "signs_both_plain": ("signs", None, "signs"),
}
UNCOMPRESSED = {arm: "outer" if outer_spec else "federated" for arm, (_, outer_spec, _) in COMPRESSED.items()}
ARMS = ("federated", "outer", *COMPRESSED, "data_parallel", "central", "same_steps", "alone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=16_384, help="tokens per worker per round")
    parser.add_argument("--workers", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--splits", nargs="+", choices=("iid", "dirichlet"), default=["iid", "dirichlet"])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--density", type=float, default=0.02, help="sparse arm: share of each delta sent")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the initial model and every worker's batches (worker k: seed + k)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "lm.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = TrainSpec(
        learning_rate=1e-3, batch_size=16, tokens_per_round=args.tokens, warmup_steps=4, seed=args.seed
    )
    validation = demo_splits(DataSpec(dataset="python-stdlib")).validation
    runs = []
    for workers in args.workers:
        for scheme in args.splits:  # dirichlet: whole modules per worker
            data = DataSpec(dataset="python-stdlib", parts=workers, scheme=scheme)
            shares = [partition(data, part) for part in range(workers)]
            split = "IID" if scheme == "iid" else "by module"
            found: dict[str, Any] = {}
            for arm in args.arms:
                print(f"{workers} workers, {split}: {arm}", flush=True)
                if arm == "federated":
                    found[arm] = federated(shares, validation, spec, args.rounds)
                elif arm == "outer":
                    found[arm] = federated(shares, validation, spec, args.rounds, outer_spec=DILOCO)
                elif arm in COMPRESSED:
                    up, outer_spec, down = COMPRESSED[arm]
                    found[arm] = federated(
                        shares, validation, spec, args.rounds, up, args.density, outer_spec, down
                    )
                elif arm == "data_parallel":
                    found[arm] = data_parallel(shares, validation, spec, args.rounds)
                elif arm == "central":
                    found[arm] = central(shares, validation, spec, args.rounds)
                elif arm == "same_steps":
                    found[arm] = central(shares, validation, spec, args.rounds, scale=1)
                else:
                    found[arm] = central(shares[:1], validation, spec, args.rounds)
            runs.append(
                {"workers": workers, "split": split, "target": 0.02 if scheme == "iid" else 0.03, **found}
            )
    print(
        "| workers | split | "
        + " | ".join(args.arms)
        + " | gaps to data-parallel | compression both ways | cost of compression |"
    )
    print("|---|---|" + "---|" * (len(args.arms) + 3))
    for r in runs:
        final = {a: (r[a]["curve"] if isinstance(r[a], dict) else r[a])[-1]["loss"] for a in args.arms}
        reference = final.get("data_parallel")
        gaps = (
            ", ".join(
                f"{a} {100 * (final[a] / reference - 1):+.1f}%"
                for a in ("federated", "outer", *COMPRESSED)
                if a in final
            )
            if reference
            else "-"
        )
        compact = [a for a in UNCOMPRESSED if a in r]
        squeeze = ", ".join(f"{a} {r[a]['compression_both_ways']:.1f}x" for a in compact) or "-"
        cost = (
            ", ".join(
                f"{a} {100 * (final[a] / final[UNCOMPRESSED[a]] - 1):+.1f}%"
                for a in compact
                if UNCOMPRESSED[a] in final
            )
            or "-"
        )
        print(
            f"| {r['workers']} | {r['split']} | "
            + " | ".join(f"{final[a]:.3f}" for a in args.arms)
            + f" | {gaps} | {squeeze} | {cost} |"
        )
    report = {
        "model": MODEL.model_dump(),
        "parameters": TRANSFORMER.parameters_count(),
        "training": spec.model_dump(),
        "rounds": args.rounds,
        "seed": args.seed,
        "density": args.density,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
