"""A private round on the real devnet and Kubo, played by an honest-but-curious worker that reads
chain storage and a peered IPFS: every update and every unreleased model it can fetch is sealed bytes
it cannot open, a copied ciphertext is refused on chain or rejected as Unsealable and never paid,
and a worker that sends its update in plaintext to a private task is rejected likewise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordinator.federation.referee import Received, Referee
from coordinator.federation.tasks import initial_manifest, initial_weights
from decentralml import codec
from decentralml.content import ContentStore, sha256_hex
from decentralml.crypto import SealError
from decentralml.data import DataSpec, digits, partition
from decentralml.manifest import DPSpec, PrivacySpec
from decentralml.models import ModelSpec
from decentralml.privacy import sealing
from decentralml.privacy.dp import BudgetExhaustedError, plan
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl, calls, errors
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE
from decentralml_bindings.events import ResultSubmitted
from decentralml_bindings.types import RejectionReason, ResultSubmissionStatus
from support.factories import enlist, publish
from worker.trainer import Behaviour

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[16])


def plaintext_pieces(data: bytes, size: int = 48) -> list[bytes]:
    """Runs of a plaintext a reader would recognise (the codec header and tensor bytes)."""
    return [data[i : i + size] for i in range(0, len(data) - size, max(size, len(data) // 16))]


@pytest.mark.devnet
def test_a_curious_worker_reads_nothing_and_a_copier_earns_nothing(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: a private task (the default) judged by Ferdie; Bob and Charlie train honestly,
    # Dave is curious and copies, Eve sends her update in plaintext.
    manifest = initial_manifest(store, "private-test", MODEL, data=DataSpec(parts=4))
    task = publish(chain, store, manifest, rounds=1, workers=4)
    manifest = task.manifest
    honest = enlist(chain, store, task, {BOB: Behaviour.HONEST, CHARLIE: Behaviour.HONEST}, tmp_path)
    for key in (DAVE, EVE):
        chain.submit(calls.assign_task(task.task_id), key)
    weights = initial_weights(store, manifest)
    updates = {t.address: t.train_round(task.task_id, 1, manifest, weights) for t in honest}
    bob = updates[BOB.ss58_address]

    # Execute, as Dave: read Bob's result from chain storage and fetch it from IPFS.
    on_chain = chain.result(bob.result_id)
    assert on_chain is not None
    fetched = store.get(on_chain.cid, on_chain.hash)
    bob_context = sealing.Context("update", task.task_id, 1, BOB.ss58_address)
    with pytest.raises(SealError):
        sealing.open_bytes(fetched, DAVE, bob_context)
    plain_bob = sealing.open_bytes(fetched, FERDIE, bob_context)  # what only the validator sees
    # Dave resends Bob's exact bytes: the chain refuses a hash already in the round.
    with pytest.raises(errors.DuplicateHash):
        chain.submit(calls.send_task_result(task.task_id, 1, on_chain.cid, on_chain.hash), DAVE)
    # Dave rewrites the header to name himself (other bytes, so another hash) and sends that.
    forged = fetched.replace(BOB.ss58_address.encode(), DAVE.ss58_address.encode())
    forged_stored = store.put(forged)
    dave_result = (
        chain.submit(calls.send_task_result(task.task_id, 1, forged_stored.cid, forged_stored.sha256), DAVE)
        .one(ResultSubmitted)
        .result_id
    )
    # Eve sends a real update, but in plaintext.
    eve_plain = codec.encode(weights)
    eve_stored = store.put(eve_plain)
    eve_result = (
        chain.submit(calls.send_task_result(task.task_id, 1, eve_stored.cid, eve_stored.sha256), EVE)
        .one(ResultSubmitted)
        .result_id
    )
    dave_before = chain.free_and_reserved(DAVE.ss58_address)[0]
    received = [Received.spool(tmp_path, w, u.data, u.examples) for w, u in updates.items()]
    received += [
        Received.spool(tmp_path, DAVE.ss58_address, forged, 100),
        Received.spool(tmp_path, EVE.ss58_address, eve_plain, 100),
    ]
    referee = Referee(chain, store, FERDIE, digits().validation)
    outcome, _ = referee.judge(task.task_id, 1, manifest, weights, received)

    # Assert: the copier and the plaintext sender are rejected as Unsealable on chain, unpaid.
    assert outcome.rejected == {dave_result: "Unsealable", eve_result: "Unsealable"}
    assert sorted(outcome.accepted) == sorted(u.result_id for u in updates.values())
    for result_id in (dave_result, eve_result):
        result = chain.result(result_id)
        assert result is not None
        assert result.status == ResultSubmissionStatus.REJECTED
        assert result.rejection == RejectionReason("Unsealable")
    assert chain.free_and_reserved(DAVE.ss58_address)[0] == dave_before
    # The committed, unreleased model: sealed in IPFS, opened by Ferdie and by Alice only.
    assert outcome.model_id is not None
    model = chain.model(outcome.model_id)
    assert model is not None
    sealed_model = store.fetch(model.cid)
    model_context = sealing.Context("model", task.task_id, 1, FERDIE.ss58_address)
    with pytest.raises(SealError):
        sealing.open_bytes(sealed_model, DAVE, model_context)
    plain_model = sealing.open_bytes(sealed_model, ALICE, model_context)
    assert sha256_hex(plain_model) == model.hash == sha256_hex(model_bytes(store, model, FERDIE))
    with pytest.raises(SealError, match="not published"):
        model_bytes(store, model, None)
    # Everything the honest parties put in IPFS for the task, scanned for plaintext.
    honest_cids = [chain.result(u.result_id) for u in updates.values()]
    stored = [store.get(r.cid, r.hash) for r in honest_cids if r is not None] + [sealed_model]
    secrets = [plain_bob, plain_model]
    for blob in stored:
        assert sealing.is_sealed(blob)
        assert codec.MAGIC not in blob
        assert codec.DELTA_MAGIC not in blob
        for secret in secrets:
            assert not any(piece in blob for piece in plaintext_pieces(secret))
    # An IPFS reader learns the recipients' public keys and the sizes, nothing of the weights.
    header = json.loads(sealed_model[10 : 10 + int.from_bytes(sealed_model[6:10], "little")])
    assert set(header) == {"chunk", "context", "recipients"}


@pytest.mark.devnet
def test_a_worker_stops_before_its_privacy_budget_runs_out_and_sends_nothing(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: a private task with DP whose fixed noise and budget let Bob (part 0) train one round
    # but not two.
    base = initial_manifest(store, "dp-test", MODEL, data=DataSpec(parts=4))
    examples = len(partition(base.data, 0).y)
    probe = plan(DPSpec(epsilon=100, noise_multiplier=3.0), "classification", examples, 32, 5, 3)
    budget = round((probe.epsilon_after(1) + probe.epsilon_after(2)) / 2, 3)
    dp_spec = DPSpec(epsilon=budget, noise_multiplier=3.0, clip_norm=1.0)
    base = base.model_copy(update={"privacy": PrivacySpec(dp=dp_spec)})
    task = publish(chain, store, base, rounds=3, workers=2)
    manifest = task.manifest
    assert manifest.privacy.dp == dp_spec
    assert manifest.privacy.sealed
    (bob,) = enlist(chain, store, task, {BOB: Behaviour.HONEST}, tmp_path)
    weights = initial_weights(store, manifest)

    # Execute: round 1 fits the budget; round 2 would not.
    first = bob.train_round(task.task_id, 1, manifest, weights)
    with pytest.raises(BudgetExhaustedError, match=f"above the task's budget ε={budget:g}"):
        bob.train_round(task.task_id, 2, manifest, weights)

    # Assert: ε reported with the update; nothing sent on chain for round 2; a restart agrees.
    assert first.epsilon is not None
    assert 0 < first.epsilon <= budget
    assert chain.result_of(task.task_id, 2, BOB.ss58_address) is None
    ledger = json.loads((tmp_path / BOB.ss58_address / f"dp-{task.task_id}.json").read_text())
    assert ledger["rounds"] == [1]
