"""Peak memory of aggregation, as a multiple of one model, for 10 and 100 updates.

Updates of a model with `--params` float32 parameters (10M by default: 40 MB) are spooled to
files, then aggregated by DecentralML's slice-streamed FedAvg and, side by side, by the usual way
(load every update, then average). Every rule of `decentralml.judging.rules.RULES` is measured the same
way (centered clipping and the trust rule against a stand-in global model; the trust rule's
reference is one of the updates). Peak memory is what tracemalloc sees numpy allocate during the
aggregation alone, beyond the global model the caller already holds. Target: every rule under 2x
one model, whatever the number of updates.

    python -m bench.aggregation [--params 10000000] [--updates 10 100]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from decentralml import codec
from decentralml.judging import rules
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.rules import RULES, RuleParams, RuleState
from support.devnet import ROOT

LAYERS = 4


def write_updates(directory: Path, params: int, count: int) -> list[UpdateFile]:
    rng = np.random.default_rng(0)
    per_layer = params // LAYERS
    files = []
    for i in range(count):
        weights = {f"layer{k}": rng.standard_normal(per_layer, dtype=np.float32) for k in range(LAYERS)}
        files.append(UpdateFile.spool(directory, f"u{i}", codec.encode(weights), float(1 + i % 7)))
        del weights
    return files


def naive_fedavg(files: list[UpdateFile]) -> codec.Weights:
    """Every update in memory at once, then the weighted mean."""
    loaded = [(f.weights(), f.weight) for f in files]
    total = sum(w for _, w in loaded)
    merged: codec.Weights = {}
    for name in loaded[0][0]:
        merged[name] = np.zeros_like(loaded[0][0][name])
        for update, weight in loaded:
            merged[name] += update[name] * np.float32(weight / total)
    return merged


def by_rule(
    name: str,
    files: list[UpdateFile],
    reference: UpdateFile | None,
    state: RuleState,
    global_weights: codec.Weights,
) -> codec.Weights:
    """The aggregate of `files` by the rule called `name`, with its default parameters."""
    return rules.aggregate(name, files, RuleParams(), reference, state, global_weights).weights


def peak(run: Callable[[], codec.Weights]) -> tuple[int, float]:
    """(peak bytes allocated while `run` ran, seconds)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = run()
    took = time.perf_counter() - started
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return top, took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=int, default=10_000_000)
    parser.add_argument("--updates", type=int, nargs="+", default=[10, 100])
    parser.add_argument(
        "--naive-up-to", type=int, default=10, help="run the in-memory baseline up to this many"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "aggregation.json")
    args = parser.parse_args()
    model_bytes = args.params * codec.DTYPE.itemsize
    runs: list[dict[str, float]] = []
    report = {"params": args.params, "model_mb": round(model_bytes / 2**20, 1), "runs": runs}
    for count in args.updates:
        with tempfile.TemporaryDirectory(dir=ROOT / ".dml" if (ROOT / ".dml").exists() else None) as tmp:
            files = write_updates(Path(tmp), args.params, count)
            run: dict[str, float] = {"updates": count}
            global_weights = files[0].weights()  # a stand-in for the model the updates started from
            state = RuleState(Path(tmp) / "rule-state")
            for name, info in RULES.items():
                if count < info.min_updates(0):
                    continue
                reference = files[-1] if info.needs_reference else None
                top, took = peak(partial(by_rule, name, files, reference, state, global_weights))
                run[f"{name}_peak_x_model"] = round(top / model_bytes, 2)
                run[f"{name}_seconds"] = round(took, 2)
            if count <= args.naive_up_to:
                naive, naive_s = peak(partial(naive_fedavg, files))
                run |= {
                    "naive_peak_x_model": round(naive / model_bytes, 2),
                    "naive_seconds": round(naive_s, 2),
                }
            runs.append(run)
            print(json.dumps(run), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
