"""Reading runs of blocks in batch requests (`blocks.read_run`, `blocks.read_storage`, `EventSpans`)
gives exactly what reading them one at a time gives, and refuses bytes it cannot walk."""

from __future__ import annotations

import json
from typing import Any

import pytest
from substrateinterface.exceptions import SubstrateRequestException

from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.blocks import BATCH_LIMIT, BatchRefused, read_run, read_storage, rpc_batch
from decentralml_bindings.dev import ALICE, BOB
from decentralml_bindings.event_spans import EventSpans, compact
from support.factories import run_task

EVERY_PALLET = ("System", "Balances", "TransactionPayment", "Sudo", "Utility", "Council", calls.PALLET)

# A small runtime: Phase, two pallets with the same two events, records, Vec<record>.
TYPES: list[dict[str, Any]] = [
    {"id": i, "type": {"def": d}}
    for i, d in enumerate(
        [
            {"primitive": "u32"},  # 0
            {"primitive": "u8"},  # 1
            {"sequence": {"type": 1}},  # 2: Vec<u8>
            {"array": {"len": 32, "type": 1}},  # 3: [u8; 32]
            {"composite": {"fields": [{"name": None, "type": 3}]}},  # 4: H256
            {"sequence": {"type": 4}},  # 5: topics
            {
                "variant": {
                    "variants": [
                        {"name": "ApplyExtrinsic", "index": 0, "fields": [{"type": 0}]},
                        {"name": "Finalization", "index": 1, "fields": []},
                    ]
                }
            },  # 6: Phase
            {"compact": {"type": 0}},  # 7
            {
                "variant": {
                    "variants": [
                        {"name": "Ping", "index": 0, "fields": [{"type": 7}]},
                        {"name": "Blob", "index": 1, "fields": [{"type": 2}, {"type": 4}]},
                    ]
                }
            },  # 8: a pallet's events
            {
                "variant": {
                    "variants": [
                        {"name": "System", "index": 0, "fields": [{"type": 8}]},
                        {"name": "DecentralMl", "index": 8, "fields": [{"type": 8}]},
                    ]
                }
            },  # 9: RuntimeEvent
            {
                "composite": {
                    "fields": [
                        {"name": "phase", "type": 6},
                        {"name": "event", "type": 9},
                        {"name": "topics", "type": 5},
                    ]
                }
            },  # 10: EventRecord
            {"sequence": {"type": 10}},  # 11: System.Events
        ]
    )
]
PING = bytes([0, 7, 0, 0, 0]) + bytes([0, 0, 0x14]) + bytes([0])  # System.Ping(5) in extrinsic 7
BLOB = bytes([1]) + bytes([8, 1, 0x0C]) + b"abc" + bytes(32) + bytes([4]) + bytes(range(32))  # one topic
EVENTS = bytes([8]) + PING + BLOB  # compact(2)


def test_compact_integers_in_all_four_modes() -> None:
    cases = {
        b"\x00": 0,
        b"\x04": 1,
        b"\xfc": 63,
        b"\x01\x01": 64,
        b"\xfd\xff": 16383,
        b"\x02\x00\x01\x00": 16384,
        b"\x03\x00\x00\x00\x40": 2**30,
        b"\x13" + (2**64 - 1).to_bytes(8, "little"): 2**64 - 1,
    }
    for encoded, value in cases.items():
        assert compact(encoded + b"tail", 0) == (value, len(encoded))
    with pytest.raises(ValueError, match="past the end"):
        compact(b"\x02\x00", 0)


def test_records_are_found_with_their_pallets_and_exact_bytes() -> None:
    spans = EventSpans(TYPES, 11)

    found = spans.spans(EVENTS)

    assert [(i, pallet) for i, pallet, _, _ in found] == [(0, "System"), (1, "DecentralMl")]
    assert [EVENTS[start:end] for _, _, start, end in found] == [PING, BLOB]
    assert spans.record_type == 10
    assert spans.spans(b"\x00") == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (EVENTS[:-1], "past the end"),  # truncated
        (EVENTS + b"\x00", "end at byte"),  # a trailing byte
        (bytes([4]) + PING[:5] + bytes([3]) + PING[6:], "pallet index 3"),  # no such pallet
        (bytes([4]) + PING[:6] + bytes([9]) + PING[7:], "variant index 9"),  # no such event
        (bytes([0x03, 0xFF, 0xFF, 0xFF, 0x7F]) + PING, "cannot fit"),  # 2^31 - 1 records claimed
        (bytes([4, 1, 8, 1, 0xFD, 0xFF]), "past the end of the data"),  # a Vec<u8> of 16383 bytes
    ],
)
def test_bytes_that_do_not_walk_are_refused(raw: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        EventSpans(TYPES, 11).spans(raw)


def test_a_registry_without_event_records_is_refused() -> None:
    with pytest.raises(ValueError, match="not a sequence"):
        EventSpans(TYPES, 10)
    with pytest.raises(ValueError, match="phase, event, topics"):
        EventSpans(TYPES, 5)  # a sequence of H256


class _Node:
    """A websocket that answers each JSON-RPC batch from `answer(method, params)`."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.sent: list[Any] = []
        self._reply = ""

    def send(self, text: str) -> None:
        batch = json.loads(text)
        self.sent.append(batch)
        self._reply = json.dumps(self.answer(batch))

    def recv(self) -> str:
        return self._reply


class _Substrate:
    def __init__(self, websocket: _Node) -> None:
        self.websocket = websocket
        self.runtime_version = 103


def _results(result: Any) -> Any:
    return lambda batch: [{"jsonrpc": "2.0", "id": r["id"], "result": result(r)} for r in reversed(batch)]


def test_a_run_across_a_runtime_upgrade_is_left_to_the_block_by_block_path() -> None:
    def answer(request: dict[str, Any]) -> Any:
        if request["method"] == "chain_getBlockHash":
            return f"0x{request['params'][0]:064x}"
        return {"specVersion": 103 if request["params"][0].endswith("9") else 104}

    node = _Node(_results(answer))

    assert read_run(_Substrate(node), 10, 20, EVERY_PALLET, lambda _: EventSpans(TYPES, 11)) is None
    assert [r["method"] for r in node.sent[1]] == ["state_getRuntimeVersion"] * 2  # no events read


def test_a_long_batch_goes_in_parts_and_keeps_its_order() -> None:
    node = _Node(_results(lambda request: request["params"][0] * 2))

    found = rpc_batch(_Substrate(node), [("chain_getBlockHash", [n]) for n in range(2 * BATCH_LIMIT + 3)])

    assert found == [2 * n for n in range(2 * BATCH_LIMIT + 3)]
    assert [len(batch) for batch in node.sent] == [BATCH_LIMIT, BATCH_LIMIT, 3]


def test_batch_answers_that_are_not_the_batchs_raise() -> None:
    refused = _Node(
        lambda batch: {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "no batches"}}
    )
    with pytest.raises(BatchRefused, match="refused a batch"):
        rpc_batch(_Substrate(refused), [("chain_getBlockHash", [1])])

    short = _Node(lambda batch: [{"jsonrpc": "2.0", "id": batch[0]["id"], "result": None}])
    with pytest.raises(ConnectionError, match="out of step"):
        rpc_batch(_Substrate(short), [("chain_getBlockHash", [1]), ("chain_getBlockHash", [2])])

    failing = _Node(
        lambda batch: [{"jsonrpc": "2.0", "id": r["id"], "error": {"message": "bad hash"}} for r in batch]
    )
    with pytest.raises(SubstrateRequestException, match="bad hash"):
        rpc_batch(_Substrate(failing), [("state_getStorage", ["0x", "0x00"])])


@pytest.mark.devnet
def test_a_run_of_blocks_reads_the_events_and_storage_that_single_reads_do(chain: DecentralMl) -> None:
    task_id = run_task(chain, rounds=2, label="bafy-batch")
    chain.council_motion(calls.approve_model(chain.next_ids()[2] - 1), ALICE, [BOB])  # Council events too
    head = chain.block_number()

    batched = chain.blocks_events(1, head, EVERY_PALLET, run=7)  # runs that do not align with anything
    one_by_one = []
    for number in range(1, head + 1):
        block_hash = chain.block_hash(number)
        assert block_hash is not None
        one_by_one.append((number, block_hash, chain.block_events(block_hash, EVERY_PALLET)))
    assert batched == one_by_one
    mine = [name for _, _, events in batched for _, pallet, name, _ in events if pallet == calls.PALLET]
    assert {"TaskCreated", "ResultSubmitted", "ResultAccepted", "ModelCommitted", "ModelApproved"} <= set(
        mine
    )
    council = {name for _, _, events in batched for _, pallet, name, _ in events if pallet == "Council"}
    assert {"Proposed", "Voted", "Closed", "Executed"} <= council

    early, late = one_by_one[0][1], one_by_one[-1][1]
    reads = [
        (calls.PALLET, "Tasks", (task_id,), late),
        (calls.PALLET, "Tasks", (task_id,), early),  # absent then: None
        (calls.PALLET, "NextTaskId", (), early),  # a default value
        (calls.PALLET, "NextTaskId", (), late),
        (calls.PALLET, "Results", (1,), late),
        ("System", "Account", (chain.substrate.ss58_encode(bytes(32)),), late),
    ]
    plain = [chain.substrate.query(p, item, list(keys), block_hash=at).value for p, item, keys, at in reads]
    assert chain._read(lambda substrate: read_storage(substrate, reads)) == plain
    assert plain[0] is not None
    assert plain[1] is None

    chain.prefetch(reads)
    kept = len(chain._prefetched)
    assert chain.task(task_id, at=late) == chain.task(task_id, at=late)  # served once, then read again
    assert chain.task(task_id, at=early) is None
    assert len(chain._prefetched) == kept - 2

    with pytest.raises(LookupError, match="not on the chain yet"):
        chain.blocks_events(head, head + 5, EVERY_PALLET)


@pytest.mark.devnet
def test_a_node_that_refuses_batches_is_read_one_request_at_a_time(
    chain: DecentralMl, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = chain.block_number()
    first = max(1, head - 5)
    expected = chain.blocks_events(first, head, EVERY_PALLET)
    reader = DecentralMl.connect(chain.url)

    asked: list[str] = []

    def refused(*args: Any, **kwargs: Any) -> Any:
        asked.append("batch")
        raise BatchRefused("the node refused a batch of 1 requests: batches are off")

    monkeypatch.setattr("decentralml_bindings.client.read_run", refused)
    monkeypatch.setattr("decentralml_bindings.client.read_storage", refused)

    assert reader.blocks_events(first, head, EVERY_PALLET) == expected
    reader.prefetch([(calls.PALLET, "NextTaskId", (), expected[-1][1])])  # nothing kept, nothing raised
    assert reader._prefetched == {}
    assert reader.blocks_events(first, head, EVERY_PALLET) == expected
    assert asked == ["batch"]  # refused once, never asked again
    reader.close()
