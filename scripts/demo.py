"""`make demo` (chain walkthrough): a federated task run to the end on a real devnet.

Starts the devnet (our committed runtime in Chopsticks) in a scratch state directory, has Alice
create a task and escrow its rewards, three workers claim slots and post a result hash every
round, Eve validates, Alice accepts the honest results and rejects the poisoned worker's, Eve
commits each round's model by hash, and the task completes with the unspent escrow refunded.
Prints a table per round, writes a JSON summary, and stops the devnet.

The learning itself (Flower rounds, IPFS assets, real model updates) joins in issue 4; here each
"update" is a deterministic byte string whose sha256 goes on chain exactly as a real one would.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from substrateinterface import SubstrateInterface

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from decentralml_bindings import (  # noqa: E402
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    PALLET,
    UNIT,
    balance,
    bounded,
    must,
    storage,
    submit,
)

from tests.devnet import Devnet, free_port  # noqa: E402

WORKERS = {"bob": BOB, "charlie": CHARLIE, "dave": DAVE}


def digest(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def as_cid(data: bytes) -> str:
    """A content id for bytes; stands in for the IPFS CID until the content store lands."""
    return "0x" + ("sha256-" + hashlib.sha256(data).hexdigest()[:46]).encode().hex()


def run(substrate: SubstrateInterface, rounds: int, poisoned: str, reward: int) -> dict[str, Any]:
    start = {name: balance(substrate, who)[0] for name, who in {**WORKERS, "alice": ALICE}.items()}
    manifest = json.dumps({"model": "mlp", "dataset": "digits", "rounds": rounds}).encode()
    head = int(substrate.get_block_header()["header"]["number"])
    created = must(
        submit(
            substrate,
            ALICE,
            PALLET,
            "create_task",
            task_type="ModelContributor",
            rounds=rounds,
            max_assignments=len(WORKERS),
            expires_at=head + 10_000,
            validation="ManualAccept",
            validators=bounded([EVE.ss58_address]),
            reward_per_result=reward,
            manifest_cid=as_cid(manifest),
            manifest_hash=digest(manifest),
            base_model=None,
        )
    )
    task_id = int(created.event(PALLET, "TaskCreated")["task_id"])
    escrowed = int(created.event(PALLET, "TaskCreated")["escrowed"])
    print(f"task {task_id} created by alice, escrow {escrowed / UNIT} DML")
    for who in WORKERS.values():
        must(submit(substrate, who, PALLET, "assign_task", task_id=task_id))

    summary: list[dict[str, Any]] = []
    print(f"{'round':>5} {'accepted':>8} {'rejected':>8}  {'model hash':<20} {'block':>6}")
    for round_ in range(1, rounds + 1):
        accepted: list[int] = []
        rejected = 0
        for name, who in WORKERS.items():
            update = f"task {task_id} round {round_} update from {name}".encode()
            sent = must(
                submit(
                    substrate,
                    who,
                    PALLET,
                    "send_task_result",
                    task_id=task_id,
                    round=round_,
                    cid=as_cid(update),
                    hash=digest(update),
                )
            )
            result_id = int(sent.event(PALLET, "ResultSubmitted")["result_id"])
            honest = name != poisoned
            must(
                submit(
                    substrate,
                    EVE,
                    PALLET,
                    "validate_task_result",
                    result_id=result_id,
                    approved=honest,
                    score=950_000 if honest else 50_000,
                )
            )
            if honest:
                must(submit(substrate, ALICE, PALLET, "accept_task_result", result_id=result_id))
                accepted.append(result_id)
            else:
                must(
                    submit(
                        substrate, ALICE, PALLET, "reject_task_result", result_id=result_id, reason="Outlier"
                    )
                )
                rejected += 1
        model = f"task {task_id} aggregate of round {round_}: {sorted(accepted)}".encode()
        committed = must(
            submit(
                substrate,
                EVE,
                PALLET,
                "commit_model",
                task_id=task_id,
                round=round_,
                cid=as_cid(model),
                hash=digest(model),
                accepted=bounded(sorted(accepted)),
            )
        )
        event = committed.event(PALLET, "ModelCommitted")
        block = int(substrate.get_block_header(committed.receipt.block_hash)["header"]["number"])
        row = {
            "round": round_,
            "accepted": len(accepted),
            "rejected": rejected,
            "model_id": int(event["model_id"]),
            "model_hash": event["hash"],
            "parent": event["parent"],
            "block": block,
        }
        summary.append(row)
        print(f"{round_:>5} {len(accepted):>8} {rejected:>8}  {str(event['hash'])[:18]}.. {block:>6}")

    task = storage(substrate, "Tasks", task_id)
    end = {name: balance(substrate, who)[0] for name, who in {**WORKERS, "alice": ALICE}.items()}
    paid, refunded = int(task["paid"]) / UNIT, int(task["refunded"]) / UNIT
    print(f"task {task_id}: {task['status']}, paid {paid} DML, refunded {refunded} DML")
    for name in WORKERS:
        print(f"  {name:<8} balance change {(end[name] - start[name]) / UNIT:+.6f} DML (rewards less fees)")
    return {
        "task_id": task_id,
        "status": task["status"],
        "rounds": summary,
        "paid": int(task["paid"]),
        "refunded": int(task["refunded"]),
        "balance_changes": {k: end[k] - start[k] for k in end},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="federated rounds (default 5)")
    parser.add_argument(
        "--poisoned", choices=sorted(WORKERS), default="dave", help="the worker whose updates are rejected"
    )
    parser.add_argument("--reward", type=float, default=10.0, help="reward per accepted result, in DML")
    parser.add_argument("--summary", type=Path, required=True, help="where to write the JSON summary")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    with tempfile.TemporaryDirectory(prefix="dml-demo-") as state:
        devnet = Devnet(state_dir=Path(state), port=free_port())
        devnet.start()
        try:
            substrate = SubstrateInterface(url=devnet.url)
            result = run(substrate, args.rounds, args.poisoned, int(args.reward * UNIT))
            substrate.close()
        finally:
            devnet.stop()
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(result, indent=2, default=str))
    print(f"summary written to {args.summary}")
    return 0 if result["status"] == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
