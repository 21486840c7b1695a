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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from decentralml_bindings import DecentralMl, calls, events  # noqa: E402
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, UNIT  # noqa: E402
from decentralml_bindings.types import OUTLIER, TaskType, ValidationStrategy  # noqa: E402
from tests.devnet import Devnet, free_port  # noqa: E402

WORKERS = {"bob": BOB, "charlie": CHARLIE, "dave": DAVE}
PEOPLE = {**WORKERS, "alice": ALICE}


def content_id(data: bytes) -> tuple[str, bytes]:
    """(CID, sha256) of bytes; the CID stands in for IPFS's until the content store lands."""
    digest = hashlib.sha256(data).digest()
    return "sha256-" + digest.hex()[:46], digest


def run(chain: DecentralMl, rounds: int, poisoned: str, reward: int) -> dict[str, Any]:
    start = {name: chain.free_and_reserved(who.ss58_address)[0] for name, who in PEOPLE.items()}
    manifest_cid, manifest_hash = content_id(json.dumps({"model": "mlp", "rounds": rounds}).encode())
    created = chain.submit(
        calls.create_task(
            task_type=TaskType.MODEL_CONTRIBUTOR,
            rounds=rounds,
            max_assignments=len(WORKERS),
            expires_at=chain.block_number() + 10_000,
            validation=ValidationStrategy.manual_accept(),
            validators=[EVE.ss58_address],
            reward_per_result=reward,
            manifest_cid=manifest_cid,
            manifest_hash=manifest_hash,
        ),
        ALICE,
    ).one(events.TaskCreated)
    task_id = created.task_id
    print(f"task {task_id} created by alice, escrow {created.escrowed / UNIT} DML")
    for who in WORKERS.values():
        chain.submit(calls.assign_task(task_id), who)

    summary: list[dict[str, Any]] = []
    print(f"{'round':>5} {'accepted':>8} {'rejected':>8}  {'model hash':<20} {'block':>6}")
    for round_ in range(1, rounds + 1):
        accepted: list[int] = []
        rejected = 0
        for name, who in WORKERS.items():
            cid, digest = content_id(f"task {task_id} round {round_} update from {name}".encode())
            sent = chain.submit(calls.send_task_result(task_id, round_, cid, digest), who)
            result_id = sent.one(events.ResultSubmitted).result_id
            honest = name != poisoned
            chain.submit(calls.validate_task_result(result_id, honest, 950_000 if honest else 50_000), EVE)
            if honest:
                chain.submit(calls.accept_task_result(result_id), ALICE)
                accepted.append(result_id)
            else:
                chain.submit(calls.reject_task_result(result_id, OUTLIER), ALICE)
                rejected += 1
        cid, digest = content_id(f"task {task_id} aggregate of round {round_}: {sorted(accepted)}".encode())
        committed = chain.submit(calls.commit_model(task_id, round_, cid, digest, accepted), EVE)
        model = committed.one(events.ModelCommitted)
        summary.append(
            {
                "round": round_,
                "accepted": len(accepted),
                "rejected": rejected,
                "model_id": model.model_id,
                "model_cid": model.cid,
                "model_hash": model.hash,
                "parent": model.parent,
                "block": committed.block_number,
            }
        )
        print(
            f"{round_:>5} {len(accepted):>8} {rejected:>8}  {model.hash[:18]}.. {committed.block_number:>6}"
        )

    task = chain.task(task_id)
    assert task is not None
    end = {name: chain.free_and_reserved(who.ss58_address)[0] for name, who in PEOPLE.items()}
    print(f"task {task_id}: {task.status}, paid {task.paid / UNIT} DML, refunded {task.refunded / UNIT} DML")
    for name in WORKERS:
        print(f"  {name:<8} balance change {(end[name] - start[name]) / UNIT:+.6f} DML (rewards less fees)")
    return {
        "task_id": task_id,
        "status": task.status.value,
        "rounds": summary,
        "paid": task.paid,
        "refunded": task.refunded,
        "balance_changes": {name: end[name] - start[name] for name in end},
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
            chain = DecentralMl.connect(devnet.url)
            result = run(chain, args.rounds, args.poisoned, int(args.reward * UNIT))
            chain.close()
        finally:
            devnet.stop()
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps(result, indent=2, default=str))
    print(f"summary written to {args.summary}")
    return 0 if result["status"] == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
