"""`Referee`: what the coordinator does with one round's updates, whatever carried them.

For each update received it finds the worker's on-chain result for the round and compares the
sha256 of the bytes received with the hash on chain (a mismatch is rejected, never aggregated).
The matching updates are checked with the task's validation policy, the approved ones aggregated
(streamed from spool files) and the aggregate stored in IPFS. Then one `Utility.batch_all`
records every verdict and commits the model: one extrinsic per round, however many workers.
Under AutoAccept a verdict settles its result at once, so approval pays the worker.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from substrateinterface import Keypair

from decentralml import codec
from decentralml.aggregation import UpdateFile, aggregate
from decentralml.content import ContentStore
from decentralml.data import Split
from decentralml.manifest import TaskManifest
from decentralml.validation import Check, check_updates
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.events import ModelCommitted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """One worker's update as it arrived, spooled to `path`: who says they sent it, its example count."""

    worker: str
    path: Path
    examples: int

    @classmethod
    def spool(cls, directory: Path, worker: str, data: bytes, examples: int) -> Received:
        """Write an update that arrived in memory to `directory`, so it can be dropped from memory."""
        path = directory / f"received-{worker}-{hashlib.sha256(data).hexdigest()[:16]}"
        path.write_bytes(data)
        return cls(worker, path, examples)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "0x" + digest.hexdigest()


@dataclass
class RoundOutcome:
    task_id: int
    round: int
    baseline_accuracy: float  # the previous global model on the validation split
    model_cid: str
    model_hash: str
    model_id: int
    block: int
    accepted: list[int]
    rejected: dict[int, str]
    checks: list[Check] = field(default_factory=list)


class Referee:
    def __init__(
        self, chain: DecentralMl, store: ContentStore, validator: Keypair, validation: Split
    ) -> None:
        self.chain, self.store, self.validator, self.validation = chain, store, validator, validation

    def judge(
        self,
        task_id: int,
        round_: int,
        manifest: TaskManifest,
        global_weights: codec.Weights,
        received: Sequence[Received],
    ) -> tuple[RoundOutcome, codec.Weights]:
        """Verdicts and the committed aggregate for the round; the new global weights."""
        rejected: dict[int, str] = {}
        matched: list[tuple[int, UpdateFile]] = []
        for item in received:
            result_id = self.chain.result_of(task_id, round_, item.worker)
            if result_id is None:
                log.warning("update from a worker with no result on chain", extra={"worker": item.worker})
                continue
            on_chain = self.chain.result(result_id)
            if on_chain is None or on_chain.hash != file_sha256(item.path):
                rejected[result_id] = "HashMismatch"
                continue
            try:
                matched.append((result_id, UpdateFile.open(item.path, item.examples)))
            except codec.CodecError:
                rejected[result_id] = "Malformed"
        baseline, checks = check_updates(
            global_weights, matched, manifest.model, self.validation, manifest.validation
        )
        approved = [c.key for c in checks if c.approved]
        rejected |= {c.key: c.reason or "FailedValidation" for c in checks if not c.approved}
        if approved:
            files = dict(matched)
            rule = manifest.aggregation
            new_weights = aggregate([files[r] for r in approved], rule.rule, rule.trim)
        else:
            new_weights = global_weights
        data = codec.encode(new_weights)
        stored = self.store.put(data)
        scores = {c.key: c.score for c in checks}
        verdicts = [calls.validate_task_result(r, True, scores[r]) for r in approved]
        verdicts += [calls.validate_task_result(r, False, scores.get(r, 0)) for r in sorted(rejected)]
        commit = calls.commit_model(task_id, round_, stored.cid, stored.sha256, approved)
        receipt = self.chain.batch([*verdicts, commit], self.validator)
        committed = receipt.one(ModelCommitted)
        outcome = RoundOutcome(
            task_id=task_id,
            round=round_,
            baseline_accuracy=baseline,
            model_cid=stored.cid,
            model_hash=stored.sha256,
            model_id=committed.model_id,
            block=receipt.block_number,
            accepted=sorted(approved),
            rejected=rejected,
            checks=checks,
        )
        log.info(
            "round committed",
            extra={
                "task": task_id,
                "round": round_,
                "accepted": outcome.accepted,
                "rejected": rejected,
                "model_cid": stored.cid,
                "block": receipt.block_number,
            },
        )
        return outcome, new_weights
