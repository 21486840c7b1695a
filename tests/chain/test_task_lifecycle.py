"""A whole task on the real devnet, driven with substrate-interface, every balance checked to the unit."""

from __future__ import annotations

from collections import Counter

import pytest
from decentralml_bindings import (
    ALICE,
    BOB,
    CHARLIE,
    DAVE,
    EVE,
    FERDIE,
    PALLET,
    UNIT,
    Outcome,
    balance,
    bounded,
    cid,
    hex32,
    must,
    storage,
    submit,
)
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

REWARD = 10 * UNIT


class Ledger:
    """Expected (free, reserved) of each account, moved by fees, escrow, payouts and refunds."""

    def __init__(self, substrate: SubstrateInterface, accounts: list[Keypair]) -> None:
        self.substrate = substrate
        self.expected = {who.ss58_address: balance(substrate, who) for who in accounts}
        self.keys = {who.ss58_address: who for who in accounts}

    def move(self, who: Keypair, free: int = 0, reserved: int = 0) -> None:
        old_free, old_reserved = self.expected[who.ss58_address]
        self.expected[who.ss58_address] = (old_free + free, old_reserved + reserved)

    def paid_fee(self, signer: Keypair, outcome: Outcome) -> Outcome:
        assert outcome.fee > 0
        self.move(signer, free=-outcome.fee)
        return outcome

    def check(self) -> None:
        for address, expected in self.expected.items():
            assert balance(self.substrate, self.keys[address]) == expected, address


def block_number(substrate: SubstrateInterface) -> int:
    return int(substrate.get_block_header()["header"]["number"])


def create_task(
    substrate: SubstrateInterface, creator: Keypair, *, rounds: int, slots: int, validators: list[Keypair]
) -> Outcome:
    return submit(
        substrate,
        creator,
        PALLET,
        "create_task",
        task_type="ModelContributor",
        rounds=rounds,
        max_assignments=slots,
        expires_at=block_number(substrate) + 1_000,
        validation="ManualAccept",
        validators=bounded([v.ss58_address for v in validators]),
        reward_per_result=REWARD,
        manifest_cid=cid("bafy-manifest-lifecycle"),
        manifest_hash=hex32(0xAB),
        base_model=None,
    )


@pytest.mark.devnet
def test_a_whole_task_escrows_pays_refunds_and_commits_every_round(substrate: SubstrateInterface) -> None:
    # Prepare
    ledger = Ledger(substrate, [ALICE, BOB, CHARLIE, DAVE, EVE])
    workers = [BOB, CHARLIE, DAVE]

    # Execute and assert, step by step
    created = ledger.paid_fee(ALICE, must(create_task(substrate, ALICE, rounds=2, slots=3, validators=[EVE])))
    event = created.event(PALLET, "TaskCreated")
    task_id, budget = int(event["task_id"]), int(event["escrowed"])
    assert budget == REWARD * 3 * 2
    ledger.move(ALICE, free=-budget, reserved=budget)
    ledger.check()

    for worker in workers:
        ledger.paid_fee(worker, must(submit(substrate, worker, PALLET, "assign_task", task_id=task_id)))
    assert storage(substrate, "Tasks", task_id)["assigned"] == 3

    def send(worker: Keypair, round_: int) -> int:
        outcome = must(
            submit(
                substrate,
                worker,
                PALLET,
                "send_task_result",
                task_id=task_id,
                round=round_,
                cid=cid(f"bafy-update-{worker.ss58_address[:8]}-{round_}"),
                hash=hex32(round_),
            )
        )
        ledger.paid_fee(worker, outcome)
        return int(outcome.event(PALLET, "ResultSubmitted")["result_id"])

    def validate(result_id: int, approved: bool) -> None:
        outcome = submit(
            substrate,
            EVE,
            PALLET,
            "validate_task_result",
            result_id=result_id,
            approved=approved,
            score=900_000 if approved else 100_000,
        )
        ledger.paid_fee(EVE, must(outcome))

    def settle(result_id: int, worker: Keypair, accept: bool) -> None:
        if accept:
            outcome = submit(substrate, ALICE, PALLET, "accept_task_result", result_id=result_id)
            assert int(must(outcome).event(PALLET, "ResultAccepted")["reward"]) == REWARD
            ledger.move(ALICE, reserved=-REWARD)
            ledger.move(worker, free=REWARD)
        else:
            outcome = submit(
                substrate, ALICE, PALLET, "reject_task_result", result_id=result_id, reason="Outlier"
            )
            must(outcome).event(PALLET, "ResultRejected")
        ledger.paid_fee(ALICE, outcome)

    def commit(round_: int, accepted: list[int]) -> Outcome:
        outcome = submit(
            substrate,
            EVE,
            PALLET,
            "commit_model",
            task_id=task_id,
            round=round_,
            cid=cid(f"bafy-model-{round_}"),
            hash=hex32(0x40 + round_),
            accepted=bounded(accepted),
        )
        return ledger.paid_fee(EVE, must(outcome))

    # Round 1: three results, two accepted, one rejected.
    round1 = {worker.ss58_address: send(worker, 1) for worker in workers}
    for worker in workers:
        validate(round1[worker.ss58_address], approved=worker is not DAVE)
    for worker in workers:
        settle(round1[worker.ss58_address], worker, accept=worker is not DAVE)
    ledger.check()
    first = commit(1, sorted([round1[BOB.ss58_address], round1[CHARLIE.ss58_address]]))
    model1 = first.event(PALLET, "ModelCommitted")
    assert model1["parent"] is None

    # Round 2: the two honest workers again, both accepted.
    round2 = {worker.ss58_address: send(worker, 2) for worker in (BOB, CHARLIE)}
    for worker in (BOB, CHARLIE):
        validate(round2[worker.ss58_address], approved=True)
        settle(round2[worker.ss58_address], worker, accept=True)
    second = commit(2, sorted(round2.values()))
    model2 = second.event(PALLET, "ModelCommitted")
    completed = second.event(PALLET, "TaskCompleted")
    refund = budget - 4 * REWARD
    assert int(completed["refunded"]) == refund
    ledger.move(ALICE, free=refund, reserved=-refund)

    # Assert the final state, chain-wide
    ledger.check()
    task = storage(substrate, "Tasks", task_id)
    assert task["status"] == "Completed"
    assert (int(task["paid"]), int(task["refunded"]), int(task["escrowed"])) == (4 * REWARD, refund, 0)
    stored2 = storage(substrate, "Models", int(model2["model_id"]))
    assert stored2["parent"] == int(model1["model_id"])
    assert stored2["accepted"] == sorted(round2.values())
    assert stored2["status"] == "Committed"
    statuses = Counter(
        storage(substrate, "Results", rid)["status"] for rid in [*round1.values(), *round2.values()]
    )
    assert statuses == Counter({"Accepted": 4, "Rejected": 1})
    rejected = storage(substrate, "Results", round1[DAVE.ss58_address])
    assert rejected["rejection"] == "Outlier"


@pytest.mark.devnet
def test_cancelling_refunds_the_whole_unspent_budget(substrate: SubstrateInterface) -> None:
    ledger = Ledger(substrate, [ALICE, BOB])
    created = ledger.paid_fee(ALICE, must(create_task(substrate, ALICE, rounds=1, slots=2, validators=[])))
    task_id, budget = (int(created.event(PALLET, "TaskCreated")[k]) for k in ("task_id", "escrowed"))
    ledger.move(ALICE, free=-budget, reserved=budget)
    ledger.paid_fee(BOB, must(submit(substrate, BOB, PALLET, "assign_task", task_id=task_id)))
    ledger.check()

    cancelled = ledger.paid_fee(ALICE, must(submit(substrate, ALICE, PALLET, "cancel_task", task_id=task_id)))

    assert int(cancelled.event(PALLET, "TaskCancelled")["refunded"]) == budget
    ledger.move(ALICE, free=budget, reserved=-budget)
    ledger.check()
    assert storage(substrate, "Tasks", task_id)["status"] == "Withdrawn"
    refused = submit(
        substrate, BOB, PALLET, "send_task_result", task_id=task_id, round=1, cid=cid("x"), hash=hex32(1)
    )
    assert refused.error_name == "TaskNotOpen"


@pytest.mark.devnet
def test_a_bad_signature_is_refused_before_inclusion(substrate: SubstrateInterface) -> None:
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": BOB.ss58_address, "value": UNIT}
    )
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=ALICE)
    raw = bytearray(extrinsic.data.data)
    # compact length (2 bytes here), version, MultiAddress::Id (1 + 32), MultiSignature tag, signature.
    signature_start = 2 + 1 + 33 + 1
    raw[signature_start + 10] ^= 0xFF
    before = balance(substrate, ALICE)

    with pytest.raises(SubstrateRequestException) as refused:
        substrate.rpc_request("author_submitExtrinsic", ["0x" + raw.hex()])

    assert "1010" in str(refused.value) or "bad signature" in str(refused.value).lower()
    assert balance(substrate, ALICE) == before


@pytest.mark.devnet
@pytest.mark.parametrize("caller", [FERDIE, ALICE], ids=["outsider", "single-council-member"])
def test_approve_model_is_refused_outside_a_council_majority(
    substrate: SubstrateInterface, caller: Keypair
) -> None:
    outcome = submit(substrate, caller, PALLET, "approve_model", model_id=0)

    assert not outcome.ok
    assert outcome.error_name == "BadOrigin"
