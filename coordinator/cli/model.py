"""`dml model`: committed models, their lineage, and sampling text from a language model."""

from __future__ import annotations

import argparse
import csv
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from coordinator.cli.common import CliError, Subparsers, answer, chain_url, get, keypair, show
from decentralml.content import ContentError, ContentStore, sha256_hex

if TYPE_CHECKING:  # torch, the manifest and the models load only in the verbs that use them
    from torch import nn

    from decentralml import cards
    from decentralml.manifest import TaskManifest


def cmd_model_log(args: argparse.Namespace) -> None:
    tree = get(args, f"/models/{args.model_id}/lineage")
    lines = []
    for node in tree["nodes"]:
        accuracy = "" if node["accuracy"] is None else f"  accuracy {node['accuracy']:.3f}"
        marker = "*" if node["id"] == tree["model"] else "o"
        indent = "  " * (node["iteration"] - 1)
        lines.append(
            f"{indent}{marker} model {node['id']}  task {node['task_id']} round "
            f"{node['round']}  {node['status']}  block #{node['committed_at']}{accuracy}\n"
            f"{indent}  {node['hash']}"
        )
    show(args, tree, "\n".join(lines))


def task_bundle(store: ContentStore, task: dict[str, Any]) -> TaskManifest:
    """The manifest of a task (as the REST mirror shows it) from its signed bundle in IPFS,
    checked against the hash and creator on chain; a CliError if it cannot be used."""
    from decentralml.bundle import open_bundle
    from decentralml.manifest import ManifestError

    try:
        return open_bundle(store, task["manifest_cid"], task["manifest_hash"], task["creator"], sealed=False)
    except (ManifestError, ContentError) as bad:
        raise CliError(f"cannot open task {task['id']}'s bundle: {bad}") from bad


def released(args: argparse.Namespace) -> tuple[nn.Module, TaskManifest]:
    """Model `args.model_id` as a network, with its task's manifest. The weights come through the
    coordinator's weights route, which refuses a model the task's release rule does not allow
    (unreleased under `release: council`, or revoked), and must hash to what the chain recorded;
    the architecture and preprocessing come from the task's signed bundle in IPFS, checked
    against the hashes on chain."""
    from decentralml import codec
    from decentralml.models import build, load_weights

    model = get(args, f"/models/{args.model_id}")
    weights = answer_bytes(httpx.get(f"{args.coordinator}/models/{args.model_id}/weights", timeout=120))
    if sha256_hex(weights) != str(model["hash"]).lower():
        raise CliError(f"model {args.model_id}'s weights do not hash to {model['hash']}: refusing them")
    task = get(args, f"/tasks/{model['task_id']}")
    store = ContentStore(args.ipfs_api or os.environ.get("DML_IPFS_API"))
    manifest = task_bundle(store, task)
    network = build(manifest.model)
    try:
        load_weights(network, codec.decode(weights))
    except (codec.CodecError, ValueError) as bad:
        raise CliError(f"model {args.model_id}'s weights do not fit its task's model: {bad}") from bad
    return network, manifest


def cmd_model_generate(args: argparse.Namespace) -> None:
    """Sample from a released language model (`released`)."""
    from decentralml.kinds import text
    from decentralml.kinds.schema import TextSchema
    from decentralml.lm.generate import generate

    if not 1 <= args.tokens <= 100_000:
        raise CliError(f"--tokens {args.tokens}: give 1 to 100000")
    network, manifest = released(args)
    schema = manifest.data.schema_of()
    if manifest.model.architecture != "transformer" or not isinstance(schema, TextSchema):
        raise CliError(f"model {args.model_id} is a {manifest.model.architecture}, not a language model")
    sample = generate(
        network,  # type: ignore[arg-type]
        text.tokenizer_for(schema),
        args.prompt,
        args.tokens,
        temperature=args.temperature,
        seed=args.seed,
    )
    show(
        args,
        {"model": args.model_id, "prompt": args.prompt, "text": sample},
        args.prompt + sample,
    )


def cmd_model_predict(args: argparse.Namespace) -> None:
    """Predict with a released model (`released`) on a labelled file in the task's own format
    (CSV, Parquet, .npz or an image folder), through the task's preprocessing; the task's
    metrics on it, and each prediction (a class name, or a number for regression)."""
    import numpy as np

    from decentralml import kinds
    from decentralml.inference import answers
    from decentralml.kinds.schema import DataMismatch, TabularSchema, TextSchema
    from decentralml.metrics import scores

    network, manifest = released(args)
    schema = manifest.data.schema_of()
    if isinstance(schema, TextSchema):
        raise CliError(f"model {args.model_id} is a language model: sample it with dml model generate")
    try:
        data = kinds.load(schema, Path(args.data))
    except DataMismatch as bad:
        raise CliError(f"{bad} (the file must have the task's columns, label included)") from bad
    except OSError as bad:
        raise CliError(f"cannot read {args.data}: {bad.strerror or bad}") from bad
    found = answers(network, schema, data.x)
    predicted = found.predictions
    if schema.classes is None:  # regression: in the target's own units (the model learnt it standardised)
        assert isinstance(schema, TabularSchema)
        truth = schema.to_target(data.y)
        labels: list[str | float] = [float(v) for v in truth]
        metrics = scores(schema.objective, np.asarray(predicted, dtype=np.float64), truth)
    else:
        labels = [schema.classes[int(i)] for i in data.y]
        metrics = scores(schema.objective, found.raw, data.y)
    if args.output is not None:
        with Path(args.output).open("w", newline="") as handle:
            rows = csv.writer(handle)
            rows.writerow(["row", "prediction", "label"])
            rows.writerows((i, p, y) for i, (p, y) in enumerate(zip(predicted, labels, strict=True)))
    shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    where = f"; predictions in {args.output}" if args.output is not None else ""
    show(
        args,
        {"model": args.model_id, "rows": len(predicted), "metrics": metrics, "predictions": predicted},
        f"model {args.model_id} on {len(predicted)} rows of {args.data}: {shown}{where}",
    )


def cmd_model_verify(args: argparse.Namespace) -> None:
    """Recompute a committed model from the chain and IPFS with a committee member's key (no
    coordinator involved) and say whether it matches what the chain records; exit 1 if not."""
    from coordinator.committee.verify import VerifyError, verify_model  # torch: only this verb
    from decentralml.manifest import ManifestError
    from decentralml_bindings import DecentralMl

    reader = keypair(args)
    chain = DecentralMl.connect(chain_url(args))
    store = ContentStore(args.ipfs_api or os.environ.get("DML_IPFS_API"))
    try:
        found = verify_model(chain, store, reader, args.model_id)
    except (VerifyError, ManifestError, ContentError) as cannot:
        raise CliError(f"cannot verify model {args.model_id}: {cannot}") from cannot
    finally:
        chain.close()
    report = asdict(found) | {
        "stored_match": found.stored_match,
        "recomputed_match": found.recomputed_match,
        "match": found.match,
    }
    where = f"model {found.model_id} (task {found.task_id} round {found.round}, {found.rule})"
    if found.match:
        show(
            args, report, f"{where}: matches {found.on_chain}, recomputed from {len(found.accepted)} updates"
        )
        return
    what = (
        f"its stored bytes hash to {found.stored}"
        if not found.stored_match
        else f"the accepted updates aggregate to {found.recomputed}"
    )
    show(args, report, f"{where}: MISMATCH: the chain records {found.on_chain}, {what}")
    raise SystemExit(1)


def cmd_model_export(args: argparse.Namespace) -> None:
    """Write a released model (`released`) as safetensors or ONNX, with its spec, its task's
    schema (the preprocessing its input needs) and its origin in the file's metadata; an ONNX
    file is written only if onnxruntime's outputs match PyTorch's (`decentralml.export`)."""
    try:
        from decentralml import export
    except ImportError as missing:  # the export extra is not installed
        raise CliError(f"{missing.name} is missing: pip install 'decentralml[export]'") from missing

    output = Path(args.output or f"model-{args.model_id}.{args.format}")
    if output.exists() and not args.force:
        raise CliError(f"{output} exists: give another --output, or --force to replace it")
    network, manifest = released(args)
    model = get(args, f"/models/{args.model_id}")
    origin = {
        "model": args.model_id,
        "task": model["task_id"],
        "round": model["round"],
        "sha256": model["hash"],
    }
    schema = manifest.data.schema_of().model_dump(mode="json")
    meta = export.metadata(manifest.model, schema, origin)
    difference = None
    try:
        if args.format == "onnx":
            shape = export.input_shape(manifest.model, schema)
            data, difference = export.to_onnx(network, manifest.model, meta, shape)
        else:
            data = export.to_safetensors(network, meta)
    except ImportError as missing:
        raise CliError(f"{missing.name} is missing: pip install 'decentralml[export]'") from missing
    except export.ExportError as failed:
        raise CliError(f"model {args.model_id}: {failed}") from failed
    output.write_bytes(data)
    checked = "" if difference is None else f"; onnxruntime matches PyTorch within {difference:.2g}"
    show(
        args,
        {"model": args.model_id, "format": args.format, "output": str(output), "bytes": len(data),
         "max_difference": difference} | origin,
        f"model {args.model_id} as {args.format}: {output} ({len(data)} bytes){checked}",
    )  # fmt: skip


def cmd_model_card(args: argparse.Namespace) -> None:
    """Write a Hugging Face-style model card (`decentralml.cards.model_card`) from the chain's
    mirror, the task's signed bundle and the contributors' dataset cards in IPFS (each checked
    against the hash its worker declared on chain)."""
    from decentralml import cards

    facts = model_facts(args)
    card = cards.model_card(facts)
    if args.output is not None:
        Path(args.output).write_text(card)
    declared = sum(c.card is not None for c in facts.contributors)
    summary = (
        f"model {facts.model_id}: {len(facts.contributors)} contributors, {declared} with a dataset card"
        + (f"; card in {args.output}" if args.output is not None else "")
    )
    show(args, asdict(facts) | {"card": card}, card if args.output is None else summary)


def model_facts(args: argparse.Namespace) -> cards.ModelFacts:
    """What a model card says of model `args.model_id`: its ancestry's rounds and contributors."""
    from decentralml import cards
    from decentralml.models import build

    model = get(args, f"/models/{args.model_id}")
    by_id = {n["id"]: n for n in get(args, f"/models/{args.model_id}/lineage")["nodes"]}
    ancestry: list[dict[str, Any]] = []
    node: dict[str, Any] | None = by_id.get(int(model["id"]))
    while node is not None:
        ancestry.insert(0, node)
        node = by_id.get(node["parent"]) if node["parent"] is not None else None
    tasks: dict[int, dict[str, Any]] = {}
    logs: dict[int, dict[int, dict[str, Any]]] = {}
    for n in ancestry:
        tid = int(n["task_id"])
        if tid not in tasks:
            tasks[tid] = get(args, f"/tasks/{tid}")
            try:  # the round log: only on the coordinator that carried the rounds
                lines = get(args, f"/tasks/{tid}/rounds")
            except CliError:
                lines = []
            logs[tid] = {int(r["round"]): r for r in lines if r.get("status", "committed") != "failed"}
    task = tasks[int(model["task_id"])]
    store = ContentStore(args.ipfs_api or os.environ.get("DML_IPFS_API"))
    manifest = task_bundle(store, task)
    parameters = sum(p.numel() for p in build(manifest.model).parameters())
    schema = manifest.data.schema_of()

    results = {int(r["id"]): r for t in tasks.values() for r in t["results"]}
    committed = {int(m["id"]): m for t in tasks.values() for m in t["models"]}
    rounds: list[dict[str, Any]] = []
    paid: dict[tuple[int, str], list[int]] = {}  # (task, worker) -> rewards of accepted results
    for n in ancestry:
        tid, round_ = int(n["task_id"]), int(n["round"])
        accepted = committed.get(int(n["id"]), {}).get("accepted", [])
        for rid in accepted:
            r = results[int(rid)]
            paid.setdefault((tid, str(r["worker"])), []).append(int(r["reward_paid"]))
        in_round = [r for r in tasks[tid]["results"] if int(r["round"]) == round_]
        line = logs[tid].get(round_, {})
        rounds.append(
            {
                "round": round_,
                "task": tid,
                "model": n["id"],
                "accepted": len(accepted),
                "rejected": sum(r["status"] == "Rejected" for r in in_round),
                "metrics": line.get("test_metrics") or {},
            }
        )
    contributors = [
        contributor(store, tasks[tid], worker, rewards) for (tid, worker), rewards in sorted(paid.items())
    ]
    rejections: dict[str, int] = {}
    for n in ancestry:
        for r in tasks[int(n["task_id"])]["results"]:
            if int(r["round"]) <= int(n["round"]) and r["status"] == "Rejected" and r["rejection"]:
                rejections[r["rejection"]] = rejections.get(r["rejection"], 0) + 1
    return cards.ModelFacts(
        model_id=int(model["id"]),
        task_id=int(model["task_id"]),
        task_name=manifest.name,
        round=int(model["round"]),
        hash=str(model["hash"]),
        status=str(model["status"]),
        kind=schema.kind,
        architecture=manifest.model.architecture,
        parameters=parameters,
        objective=schema.objective,
        rounds=rounds,
        contributors=contributors,
        lineage=[
            {
                "model": n["id"],
                "task": n["task_id"],
                "round": n["round"],
                "status": n["status"],
                "hash": n["hash"],
            }
            for n in ancestry
        ],
        validators=[str(v) for v in task["validators"]],
        rejections=rejections,
    )


def contributor(
    store: ContentStore, task: dict[str, Any], worker: str, rewards: list[int]
) -> cards.Contributor:
    """A contributor with the dataset card it declared for `task`, fetched from IPFS and checked
    against the declared hash; a card that is missing, altered or malformed is named, not used."""
    from decentralml import cards

    mine = next((a for a in task["assignments"] if a["worker"] == worker), None)
    cid = None if mine is None else mine.get("dataset_cid")
    base = cards.Contributor(worker=worker, results=len(rewards), paid=sum(rewards), card_cid=cid)
    if mine is None or cid is None:
        return base
    try:
        data = store.get(cid, str(mine["dataset_hash"]), max_bytes=cards.MAX_CARD_BYTES)
        return replace(base, card=cards.parse(data, f"{worker}'s card {cid}"))
    except (ContentError, cards.CardError) as bad:
        return replace(base, card_problem=f"declared card unusable: {bad}")


def answer_bytes(response: httpx.Response) -> bytes:
    """The body of a successful response; the coordinator's refusal as a CliError otherwise."""
    if response.is_success:
        return response.content
    answer(response)  # raises CliError with the coordinator's one-line reason
    raise CliError(f"the coordinator refused ({response.status_code})")


def register(groups: Subparsers) -> None:
    model = groups.add_parser("model", help="committed models").add_subparsers(dest="cmd", required=True)
    model_log = model.add_parser("log", help="a model's lineage tree, like a version-control log")
    model_log.add_argument("model_id", type=int)
    model_log.set_defaults(run=cmd_model_log)
    sample = model.add_parser("generate", help="sample text from a committed language model")
    sample.add_argument("model_id", type=int)
    sample.add_argument("--prompt", default="def ", help='the text to continue (default "def ")')
    sample.add_argument("--tokens", type=int, default=200, help="tokens to sample (default 200)")
    sample.add_argument("--temperature", type=float, default=0.8, help="0 is greedy (default 0.8)")
    sample.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    sample.add_argument("--ipfs-api", help="Kubo RPC API (default $DML_IPFS_API, else http://127.0.0.1:5001)")
    sample.set_defaults(run=cmd_model_generate)
    predict = model.add_parser(
        "predict", help="predict with a released model on a labelled file; the task's metrics on it"
    )
    predict.add_argument("model_id", type=int)
    predict.add_argument(
        "--data", required=True, help="CSV, Parquet, .npz or image folder with the task's columns and label"
    )
    predict.add_argument("--output", help="write row, prediction and label to this CSV")
    predict.add_argument(
        "--ipfs-api", help="Kubo RPC API (default $DML_IPFS_API, else http://127.0.0.1:5001)"
    )
    predict.set_defaults(run=cmd_model_predict)
    verify = model.add_parser(
        "verify", help="recompute a committed model from the chain and IPFS (a committee member's key)"
    )
    verify.add_argument("model_id", type=int)
    verify.add_argument("--ipfs-api", help="Kubo RPC API (default $DML_IPFS_API, else http://127.0.0.1:5001)")
    verify.set_defaults(run=cmd_model_verify)
    exported = model.add_parser(
        "export", help="write a released model as safetensors or ONNX (checked with onnxruntime)"
    )
    exported.add_argument("model_id", type=int)
    exported.add_argument("--format", choices=("safetensors", "onnx"), default="safetensors")
    exported.add_argument("--output", help="the file to write (default model-ID.FORMAT)")
    exported.add_argument("--force", action="store_true", help="replace --output if it exists")
    exported.add_argument(
        "--ipfs-api", help="Kubo RPC API (default $DML_IPFS_API, else http://127.0.0.1:5001)"
    )
    exported.set_defaults(run=cmd_model_export)
    card = model.add_parser(
        "card",
        help="a Hugging Face-style model card: task, metrics, contributors and their datasets' licences",
    )
    card.add_argument("model_id", type=int)
    card.add_argument("--output", help="write the card (Markdown) to this file instead of printing it")
    card.add_argument("--ipfs-api", help="Kubo RPC API (default $DML_IPFS_API, else http://127.0.0.1:5001)")
    card.set_defaults(run=cmd_model_card)
