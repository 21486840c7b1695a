"""`verify_model`: recompute a committed model from what the chain names, and compare hashes.

A round's model is the task's rule applied to exactly the results it accepted (their bytes in
IPFS, hashed on chain; each carries its example count) and the model it started from (the
model's parent on chain, or the task's initial weights). Anyone holding a key the updates and
models are sealed to (a member of the task's committee) recomputes it here, with no coordinator
and no Flower, and learns whether:

- the sealed bytes the chain names open to the plaintext hash the chain records (`stored_match`);
- the rule's aggregate of the accepted updates hashes to that same value (`recomputed_match`).

A committee that attested a model it did not compute, or bytes changed after the commit, fail
one or the other. A rule that keeps state between rounds (centered clipping's momentum) cannot
be recomputed from one round's inputs: `VerifyError` says so rather than report a mismatch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from substrateinterface import Keypair

from coordinator.federation.datasets import judging_sets
from coordinator.federation.referee import Referee, sha_once
from coordinator.federation.runner import read_once, training_base
from coordinator.federation.tasks import initial_weights, load_task
from decentralml import codec, downlink
from decentralml.content import ContentError, ContentStore, sha256_hex
from decentralml.data import Split
from decentralml.judging import unlearning
from decentralml.judging.aggregation import UpdateFile
from decentralml.judging.determinism import deterministic
from decentralml.judging.rules import RULES
from decentralml.privacy import sealing
from decentralml.privacy.models import model_bytes
from decentralml_bindings.client import DecentralMl

STATEFUL_RULES = frozenset({"centered_clipping"})


class VerifyError(Exception):
    """The model cannot be verified (not on chain, task reaped, not a member, content missing)."""


@dataclass(frozen=True)
class Verification:
    model_id: int
    task_id: int
    round: int
    rule: str
    accepted: list[int]
    on_chain: str  # the plaintext hash the chain records
    stored: str  # the hash of the bytes the chain's CID opens to
    recomputed: str  # the hash of the rule's aggregate of the accepted updates

    @property
    def stored_match(self) -> bool:
        return self.stored == self.on_chain

    @property
    def recomputed_match(self) -> bool:
        return self.recomputed == self.on_chain

    @property
    def match(self) -> bool:
        return self.stored_match and self.recomputed_match


def verify_model(chain: DecentralMl, store: ContentStore, reader: Keypair, model_id: int) -> Verification:
    """Recompute model `model_id` (opening sealed content with `reader`'s key) and compare."""
    model = chain.model(model_id)
    if model is None:
        raise VerifyError(f"no model {model_id} on chain")
    task = chain.task(model.task_id)
    if task is None:
        raise VerifyError(f"task {model.task_id} was reaped: its results are no longer on chain")
    manifest = load_task(chain, store, model.task_id)
    rule = manifest.aggregation.rule
    if rule in STATEFUL_RULES:
        raise VerifyError(f"{rule} keeps state between rounds: one round cannot be recomputed alone")
    try:
        stored = sha256_hex(model_bytes(store, model, reader))
        if model.parent is None:
            previous = initial_weights(store, manifest)
        else:
            parent = chain.model(model.parent)
            if parent is None:
                raise VerifyError(f"model {model_id}'s parent {model.parent} is not on chain")
            previous = codec.decode(model_bytes(store, parent, reader))
        # With `model_encoding: sign1` the workers trained from the base the 1-bit deltas rebuilt.
        history = read_once(chain, store, reader)  # the base and the momentum share it
        base = training_base(chain, store, reader, model.task_id, manifest, model.round, history)
    except sealing.SealError as sealed:
        raise VerifyError(f"cannot open task {model.task_id}'s models with this key: {sealed}") from sealed
    except ContentError as missing:
        raise VerifyError(f"model content is missing from IPFS: {missing}") from missing
    # Only a rule that weighs updates against the referee's own, and unlearning (which teaches the
    # aggregate on it), need the validation set.
    objective = manifest.data.schema_of().objective
    needed = RULES[rule].needs_reference or unlearning.applies(manifest.model, manifest.validation, objective)
    empty = Split(np.zeros((0,), np.float32), np.zeros((0,), np.int64))
    validation = judging_sets(manifest, store, reader).validation if needed else empty
    referee = Referee(chain, store, reader, validation, objective)
    trained_from = previous if base is None else base
    with tempfile.TemporaryDirectory(prefix="dml-verify-") as spool_dir:
        spool = Path(spool_dir)
        accepted: list[tuple[int, UpdateFile]] = []
        made: list[Path] = []
        previous_sha = sha_once(trained_from)
        for result_id in model.accepted:
            result = chain.result(result_id)
            if result is None:
                raise VerifyError(f"result {result_id} is not on chain")
            path = spool / f"result-{result_id}"
            try:
                path.write_bytes(store.get(result.cid, result.hash))
                update = referee.open_update(
                    path,
                    model.task_id,
                    model.round,
                    result.worker,
                    manifest,
                    trained_from,
                    previous_sha,
                    1,
                    made,
                )
            except ContentError as missing:
                raise VerifyError(f"result {result_id}'s update is missing from IPFS: {missing}") from missing
            except sealing.SealError as sealed:
                raise VerifyError(
                    f"result {result_id}'s update does not open with this key: {sealed}"
                ) from sealed
            except codec.CodecError as malformed:
                raise VerifyError(f"result {result_id}'s update is not an update: {malformed}") from malformed
            accepted.append((result_id, update))
        weights, used = previous, str(rule)
        if accepted:  # a round that accepted nothing commits the model it started from
            with deterministic():  # as the committee judged (the trust rule trains a reference)
                weights, _, used = referee.aggregate(
                    manifest, accepted, trained_from, spool, None, model.round
                )
            if base is not None:
                weights = downlink.carried(weights, base, previous)
            if manifest.aggregation.outer is not None:  # its momentum, replayed from the chain
                referee.history = history
                weights = referee.outer_step(
                    model.task_id, model.round, manifest.aggregation.outer, previous, weights
                )
        recomputed = sha256_hex(codec.encode(weights))
    return Verification(
        model_id=model_id,
        task_id=model.task_id,
        round=model.round,
        rule=used,
        accepted=list(model.accepted),
        on_chain=model.hash,
        stored=stored,
        recomputed=recomputed,
    )
