"""A whole task on the real devnet, every balance checked to the unit."""

from __future__ import annotations

from collections import Counter

import pytest
from substrateinterface import Keypair

from decentralml_bindings import (
    DecentralMl,
    DispatchFailed,
    ExtrinsicRejected,
    Receipt,
    calls,
    errors,
    events,
)
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, UNIT
from decentralml_bindings.types import (
    OUTLIER,
    ModelStatus,
    RejectionReason,
    ResultSubmissionStatus,
    TaskStatus,
    TaskType,
    ValidationStrategy,
)

REWARD = 10 * UNIT
SCORE = 900_000  # an accepted result is paid this share of the reward; the rest returns to Alice
PAID = REWARD * SCORE // 1_000_000


class Ledger:
    """Expected (free, reserved) of each account, moved by fees, escrow, payouts and refunds."""

    def __init__(self, chain: DecentralMl, accounts: list[Keypair]) -> None:
        self.chain = chain
        self.expected = {who.ss58_address: chain.free_and_reserved(who.ss58_address) for who in accounts}

    def move(self, who: Keypair, free: int = 0, reserved: int = 0) -> None:
        old_free, old_reserved = self.expected[who.ss58_address]
        self.expected[who.ss58_address] = (old_free + free, old_reserved + reserved)

    def submit(self, call: calls.Call, signer: Keypair) -> Receipt:
        receipt = self.chain.submit(call, signer)
        assert receipt.fee > 0
        self.move(signer, free=-receipt.fee)
        return receipt

    def check(self) -> None:
        for address, expected in self.expected.items():
            assert self.chain.free_and_reserved(address) == expected, address


def new_task(chain: DecentralMl, *, rounds: int, slots: int, validators: list[Keypair]) -> calls.Call:
    return calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=rounds,
        max_assignments=slots,
        expires_at=chain.block_number() + 1_000,
        validation=ValidationStrategy.manual_accept(),
        validators=[v.ss58_address for v in validators],
        reward_per_result=REWARD,
        manifest_cid="bafy-manifest-lifecycle",
        manifest_hash=bytes([0xAB]) * 32,
    )


@pytest.mark.devnet
def test_a_whole_task_escrows_pays_refunds_and_commits_every_round(chain: DecentralMl) -> None:
    # Prepare
    ledger = Ledger(chain, [ALICE, BOB, CHARLIE, DAVE, EVE])
    workers = [BOB, CHARLIE, DAVE]

    # Execute and assert, step by step
    created = ledger.submit(new_task(chain, rounds=2, slots=3, validators=[EVE]), ALICE).one(
        events.TaskCreated
    )
    task_id, budget = created.task_id, created.escrowed
    deposit = chain.pallet_constants()["TaskDeposit"]
    assert budget == REWARD * 3 * 2
    assert deposit > 0
    ledger.move(ALICE, free=-budget - deposit, reserved=budget + deposit)
    ledger.check()

    for worker in workers:
        ledger.submit(calls.assign_task(task_id), worker)
    task = chain.task(task_id)
    assert task is not None
    assert (task.assigned, task.status) == (3, TaskStatus.IN_PROGRESS)

    def send(worker: Keypair, round_: int) -> int:
        call = calls.send_task_result(
            task_id,
            round_,
            f"bafy-update-{worker.ss58_address[:8]}-{round_}",
            bytes([round_]) * 16 + worker.public_key[:16],  # a hash is accepted once per round
        )
        return ledger.submit(call, worker).one(events.ResultSubmitted).result_id

    def settle(result_id: int, worker: Keypair, accept: bool) -> None:
        ledger.submit(calls.validate_task_result(result_id, accept, SCORE if accept else 100_000), EVE)
        if accept:
            accepted = ledger.submit(calls.accept_task_result(result_id), ALICE).one(events.ResultAccepted)
            assert (accepted.reward, accepted.refunded) == (PAID, REWARD - PAID)
            ledger.move(ALICE, free=REWARD - PAID, reserved=-REWARD)
            ledger.move(worker, free=PAID)
        else:
            rejected = ledger.submit(calls.reject_task_result(result_id, OUTLIER), ALICE).one(
                events.ResultRejected
            )
            assert rejected.reason == OUTLIER

    def commit(round_: int, accepted: list[int]) -> Receipt:
        return ledger.submit(
            calls.commit_model(
                task_id, round_, f"bafy-model-{round_}", bytes([0x40 + round_]) * 32, accepted
            ),
            EVE,
        )

    # Round 1: three results, two accepted, one rejected.
    round1 = {worker.ss58_address: send(worker, 1) for worker in workers}
    for worker in workers:
        settle(round1[worker.ss58_address], worker, accept=worker is not DAVE)
    ledger.check()
    model1 = commit(1, [round1[BOB.ss58_address], round1[CHARLIE.ss58_address]]).one(events.ModelCommitted)
    assert model1.parent is None

    # Round 2: the two honest workers again, both accepted.
    round2 = {worker.ss58_address: send(worker, 2) for worker in (BOB, CHARLIE)}
    for worker in (BOB, CHARLIE):
        settle(round2[worker.ss58_address], worker, accept=True)
    second = commit(2, list(round2.values()))
    model2 = second.one(events.ModelCommitted)
    refund = budget - 4 * REWARD
    assert second.one(events.TaskCompleted).refunded == refund
    assert chain.verdict(round1[DAVE.ss58_address], EVE.ss58_address) is not None
    ledger.move(ALICE, free=refund, reserved=-refund)

    # Assert the final state, chain-wide
    ledger.check()
    task = chain.task(task_id)
    assert task is not None
    assert task.status == TaskStatus.COMPLETED
    assert (task.paid, task.refunded, task.escrowed) == (4 * PAID, refund + 4 * (REWARD - PAID), 0)
    assert task.paid + task.refunded + task.escrowed == task.deposited
    stored2 = chain.model(model2.model_id)
    assert stored2 is not None
    assert (stored2.parent, stored2.accepted, stored2.status) == (
        model1.model_id,
        tuple(sorted(round2.values())),
        ModelStatus.COMMITTED,
    )
    results = [chain.result(rid) for rid in [*round1.values(), *round2.values()]]
    assert Counter(r.status for r in results if r) == Counter(
        {ResultSubmissionStatus.ACCEPTED: 4, ResultSubmissionStatus.REJECTED: 1}
    )
    dave = chain.result(round1[DAVE.ss58_address])
    assert dave is not None
    assert dave.rejection == RejectionReason("Outlier")


@pytest.mark.devnet
def test_cancelling_refunds_the_whole_unspent_budget(chain: DecentralMl) -> None:
    ledger = Ledger(chain, [ALICE, BOB])
    created = ledger.submit(new_task(chain, rounds=1, slots=2, validators=[]), ALICE).one(events.TaskCreated)
    deposit = chain.pallet_constants()["TaskDeposit"]
    ledger.move(ALICE, free=-created.escrowed - deposit, reserved=created.escrowed + deposit)
    ledger.submit(calls.assign_task(created.task_id), BOB)
    ledger.check()

    cancelled = ledger.submit(calls.cancel_task(created.task_id), ALICE).one(events.TaskCancelled)

    assert cancelled.refunded == created.escrowed
    ledger.move(ALICE, free=created.escrowed, reserved=-created.escrowed)
    ledger.check()
    task = chain.task(created.task_id)
    assert task is not None
    assert task.status == TaskStatus.WITHDRAWN
    with pytest.raises(errors.TaskNotOpen, match="completed, cancelled or expired"):
        chain.submit(calls.send_task_result(created.task_id, 1, "x", bytes(32)), BOB)


@pytest.mark.devnet
def test_cancelling_first_pays_a_result_a_validator_approved(chain: DecentralMl) -> None:
    # ManualAccept: Eve (a validator) approves Bob's result with a full score; Alice never settles.
    ledger = Ledger(chain, [ALICE, BOB, EVE])
    created = ledger.submit(new_task(chain, rounds=1, slots=2, validators=[EVE]), ALICE).one(
        events.TaskCreated
    )
    deposit = chain.pallet_constants()["TaskDeposit"]
    ledger.move(ALICE, free=-created.escrowed - deposit, reserved=created.escrowed + deposit)
    ledger.submit(calls.assign_task(created.task_id), BOB)
    sent = ledger.submit(calls.send_task_result(created.task_id, 1, "bafy-approved", bytes(32)), BOB)
    result_id = sent.one(events.ResultSubmitted).result_id
    ledger.submit(calls.validate_task_result(result_id, True, 1_000_000), EVE)

    cancelled = ledger.submit(calls.cancel_task(created.task_id), ALICE)

    paid = cancelled.one(events.ResultAccepted)
    assert (paid.result_id, paid.worker, paid.reward) == (result_id, BOB.ss58_address, REWARD)
    refunded = cancelled.one(events.TaskCancelled).refunded
    assert refunded == created.escrowed - REWARD
    ledger.move(BOB, free=REWARD)
    ledger.move(ALICE, free=refunded, reserved=-created.escrowed)
    ledger.check()
    task = chain.task(created.task_id)
    assert task is not None
    assert (task.paid, task.refunded, task.escrowed) == (REWARD, refunded, 0)


@pytest.mark.devnet
def test_statically_bad_creates_get_named_errors_on_chain(chain: DecentralMl) -> None:
    ed = chain.existential_deposit()
    limits = chain.pallet_constants()

    def create(**changes: object) -> calls.Call:
        base = {
            "task_type": TaskType.MODEL_CONTRIBUTOR,
            "rounds": 1,
            "max_assignments": 1,
            "expires_at": chain.block_number() + 100,
            "validation": ValidationStrategy.manual_accept(),
            "validators": [],
            "reward_per_result": REWARD,
            "manifest_cid": "bafy-named",
            "manifest_hash": bytes(32),
        }
        return calls.create_task(**(base | changes))  # type: ignore[arg-type]

    with pytest.raises(errors.CidTooLong):
        chain.submit(create(manifest_cid="b" * (limits["MaxCidLength"] + 1)), ALICE)
    many = [
        Keypair.create_from_uri(f"//Validator{i}").ss58_address for i in range(limits["MaxValidators"] + 1)
    ]
    with pytest.raises(errors.TooManyValidators):
        chain.submit(create(validators=many), ALICE)
    with pytest.raises(errors.RewardTooSmall):
        chain.submit(create(reward_per_result=ed - 1), ALICE)


@pytest.mark.devnet
def test_a_bad_signature_is_refused_before_inclusion(chain: DecentralMl) -> None:
    signed = bytearray.fromhex(chain.sign(calls.transfer_keep_alive(BOB.ss58_address, UNIT), ALICE)[2:])
    # compact length (2 bytes here), version, MultiAddress::Id (1 + 32), MultiSignature tag, signature.
    signed[2 + 1 + 33 + 1 + 10] ^= 0xFF
    before = chain.free_and_reserved(ALICE.ss58_address)

    with pytest.raises(ExtrinsicRejected, match="1010"):
        chain.relay("0x" + signed.hex())

    assert chain.free_and_reserved(ALICE.ss58_address) == before


@pytest.mark.devnet
@pytest.mark.parametrize("caller", [FERDIE, ALICE], ids=["outsider", "single-council-member"])
def test_approve_model_is_refused_outside_a_council_majority(chain: DecentralMl, caller: Keypair) -> None:
    with pytest.raises(DispatchFailed) as refused:
        chain.submit(calls.approve_model(0), caller)

    assert refused.value.name == "BadOrigin"
    assert not isinstance(refused.value, errors.DecentralMlError)
