"""A language model's round judged on a sample of the validation windows, against the same round
judged on every window, side by side.

The LM demo's sizes (a 5M-parameter transformer: 5 layers, width 256, 4 heads, 128-token context,
a 4,096-token vocabulary; the byte tokenizer here), 72 held-out validation windows and 4 workers,
each training 8,192 tokens a round on whole standard-library modules of its own (non-IID by
module). Each round every worker trains from the global model, and the round is judged twice by
`decentralml.judging.checks.check_updates` with the referee's own update: with None (every
window) and with each `validation.sample_windows` in `--samples` (16 and 8). The global model
then moves to the mean of the updates accepted on every window.

Reported per round: the seconds of each judging and their ratio; whether the verdicts (approved,
reason) are the same; whether the sampled leave-out search handed over to every window; each
worker's Shapley value and pay each way, and the largest gap between a sampled and a full value
over the largest full value.

    python -m bench.lm_judging [--rounds 3] [--workers 4] [--samples 16 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from decentralml import codec
from decentralml.judging import checks
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.checks import Check, check_updates
from decentralml.judging.determinism import deterministic
from decentralml.kinds.schema import Split
from decentralml.lm.corpus import stdlib_corpus, windows
from decentralml.lm.tokenizer import byte_tokenizer, encode_documents
from decentralml.lm.transformer import TransformerSpec
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, train

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SPEC = ModelSpec(
    architecture="transformer",
    input_shape=[128],
    classes=4096,
    transformer=TransformerSpec(vocab_size=4096, context=128, layers=5, heads=4, width=256),
)
TRAINING = TrainSpec(tokens_per_round=8192, batch_size=8, learning_rate=1e-3, seed=0)
VALIDATION_MODULES = ["json", "csv"]
WORKER_MODULES = [["email"], ["argparse", "optparse"], ["logging"], ["unittest"], ["http"], ["xml"]]


def split_of(modules: list[str]) -> Split:
    ids = encode_documents(byte_tokenizer(), list(stdlib_corpus(modules).values()))
    found = windows(ids, SPEC.input_shape[0])
    return Split(found, found[:, -1].copy())


def judged(
    start: codec.Weights,
    updates: list[tuple[int, UpdateFile]],
    validation: Split,
    policy: ValidationPolicy,
    round_: int,
) -> tuple[list[Check], float, int]:
    """(the checks, seconds, full leave-out searches run)."""
    searches = {"n": 0}
    search = checks._contributions

    def counted(*args: Any, **kwargs: Any) -> Any:
        searches["n"] += 1
        return search(*args, **kwargs)

    checks._contributions = counted
    try:
        reference = reference_update(start, validation, round_, updates[0][1].path.parent)
        began = time.perf_counter()
        _, found = check_updates(
            start,
            updates,
            SPEC,
            validation,
            policy,
            "language_modeling",
            reference=reference,
            seed=(1, round_),
        )
        return found, time.perf_counter() - began, searches["n"]
    finally:
        checks._contributions = search


def reference_update(start: codec.Weights, validation: Split, round_: int, directory: Path) -> UpdateFile:
    """The referee's own update (as `Referee._reference` trains it), spooled once per round."""
    path = directory / "reference"
    if not path.exists():
        with deterministic():
            model = build(SPEC)
            load_weights(model, start)
            train(model, validation, TRAINING, "language_modeling", round_)
        path.write_bytes(codec.encode(weights_of(model)))
    return UpdateFile.open(path, float(len(validation)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, choices=range(2, len(WORKER_MODULES) + 1))
    parser.add_argument(
        "--samples", type=int, nargs="+", default=[16, 8], help="sample sizes to judge with, side by side"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "lm-judging.json")
    args = parser.parse_args()
    held_out = split_of(VALIDATION_MODULES)
    validation = Split(held_out.x[:72], held_out.y[:72])
    shares = [split_of(modules) for modules in WORKER_MODULES[: args.workers]]
    start = weights_of(build(SPEC, 0))
    full_policy = ValidationPolicy(sample_windows=None)
    rounds = []
    for round_ in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as work:
            updates = []
            for key, share in enumerate(shares, start=1):
                model = build(SPEC)
                load_weights(model, start)
                train(model, share, TRAINING.model_copy(update={"seed": key}), "language_modeling", round_)
                path = Path(work) / f"u{key}"
                path.write_bytes(codec.encode(weights_of(model)))
                updates.append((key, UpdateFile.open(path, float(len(share)))))
            full, full_s, _ = judged(start, updates, validation, full_policy, round_)
            row: dict[str, Any] = {
                "round": round_,
                "full_seconds": round(full_s, 2),
                "verdicts": [(c.key, c.approved, c.reason) for c in full],
                "values_full": [round(c.contribution, 5) for c in full],
                "pay_full": [c.pay for c in full],
                "sampled": {},
            }
            for size in args.samples:
                policy = ValidationPolicy(sample_windows=size)
                sample, sample_s, handed = judged(start, updates, validation, policy, round_)
                gaps = [abs(s.contribution - f.contribution) for s, f in zip(sample, full, strict=True)]
                row["sampled"][str(size)] = {
                    "seconds": round(sample_s, 2),
                    "ratio": round(sample_s / full_s, 3),
                    "same_verdicts": [(c.key, c.approved, c.reason) for c in sample] == row["verdicts"],
                    "handed_to_every_window": bool(handed),
                    "values": [round(c.contribution, 5) for c in sample],
                    "largest_gap_of_largest_value": round(
                        max(gaps) / max(abs(f.contribution) for f in full), 4
                    ),
                    "pay": [c.pay for c in sample],
                }
            accepted = [
                update.weights() for key, update in updates if any(c.key == key and c.approved for c in full)
            ]
            if accepted:
                start = {n: np.mean([w[n] for w in accepted], axis=0).astype(np.float32) for n in start}
        print(json.dumps(row), flush=True)
        rounds.append(row)
    result = {
        "model": SPEC.model_dump(mode="json"),
        "validation_windows": len(validation),
        "sample_windows": args.samples,
        "workers": args.workers,
        "rounds": rounds,
        "mean_ratio": {
            str(size): round(float(np.mean([r["sampled"][str(size)]["ratio"] for r in rounds])), 3)
            for size in args.samples
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"sampled over every-window judging's time, by sample: {result['mean_ratio']}; wrote {args.out}")


if __name__ == "__main__":
    main()
