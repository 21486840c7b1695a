"""The bindings' client against the devnet: typed receipts, mapped errors, batches, offline
signing and relaying, and concurrent submissions from one account."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from decentralml_bindings import DecentralMl, calls, errors, events
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, UNIT
from decentralml_bindings.types import TaskStatus, TaskType, ValidationStrategy


def new_task(chain: DecentralMl, label: str, *, slots: int = 2) -> calls.Call:
    return calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=1,
        max_assignments=slots,
        expires_at=chain.block_number() + 2_000,
        validation=ValidationStrategy.auto_accept(),
        validators=[CHARLIE.ss58_address],
        reward_per_result=UNIT,
        manifest_cid=label,
        manifest_hash=bytes(range(32)),
    )


@pytest.mark.devnet
def test_a_receipt_carries_typed_events_and_the_fee(chain: DecentralMl) -> None:
    receipt = chain.submit(new_task(chain, "bafy-receipt"), ALICE)

    created = receipt.one(events.TaskCreated)
    assert (created.creator, created.escrowed, created.manifest_cid) == (
        ALICE.ss58_address,
        2 * UNIT,
        "bafy-receipt",
    )
    assert created.validation == ValidationStrategy.auto_accept()
    assert receipt.fee > 0
    assert receipt.block_number == chain.block_number()
    task = chain.task(created.task_id)
    assert task is not None
    assert task.status == TaskStatus.CREATED


@pytest.mark.devnet
def test_a_calls_cost_is_its_signed_length_and_the_runtimes_weight_and_fee_and_changes_nothing(
    chain: DecentralMl,
) -> None:
    call = new_task(chain, "bafy-cost")
    before = (chain.next_ids(), chain.block_number(), chain.free_and_reserved(ALICE.ss58_address))

    cost = chain.cost(call, ALICE)
    one, two, ten = (chain.cost(calls.batch_all([calls.assign_task(7)] * n), ALICE) for n in (1, 2, 10))

    assert (chain.next_ids(), chain.block_number(), chain.free_and_reserved(ALICE.ss58_address)) == before
    assert cost.length == len(bytes.fromhex(chain.sign(call, ALICE, nonce=0).removeprefix("0x")))
    assert cost.ref_time > 0
    assert cost.proof_size > 0
    # A batch weighs what its calls weigh: each call adds the same weight and the same bytes.
    assert two.ref_time > one.ref_time
    assert ten.ref_time - one.ref_time == pytest.approx(9 * (two.ref_time - one.ref_time), rel=0.01)
    assert ten.length - one.length == 9 * (two.length - one.length)
    receipt = chain.submit(call, ALICE)
    assert 0 < receipt.fee <= cost.fee  # charged at most the estimate (unused weight is refunded)


@pytest.mark.devnet
def test_pallet_errors_raise_their_own_exception_and_change_nothing(chain: DecentralMl) -> None:
    before = chain.next_ids()

    with pytest.raises(errors.TaskNotFound, match="No task has this id"):
        chain.submit(calls.assign_task(10**9), BOB)
    with pytest.raises(errors.InvalidRounds):
        chain.submit(
            calls.create_task(
                task_type=TaskType.MODEL_CONTRIBUTOR,
                rounds=0,
                max_assignments=1,
                expires_at=chain.block_number() + 10,
                validation=ValidationStrategy.manual_accept(),
                validators=[],
                reward_per_result=UNIT,
                manifest_cid="x",
                manifest_hash=bytes(32),
            ),
            ALICE,
        )

    assert chain.next_ids() == before


@pytest.mark.devnet
def test_a_batch_is_all_or_nothing(chain: DecentralMl) -> None:
    receipt = chain.batch([new_task(chain, "bafy-batch-1"), new_task(chain, "bafy-batch-2")], ALICE)
    created = receipt.all(events.TaskCreated)
    assert [c.manifest_cid for c in created] == ["bafy-batch-1", "bafy-batch-2"]
    before = chain.next_ids()

    with pytest.raises(errors.TaskNotFound):
        chain.batch([new_task(chain, "bafy-batch-3"), calls.assign_task(10**9)], ALICE)

    assert chain.next_ids() == before


@pytest.mark.devnet
def test_a_call_signed_offline_is_relayed_by_someone_else(chain: DecentralMl, devnet_url: str) -> None:
    task_id = chain.submit(new_task(chain, "bafy-relay"), ALICE).one(events.TaskCreated).task_id
    signed = chain.sign(calls.assign_task(task_id), BOB)

    relayer = DecentralMl.connect(devnet_url)
    try:
        receipt = relayer.relay(signed)
    finally:
        relayer.close()

    assert receipt.one(events.TaskAssigned).worker == BOB.ss58_address
    assert chain.assignment(task_id, BOB.ss58_address) is not None
    with pytest.raises(errors.ExtrinsicRejected):
        chain.relay(signed)  # the same signed extrinsic again: its nonce is spent


@pytest.mark.devnet
def test_concurrent_submissions_from_one_account_all_land(chain: DecentralMl) -> None:
    labels = [f"bafy-concurrent-{i}" for i in range(6)]

    with ThreadPoolExecutor(max_workers=3) as pool:
        receipts = list(pool.map(lambda label: chain.submit(new_task(chain, label), ALICE), labels))

    created = [r.one(events.TaskCreated) for r in receipts]
    assert sorted(c.manifest_cid for c in created) == sorted(labels)
    assert len({c.task_id for c in created}) == len(labels)


def test_call_builders_refuse_malformed_hashes_and_scores() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        calls.send_task_result(0, 1, "bafy", b"short")
    with pytest.raises(ValueError, match="64 hex"):
        calls.send_task_result(0, 1, "bafy", "0x1234")
    with pytest.raises(ValueError, match="parts per million"):
        calls.validate_task_result(0, True, 1_000_001)
