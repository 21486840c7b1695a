"""`dml task`: create, list, show and cancel tasks; pack and verify their bundles."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from coordinator.cli import task_init
from coordinator.cli.common import (
    CliError,
    Subparsers,
    chain_url,
    events_line,
    format_dml,
    get,
    keypair,
    parse_dml,
    post,
    show,
    table,
)
from decentralml.content import ContentStore, sha256_hex
from decentralml.messages import invalid_fields
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.types import TaskStatus, TaskType, ValidationStrategy

TASK_COLUMNS = (
    "id",
    "status",
    "task_type",
    "rounds",
    "committed_rounds",
    "assigned",
    "max_assignments",
    "reward_per_result",
    "escrowed",
)
AMOUNTS = ("reward_per_result", "escrowed")
# ValidationStrategy lists its variants only as constructors; the one with a threshold stands apart.
FIXED_STRATEGIES = {s.kind: s for s in (ValidationStrategy.auto_accept(), ValidationStrategy.manual_accept())}
CUSTOM_ACCEPT = ValidationStrategy.custom_accept(1).kind


def task_table(tasks: list[dict[str, Any]]) -> str:
    return table([{**t, **{a: format_dml(t[a]) for a in AMOUNTS}} for t in tasks], TASK_COLUMNS)


def strategy(args: argparse.Namespace) -> ValidationStrategy:
    if args.validation in FIXED_STRATEGIES:
        return FIXED_STRATEGIES[args.validation]
    if args.threshold is None:
        raise CliError(f"--validation {CUSTOM_ACCEPT} needs --threshold N")
    return ValidationStrategy.custom_accept(args.threshold)


def cmd_task_create(args: argparse.Namespace) -> None:
    validation = strategy(args)
    chain = DecentralMl.connect(chain_url(args))
    try:
        expires_at = chain.block_number() + args.expires_in
    finally:
        chain.close()
    body = {
        "task_type": args.task_type,
        "rounds": args.rounds,
        "max_assignments": args.max_assignments,
        "expires_at": expires_at,
        "validation": args.validation,
        "threshold": validation.threshold,
        "validators": args.validator,
        "reward_per_result": str(args.reward),
        "manifest_cid": args.manifest_cid,
        "manifest_hash": args.manifest_hash,
        "base_model": args.base_model,
    }
    call = calls.create_task(
        task_type=TaskType(args.task_type),
        rounds=args.rounds,
        max_assignments=args.max_assignments,
        expires_at=expires_at,
        validation=validation,
        validators=args.validator,
        reward_per_result=args.reward,
        manifest_cid=args.manifest_cid,
        manifest_hash=args.manifest_hash,
        base_model=args.base_model,
    )
    submitted = post(args, "/tasks", body, call)
    created = next(e for e in submitted["events"] if e["event"] == "TaskCreated")
    show(args, submitted, f"task {created['task_id']} created; {events_line(submitted)}")


def cmd_task_list(args: argparse.Namespace) -> None:
    query = {k: v for k, v in (("status", args.status), ("creator", args.creator)) if v}
    page = get(args, "/tasks?" + "&".join(f"{k}={v}" for k, v in {**query, "limit": args.limit}.items()))
    show(args, page, task_table(page["items"]) + f"\n({len(page['items'])} of {page['total']})")


def cmd_task_show(args: argparse.Namespace) -> None:
    task = get(args, f"/tasks/{args.task_id}")
    results = table(
        task["results"], ("id", "round", "worker", "status", "approvals", "disapprovals", "rejection")
    )
    models = table(task["models"], ("id", "round", "hash", "parent", "status"))
    shown = f"{task_table([task])}{run_lines(task.get('run'))}\n\nresults\n{results}\n\nmodels\n{models}"
    show(args, task, shown + committee_lines(task))


def committee_lines(task: dict[str, Any]) -> str:
    """A committee's attestations (a member that disagrees with the commit is flagged) and
    disputes, for `task show`; nothing for a task one validator judges alone."""
    attestations, disputes = task.get("attestations") or [], task.get("disputes") or []
    if len(task.get("validators") or []) < 2 and not disputes:
        return ""
    marks = {True: "agrees", False: "DISAGREES with the commit", None: "pending"}
    lines = [
        f"round {a['round']}: {a['validator']} attested {a['hash']} ({marks[a['agrees']]})"
        for a in attestations
    ]
    for d in disputes:
        outcome = "open: awaiting the council"
        if d["resolved"]:
            outcome = f"resolved: {d['chosen']}'s attestation" if d["chosen"] else "resolved: round voided"
        lines.append(f"round {d['round']}: disputed by {d['raised_by']}, {outcome}")
    return "\n\nattestations\n" + "\n".join(lines)


def run_lines(run: dict[str, Any] | None) -> str:
    """The coordinator's run status of a task, as lines for `task show` (nothing if none)."""
    if not run:
        return ""
    lines = [f"\n\nrun: {run['state']}" + (f" ({run['reason']})" if run.get("reason") else "")]
    if run.get("last_failure"):
        lines.append(run["last_failure"])
    lines += [f"warning: {w}" for w in run.get("warnings", [])]
    for worker, epsilon in sorted((run.get("epsilon") or {}).items()):
        lines.append(f"privacy spent by {worker}: ε={epsilon:.3f}")
    return "\n".join(lines)


def cmd_task_cancel(args: argparse.Namespace) -> None:
    submitted = post(args, f"/tasks/{args.task_id}/cancel", {}, calls.cancel_task(args.task_id))
    show(args, submitted, events_line(submitted))


def cmd_task_reap(args: argparse.Namespace) -> None:
    submitted = post(args, f"/tasks/{args.task_id}/reap", {}, calls.reap(args.task_id))
    show(args, submitted, events_line(submitted))


def _pin(
    store: ContentStore, path: Path, args: argparse.Namespace, sha256: str | None = None
) -> dict[str, str]:
    """Put a file of the task folder in IPFS, saying so on a terminal (not with --json); its
    `{cid, sha256}`. With `sha256`, a file that hashes otherwise is refused before it is uploaded."""
    data = path.read_bytes()
    if sha256 is not None and sha256_hex(data) != sha256:
        raise CliError(
            f"cannot pack {path.parent}: {path.name} hashes to {sha256_hex(data)}, the manifest says "
            f"{sha256} (run dml task init again)"
        )
    if sys.stderr.isatty() and not args.json:
        print(f"uploading {path.name} ({len(data):,} bytes) ...", file=sys.stderr, flush=True)
    stored = store.put(data)
    return {"cid": stored.cid, "sha256": stored.sha256}


def cmd_task_pack(args: argparse.Namespace) -> None:
    from decentralml import bundle
    from decentralml.content import ContentError, ContentStore
    from decentralml.manifest import ManifestError, TaskManifest

    folder = Path(args.folder)
    try:
        spec = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as unreadable:
        raise CliError(f"{folder}/manifest.json: {unreadable}") from unreadable
    store = ContentStore(args.ipfs_api)
    try:
        weights = spec.get("initial_weights")
        if isinstance(weights, str):  # a file in the folder: put it in IPFS and address it by hash
            spec["initial_weights"] = _pin(store, folder / weights, args)
        data = spec.get("data") or {}
        inputs = data.get("inputs") or {}
        tokenizer = inputs.get("tokenizer")
        if isinstance(tokenizer, dict) and "file" in tokenizer:  # the BPE tokenizer `task init` trained
            inputs["tokenizer"] = _pin(
                store, folder / str(tokenizer["file"]), args, str(tokenizer.get("sha256"))
            )
        for name in ("validation", "test"):  # sealed sets `dml task init` wrote beside the manifest
            sealed = data.get(name)
            if isinstance(sealed, dict) and "file" in sealed:
                copies = [c for c in sealed.get("copies") or [] if isinstance(c, dict) and "file" in c]
                data[name] = {
                    **_pin(store, folder / str(sealed["file"]), args),
                    "recipient": sealed.get("recipient"),
                }
                if copies:  # the same set sealed to the committee's other members
                    data[name]["copies"] = [
                        {**_pin(store, folder / str(c["file"]), args), "recipient": c.get("recipient")}
                        for c in copies
                    ]
        manifest = TaskManifest.model_validate(spec)
        signed = bundle.sign(manifest, keypair(args))
        stored = store.put(signed)
    except ValidationError as invalid:
        raise CliError(f"cannot pack {folder}: manifest.json: {invalid_fields(invalid)}") from invalid
    except (OSError, ContentError, ValueError, ManifestError) as failed:
        raise CliError(f"cannot pack {folder}: {failed}") from failed
    (folder / "bundle.json").write_bytes(signed)
    out = {"bundle_cid": stored.cid, "bundle_sha256": stored.sha256, "creator": json.loads(signed)["creator"]}
    show(
        args,
        out,
        f"bundle {stored.cid} sha256 {stored.sha256}, signed by {out['creator']}\n"
        f"(also written to {folder}/bundle.json)\n"
        f"create the task with --manifest-cid {stored.cid} --manifest-hash {stored.sha256}",
    )


def cmd_task_verify(args: argparse.Namespace) -> None:
    from decentralml import bundle
    from decentralml.content import ContentError, ContentStore

    store = ContentStore(args.ipfs_api)
    try:
        manifest = bundle.open_bundle(store, args.cid, args.hash, args.creator)
    except (ContentError, bundle.BundleError) as refused:
        raise CliError(f"refused: {refused}") from refused
    show(
        args,
        manifest.model_dump(mode="json"),
        f"ok: {manifest.name}, signed by {args.creator}, assets verified",
    )


def register(groups: Subparsers) -> None:
    task = groups.add_parser("task", help="create, list, show, cancel tasks").add_subparsers(
        dest="cmd", required=True
    )
    create = task.add_parser("create", help="create a task and escrow its rewards")
    create.add_argument(
        "--task-type", default=TaskType.MODEL_CONTRIBUTOR.value, choices=[t.value for t in TaskType]
    )
    create.add_argument("--rounds", type=int, default=1)
    create.add_argument("--max-assignments", type=int, required=True)
    create.add_argument(
        "--expires-in", type=int, default=14_400, help="blocks from now (default 14400, a day)"
    )
    create.add_argument(
        "--validation",
        default=ValidationStrategy.manual_accept().kind,
        choices=[*FIXED_STRATEGIES, CUSTOM_ACCEPT],
    )
    create.add_argument("--threshold", type=int, help=f"approvals a result needs ({CUSTOM_ACCEPT} only)")
    create.add_argument("--validator", action="append", default=[], help="validator address (repeatable)")
    create.add_argument(
        "--reward", type=parse_dml, required=True, help="reward per accepted result, in DML (e.g. 12.5)"
    )
    create.add_argument("--manifest-cid", required=True)
    create.add_argument(
        "--manifest-hash", required=True, help="0x and 64 hex digits (sha256 of the manifest)"
    )
    create.add_argument("--base-model", type=int)
    create.set_defaults(run=cmd_task_create)
    listing = task.add_parser("list", help="list tasks from the mirror")
    listing.add_argument("--status", choices=[s.value for s in TaskStatus])
    listing.add_argument("--creator")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=cmd_task_list)
    for name, run, helptext in (
        ("show", cmd_task_show, "a task with its results and models"),
        ("cancel", cmd_task_cancel, "cancel a task and refund its escrow"),
        ("reap", cmd_task_reap, "remove an ended task's state and return its storage deposit"),
    ):
        sub = task.add_parser(name, help=helptext)
        sub.add_argument("task_id", type=int)
        sub.set_defaults(run=run)

    ipfs_help = "Kubo RPC API (default $DML_IPFS_API, else http://127.0.0.1:5001)"
    pack = task.add_parser("pack", help="sign a folder (manifest.json and its assets) into a task bundle")
    pack.add_argument("folder")
    pack.add_argument("--ipfs-api", help=ipfs_help)
    pack.set_defaults(run=cmd_task_pack)
    check = task.add_parser("verify", help="check a bundle: hash, the creator's signature, every asset")
    check.add_argument("--cid", required=True)
    check.add_argument("--hash", required=True, help="the sha256 the task on chain names")
    check.add_argument("--creator", required=True, help="the task's creator (SS58 address)")
    check.add_argument("--ipfs-api", help=ipfs_help)
    check.set_defaults(run=cmd_task_verify)

    task_init.register(task)
