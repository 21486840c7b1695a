"""Reading a run of blocks' events in a few JSON-RPC batch requests.

One block read the plain way is four requests in turn (its hash, its header and its runtime
version, for substrate-interface's runtime check, then `System.Events`) and a decode of every
event in it. A run of blocks read here is three batch requests: the hashes, the runtime version
at both ends of the run (a runtime's `spec_version` only grows, so equal ends mean one runtime
throughout), and every block's raw events. Only the records of the wanted pallets are decoded
(`EventSpans` finds them); the decoder is the same scalecodec one, so the values are the same.

A run that spans a runtime upgrade is read block by block the plain way (the caller's fallback).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from scalecodec.base import ScaleBytes
from substrateinterface import SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException
from substrateinterface.storage import StorageKey
from substrateinterface.utils.hasher import (
    blake2_128,
    blake2_128_concat,
    blake2_256,
    identity,
    two_x64_concat,
    xxh128,
)

from decentralml_bindings.event_spans import EventSpans

log = logging.getLogger(__name__)

# (index in the block, pallet, event name, attributes)
Event = tuple[int, str, str, dict[str, Any]]
# twox128("System") ++ twox128("Events")
EVENTS_KEY = "0x26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7"


class BatchRefused(SubstrateRequestException):  # type: ignore[misc]  # untyped base
    """The node does not take JSON-RPC batch requests (or not this large a one)."""


BATCH_LIMIT = 512
"""The most requests `rpc_batch` sends in one batch (nodes bound a batch's length and answer)."""


def rpc_batch(substrate: SubstrateInterface, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
    """The results of `calls`, in order, sent as one JSON-RPC batch on `substrate`'s websocket.

    More than `BATCH_LIMIT` calls go as several batches. A node that refuses batches raises
    `BatchRefused`; an error answer raises `SubstrateRequestException`; a message that is not the
    batch's answer raises `ConnectionError` (the reading connection carries no subscriptions, so
    the connection is out of step and must be replaced)."""
    if len(calls) > BATCH_LIMIT:
        return [
            result
            for start in range(0, len(calls), BATCH_LIMIT)
            for result in rpc_batch(substrate, calls[start : start + BATCH_LIMIT])
        ]
    if not calls:
        return []
    payload = [
        {"jsonrpc": "2.0", "id": f"batch-{i}", "method": method, "params": params}
        for i, (method, params) in enumerate(calls)
    ]
    websocket = substrate.websocket
    if websocket is None:
        raise ConnectionError("the reading connection has no websocket")
    websocket.send(json.dumps(payload))
    answer = json.loads(websocket.recv())
    if isinstance(answer, dict) and "error" in answer:
        raise BatchRefused(f"the node refused a batch of {len(calls)} requests: {answer['error']}")
    if not isinstance(answer, list) or len(answer) != len(calls):
        raise ConnectionError("the node's answer is not the batch's: the reading connection is out of step")
    by_id = {str(item.get("id")): item for item in answer}
    results = []
    for i, (method, _) in enumerate(calls):
        item = by_id.get(f"batch-{i}")
        if item is None:
            raise ConnectionError(f"the node's batch answer lacks request {i} ({method})")
        if "error" in item:
            raise SubstrateRequestException(f"{method}: {item['error'].get('message', item['error'])}")
        results.append(item.get("result"))
    return results


def event_tuple(index: int, record: dict[str, Any]) -> Event:
    """A decoded `EventRecord`'s value as (index, pallet, name, attributes)."""
    event = record["event"]
    attributes = event["attributes"]
    return (
        index,
        str(event["module_id"]),
        str(event["event_id"]),
        dict(attributes) if isinstance(attributes, dict) else {"value": attributes},
    )


def block_events(substrate: SubstrateInterface, block_hash: str, pallets: Sequence[str]) -> list[Event]:
    """The block's events from `pallets`, every event decoded (substrate-interface's way)."""
    return [
        event_tuple(index, record.value)
        for index, record in enumerate(substrate.get_events(block_hash))
        if record.value["event"]["module_id"] in pallets
    ]


def _one_runtime(substrate: SubstrateInterface, parents: Sequence[str], block: str) -> bool:
    """Whether the blocks whose parents are `parents` were all made by one runtime; if so, that
    runtime is loaded (from `block`, one of them). A block's events and state decode with the
    runtime of its parent, as substrate-interface does; a runtime's `spec_version` only grows, so
    the first and last parent of a run stand for the whole run."""
    versions = rpc_batch(substrate, [("state_getRuntimeVersion", [h]) for h in parents])
    spec = {int(v["specVersion"]) for v in versions}
    if len(spec) != 1:
        return False
    if substrate.runtime_version not in spec:
        substrate.init_runtime(block_hash=block)
    return True


def spans_for(substrate: SubstrateInterface) -> EventSpans:
    """The `EventSpans` of the runtime `substrate` has loaded."""
    metadata = substrate.metadata
    events = metadata.get_metadata_pallet("System").get_storage_function("Events")
    type_string = str(events.get_value_type_string())
    if not type_string.startswith("scale_info::"):
        raise ValueError(f"System.Events has no registry type ({type_string})")
    return EventSpans(metadata.portable_registry.value["types"], int(type_string.split("::")[1]))


def read_run(
    substrate: SubstrateInterface,
    first: int,
    last: int,
    pallets: Sequence[str],
    spans: Callable[[SubstrateInterface], EventSpans],
) -> list[tuple[int, str, list[Event]]] | None:
    """(number, hash, events of `pallets`) of blocks `first`..`last`, or None when the run spans
    a runtime upgrade. LookupError if a block in the run is not on the chain yet."""
    numbers = list(range(max(first - 1, 0), last + 1))
    hashes = rpc_batch(substrate, [("chain_getBlockHash", [n]) for n in numbers])
    missing = [n for n, h in zip(numbers, hashes, strict=True) if h is None]
    if missing:
        raise LookupError(f"block #{missing[0]} is not on the chain yet")
    hash_of = dict(zip(numbers, (str(h) for h in hashes), strict=True))
    if not _one_runtime(substrate, [hash_of[max(first - 1, 0)], hash_of[max(last - 1, 0)]], hash_of[last]):
        return None
    walker = spans(substrate)
    blocks = [(n, hash_of[n]) for n in range(first, last + 1)]
    raws = rpc_batch(substrate, [("state_getStorage", [EVENTS_KEY, h]) for _, h in blocks])
    wanted = set(pallets)
    found = []
    for (number, block_hash), raw in zip(blocks, raws, strict=True):
        data = b"" if raw is None else bytes.fromhex(str(raw)[2:])
        events: list[Event] = []
        try:
            records = walker.spans(data) if data else []
        except ValueError as odd:
            log.warning(
                "events not walkable; decoding the whole block", extra={"block": number, "why": str(odd)}
            )
            records = []
            events = block_events(substrate, block_hash, pallets)
        for index, pallet, start, end in records:
            if pallet not in wanted:
                continue
            record = substrate.runtime_config.create_scale_object(
                type_string=f"scale_info::{walker.record_type}",
                data=ScaleBytes(data[start:end]),
                metadata=substrate.metadata,
            )
            record.decode()
            events.append(event_tuple(index, record.value))
        found.append((number, block_hash, events))
    return found


HASHERS: dict[str, Callable[[bytes], bytes]] = {
    "Blake2_256": blake2_256,
    "Blake2_128": blake2_128,
    "Blake2_128Concat": blake2_128_concat,
    "Twox128": xxh128,
    "Twox64Concat": two_x64_concat,
    "Identity": identity,
}
# (pallet, storage item, keys, block hash): one storage value at one block
StorageRead = tuple[str, str, tuple[Any, ...], str]


def read_storage(substrate: SubstrateInterface, reads: Sequence[StorageRead]) -> list[Any] | None:
    """The decoded values (`.value`, as `substrate.query` gives them) of `reads`, in order, read in
    batch requests; None when the blocks' state is not all of one runtime (read one by one then)."""
    if not reads:
        return []
    blocks = sorted({at for _, _, _, at in reads})
    headers = rpc_batch(substrate, [("chain_getHeader", [h]) for h in blocks])
    if any(header is None for header in headers):
        raise LookupError("a block to read storage at is not on the chain")
    if not _one_runtime(substrate, sorted({str(header["parentHash"]) for header in headers}), blocks[0]):
        return None
    metadata, config = substrate.metadata, substrate.runtime_config
    items: dict[tuple[str, str], Any] = {}
    keys = []
    for pallet, item, params, _ in reads:
        if (pallet, item) not in items:
            found = metadata.get_metadata_pallet(pallet)
            items[pallet, item] = (found.get_storage_function(item), str(found.value["storage"]["prefix"]))
        keys.append(_storage_key(substrate, items[pallet, item], item, params))
    raws = rpc_batch(
        substrate, [("state_getStorage", [key, read[3]]) for key, read in zip(keys, reads, strict=True)]
    )
    values: list[Any] = []
    for (pallet, item, _, _), raw in zip(reads, raws, strict=True):
        function = items[pallet, item][0]
        type_string = function.get_value_type_string()
        if raw is None:
            if function.value["modifier"] != "Default":
                values.append(None)  # an absent optional value
                continue
            raw = function.value_object["default"].value_object
        value = config.create_scale_object(type_string=type_string, data=ScaleBytes(raw), metadata=metadata)
        value.decode()
        values.append(value.value)
    return values


def _storage_key(
    substrate: SubstrateInterface, found: tuple[Any, str], item: str, params: tuple[Any, ...]
) -> str:
    """The storage key of `pallet.item` at `params`, as `StorageKey.generate` makes it, from an
    already looked-up storage function (the lookup is most of `generate`'s cost)."""
    function, prefix = found
    key = StorageKey(
        pallet=prefix,
        storage_function=item,
        params=list(params),
        data=None,
        value_scale_type=None,
        metadata=substrate.metadata,
        runtime_config=substrate.runtime_config,
    )
    made: bytes = xxh128(prefix.encode()) + xxh128(item.encode())
    types = function.get_params_type_string()
    hashers = function.get_param_hashers()
    if len(params) != len(types):
        raise ValueError(f"{prefix}.{item} takes {len(types)} keys, not {len(params)}")
    for param, type_string, hasher in zip(params, types, hashers[: len(params)], strict=True):
        value = key.convert_storage_parameter(type_string, param)
        encoded = substrate.runtime_config.create_scale_object(type_string=type_string).encode(value).data
        made += HASHERS[hasher or "Twox128"](encoded)
    return "0x" + made.hex()
