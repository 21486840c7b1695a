"""Workers that game the pay, judged on the real devnet with a real Kubo: a free rider (the model
sent back with a little noise), a copycat (an honest worker's update, shared by a colluder, with a
little noise) and a backdoored worker (the real worker on a share with a trigger stamped on copies
labelled 0) are each rejected on chain with a named reason and paid nothing, while every honest
worker is approved and paid from the same escrow (issue 20)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from substrateinterface import Keypair

from coordinator.federation.referee import Received, Referee
from coordinator.federation.tasks import initial_manifest
from decentralml import codec
from decentralml.content import ContentStore
from decentralml.data import DataSpec, digits, partition
from decentralml.kinds.schema import ContentRef
from decentralml.models import ModelSpec
from decentralml.privacy.recipients import update_recipients
from decentralml.privacy.sealing import Context, open_bytes, seal_bytes
from decentralml.training import TrainSpec
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, UNIT
from decentralml_bindings.types import RejectionReason, ResultSubmissionStatus
from support.backdoor import poisoned, pretrained
from support.factories import publish
from worker.trainer import Trainer

MODEL = ModelSpec(architecture="mlp", input_shape=[64], classes=10, hidden=[32])
DATA = DataSpec(parts=5, seed=4)
TRAINING = TrainSpec(epochs=5)
FREE_RIDER, COPYCAT = (Keypair.create_from_uri(f"//Gaming{name}") for name in ("FreeRider", "Copycat"))


def noised(weights: codec.Weights, scale: float, rng: np.random.Generator) -> codec.Weights:
    return {
        name: (w + rng.normal(0.0, scale * float(np.std(w)) + 1e-12, w.shape)).astype(np.float32)
        for name, w in weights.items()
    }


@pytest.mark.devnet
def test_free_riders_copycats_and_a_backdoor_are_refused_on_chain_and_unpaid_while_honest_workers_are_paid(
    chain: DecentralMl, store: ContentStore, tmp_path: Path
) -> None:
    # Prepare: Alice publishes a one-round task from a model that already reads digits, judged by
    # Ferdie; Bob, Charlie and Dave train honestly, Eve trains on a backdoored share, and two
    # funded accounts game: one sends the model back, one copies Bob's update (Bob shares it).
    chain.batch(
        [calls.transfer_keep_alive(k.ss58_address, 10 * UNIT) for k in (FREE_RIDER, COPYCAT)],
        ALICE,
    )
    start = pretrained(MODEL, DATA, TRAINING, seed=4)
    stored = store.put(codec.encode(start))
    manifest = initial_manifest(store, "gaming-test", MODEL, data=DATA, training=TRAINING)
    manifest = manifest.model_copy(
        update={"initial_weights": ContentRef(cid=stored.cid, sha256=stored.sha256)}
    )
    task = publish(chain, store, manifest, rounds=1, workers=6)
    manifest = task.manifest
    assert manifest.privacy.sealed
    shares = {BOB: 1, CHARLIE: 2, DAVE: 3, EVE: 0}
    trainers = {}
    for key, part in shares.items():
        chain.submit(calls.assign_task(task.task_id), key)
        share = partition(DATA, part)
        own = poisoned(share) if key is EVE else share
        trainers[key] = Trainer(chain, store, key, own, tmp_path / key.ss58_address)
    for key in (FREE_RIDER, COPYCAT):
        chain.submit(calls.assign_task(task.task_id), key)
    on_chain_task = chain.task(task.task_id)
    assert on_chain_task is not None
    recipients = update_recipients(manifest.privacy, on_chain_task.validators)
    before = {
        k.ss58_address: chain.free_and_reserved(k.ss58_address)[0] for k in (*shares, FREE_RIDER, COPYCAT)
    }

    # Execute: the honest and the backdoored workers send through the real worker; the gamers
    # seal and send what they made, claiming a share as large as an honest one.
    updates = {k.ss58_address: t.train_round(task.task_id, 1, manifest, start) for k, t in trainers.items()}
    received = [Received.spool(tmp_path, w, u.data, u.examples) for w, u in updates.items()]
    rng = np.random.default_rng(7)
    bob_context = Context("update", task.task_id, 1, BOB.ss58_address)
    bob_model = codec.decode(open_bytes(updates[BOB.ss58_address].data, FERDIE, bob_context))  # Bob shares it
    claim = updates[BOB.ss58_address].examples
    gamed = {FREE_RIDER: noised(start, 1e-4, rng), COPYCAT: noised(bob_model, 1e-3, rng)}
    gamers: dict[str, int] = {}
    for key, weights in gamed.items():
        data = seal_bytes(
            codec.encode(weights, claim), Context("update", task.task_id, 1, key.ss58_address), recipients
        )
        put = store.put(data)
        chain.submit(calls.send_task_result(task.task_id, 1, put.cid, put.sha256), key)
        result_id = chain.result_of(task.task_id, 1, key.ss58_address)
        assert result_id is not None
        gamers[key.ss58_address] = result_id
        received.append(Received.spool(tmp_path, key.ss58_address, data, claim))
    outcome, _ = Referee(chain, store, FERDIE, digits(4).validation).judge(
        task.task_id, 1, manifest, start, received
    )

    # Assert: each gamer is rejected on chain with its reason, and none is paid.
    expected = {
        gamers[FREE_RIDER.ss58_address]: "NoContribution",
        gamers[COPYCAT.ss58_address]: "Duplicate",
        updates[EVE.ss58_address].result_id: "FailedValidation",
    }
    assert outcome.rejected == expected, outcome.rejected
    honest = sorted(updates[k.ss58_address].result_id for k in (BOB, CHARLIE, DAVE))
    assert outcome.accepted == honest
    eve_check = next(c for c in outcome.checks if c.key == updates[EVE.ss58_address].result_id)
    assert eve_check.trigger >= (manifest.validation.max_trigger_lift or 0.7)  # the trigger search found it
    for result_id, reason in expected.items():
        result = chain.result(result_id)
        verdict = chain.verdict(result_id, FERDIE.ss58_address)
        assert result is not None
        assert verdict is not None
        assert result.status == ResultSubmissionStatus.REJECTED
        assert (result.rejection, verdict.approved) == (RejectionReason(reason), False)
    for key in (EVE, FREE_RIDER, COPYCAT):  # fees only: nothing paid
        assert chain.free_and_reserved(key.ss58_address)[0] <= before[key.ss58_address]
    # Every honest worker is approved and paid from the escrow, in proportion to its contribution.
    pays = {}
    for key in (BOB, CHARLIE, DAVE):
        result_id = updates[key.ss58_address].result_id
        verdict = chain.verdict(result_id, FERDIE.ss58_address)
        result = chain.result(result_id)
        assert verdict is not None
        assert result is not None
        assert result.status == ResultSubmissionStatus.ACCEPTED
        assert verdict.approved
        pays[key] = verdict.score
    assert max(pays.values()) == 1_000_000, pays
    assert min(pays.values()) > 0, pays
    assert chain.free_and_reserved(BOB.ss58_address)[0] > before[BOB.ss58_address]
    finished = chain.task(task.task_id)
    assert finished is not None
    assert abs(finished.paid - sum(UNIT * p // 1_000_000 for p in pays.values())) <= len(pays)
    assert finished.paid + finished.refunded + finished.escrowed == finished.deposited
