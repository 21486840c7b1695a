"""The client under trouble, on the real devnet: an extrinsic that is never included gives up at its
deadline (naming the pool's reason) while reads and other accounts' writes go on; a pool refusal
still fails at once; a devnet restart heals the same client; the chain's constants come from its
metadata."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from substrateinterface import Keypair, SubstrateInterface

from decentralml_bindings import DecentralMl, Receipt, calls, errors, events
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, UNIT
from decentralml_bindings.types import TaskInfo
from support.devnet import Devnet
from tests.bindings.test_client import new_task

DAYS = 14_400
"""Blocks in a day at the runtime's 6 s block time (chain/runtime/src/lib.rs)."""


def next_nonce(chain: DecentralMl, account: Keypair) -> int:
    return int(chain.substrate.get_account_nonce(account.ss58_address))


def spend_a_nonce(chain: DecentralMl, account: Keypair) -> None:
    """An included extrinsic by `account` (its dispatch fails, its nonce is used all the same)."""
    with pytest.raises(errors.TaskNotFound):
        chain.submit(calls.assign_task(10**9), account)


@pytest.fixture
def client(fresh_devnet: Devnet) -> Iterator[DecentralMl]:
    chain = DecentralMl.connect(fresh_devnet.url)
    yield chain
    chain.close()


@pytest.fixture
def dev_rpc(fresh_devnet: Devnet) -> Iterator[Callable[..., Any]]:
    """Chopsticks' dev_* calls on a connection of the test's own (not the client's)."""
    substrate = SubstrateInterface(url=fresh_devnet.url)
    yield lambda method, *params: substrate.rpc_request(method, list(params))["result"]
    substrate.close()


class Timeline:
    """When each step finished, and how it ended, for steps run in threads."""

    def __init__(self) -> None:
        self.finished: dict[str, float] = {}
        self.outcome: dict[str, object] = {}
        self._threads: list[threading.Thread] = []

    def run(self, name: str, step: Callable[[], object]) -> None:
        def record() -> None:
            try:
                self.outcome[name] = step()
            except Exception as raised:  # the assertions below look at what was raised
                self.outcome[name] = raised
            self.finished[name] = time.monotonic()

        thread = threading.Thread(target=record, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


@pytest.mark.devnet
def test_a_future_nonce_relay_raises_inclusion_timeout_naming_future(chain: DecentralMl) -> None:
    future = chain.sign(calls.assign_task(10**9), BOB, nonce=next_nonce(chain, BOB) + 5)
    started = time.monotonic()

    with pytest.raises(errors.InclusionTimeout, match="future") as raised:
        chain.relay(future, deadline=3)

    # Chopsticks takes the extrinsic (ready, broadcast), then drops it as invalid (future) when
    # it builds the next block: the client gives up then, not at the deadline.
    assert time.monotonic() - started < 3 + 5
    assert (raised.value.status, raised.value.reason, raised.value.final) == ("invalid", "future", True)
    assert raised.value.extrinsic_hash in str(raised.value)
    assert chain.block_number() > 0  # the client still reads


@pytest.mark.devnet
def test_a_stuck_relay_blocks_no_read_and_no_other_accounts_submit(
    client: DecentralMl, dev_rpc: Callable[..., Any]
) -> None:
    task_id = client.submit(new_task(client, "bafy-resilience"), ALICE).one(events.TaskCreated).task_id
    stuck = client.sign(calls.assign_task(task_id), BOB, nonce=next_nonce(client, BOB) + 5)
    dev_rpc("dev_setBlockBuildMode", "Manual")  # so the pool keeps it, as a node keeps a future one
    timeline = Timeline()
    timeline.run("relay", lambda: client.relay(stuck, deadline=6))
    wait_for(lambda: stuck in dev_rpc("author_pendingExtrinsics"))

    for name, read in {
        "block_number": client.block_number,
        "task": lambda: client.task(task_id),
        "free_and_reserved": lambda: client.free_and_reserved(ALICE.ss58_address),
    }.items():
        timeline.run(name, read)
    timeline.run("submit", lambda: client.submit(new_task(client, "bafy-unstuck"), CHARLIE))
    charlies = wait_for(lambda: [x for x in dev_rpc("author_pendingExtrinsics") if x != stuck])
    dev_rpc("dev_newBlock", {"transactions": charlies})  # a block with Charlie's create, not Bob's
    timeline.join(timeout=6 + 10)

    relay_returned = timeline.finished["relay"]
    for step in ("block_number", "task", "free_and_reserved", "submit"):
        assert timeline.finished[step] < relay_returned, f"{step} waited for the stuck relay"
    submitted, task = timeline.outcome["submit"], timeline.outcome["task"]
    assert isinstance(submitted, Receipt), submitted
    assert submitted.one(events.TaskCreated).creator == CHARLIE.ss58_address
    assert isinstance(task, TaskInfo), task
    timed_out = timeline.outcome["relay"]
    assert isinstance(timed_out, errors.InclusionTimeout), timed_out
    assert (timed_out.status, timed_out.final) == ("broadcast", False)
    assert "within 6 s" in str(timed_out)
    assert "(future)" in str(timed_out)  # its nonce is ahead of Bob's


@pytest.mark.devnet
def test_a_stale_nonce_relay_is_refused_at_once(chain: DecentralMl) -> None:
    spend_a_nonce(chain, BOB)
    stale = chain.sign(calls.assign_task(10**9), BOB, nonce=next_nonce(chain, BOB) - 1)
    started = time.monotonic()

    with pytest.raises(errors.ExtrinsicRejected, match="stale") as raised:
        chain.relay(stale, deadline=30)

    assert not isinstance(raised.value, errors.InclusionTimeout)
    assert "1010" in str(raised.value)
    assert time.monotonic() - started < 30  # refused by the pool, not waited out


@pytest.mark.devnet
def test_the_same_client_reads_and_submits_again_after_a_devnet_restart(
    client: DecentralMl, fresh_devnet: Devnet
) -> None:
    task_id = client.submit(new_task(client, "bafy-resilience"), ALICE).one(events.TaskCreated).task_id
    before = client.block_number()
    fresh_devnet.stop()
    fresh_devnet.start()

    head = client.block_number()
    task = client.task(task_id)
    free, _ = client.free_and_reserved(BOB.ss58_address)
    receipt = client.submit(calls.assign_task(task_id), BOB)

    assert head >= before
    assert task is not None
    assert task.creator == ALICE.ss58_address
    assert free > 0
    assert receipt.one(events.TaskAssigned).worker == BOB.ss58_address
    assert client.pallet_constants()["MaxRounds"] == 100


@pytest.mark.devnet
def test_a_read_while_the_devnet_is_down_fails_and_the_next_one_after_it_is_back_works(
    client: DecentralMl, fresh_devnet: Devnet
) -> None:
    before = client.block_number()
    fresh_devnet.stop()

    with pytest.raises(ConnectionError):  # one reconnect, then the error: never retried forever
        client.block_number()
    fresh_devnet.start()
    after = client.block_number()

    assert after >= before


@pytest.mark.devnet
def test_the_pallet_constants_and_the_existential_deposit_come_from_the_metadata(
    chain: DecentralMl,
) -> None:
    constants = chain.pallet_constants()
    existential_deposit = chain.existential_deposit()

    assert constants == {
        "MaxAssignments": 512,
        "MaxRounds": 100,
        "MaxValidators": 16,
        "MaxCidLength": 128,
        "MaxTaskDuration": 30 * DAYS,
        "MaxExpiringPerBlock": 16,
        "MaxExpiringAssignments": 1024,
        "MinReward": UNIT // 1_000,
        "TaskDeposit": UNIT // 100,
        "ReapDelay": DAYS,
        "ReapPage": 48,
        "AttestationWindow": DAYS // 24,
    }
    assert existential_deposit == UNIT // 1_000
    assert existential_deposit > 0
