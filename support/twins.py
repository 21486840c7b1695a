"""In-process twins of the chain and the content store, for the parts the referee uses.

Integration tests run the real devnet and Kubo; these twins exist for benchmarks that call the
real `Referee.judge` thousands of times (`bench/robustness.py`). They keep the contracts the
referee relies on: a result is found by (task, round, worker), its hash is what the worker sent,
a batch applies every call or none, `commit_model` emits `ModelCommitted` with a fresh model id,
and content comes back only under its sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from decentralml.content import ContentRefusedError, HashMismatchError, Stored, sha256_hex
from decentralml_bindings import calls as chain_calls
from decentralml_bindings.calls import Call
from decentralml_bindings.client import Receipt
from decentralml_bindings.events import ModelCommitted
from decentralml_bindings.types import (
    RejectionReason,
    ResultSubmissionStatus,
    TaskInfo,
    TaskResult,
    TaskStatus,
    TaskType,
    ValidationStrategy,
)


@dataclass(frozen=True)
class VerdictRecord:
    result_id: int
    approved: bool
    score: int
    reason: RejectionReason | None


@dataclass
class ChainTwin:
    """Results, verdicts and committed models in memory; `batch` applies validate and commit calls.
    `extrinsics` holds every extrinsic it took, as the call the real client would sign (a
    benchmark sizes them against the runtime's metadata)."""

    results: dict[int, TaskResult] = field(default_factory=dict)
    index: dict[tuple[int, int, str], int] = field(default_factory=dict)
    verdicts: list[VerdictRecord] = field(default_factory=list)
    models: list[ModelCommitted] = field(default_factory=list)
    tasks: dict[int, TaskInfo] = field(default_factory=dict)
    block: int = 0
    extrinsics: list[Call] = field(default_factory=list)

    def open_task(self, task_id: int, creator: str, validators: Sequence[str], rounds: int) -> TaskInfo:
        """Record a task with its creator and validators (what sealing reads), as `create_task` does."""
        self.tasks[task_id] = TaskInfo(
            creator=creator,
            task_type=TaskType.MODEL_CONTRIBUTOR,
            status=TaskStatus.IN_PROGRESS,
            rounds=rounds,
            committed_rounds=0,
            max_assignments=64,
            assigned=0,
            expires_at=10**9,
            validation=ValidationStrategy.auto_accept(),
            validators=tuple(validators),
            reward_per_result=1,
            deposited=0,
            paid=0,
            refunded=0,
            escrowed=0,
            manifest_cid="twin-manifest",
            manifest_hash="0x" + "00" * 32,
            base_model=None,
            created_at=0,
        )
        return self.tasks[task_id]

    def settle(self) -> None:
        """Nothing is ever in flight: the twin applies each call as it is made."""

    def send_result(self, task_id: int, round_: int, worker: str, cid: str, sha256: str) -> int:
        """Record a worker's result for a round, as `send_task_result` does; its id. Like the pallet,
        it refuses a second result of a worker, and a hash already sent in the round."""
        key = (task_id, round_, worker)
        if key in self.index:
            raise ValueError(f"{worker} already sent a result for round {round_} of task {task_id}")
        if any(r.hash == sha256 and (r.task_id, r.round) == (task_id, round_) for r in self.results.values()):
            raise ValueError(f"DuplicateHash: {sha256} was already sent in round {round_} of task {task_id}")
        self.extrinsics.append(chain_calls.send_task_result(task_id, round_, cid, sha256))
        result_id = len(self.results) + 1
        self.results[result_id] = TaskResult(
            task_id=task_id,
            round=round_,
            worker=worker,
            cid=cid,
            hash=sha256,
            status=ResultSubmissionStatus.PENDING_VALIDATION,
            approvals=0,
            disapprovals=0,
            rejection=None,
            submitted_at=self.block,
        )
        self.index[key] = result_id
        return result_id

    def result(self, result_id: int) -> TaskResult | None:
        return self.results.get(result_id)

    def task(self, task_id: int) -> TaskInfo | None:
        return self.tasks.get(task_id)

    def result_of(self, task_id: int, round_: int, worker: str) -> int | None:
        return self.index.get((task_id, round_, worker))

    def round_results(self, task_id: int, round_: int) -> dict[str, int]:
        return {w: r for (t, n, w), r in self.index.items() if (t, n) == (task_id, round_)}

    def round_model(self, task_id: int, round_: int) -> int | None:
        return next((m.model_id for m in self.models if (m.task_id, m.round) == (task_id, round_)), None)

    def batch(self, calls: Sequence[Call], signer: object) -> Receipt:
        """Apply verdicts and commits; any other call is refused before anything changes."""
        unknown = [c.function for c in calls if c.function not in ("validate_task_result", "commit_model")]
        if unknown:
            raise ValueError(f"the chain twin does not implement {', '.join(unknown)}")
        self.extrinsics.append(chain_calls.batch_all(calls))
        self.block += 1
        events = []
        for call in calls:
            p = call.params
            if call.function == "validate_task_result":
                if p["result_id"] not in self.results:
                    raise ValueError(f"no result {p['result_id']}")
                reason = None if p["reason"] is None else RejectionReason.from_chain(p["reason"])
                self.verdicts.append(VerdictRecord(p["result_id"], p["approved"], p["score"], reason))
            else:
                cid = bytes.fromhex(p["cid"][2:]).decode()
                event = ModelCommitted(
                    model_id=len(self.models) + 1,
                    task_id=p["task_id"],
                    round=p["round"],
                    cid=cid,
                    hash=p["hash"],
                    parent=self.models[-1].model_id if self.models else None,
                    accepted=tuple(p["accepted"]),
                    committed_by=str(getattr(signer, "ss58_address", signer)),
                    attestations=1,
                )
                self.models.append(event)
                events.append(event)
        digest = hashlib.sha256(f"{self.block}".encode()).hexdigest()
        return Receipt(
            extrinsic_hash="0x" + digest,
            block_hash="0x" + digest,
            block_number=self.block,
            fee=0,
            events=tuple(events),
        )


@dataclass
class StoreTwin:
    """Content by a sha256-derived CID, in memory; `get` checks the hash like `ContentStore.get`.
    A CID is as long as Kubo's (CIDv1, base32: 59 characters), so what goes on chain is as long."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    def put(self, data: bytes) -> Stored:
        cid = "twin-" + hashlib.sha256(data).hexdigest()[:54]
        self.blobs[cid] = data
        return Stored(cid=cid, sha256=sha256_hex(data), size=len(data))

    def fetch(self, cid: str) -> bytes:
        if cid not in self.blobs:
            raise ContentRefusedError(f"no content {cid}")
        return self.blobs[cid]

    def get(self, cid: str, expected_sha256: str) -> bytes:
        data = self.blobs[cid]
        actual = sha256_hex(data)
        if actual != expected_sha256.lower():
            raise HashMismatchError(cid, expected_sha256, actual)
        return data
