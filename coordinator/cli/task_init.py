"""`dml task init`: a ready task folder from the creator's own files.

From a training file (CSV, Parquet, .npz, or an image folder) it infers the schema and the
preprocessing every worker and the referee will apply (standardisation statistics, category and
label maps; image size and normalisation), builds the initial weights of a shipped architecture,
and seals the creator's validation set (and optional test set) to the validator's sealing key,
which it fetches from the coordinator (`GET /federation`) and checks against the validator's
account signature. It writes, in the folder: `manifest.json`, `initial_weights.bin`,
`validation.sealed` (and `test.sealed`). Then `dml task pack FOLDER` puts the assets in IPFS and
signs the bundle, and `dml task create` escrows the rewards. The training file itself stays here:
workers bring their own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx

from coordinator.cli.common import CliError, show
from decentralml import codec, crypto, kinds
from decentralml.kinds.schema import ImageSchema, TabularSchema
from decentralml.manifest import FederationSpec
from decentralml.models import ModelSpec, build, weights_of


def _coordinator(args: argparse.Namespace) -> dict[str, Any]:
    try:
        found: dict[str, Any] = httpx.get(f"{args.coordinator}/federation", timeout=10).json()
    except (httpx.HTTPError, ValueError) as unreachable:
        raise CliError(
            f"cannot fetch the validator's sealing key from {args.coordinator}: {unreachable} "
            "(give --sealing-key, or start the coordinator)"
        ) from unreachable
    return found


def _sealing_key(args: argparse.Namespace, info: dict[str, Any]) -> str:
    if args.sealing_key:
        return str(args.sealing_key)
    statement = info.get("sealing")
    if not statement:
        raise CliError(f"the coordinator at {args.coordinator} judges no tasks: it publishes no sealing key")
    try:
        return crypto.verify_sealing_key(statement, args.validator)
    except crypto.SealError as bad:
        raise CliError(f"refusing the coordinator's sealing key: {bad}") from bad


def _schema(args: argparse.Namespace, data: Path) -> TabularSchema | ImageSchema:
    fmt = kinds.detect_format(data)
    if args.kind == "tabular":
        if not args.label:
            raise CliError("a tabular task needs --label COLUMN (the column to predict)")
        found = kinds.KINDS["tabular"].infer(data, fmt, label=args.label, regression=args.regression)
    else:
        found = kinds.KINDS["image"].infer(
            data, fmt, height=args.height, width=args.width, channels=args.channels
        )
    if not isinstance(found, TabularSchema | ImageSchema):
        raise CliError(f"{args.kind} tasks are not supported by task init yet")
    return found


def _model(args: argparse.Namespace, schema: TabularSchema | ImageSchema) -> ModelSpec:
    architecture = args.architecture or "mlp"
    spec: dict[str, Any] = {
        "architecture": architecture,
        "input_shape": schema.input_shape,
        "classes": schema.outputs,
    }
    if args.hidden:
        spec["hidden"] = args.hidden
    return ModelSpec.model_validate(spec)


def _seal(schema: TabularSchema | ImageSchema, source: Path, recipient: str, out: Path) -> dict[str, Any]:
    raw = kinds.read(schema, source)
    if len(raw) == 0:
        raise CliError(f"{source}: no examples")
    out.write_bytes(crypto.seal(kinds.raw_to_bytes(raw), recipient))
    return {"file": out.name, "recipient": recipient, "examples": len(raw)}


def cmd_task_init(args: argparse.Namespace) -> None:
    folder, data = Path(args.folder), Path(args.data)
    if folder.exists() and any(folder.iterdir()) and not args.force:
        raise CliError(f"{folder} is not empty: choose a new folder, or --force to overwrite")
    try:
        schema = _schema(args, data)
        info = {} if args.sealing_key else _coordinator(args)
        recipient = _sealing_key(args, info)
        federation = FederationSpec.of_coordinator(info)
        folder.mkdir(parents=True, exist_ok=True)
        model = _model(args, schema)
        (folder / "initial_weights.bin").write_bytes(codec.encode(weights_of(build(model, args.seed))))
        validation = _seal(schema, Path(args.validation), recipient, folder / "validation.sealed")
        test = _seal(schema, Path(args.test), recipient, folder / "test.sealed") if args.test else None
    except kinds.DataMismatch as unfit:
        raise CliError(str(unfit)) from unfit
    sealed = {"validation": {k: v for k, v in validation.items() if k != "examples"}}
    if test is not None:
        sealed["test"] = {k: v for k, v in test.items() if k != "examples"}
    manifest = {
        "name": args.name or folder.name,
        "model": model.model_dump(mode="json"),
        "initial_weights": "initial_weights.bin",
        "training": {
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
            "batch_size": args.batch_size,
        },
        "data": {"dataset": args.dataset or data.stem, "inputs": schema.model_dump(mode="json"), **sealed},
        "min_workers": args.min_workers,
        "release": args.release,
    }
    if federation is not None:  # the SuperLink's CA travels in the signed bundle
        manifest["federation"] = federation.model_dump(mode="json")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    summary = {
        "folder": str(folder),
        "dataset": manifest["data"]["dataset"],
        "kind": schema.kind,
        "objective": schema.objective,
        "inputs": schema.input_shape,
        "outputs": schema.outputs,
        "validation_examples": validation["examples"],
        "test_examples": None if test is None else test["examples"],
        "sealed_to": recipient,
    }
    show(
        args,
        summary,
        f"wrote {folder}/manifest.json: {schema.kind} {schema.objective}, inputs {schema.input_shape}, "
        f"{schema.outputs} outputs, dataset {summary['dataset']!r} (workers map this name with --data)\n"
        f"sealed {validation['examples']} validation examples to {recipient}\n"
        f"next: dml --key KEY task pack {folder}",
    )


def register(task: Any) -> None:
    """Add `init` to the `task` command group."""
    init = task.add_parser(
        "init", help="a ready task folder from your own data (schema, weights, sealed validation set)"
    )
    init.add_argument("folder", help="the task folder to write")
    init.add_argument("--kind", choices=["tabular", "image"], required=True)
    init.add_argument("--data", required=True, help="a training file (CSV, Parquet, .npz) or image folder")
    init.add_argument("--validation", required=True, help="your validation set, in the same format")
    init.add_argument("--test", help="a test set for reporting rounds (default: the validation set)")
    init.add_argument("--validator", required=True, help="the coordinator's judging account (SS58)")
    init.add_argument("--sealing-key", help="the validator's sealing key (default: from the coordinator)")
    init.add_argument("--label", help="tabular: the column to predict")
    init.add_argument("--regression", action="store_true", help="tabular: the label is a number")
    init.add_argument("--height", type=int, help="image: resize to this height (default: the first image's)")
    init.add_argument("--width", type=int, help="image: resize to this width")
    init.add_argument("--channels", type=int, choices=[1, 3], help="image: 1 grey or 3 RGB")
    init.add_argument(
        "--architecture",
        choices=["mlp", "cnn"],
        help="default mlp (the small cnn learns slowly on small images)",
    )
    init.add_argument("--hidden", type=int, action="append", help="mlp layer width (repeatable)")
    init.add_argument("--name", help="the task's name (default: the folder's)")
    init.add_argument("--dataset", help="the dataset name workers map (default: the data file's stem)")
    init.add_argument("--epochs", type=int, default=5)
    init.add_argument("--learning-rate", type=float, default=0.05)
    init.add_argument("--batch-size", type=int, default=32)
    init.add_argument("--min-workers", type=int, default=2)
    init.add_argument("--release", choices=["council", "none"], default="council")
    init.add_argument("--seed", type=int, default=0, help="initial weights' seed")
    init.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    init.set_defaults(run=cmd_task_init)
