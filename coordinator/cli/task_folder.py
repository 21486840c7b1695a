"""`dml task init`: a ready task folder from the creator's own files.

From a training file (CSV, Parquet, .npz, an image folder, or text: a folder of text files, a
.txt or a .jsonl file) it infers the schema and the preprocessing every worker and the referee will
apply (standardisation statistics, category and label maps; image size and normalisation; for text,
a byte-level BPE tokenizer trained on the creator's text, written as `tokenizer.json` and pinned by
its hash), builds the initial weights of a shipped architecture (a GPT-style transformer for text),
and seals the creator's validation set (and optional test set) to the validator's sealing key,
which it fetches from the coordinator (`GET /federation`) and checks against the validator's
account signature. It writes, in the folder: `manifest.json`, `initial_weights.bin`,
`validation.sealed` (and `test.sealed`, and `tokenizer.json`). Then `dml task pack FOLDER` puts
the assets in IPFS and signs the bundle, and `dml task create` escrows the rewards. The training
file itself stays here: workers bring their own.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from coordinator.cli.common import CliError, keypair, show
from decentralml import codec, crypto, kinds
from decentralml.judging.outer import OuterSpec
from decentralml.kinds import text
from decentralml.kinds.schema import ImageSchema, TabularSchema, TextSchema
from decentralml.lm.transformer import TransformerSpec
from decentralml.manifest import DPSpec, FederationSpec, describe
from decentralml.models import ModelSpec, build, weights_of

Schema = TabularSchema | ImageSchema | TextSchema
# Hyperparameters by kind when the creator gives none: SGD for the small tabular and image models,
# AdamW over a token budget for language models. A regression learns its standardised target with
# a smaller step: on scikit-learn's diabetes data, 10 epochs at 0.005 reach a held-out R² of 0.38
# trained centrally (a linear fit: 0.35), where 0.05 overshoots (-0.16 after 5 epochs).
TRAINING_DEFAULTS: dict[str, dict[str, Any]] = {
    "tabular": {"epochs": 5, "learning_rate": 0.05, "batch_size": 32},
    "regression": {"epochs": 10, "learning_rate": 0.005, "batch_size": 32},
    "image": {"epochs": 5, "learning_rate": 0.05, "batch_size": 32},
    "text": {"learning_rate": 1e-3, "batch_size": 16, "tokens_per_round": 65_536, "warmup_steps": 10},
}


def _coordinator(args: argparse.Namespace) -> dict[str, Any]:
    try:
        found: dict[str, Any] = httpx.get(f"{args.coordinator}/federation", timeout=10).json()
    except (httpx.HTTPError, ValueError) as unreachable:
        raise CliError(
            f"cannot fetch the validator's sealing key from {args.coordinator}: {unreachable} "
            "(give --sealing-key, or start the coordinator)"
        ) from unreachable
    return found


def _statement_file(path: Path) -> dict[str, str]:
    """A validator's signed sealing statement from a JSON file (as `GET /federation` publishes it
    under "sealing"), for a creator who has it by other means than the coordinator's API."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as bad:
        raise CliError(f"--sealing-statement {path}: not a readable JSON file ({bad})") from bad
    if not isinstance(found, dict) or not {"account", "sealing_key", "signature"} <= set(found):
        raise CliError(f"--sealing-statement {path}: needs account, sealing_key and signature")
    return {k: str(found[k]) for k in ("account", "sealing_key", "signature")}


def _members(
    args: argparse.Namespace, info: dict[str, Any], given: list[dict[str, str]]
) -> list[tuple[str, str, dict[str, str] | None]]:
    """(validator, the key its sets are sealed to, its signed statement or None) for each
    `--validator`, in order.

    Statements come from `--sealing-statement` files (matched to the validators by the account
    they name) and the coordinator's own (`GET /federation`); each is checked against its
    validator. `--sealing-key` (one per validator, in order) names the key the sets are sealed to
    instead; a validator with no statement gets unsealed updates (`_privacy`)."""
    validators: list[str] = list(args.validator)
    if len(set(validators)) != len(validators):
        raise CliError("a --validator is given twice: name each committee member once")
    keys: list[str] = list(args.sealing_key or [])
    if keys and len(keys) != len(validators):
        raise CliError(
            f"{len(validators)} --validator but {len(keys)} --sealing-key: give one per validator, in order"
        )
    for named in keys:
        try:
            crypto.public_key(named)
        except crypto.SealError as bad:
            raise CliError(f"--sealing-key: {bad}; use the key GET /federation publishes") from bad
    statements: dict[str, dict[str, str]] = {}
    if info.get("sealing"):
        statements[str(info["sealing"].get("account"))] = info["sealing"]
    for one in given:
        if one["account"] not in validators:
            raise CliError(f"a --sealing-statement names {one['account']}, which is not a --validator")
        statements[one["account"]] = one
    members: list[tuple[str, str, dict[str, str] | None]] = []
    for index, validator in enumerate(validators):
        statement = statements.get(validator)
        if statement is None and not keys:
            if not info.get("sealing") and not args.sealing_statement:
                raise CliError(
                    f"the coordinator at {args.coordinator} judges no tasks: it publishes no sealing key"
                )
            raise CliError(
                f"no sealing key for validator {validator}: give --sealing-statement FILE "
                '(its coordinator\'s GET /federation publishes it under "sealing")'
            )
        try:
            signed = crypto.verify_sealing_key(statement, validator) if statement is not None else None
        except crypto.SealError as bad:
            raise CliError(f"refusing the sealing statement of validator {validator}: {bad}") from bad
        key = keys[index] if keys else signed
        assert key is not None
        members.append((validator, key, statement))
    return members


def _privacy(
    args: argparse.Namespace, members: list[tuple[str, str, dict[str, str] | None]]
) -> dict[str, Any] | None:
    """The manifest's privacy section: every member's signed sealing key (verified above) for
    updates and models, and the creator's own for the models it may read; None with only
    --sealing-key (no signed statements: updates then travel unsealed)."""
    statements = [statement for _, _, statement in members if statement is not None]
    if len(statements) != len(members):
        return None
    privacy: dict[str, Any] = {"seal_to": statements}
    if getattr(args, "key", None) or getattr(args, "keystore", None):
        privacy["creator"] = crypto.sealing_statement(keypair(args))
    return privacy


def _dp(args: argparse.Namespace) -> dict[str, Any]:
    """The manifest's `privacy.dp` from --epsilon, --delta and --clip-norm, or a one-line refusal."""
    try:
        spec = DPSpec(epsilon=args.epsilon, delta=args.delta, clip_norm=args.clip_norm)
    except ValidationError as bad:
        raise CliError(f"--epsilon/--delta/--clip-norm: {describe(bad)}") from bad
    return spec.model_dump(mode="json")


def _updates(args: argparse.Namespace) -> dict[str, Any]:
    """The manifest's `update_encoding`, `update_density`, `model_encoding` and `aggregation.outer`
    from --update-encoding, --update-density, --model-encoding, --outer-lr and --outer-momentum, or
    a one-line refusal."""
    found: dict[str, Any] = {}
    if args.model_encoding is not None:
        found["model_encoding"] = args.model_encoding
    encoding = args.update_encoding or ("float16_delta" if args.kind == "text" else None)
    if encoding is not None:
        found["update_encoding"] = encoding
    if args.update_density is not None:
        if encoding != "sparse_int8":
            raise CliError("--update-density is for --update-encoding sparse_int8 only")
        if not 0 < args.update_density <= 1:
            raise CliError("--update-density: give the share of each tensor's values sent, in (0, 1]")
        found["update_density"] = args.update_density
    if args.outer_momentum is not None and args.outer_lr is None:
        raise CliError("--outer-momentum needs --outer-lr (the outer optimizer's learning rate)")
    if args.outer_lr is not None:
        given = {"lr": args.outer_lr}
        if args.outer_momentum is not None:
            given["momentum"] = args.outer_momentum
        try:
            found["aggregation"] = {"outer": OuterSpec(**given).model_dump(mode="json")}
        except ValidationError as bad:
            raise CliError(f"--outer-lr/--outer-momentum: {describe(bad)}") from bad
    return found


def _schema(args: argparse.Namespace, data: Path) -> Schema:
    fmt = kinds.detect_format(data)
    if args.kind == "text":
        vocab = None if args.tokenizer == "bytes" else args.vocab_size
        try:
            return text.infer(data, fmt, context=args.context, field=args.field, bpe_vocab=vocab)
        except (kinds.DataMismatch, ValidationError):
            raise
        except ValueError as bad:
            raise CliError(f"cannot train the tokenizer: {bad} (choose --vocab-size 257 .. 1000000)") from bad
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


def _model(args: argparse.Namespace, schema: Schema) -> ModelSpec:
    if isinstance(schema, TextSchema):
        if args.architecture not in (None, "transformer"):
            raise CliError("a text task trains a transformer: drop --architecture or give transformer")
        sizes = TransformerSpec(
            vocab_size=schema.vocab_size,
            context=schema.context,
            layers=args.layers,
            heads=args.heads,
            width=args.model_width,
        )
        return ModelSpec(
            architecture="transformer",
            input_shape=[schema.context],
            classes=schema.vocab_size,
            transformer=sizes,
        )
    architecture = args.architecture or "mlp"
    if architecture == "transformer":
        raise CliError(f"a transformer reads text: use --kind text, or mlp or cnn for {args.kind} data")
    spec: dict[str, Any] = {
        "architecture": architecture,
        "input_shape": schema.input_shape,
        "classes": schema.outputs,
    }
    if args.hidden:
        spec["hidden"] = args.hidden
    return ModelSpec.model_validate(spec)


def _seal(
    schema: Schema, source: Path, recipients: list[str], name: str, files: dict[str, bytes]
) -> dict[str, Any]:
    """Seal the set at `source` to each of `recipients` (the committee) into `files`: `NAME.sealed`
    for the first, `NAME-2.sealed`... for the others; its manifest entry (the others as `copies`)."""
    raw = kinds.read(schema, source)
    if len(raw) == 0:
        raise CliError(f"{source}: no examples")
    try:
        prepared = kinds.prepare(schema, raw)  # text: at least one window of the context, tokenised
    except kinds.DataMismatch as short:
        raise CliError(f"{source}: {short}") from short
    plain = kinds.raw_to_bytes(raw)
    entries = []
    for index, recipient in enumerate(recipients):
        file = f"{name}.sealed" if index == 0 else f"{name}-{index + 1}.sealed"
        files[file] = crypto.seal(plain, recipient)
        entries.append({"file": file, "recipient": recipient})
    entry: dict[str, Any] = {**entries[0], "examples": len(prepared)}
    if len(entries) > 1:
        entry["copies"] = entries[1:]
    return entry


def default_dataset(folder: Path) -> str:
    """The task folder's name as the dataset name workers map (`--data NAME=PATH`): it names the
    task's data, where the creator's own file's stem ("train", "share-0") names one copy of it."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.resolve().name).strip("-._")[:64]
    return name or "dataset"


def _training(args: argparse.Namespace) -> dict[str, Any]:
    """The kind's defaults, overridden by what the creator gave."""
    given = {
        "epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "batch_size": args.batch_size,
        "tokens_per_round": args.tokens_per_round,
    }
    kind = "regression" if args.kind == "tabular" and args.regression else args.kind
    found = dict(TRAINING_DEFAULTS[kind])
    found.update({k: v for k, v in given.items() if v is not None})
    if args.kind == "text":
        found["warmup_steps"] = _warmup(args, found)
    elif args.warmup_steps is not None:
        raise CliError("--warmup-steps is for text tasks (language models) only")
    return found


def _warmup(args: argparse.Namespace, training: dict[str, Any]) -> int:
    """A text task's warmup steps per round: the given count, refused in one line if the round
    ends before it does (the rate would never reach its peak); by default 10, or a quarter of a
    round's steps when a round takes fewer than 40."""
    steps = math.ceil(int(training["tokens_per_round"]) / (int(training["batch_size"]) * args.context))
    if args.warmup_steps is None:
        return min(int(training["warmup_steps"]), int(steps // 4))
    warmup = int(args.warmup_steps)
    if not 0 <= warmup < steps:
        raise CliError(
            f"--warmup-steps {warmup}: a round takes {steps} steps (--tokens-per-round / "
            f"(--batch-size x --context)); give 0 .. {steps - 1}"
        )
    return warmup


def init_task_folder(args: argparse.Namespace) -> None:
    folder, data = Path(args.folder), Path(args.data)
    if folder.exists() and any(folder.iterdir()) and not args.force:
        raise CliError(f"{folder} is not empty: choose a new folder, or --force to overwrite")
    files: dict[str, bytes] = {}  # written together once everything checked out
    try:
        schema = _schema(args, data)
        given = [_statement_file(Path(path)) for path in args.sealing_statement or []]
        info: dict[str, Any] = {}
        if not args.sealing_key and args.validator[0] not in {g["account"] for g in given}:
            info = _coordinator(args)  # the first validator's statement and SuperLink, from its API
        members = _members(args, info, given)
        recipients = [key for _, key, _ in members]
        federation = FederationSpec.of_coordinator(info)
        model = _model(args, schema)
        files["initial_weights.bin"] = codec.encode(weights_of(build(model, args.seed)))
        validation = _seal(schema, Path(args.validation), recipients, "validation", files)
        test = _seal(schema, Path(args.test), recipients, "test", files) if args.test else None
    except kinds.DataMismatch as unfit:
        raise CliError(str(unfit)) from unfit
    sealed = {"validation": {k: v for k, v in validation.items() if k != "examples"}}
    if test is not None:
        sealed["test"] = {k: v for k, v in test.items() if k != "examples"}
    inputs = schema.model_dump(mode="json")
    if isinstance(schema, TextSchema) and schema.tokenizer != "bytes":
        # The BPE tokenizer trained on the creator's text: pack puts the file in IPFS and names it
        # by CID and this hash.
        files["tokenizer.json"] = text.tokenizer_for(schema).to_bytes()
        inputs["tokenizer"] = {"file": "tokenizer.json", "sha256": schema.tokenizer.sha256}
    manifest = {
        "name": args.name or folder.name,
        "model": model.model_dump(mode="json"),
        "initial_weights": "initial_weights.bin",
        "training": _training(args),
        "data": {"dataset": args.dataset or default_dataset(folder), "inputs": inputs, **sealed},
        "min_workers": args.min_workers,
        "release": args.release,
    }
    # Text defaults to float16 deltas: half the bytes of a float32 update, hashed as sent.
    manifest |= _updates(args)
    if args.kind == "text":
        # Each round scores the mean without each update on the validation windows: a fixed sample
        # of them keeps that bounded for a large held-out text.
        manifest["validation"] = {"max_examples": args.judge_windows}
    if federation is not None:  # the SuperLink's CA travels in the signed bundle
        manifest["federation"] = federation.model_dump(mode="json")
    privacy = _privacy(args, members)
    if args.epsilon is not None:
        privacy = (privacy or {}) | {"dp": _dp(args)}
    if privacy is not None:  # updates and unreleased models sealed to the validator (and creator)
        manifest["privacy"] = privacy
    files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    summary = {
        "folder": str(folder),
        "dataset": manifest["data"]["dataset"],
        "kind": schema.kind,
        "objective": schema.objective,
        "inputs": schema.input_shape,
        "outputs": schema.outputs,
        "validation_examples": validation["examples"],
        "test_examples": None if test is None else test["examples"],
        "sealed_to": recipients,
    }
    # The test set scores each round for the creator; without --test the validation set does.
    tested = f" and {test['examples']} test" if test is not None else " (also the test set: no --test given)"
    show(
        args,
        summary,
        f"wrote {folder}/manifest.json: {schema.kind} {schema.objective}, inputs {schema.input_shape}, "
        f"{schema.outputs} outputs, dataset {summary['dataset']!r} (workers map this name with --data)\n"
        f"sealed {validation['examples']} validation{tested} "
        f"{'windows' if schema.kind == 'text' else 'examples'} to {', '.join(recipients)}\n"
        f"next: dml --key KEY task pack {folder}",
    )
