"""What a committee costs: the digits demo judged by 1 validator and by 3 (a majority of 2 agrees).

Both runs are the whole system through Flower (`scripts/demo.py`: devnet, Kubo, coordinators,
`dml worker run` daemons), side by side on this machine with the same workers and seed. Reported:

- the wall time per round (from the task's creation to its completion, over the rounds), and the
  carrier's own time per round (collect + judge + commit or attest), 3 members against 1;
- per member per round: extrinsics sent (its nonce over the task), the bytes of its one extrinsic
  (verdicts and attestation, rebuilt from the chain and signed, not sent), the bytes it fetched
  from IPFS (every result's sealed update; the carrier receives the same bytes through Flower) and
  the bytes it stored (its sealed aggregate).

    python -m bench.committee [--rounds 3] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from decentralml.content import ContentStore
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.types import RejectionReason
from scripts import demo

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def costs(chain: DecentralMl, store: ContentStore, task_id: int, args: argparse.Namespace) -> dict[str, Any]:
    """Per member: extrinsics, extrinsic bytes, IPFS bytes fetched and stored, per round."""
    task = chain.task(task_id)
    assert task is not None
    rounds = task.rounds
    found: dict[str, Any] = {}
    for index, member in enumerate(args.members):
        address = member.ss58_address
        nonce = int(chain.substrate.get_account_nonce(address))
        extrinsic_bytes, fetched, stored = [], 0, 0
        for round_ in range(1, rounds + 1):
            attestation = chain.attestation(task_id, round_, address)
            results = sorted(chain.round_results(task_id, round_).values())
            if attestation is None:
                continue
            verdicts = []
            for result_id in results:
                verdict = chain.verdict(result_id, address)
                if verdict is not None:
                    reason = verdict.reason or RejectionReason("FailedValidation")
                    verdicts.append(
                        calls.validate_task_result(
                            result_id, verdict.approved, verdict.score, None if verdict.approved else reason
                        )
                    )
                if index > 0:  # a member other than the carrier fetches every update from IPFS
                    result = chain.result(result_id)
                    assert result is not None
                    fetched += len(store.fetch(result.cid))
            commit = calls.commit_model(
                task_id, round_, attestation.cid, attestation.hash, attestation.accepted
            )
            batch = calls.batch_all([*verdicts, commit])
            extrinsic_bytes.append((len(chain.sign(batch, member, nonce=0)) - 2) // 2)
            stored += len(store.fetch(attestation.cid))
        found[address] = {
            "role": "carrier" if index == 0 else "member",
            "extrinsics_per_round": nonce / rounds,
            "attested_rounds": len(extrinsic_bytes),
            "extrinsic_bytes_per_round": sum(extrinsic_bytes) / max(len(extrinsic_bytes), 1),
            "ipfs_fetched_bytes_per_round": fetched / rounds,
            "ipfs_stored_bytes_per_round": stored / rounds,
        }
    return found


def run(validators: int, rounds: int, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dml-bench-committee-") as tmp:
        args = demo.parse(
            [
                "--free-ports", "--rounds", str(rounds), "--workers", str(workers), "--poisoned", "1",
                "--validators", str(validators), "--summary", str(Path(tmp) / "s.json"),
            ]
        )  # fmt: skip
        measured: dict[str, Any] = {}

        def inspect(chain: DecentralMl, store: ContentStore, task_id: int) -> None:
            measured.update(costs(chain, store, task_id, args))

        began = time.perf_counter()
        summary = demo.run(args, Path(tmp) / "work", inspect)
        wall = time.perf_counter() - began
    carrier = [r["seconds"] for r in summary["rounds"]]
    return {
        "validators": validators,
        "status": summary["status"],
        "wall_seconds": round(wall, 1),
        "carrier_seconds_per_round": round(sum(carrier) / len(carrier), 2),
        "attestations": [r["attestations"] for r in summary["rounds"]],
        "final_accuracy": summary["final_accuracy"],
        "members": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="honest workers (one more is poisoned)")
    parser.add_argument("--out", type=Path, default=RESULTS / "committee.json")
    args = parser.parse_args()
    one = run(1, args.rounds, args.workers)
    three = run(3, args.rounds, args.workers)
    report = {
        "rounds": args.rounds,
        "workers": args.workers + 1,
        "runs": [one, three],
        "wall_ratio_3_vs_1": round(three["wall_seconds"] / one["wall_seconds"], 2),
        "carrier_round_ratio_3_vs_1": round(
            three["carrier_seconds_per_round"] / one["carrier_seconds_per_round"], 2
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
