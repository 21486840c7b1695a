"""`reap` on the real devnet: a finished task (results, verdicts, models) is refused until its delay
has passed (the refused call pays its fee), then anyone removes its state free of fees and the
creator gets its deposit back; the models stay for their lineage, and a second reap is refused and
changes nothing. (Paging, a task larger than one call's `ReapPage`, is covered by the pallet's
tests.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from substrateinterface import SubstrateInterface

from decentralml_bindings import DecentralMl, DispatchFailed, calls
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, EVE
from decentralml_bindings.events import TaskReaped
from decentralml_bindings.types import TaskStatus
from support.devnet import Devnet
from support.factories import run_task

pytestmark = pytest.mark.devnet
REAP_DELAY = 14_400  # blocks: the runtime's ReapDelay (one day of 6 s blocks)


@pytest.fixture
def own_chain(fresh_devnet: Devnet) -> Iterator[tuple[DecentralMl, SubstrateInterface]]:
    """A devnet of the test's own (it jumps the block height), with a raw connection for dev_*."""
    client, raw = DecentralMl.connect(fresh_devnet.url), SubstrateInterface(url=fresh_devnet.url)
    yield client, raw
    raw.close()
    client.close()


def test_a_finished_task_is_reaped_once_its_delay_has_passed(
    own_chain: tuple[DecentralMl, SubstrateInterface],
) -> None:
    chain, raw = own_chain
    task_id = run_task(chain, rounds=2)
    task = chain.task(task_id)
    assert task is not None
    assert task.status == TaskStatus.COMPLETED
    results = [r for round_ in (1, 2) for r in chain.round_results(task_id, round_).values()]
    models = [chain.round_model(task_id, round_) for round_ in (1, 2)]
    assert len(results) == 6
    assert None not in models

    # Too early: refused by name, nothing removed, and the caller pays for the refused call.
    bob_before, _ = chain.free_and_reserved(BOB.ss58_address)
    with pytest.raises(DispatchFailed) as early:
        chain.submit(calls.reap(task_id), BOB)
    assert early.value.name == "TooEarlyToReap"
    assert chain.task(task_id) == task
    assert chain.free_and_reserved(BOB.ss58_address)[0] < bob_before

    # The chain reaches the task's expiry plus the delay (Chopsticks builds the next block there).
    raw.rpc_request("dev_newBlock", [{"unsafeBlockHeight": task.expires_at + REAP_DELAY + 1}])
    _, reserved_before = chain.free_and_reserved(ALICE.ss58_address)
    bob_before, _ = chain.free_and_reserved(BOB.ss58_address)
    reaped = chain.submit(calls.reap(task_id), BOB)
    event = reaped.one(TaskReaped)
    _, reserved_after = chain.free_and_reserved(ALICE.ss58_address)
    bob_after, _ = chain.free_and_reserved(BOB.ss58_address)

    assert (event.task_id, event.by, event.creator) == (task_id, BOB.ss58_address, ALICE.ss58_address)
    assert event.deposit > 0
    assert reserved_before - reserved_after == event.deposit, "the creator's deposit came back"
    # Removing state is free: nobody has to pay more than the deposit is worth to clean up.
    assert reaped.fee == 0
    assert bob_after == bob_before
    assert chain.task(task_id) is None
    for result_id in results:
        assert chain.result(result_id) is None
    assert chain.round_results(task_id, 1) == {}
    assert chain.attestation(task_id, 1, EVE.ss58_address) is None
    # Committed models stay for their lineage, and so does the round -> model index.
    assert [chain.round_model(task_id, round_) for round_ in (1, 2)] == models
    for model_id in models:
        assert model_id is not None
        assert chain.model(model_id) is not None

    # A second reap (a replay, or another caller) is refused and changes nothing.
    with pytest.raises(DispatchFailed) as again:
        chain.submit(calls.reap(task_id), CHARLIE)
    assert again.value.name == "TaskNotFound"
    assert chain.free_and_reserved(ALICE.ss58_address)[1] == reserved_after
