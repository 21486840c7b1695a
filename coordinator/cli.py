"""`dml`: the command line for organisations and operators.

Writes are signed here, with a key you supply (`--key //Alice`, a mnemonic, or `--keystore FILE`
exported from Polkadot-JS), and relayed through the coordinator: keys never leave this machine.
Reads come from the coordinator's mirror. `--json` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from substrateinterface import Keypair

from coordinator.settings import Settings
from decentralml_bindings import Call, DecentralMl, calls
from decentralml_bindings.dev import UNIT
from decentralml_bindings.types import RejectionReason, TaskType, ValidationStrategy

TASK_COLUMNS = (
    "id",
    "status",
    "task_type",
    "rounds",
    "committed_rounds",
    "assigned",
    "max_assignments",
    "escrowed",
)


class CliError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def keypair(args: argparse.Namespace) -> Keypair:
    if args.keystore:
        try:
            data = Path(args.keystore).read_text()
        except OSError as unreadable:
            raise CliError(f"cannot read the keystore file: {unreadable}") from unreadable
        password = os.environ.get("DML_KEYSTORE_PASSWORD")
        if password is None:
            password = getpass.getpass(f"password for {args.keystore}: ")
        try:
            return Keypair.create_from_encrypted_json(data, password)
        except Exception as locked:  # wrong password, or not a Polkadot-JS keystore file
            raise CliError(
                f"cannot unlock {args.keystore}: wrong password or not a Polkadot-JS keystore file ({locked})"
            ) from locked
    if not args.key:
        raise CliError("this command signs: give --key (a //Dev URI or a mnemonic) or --keystore FILE")
    try:
        return Keypair.create_from_uri(args.key)
    except Exception as bad:  # substrate-interface raises several kinds for a malformed key
        raise CliError(f"--key is neither a derivation URI nor a mnemonic: {bad}") from bad


def post(args: argparse.Namespace, path: str, body: dict[str, Any], call: Call) -> dict[str, Any]:
    """Sign `call` locally and have the coordinator relay it with the request `body`."""
    signer = keypair(args)
    chain = DecentralMl.connect(args.chain_url)
    try:
        signed = chain.sign(call, signer)
    finally:
        chain.close()
    response = httpx.post(f"{args.coordinator}{path}", json={**body, "signed_extrinsic": signed}, timeout=120)
    submitted: dict[str, Any] = answer(response)
    return submitted


def get(args: argparse.Namespace, path: str) -> Any:
    return answer(httpx.get(f"{args.coordinator}{path}", timeout=30))


def answer(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
        detail = body.get("detail")
        message = f"{body.get('error', response.status_code)}: {detail}" if "error" in body else str(detail)
    except ValueError:
        message = response.text
    raise CliError(f"the coordinator refused ({response.status_code}): {message}")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def show(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2) if args.json else human)


def events_line(submitted: dict[str, Any]) -> str:
    names = ", ".join(e["event"] for e in submitted["events"]) or "no pallet events"
    fee = int(submitted["fee"]) / UNIT
    return f"included in block #{submitted['block_number']} (fee {fee:.6f} DML): {names}"


def cmd_task_create(args: argparse.Namespace) -> None:
    chain = DecentralMl.connect(args.chain_url)
    expires_at = chain.block_number() + args.expires_in
    chain.close()
    body = {
        "task_type": args.task_type,
        "rounds": args.rounds,
        "max_assignments": args.max_assignments,
        "expires_at": expires_at,
        "validation": args.validation,
        "threshold": args.threshold,
        "validators": args.validator,
        "reward_per_result": str(int(args.reward * UNIT)),
        "manifest_cid": args.manifest_cid,
        "manifest_hash": args.manifest_hash,
        "base_model": args.base_model,
    }
    strategy = (
        ValidationStrategy.custom_accept(args.threshold)
        if args.validation == "CustomAccept" and args.threshold
        else ValidationStrategy(args.validation)
    )
    call = calls.create_task(
        task_type=TaskType(args.task_type),
        rounds=args.rounds,
        max_assignments=args.max_assignments,
        expires_at=expires_at,
        validation=strategy,
        validators=args.validator,
        reward_per_result=int(args.reward * UNIT),
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
    show(args, page, table(page["items"], TASK_COLUMNS) + f"\n({len(page['items'])} of {page['total']})")


def cmd_task_show(args: argparse.Namespace) -> None:
    task = get(args, f"/tasks/{args.task_id}")
    results = table(
        task["results"], ("id", "round", "worker", "status", "approvals", "disapprovals", "rejection")
    )
    models = table(task["models"], ("id", "round", "hash", "parent", "status"))
    show(args, task, f"{table([task], TASK_COLUMNS)}\n\nresults\n{results}\n\nmodels\n{models}")


def cmd_task_cancel(args: argparse.Namespace) -> None:
    submitted = post(args, f"/tasks/{args.task_id}/cancel", {}, calls.cancel_task(args.task_id))
    show(args, submitted, events_line(submitted))


def cmd_result_validate(args: argparse.Namespace) -> None:
    body = {"approved": args.approve, "score": args.score}
    call = calls.validate_task_result(args.result_id, args.approve, args.score)
    submitted = post(args, f"/results/{args.result_id}/validate", body, call)
    show(args, submitted, events_line(submitted))


def cmd_result_accept(args: argparse.Namespace) -> None:
    submitted = post(args, f"/results/{args.result_id}/accept", {}, calls.accept_task_result(args.result_id))
    show(args, submitted, events_line(submitted))


def cmd_result_reject(args: argparse.Namespace) -> None:
    call = calls.reject_task_result(args.result_id, RejectionReason(args.reason))
    submitted = post(args, f"/results/{args.result_id}/reject", {"reason": args.reason}, call)
    show(args, submitted, events_line(submitted))


def cmd_serve(args: argparse.Namespace) -> None:
    from coordinator.serve import serve

    serve(Settings(), args.host, args.port)


def cmd_worker_run(args: argparse.Namespace) -> None:
    from worker.daemon import WorkerDaemon, WorkerSettings

    overrides = {
        k: v
        for k, v in {
            "key": args.key,
            "chain_url": args.chain_url,
            "coordinator_url": args.coordinator,
            "ipfs_api": args.ipfs_api,
            "superlink": args.superlink,
            "state_dir": args.state_dir,
            "data_part": args.data_part,
            "data_file": args.data_file,
            "behaviour": args.behaviour,
        }.items()
        if v is not None
    }
    try:
        settings = WorkerSettings(**overrides)
    except ValidationError as missing:
        raise CliError(
            "the worker needs its key: --key //Dev or a mnemonic, or DML_WORKER_KEY "
            f"({missing.errors()[0]['loc'][0]} is missing)"
        ) from missing
    from coordinator import logs

    logs.configure("INFO", "text" if sys.stderr.isatty() else "json")
    daemon = WorkerDaemon(settings)
    daemon.install_signal_handlers()
    served = daemon.run(once=args.once)
    show(args, {"tasks_served": served, "worker": daemon.address}, "worker stopped")


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
            stored = store.put((folder / weights).read_bytes())
            spec["initial_weights"] = {"cid": stored.cid, "sha256": stored.sha256}
        manifest = TaskManifest.model_validate(spec)
        signed = bundle.sign(manifest, keypair(args))
        stored = store.put(signed)
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


def cmd_model_log(args: argparse.Namespace) -> None:
    tree = get(args, f"/models/{args.model_id}/lineage")
    lines = []
    for node in tree["nodes"]:
        accuracy = "" if node["accuracy"] is None else f"  accuracy {node['accuracy']:.3f}"
        marker = "*" if node["id"] == tree["model"] else "o"
        lines.append(
            f"{'  ' * (node['iteration'] - 1)}{marker} model {node['id']}  task {node['task_id']} round "
            f"{node['round']}  {node['status']}  block #{node['committed_at']}{accuracy}\n"
            f"{'  ' * (node['iteration'] - 1)}  {node['hash']}"
        )
    show(args, tree, "\n".join(lines))


def cmd_reindex(args: argparse.Namespace) -> None:
    from coordinator.serve import reindex

    show(args, {"blocks": reindex(Settings())}, "mirror rebuilt")


def parser() -> argparse.ArgumentParser:
    settings = Settings()
    root = argparse.ArgumentParser(
        prog="dml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    root.add_argument("--coordinator", default="http://127.0.0.1:8000", help="coordinator REST URL")
    root.add_argument("--chain-url", default=settings.chain_url, help="chain JSON-RPC URL (for signing)")
    root.add_argument("--json", action="store_true", help="print JSON for scripts")
    root.add_argument("--key", help="signing key: a //Dev derivation URI or a mnemonic")
    root.add_argument(
        "--keystore",
        help="a Polkadot-JS keystore JSON file to sign with (password asked, or DML_KEYSTORE_PASSWORD)",
    )
    groups = root.add_subparsers(dest="group", required=True)

    coordinator = groups.add_parser("coordinator", help="run the coordinator").add_subparsers(
        dest="cmd", required=True
    )
    serve = coordinator.add_parser("serve", help="serve the REST API and follow the chain")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=cmd_serve)
    coordinator.add_parser("reindex", help="rebuild the SQL mirror from the chain").set_defaults(
        run=cmd_reindex
    )

    task = groups.add_parser("task", help="create, list, show, cancel tasks").add_subparsers(
        dest="cmd", required=True
    )
    create = task.add_parser("create", help="create a task and escrow its rewards")
    create.add_argument(
        "--task-type",
        default="ModelContributor",
        choices=["DataAnnotators", "ModelContributor", "ModelEngineer"],
    )
    create.add_argument("--rounds", type=int, default=1)
    create.add_argument("--max-assignments", type=int, required=True)
    create.add_argument(
        "--expires-in", type=int, default=14_400, help="blocks from now (default 14400, a day)"
    )
    create.add_argument(
        "--validation", default="ManualAccept", choices=["AutoAccept", "ManualAccept", "CustomAccept"]
    )
    create.add_argument("--threshold", type=int)
    create.add_argument("--validator", action="append", default=[], help="validator address (repeatable)")
    create.add_argument("--reward", type=float, required=True, help="reward per accepted result, in DML")
    create.add_argument("--manifest-cid", required=True)
    create.add_argument(
        "--manifest-hash", required=True, help="0x and 64 hex digits (sha256 of the manifest)"
    )
    create.add_argument("--base-model", type=int)
    create.set_defaults(run=cmd_task_create)
    listing = task.add_parser("list", help="list tasks from the mirror")
    listing.add_argument("--status", choices=["Created", "InProgress", "Completed", "Withdrawn", "Expired"])
    listing.add_argument("--creator")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=cmd_task_list)
    for name, run, helptext in (
        ("show", cmd_task_show, "a task with its results and models"),
        ("cancel", cmd_task_cancel, "cancel a task and refund its escrow"),
    ):
        sub = task.add_parser(name, help=helptext)
        sub.add_argument("task_id", type=int)
        sub.set_defaults(run=run)

    worker = groups.add_parser("worker", help="run a worker on this machine").add_subparsers(
        dest="cmd", required=True
    )
    work = worker.add_parser("run", help="find tasks, claim a slot, train in their Flower rounds")
    work.add_argument("--once", action="store_true", help="serve one task to its end, then exit")
    work.add_argument("--ipfs-api", help="Kubo RPC API (default http://127.0.0.1:5001)")
    work.add_argument("--superlink", help="the coordinator's Flower SuperLink (default 127.0.0.1:9091)")
    work.add_argument("--state-dir", help="where updates are kept across restarts (default .dml/worker)")
    work.add_argument("--data-file", help="local training data: .npz with arrays x and y")
    work.add_argument("--data-part", type=int, help="demo: train on this part of the task's bundled data")
    work.add_argument("--behaviour", choices=["honest", "poison", "tamper"], help="demo: play a cheat")
    work.set_defaults(run=cmd_worker_run)

    pack = task.add_parser("pack", help="sign a folder (manifest.json and its assets) into a task bundle")
    pack.add_argument("folder")
    pack.add_argument("--ipfs-api", default=settings.ipfs_api)
    pack.set_defaults(run=cmd_task_pack)
    check = task.add_parser("verify", help="check a bundle: hash, the creator's signature, every asset")
    check.add_argument("--cid", required=True)
    check.add_argument("--hash", required=True, help="the sha256 the task on chain names")
    check.add_argument("--creator", required=True, help="the task's creator (SS58 address)")
    check.add_argument("--ipfs-api", default=settings.ipfs_api)
    check.set_defaults(run=cmd_task_verify)

    model = groups.add_parser("model", help="committed models").add_subparsers(dest="cmd", required=True)
    model_log = model.add_parser("log", help="a model's lineage tree, like a version-control log")
    model_log.add_argument("model_id", type=int)
    model_log.set_defaults(run=cmd_model_log)

    result = groups.add_parser("result", help="validate, accept, reject results").add_subparsers(
        dest="cmd", required=True
    )
    validate = result.add_parser("validate", help="record a verdict")
    validate.add_argument("result_id", type=int)
    verdict = validate.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--approve", action="store_true")
    verdict.add_argument("--disapprove", dest="approve", action="store_false")
    validate.add_argument("--score", type=int, default=0, help="parts per million")
    validate.set_defaults(run=cmd_result_validate)
    accept = result.add_parser("accept", help="accept a result and pay its worker")
    accept.add_argument("result_id", type=int)
    accept.set_defaults(run=cmd_result_accept)
    reject = result.add_parser("reject", help="reject a result")
    reject.add_argument("result_id", type=int)
    reject.add_argument(
        "--reason",
        default="FailedValidation",
        choices=["FailedValidation", "HashMismatch", "Outlier", "Malformed"],
    )
    reject.set_defaults(run=cmd_result_reject)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (CliError, ValueError) as problem:
        print(f"dml: {problem}", file=sys.stderr)
        return 1
    except httpx.ConnectError:
        print(
            f"dml: no coordinator answers at {args.coordinator}: start one with `dml coordinator serve`",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
