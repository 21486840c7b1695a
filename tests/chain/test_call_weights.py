"""Each call's weight, as the devnet's runtime charges it, covers what the call reads and writes.

The benchmarks record every storage item a call reads and writes (`weights.rs`, `reads(..)` and
`writes(..)`); the runtime must charge them at RocksDB's cost (25 µs a read, 100 µs a write), as
FRAME runtimes do. A runtime on the default `{read: 0, write: 0}` charges only the compute time,
and fails here. The weight is what `System.ExtrinsicSuccess` reports for the real extrinsic."""

from __future__ import annotations

import re
from typing import Any

import pytest

from decentralml_bindings import DecentralMl, Receipt, calls, events
from decentralml_bindings.dev import ALICE, BOB, CHARLIE, FERDIE, UNIT
from decentralml_bindings.types import TaskType, ValidationStrategy
from support.devnet import ROOT

WEIGHTS = ROOT / "chain" / "pallets" / "decentralml" / "src" / "weights.rs"
READ, WRITE = 25_000_000, 100_000_000  # RocksDbWeight, in picoseconds of ref time


def declared(function: str, n: int = 0) -> tuple[int, int]:
    """(compute, database) ref time of `function(n)` in the runtime's weights.rs: the benchmark's
    fitted time, and its reads and writes at RocksDB's cost."""
    runtime = WEIGHTS.read_text().split("impl WeightInfo for ()")[0]  # SubstrateWeight<T> only
    body = re.search(rf"fn {function}\([^)]*\) -> Weight \{{(.*?)\n\t\}}", runtime, re.S)
    assert body is not None, f"{function} is not in weights.rs"
    times = [int(t.replace("_", "")) for t in re.findall(r"Weight::from_parts\(([\d_]+),", body.group(1))]
    compute = times[0] + sum(times[1:]) * n  # the base, then the per-n slope
    database = 0
    for kind, price in (("reads", READ), ("writes", WRITE)):
        found = re.search(rf"\.{kind}\(\s*\(?(\d+)_u64\)?(?:\.saturating_add\(\((\d+)_u64\))?", body.group(1))
        if found is not None:
            database += price * (int(found.group(1)) + int(found.group(2) or 0) * n)
    return compute, database


def charged(receipt: Receipt) -> int:
    """The ref time the runtime charged the extrinsic (`ExtrinsicSuccess`'s dispatch info)."""
    info: dict[str, Any] = next(
        attributes["dispatch_info"]
        for module, name, attributes in receipt.other_events
        if (module, name) == ("System", "ExtrinsicSuccess")
    )
    return int(info["weight"]["ref_time"])


@pytest.mark.devnet
def test_every_call_is_charged_at_least_what_it_reads_and_writes(chain: DecentralMl) -> None:
    def create() -> Receipt:
        return chain.submit(
            calls.create_task(
                task_type=TaskType.MODEL_CONTRIBUTOR,
                rounds=1,
                max_assignments=2,
                expires_at=chain.block_number() + 5_000,
                validation=ValidationStrategy.manual_accept(),
                validators=[FERDIE.ss58_address],
                reward_per_result=UNIT,
                manifest_cid="bafy-weights",
                manifest_hash=bytes([9]) * 32,
            ),
            ALICE,
        )

    created = create()
    task_id = created.one(events.TaskCreated).task_id
    assigned = chain.submit(calls.assign_task(task_id), BOB)
    declared_card = chain.submit(calls.declare_dataset(task_id, "bafy-card", "0x" + "c0" * 32), BOB)
    sent = chain.submit(calls.send_task_result(task_id, 1, "bafy-weights-bob", "0x" + "b0" * 32), BOB)
    result_id = sent.one(events.ResultSubmitted).result_id
    validated = chain.submit(calls.validate_task_result(result_id, True, 800_000), FERDIE)
    committed = chain.submit(
        calls.commit_model(task_id, 1, "bafy-weights-model", "0x" + "e0" * 32, [result_id]), FERDIE
    )
    other = create().one(events.TaskCreated).task_id
    chain.submit(calls.assign_task(other), CHARLIE)
    cancelled = chain.submit(calls.cancel_task(other), ALICE)

    receipts = {
        "create_task": (created, 0),
        "assign_task": (assigned, 0),
        "declare_dataset": (declared_card, 0),
        "send_task_result": (sent, 0),
        "validate_task_result": (validated, 0),
        "commit_model": (committed, 1),
        "cancel_task": (cancelled, 0),
    }
    base = chain.constant("System", "BlockWeights")["per_class"]["normal"]["base_extrinsic"]
    for function, (receipt, n) in receipts.items():
        compute, database = declared(function, n)
        assert database >= READ + WRITE, f"{function}: weights.rs lists no storage access"
        # What the runtime adds to every extrinsic, the call's compute, and its storage access.
        assert charged(receipt) >= int(base["ref_time"]) + compute + database, (function, charged(receipt))
        assert receipt.fee > 0
