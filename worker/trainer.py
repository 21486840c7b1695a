"""`Trainer`: one worker's part in a round: train on local data, store the update, send its hash.

Where the task seals (its manifest names the validators' sealing keys, the default), the update is
sealed to every validator of the task before it leaves the machine, bound to the task, the round and
this worker's account (`decentralml.privacy.sealing`); the hash on chain is over the sealed bytes.
The update goes to IPFS and its CID and sha256 go on chain (`send_task_result`) before it is
returned to the coordinator, so the coordinator can check that what it receives is what was
committed to. A round already sent on chain (a restart mid-round) is never sent again: the
update is kept in the worker's state directory and the same bytes are returned.

`Behaviour` lets the demo and the tests play a dishonest worker: `poison` returns a sign-flipped,
scaled update; `tamper` changes the bytes after their hash was sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from substrateinterface import Keypair
from torch import nn

from decentralml import codec, downlink, signs, sparse
from decentralml.content import ContentStore, sha256_hex
from decentralml.data import Split
from decentralml.manifest import TaskManifest
from decentralml.models import build, load_weights, weights_of
from decentralml.privacy import dp
from decentralml.privacy.recipients import update_recipients
from decentralml.privacy.sealing import Context, seal_bytes
from decentralml.training import train
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.types import TaskInfo

log = logging.getLogger(__name__)


class Behaviour(StrEnum):
    HONEST = "honest"
    POISON = "poison"
    TAMPER = "tamper"


POISON_SCALE = 5.0


class TrainingDivergedError(ValueError):
    """This worker's training left non-finite weights: refused before anything is stored or sent."""


@dataclass(frozen=True)
class Update:
    data: bytes
    examples: int
    result_id: int
    cid: str
    epsilon: float | None = None  # privacy spent so far on this task, under the task's DP


class Trainer:
    def __init__(
        self,
        chain: DecentralMl,
        store: ContentStore,
        key: Keypair,
        data: Split,
        state_dir: Path,
        behaviour: Behaviour = Behaviour.HONEST,
    ) -> None:
        self.chain, self.store, self.key, self.data = chain, store, key, data
        self.state_dir, self.behaviour = state_dir, behaviour
        state_dir.mkdir(parents=True, exist_ok=True)

    @property
    def address(self) -> str:
        return str(self.key.ss58_address)

    def _kept(self, task_id: int, round_: int) -> Path:
        return self.state_dir / f"update-{task_id}-{round_}.bin"

    def _held(self, task_id: int) -> Path:
        return self.state_dir / f"model-{task_id}.bin"

    def model_from(self, task_id: int, body: bytes) -> codec.Weights:
        """The round's global model from what came down: the model whole (codec bytes), or a 1-bit
        delta from the one this worker holds of the task (`decentralml.downlink`). Either is kept
        in the state directory, for the next round's delta. MissingBaseError for a delta from a
        model it does not hold (it must be sent the model whole); CodecError if malformed."""
        path = self._held(task_id)
        if signs.is_signs(body):
            wanted = codec.named_base(body)
            held = path.read_bytes() if path.exists() else b""
            if sha256_hex(held) != wanted:
                raise downlink.MissingBaseError(
                    f"a model delta from {wanted}, which this worker does not hold: it "
                    f"{downlink.NEEDS_FULL_MODEL}"
                )
            weights = downlink.apply(body, codec.decode(held), wanted)
        else:
            weights = codec.decode(body)
        partial = path.with_suffix(".partial")
        partial.write_bytes(codec.encode(weights))
        partial.replace(path)
        return weights

    def _residual_path(self, task_id: int, round_: int) -> Path:
        return self.state_dir / f"residual-{task_id}-{round_}.bin"

    def _residual(self, task_id: int, round_: int) -> codec.Weights | None:
        """What this worker's sparse or 1-bit update of `round_` did not send (error feedback), if
        any. A worker that lost it starts again from nothing: only that part of its past work is
        lost."""
        path = self._residual_path(task_id, round_)
        try:
            return codec.decode(path.read_bytes()) if path.exists() else None
        except codec.CodecError:
            return None

    def _keep_residual(self, task_id: int, round_: int, residual: codec.Weights) -> None:
        """Keep round `round_`'s residual (per round: a resent round finds its predecessor's), and
        drop the one two rounds back."""
        path = self._residual_path(task_id, round_)
        partial = path.with_suffix(".partial")
        partial.write_bytes(codec.encode(residual))
        partial.replace(path)
        self._residual_path(task_id, round_ - 2).unlink(missing_ok=True)

    def train_round(
        self, task_id: int, round_: int, manifest: TaskManifest, global_weights: codec.Weights
    ) -> Update:
        already = self.chain.result_of(task_id, round_, self.address)
        if already is not None:
            return self._resend(task_id, round_, already)
        task = self.chain.task(task_id) if manifest.privacy.sealed or manifest.privacy.dp else None
        recipients = self._recipients(task_id, manifest, task)  # checked before any work is done
        objective = manifest.data.schema_of().objective
        model = build(manifest.model)
        load_weights(model, global_weights)
        epsilon: float | None = None
        if manifest.privacy.dp is None:
            loss = train(model, self.data, manifest.training, objective, round_)
            weights = weights_of(model)
            diverged = sorted(n for n, w in weights.items() if not np.isfinite(w).all())
            if diverged:  # nothing is stored or sent: the referee would reject it as Malformed
                raise TrainingDivergedError(
                    f"training diverged in round {round_} of task {task_id}: {', '.join(diverged[:3])} "
                    f"hold non-finite values (last loss {loss}); the task's learning rate "
                    f"{manifest.training.learning_rate} is too high for this data"
                )
        else:  # spends its budget (or refuses: BudgetExhaustedError) before any training
            rounds = task.rounds if task is not None else round_
            loss, weights, epsilon = self._train_private(
                task_id, round_, rounds, manifest, model, global_weights
            )
        if self.behaviour is Behaviour.POISON:
            weights = {
                n: global_weights[n] - POISON_SCALE * (w - global_weights[n]) for n, w in weights.items()
            }
        if manifest.update_encoding == "float16_delta":
            data = codec.encode_delta(
                weights, global_weights, sha256_hex(codec.encode(global_weights)), len(self.data)
            )
        elif manifest.update_encoding in ("sparse_int8", "sign1"):  # what is not sent now goes later
            base_sha = sha256_hex(codec.encode(global_weights))
            left = self._residual(task_id, round_ - 1)
            if manifest.update_encoding == "sparse_int8":
                data, residual = sparse.encode_sparse(
                    weights, global_weights, base_sha, manifest.update_density, left, len(self.data)
                )
            else:
                data, residual = signs.encode_signs(weights, global_weights, base_sha, left, len(self.data))
            self._keep_residual(task_id, round_, residual)
        else:
            data = codec.encode(weights, len(self.data))
        if recipients:
            data = seal_bytes(data, Context("update", task_id, round_, self.address), recipients)
        stored = self.store.put(data)
        self._kept(task_id, round_).write_bytes(data)
        receipt = self.chain.submit(
            calls.send_task_result(task_id, round_, stored.cid, stored.sha256), self.key
        )
        result_id = self.chain.result_of(task_id, round_, self.address)
        assert result_id is not None, "send_task_result was included but left no result"
        if self.behaviour is Behaviour.TAMPER:
            data = _tampered(data)
        log.info(
            "update sent",
            extra={
                "task": task_id,
                "round": round_,
                "result": result_id,
                "loss": loss,
                "block": receipt.block_number,
            },
        )
        return Update(
            data=data, examples=len(self.data), result_id=result_id, cid=stored.cid, epsilon=epsilon
        )

    def _train_private(
        self,
        task_id: int,
        round_: int,
        rounds: int,
        manifest: TaskManifest,
        model: nn.Module,
        global_weights: codec.Weights,
    ) -> tuple[float, codec.Weights, float]:
        """One round of a task of `rounds` rounds under the task's DP: (loss, weights, ε spent after it)."""
        spec, training = manifest.privacy.dp, manifest.training
        assert spec is not None
        objective = manifest.data.schema_of().objective
        task_plan = dp.plan(spec, objective, len(self.data), training.batch_size, training.epochs, rounds)
        epsilon = dp.Ledger(self.state_dir / f"dp-{task_id}.json").charge(task_plan, round_)
        if task_plan.mechanism == "dp-sgd":
            loss = dp.dp_sgd(
                model,
                self.data,
                task_plan,
                spec.clip_norm,
                training.learning_rate,
                training.momentum,
                objective,
            )
            return loss, weights_of(model), epsilon
        loss = train(model, self.data, training, objective, round_)
        return loss, dp.noisy_update(weights_of(model), global_weights, task_plan, spec.clip_norm), epsilon

    def _recipients(self, task_id: int, manifest: TaskManifest, task: TaskInfo | None) -> list[str]:
        """The validators' sealing keys (verified against `task`'s validators, as read from the
        chain); empty when the task does not seal."""
        if not manifest.privacy.sealed:
            return []
        if task is None:
            raise RuntimeError(f"task {task_id} is not on chain")
        return update_recipients(manifest.privacy, task.validators)

    def _resend(self, task_id: int, round_: int, result_id: int) -> Update:
        result = self.chain.result(result_id)
        kept = self._kept(task_id, round_)
        if result is None or not kept.exists() or sha256_hex(kept.read_bytes()) != result.hash:
            raise RuntimeError(
                f"round {round_} of task {task_id} was already sent on chain (result {result_id}) "
                "and its update is not in this worker's state directory"
            )
        log.info("round already sent on chain: returning the same update", extra={"result": result_id})
        return Update(data=kept.read_bytes(), examples=len(self.data), result_id=result_id, cid=result.cid)


def forget_task(state_dir: Path, task_id: int) -> list[Path]:
    """Remove what a worker keeps of a task only while it runs, once it has ended: the model it was
    last sent (`model_encoding: sign1`) and the residuals of its compact updates, a float32 model
    each. The updates it sent (the chain names them) and its privacy ledger stay. The removed paths."""
    found = [
        path
        for pattern in (f"model-{task_id}.*", f"residual-{task_id}-*")
        for path in state_dir.glob(pattern)
        if path.suffix in (".bin", ".partial")
    ]
    for path in found:
        path.unlink(missing_ok=True)
    return found


def _tampered(data: bytes) -> bytes:
    """The same bytes with the lowest bit of the last one flipped: the same layout (a plaintext
    update still decodes), but not the bytes hashed on chain. Adding to a value would not do: a
    sealed update's last bytes read as a float can be too large for +1 to change them."""
    changed = bytearray(data)
    changed[-1] ^= 1
    return bytes(changed)
