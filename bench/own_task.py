"""An own-data task federated against a central model trained on the union, with the same budget.

The creator's breast-cancer task as `make demo DEMO_ARGS="--task tabular"` runs it: the schema
and preprocessing inferred by `dml task init`'s code from one worker's CSV share, three workers
holding disjoint shares (CSV, Parquet, CSV), the creator's holdout for validation and test. The
federated side runs DecentralML's own round, minus the chain and IPFS: every worker trains from
the global model on its share, the referee's validation (`check_updates`) judges each update on
the creator's validation set and the accepted ones are aggregated by the streamed FedAvg. The
central model trains on the union of the shares for the same number of passes over the data
(rounds x epochs), with the same optimiser, batch size and learning rate. Both are scored on
the creator's test set. The image task (digits as PNG folders) is measured the same way.
Target: federated within 2 points of central.

    python -m bench.own_task [--seeds 3] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from decentralml import codec, kinds, samples
from decentralml.data import Split
from decentralml.judging.aggregation import UpdateFile, aggregate
from decentralml.judging.checks import check_updates
from decentralml.kinds.schema import ImageSchema, TabularSchema
from decentralml.manifest import ValidationPolicy
from decentralml.models import ModelSpec, build, load_weights, weights_of
from decentralml.training import TrainSpec, score, train

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 3


def union(splits: list[Split]) -> Split:
    return Split(np.concatenate([s.x for s in splits]), np.concatenate([s.y for s in splits]))


def task_files(kind: str, folder: Path, seed: int) -> tuple[TabularSchema | ImageSchema, samples.SampleFiles]:
    if kind == "tabular":
        files = samples.tabular_files(folder, ["csv", "parquet", "csv"], seed=seed)
        schema: TabularSchema | ImageSchema = kinds.KINDS["tabular"].infer(
            files.shares[0], "csv", label=samples.LABEL
        )
    else:
        files = samples.image_folders(folder, WORKERS, seed=seed)
        schema = kinds.KINDS["image"].infer(files.shares[0], "folder")
    return schema, files


def run(kind: str, seed: int, rounds: int, spec: TrainSpec, hidden: list[int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        schema, files = task_files(kind, Path(tmp) / "data", seed)
        shares = [kinds.load(schema, path) for path in files.shares]
        validation, test = kinds.load(schema, files.validation), kinds.load(schema, files.test)
        model_spec = ModelSpec(
            architecture="mlp", input_shape=schema.input_shape, classes=schema.outputs, hidden=hidden
        )
        policy = ValidationPolicy()
        global_model = build(model_spec, seed)
        weights = weights_of(global_model)
        rejected = 0
        spool = Path(tmp) / "spool"
        spool.mkdir()
        federated_curve = []
        for round_ in range(1, rounds + 1):
            updates = []
            for part, share in enumerate(shares):
                local = build(model_spec)
                load_weights(local, weights)
                train(local, share, spec.model_copy(update={"seed": seed * 100 + round_ * 10 + part}))
                updates.append(
                    (
                        part,
                        UpdateFile.spool(
                            spool, f"r{round_}-{part}", codec.encode(weights_of(local)), len(share)
                        ),
                    )
                )
            _, checks = check_updates(weights, updates, model_spec, validation, policy, schema.objective)
            accepted = [u for (key, u), c in zip(updates, checks, strict=True) if c.approved]
            rejected += len(updates) - len(accepted)
            weights = aggregate(accepted, "fedavg", 0.2) if accepted else weights
            load_weights(global_model, weights)
            federated_curve.append(score(global_model, test, schema.objective))
        central = build(model_spec, seed)
        central_curve = []
        for round_ in range(1, rounds + 1):
            train(central, union(shares), spec.model_copy(update={"seed": seed * 100 + round_}))
            central_curve.append(score(central, test, schema.objective))
    return {
        "kind": kind,
        "seed": seed,
        "examples": [len(s) for s in shares],
        "federated": federated_curve[-1],
        "central": central_curve[-1],
        "federated_per_round": [c["accuracy"] for c in federated_curve],
        "central_per_round": [c["accuracy"] for c in central_curve],
        "honest_rejected": rejected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    setups = {
        "tabular": (TrainSpec(epochs=5, learning_rate=0.01), [32]),
        "image": (TrainSpec(epochs=3, learning_rate=0.05), [64]),
    }
    runs = [
        run(kind, seed, args.rounds, *setup) for kind, setup in setups.items() for seed in range(args.seeds)
    ]
    summary = {}
    columns = ("kind", "metric", "federated", "central", "gap (points)", "honest rejected")
    print("{:<8} {:<9} {:>9} {:>8} {:>12} {:>15}".format(*columns))
    for kind in setups:
        mine = [r for r in runs if r["kind"] == kind]
        for metric in ("accuracy", "macro_f1", *(["auroc"] if kind == "tabular" else [])):
            federated = float(np.mean([r["federated"][metric] for r in mine]))
            central = float(np.mean([r["central"][metric] for r in mine]))
            gap = 100 * (central - federated)
            rejected = sum(r["honest_rejected"] for r in mine)
            summary[f"{kind}/{metric}"] = {"federated": federated, "central": central, "gap_points": gap}
            print(f"{kind:<8} {metric:<9} {federated:>9.4f} {central:>8.4f} {gap:>12.2f} {rejected:>15}")
    out = ROOT / "bench" / "results" / "own_task.json"
    out.write_text(
        json.dumps({"rounds": args.rounds, "seeds": args.seeds, "summary": summary, "runs": runs}, indent=2)
        + "\n"
    )
    print(f"results in {out}")


if __name__ == "__main__":
    main()
