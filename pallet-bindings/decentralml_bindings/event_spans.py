"""`EventSpans`: where each event record lies in a block's raw `System.Events`, and which pallet
emitted it, without decoding any record.

Decoding a block's events with scalecodec costs about 1.6 ms a block, almost all of it spent on
records a reader does not want (fees, balances, `ExtrinsicSuccess`). SCALE carries no lengths,
so a record can only be skipped by walking its type. This module compiles, from the runtime's
portable type registry, a function per type that returns the offset just past a value of that
type; the reader then decodes only the records of the pallets it asked for, from their own
bytes, with the same decoder as before.

The walk is exact or it fails: bytes that run out, an unknown variant or a walk that does not
end at the last byte raise `ValueError`, and the caller decodes the whole block the slow way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

Skip = Callable[[bytes, int], int]  # (data, offset of a value) -> offset just past it

PRIMITIVE_SIZES = {
    "bool": 1,
    "u8": 1,
    "i8": 1,
    "u16": 2,
    "i16": 2,
    "u32": 4,
    "i32": 4,
    "char": 4,
    "u64": 8,
    "i64": 8,
    "u128": 16,
    "i128": 16,
    "u256": 32,
    "i256": 32,
}


def compact(data: bytes, offset: int) -> tuple[int, int]:
    """(value, offset past it) of the SCALE compact integer at `offset`."""
    if offset >= len(data):
        raise ValueError(f"a compact integer at byte {offset} runs past the end ({len(data)} bytes)")
    first = data[offset]
    mode = first & 3
    if mode == 0:
        return first >> 2, offset + 1
    width = {1: 2, 2: 4}.get(mode, (first >> 2) + 4)
    start = offset if mode != 3 else offset + 1
    end = start + width
    if end > len(data):
        raise ValueError(f"a compact integer at byte {offset} runs past the end ({len(data)} bytes)")
    value = int.from_bytes(data[start:end], "little")
    return (value >> 2 if mode != 3 else value), end


def _past(end: int, data: bytes) -> int:
    if end > len(data):
        raise ValueError(f"a value runs past the end of the data ({end} > {len(data)} bytes)")
    return end


class EventSpans:
    """Record spans of one runtime's `Vec<EventRecord>`: build once per runtime (metadata)."""

    def __init__(self, types: Sequence[Mapping[str, Any]], events_type: int) -> None:
        """`types`: the portable registry's entries ({"id", "type": {"def": ...}}), as scalecodec
        gives them; `events_type`: the type id of `System.Events`' value."""
        self._defs: dict[int, Mapping[str, Any]] = {int(t["id"]): t["type"]["def"] for t in types}
        self._skips: dict[int, Skip] = {}
        self._sizes: dict[int, int | None] = {}
        record = int(self._sequence_of(events_type))
        self.record_type = record
        fields = self._defs[record].get("composite", {}).get("fields", [])
        names = [field.get("name") for field in fields]
        if names != ["phase", "event", "topics"]:
            raise ValueError(f"an EventRecord has fields phase, event, topics; this one has {names}")
        self._phase = self.skip(int(fields[0]["type"]))
        self._topics = self.skip(int(fields[2]["type"]))
        event_type = int(fields[1]["type"])
        variants = self._defs[event_type].get("variant", {}).get("variants", [])
        self._pallets: dict[int, tuple[str, Skip]] = {
            int(v["index"]): (str(v["name"]), self._fields([int(f["type"]) for f in v.get("fields", [])]))
            for v in variants
        }

    def spans(self, raw: bytes) -> list[tuple[int, str, int, int]]:
        """(index in the block, pallet, start, end) of every record in `raw` (a whole
        `System.Events` value); `raw[start:end]` is the record's own encoding."""
        count, offset = compact(raw, 0)
        if count > len(raw):  # every record takes at least one byte
            raise ValueError(f"{count} event records cannot fit in {len(raw)} bytes")
        found = []
        for index in range(count):
            start = offset
            offset = self._phase(raw, offset)
            if offset >= len(raw):
                raise ValueError(f"event record {index} runs past the end ({len(raw)} bytes)")
            pallet = self._pallets.get(raw[offset])
            if pallet is None:
                raise ValueError(
                    f"event record {index} names pallet index {raw[offset]}, unknown to the runtime"
                )
            name, fields = pallet
            offset = fields(raw, offset + 1)
            offset = self._topics(raw, offset)
            found.append((index, name, start, offset))
        if offset != len(raw):
            raise ValueError(f"the event records end at byte {offset} of {len(raw)}")
        return found

    # Compiling: one skip function per type id, memoised (recursive types go through a thunk).

    def skip(self, type_id: int) -> Skip:
        known = self._skips.get(type_id)
        if known is not None:
            return known
        self._skips[type_id] = lambda data, offset: self._skips[type_id](data, offset)  # recursion
        size = self.size(type_id)
        made = self._fixed(size) if size is not None else self._compile(type_id)
        self._skips[type_id] = made
        return made

    def size(self, type_id: int) -> int | None:
        """The encoded size of every value of the type, or None when values vary in size."""
        if type_id in self._sizes:
            return self._sizes[type_id]
        self._sizes[type_id] = None  # a recursive type varies in size
        definition = self._defs[type_id]
        size: int | None = None
        if "primitive" in definition:
            size = PRIMITIVE_SIZES.get(str(definition["primitive"]))
        elif "array" in definition:
            inner = self.size(int(definition["array"]["type"]))
            size = None if inner is None else inner * int(definition["array"]["len"])
        elif "composite" in definition or "tuple" in definition:
            members = self._members(definition)
            sizes = [self.size(member) for member in members]
            size = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
        self._sizes[type_id] = size
        return size

    def _sequence_of(self, type_id: int) -> int:
        definition = self._defs.get(type_id)
        if definition is None or "sequence" not in definition:
            raise ValueError(f"System.Events' type {type_id} is not a sequence of event records")
        return int(definition["sequence"]["type"])

    @staticmethod
    def _members(definition: Mapping[str, Any]) -> list[int]:
        if "tuple" in definition:
            return [int(member) for member in definition["tuple"]]
        return [int(field["type"]) for field in definition["composite"].get("fields", [])]

    @staticmethod
    def _fixed(size: int) -> Skip:
        return lambda data, offset: _past(offset + size, data)

    def _fields(self, members: list[int]) -> Skip:
        skips = [self.skip(member) for member in members]

        def walk(data: bytes, offset: int) -> int:
            for skip in skips:
                offset = skip(data, offset)
            return offset

        return walk

    def _compile(self, type_id: int) -> Skip:
        definition = self._defs[type_id]
        if "primitive" in definition:  # str: a compact length, then the bytes
            return lambda data, offset: _past(sum(compact(data, offset)), data)
        if "compact" in definition:
            return lambda data, offset: compact(data, offset)[1]
        if "sequence" in definition:
            inner_size = self.size(int(definition["sequence"]["type"]))
            inner = self.skip(int(definition["sequence"]["type"]))

            def sequence(data: bytes, offset: int) -> int:
                count, offset = compact(data, offset)
                if inner_size is not None:
                    return _past(offset + count * inner_size, data)
                if count > len(data) - offset:
                    raise ValueError(f"a sequence of {count} cannot fit in the bytes left")
                for _ in range(count):
                    offset = inner(data, offset)
                return offset

            return sequence
        if "array" in definition:
            inner = self.skip(int(definition["array"]["type"]))
            length = int(definition["array"]["len"])

            def array(data: bytes, offset: int) -> int:
                for _ in range(length):
                    offset = inner(data, offset)
                return offset

            return array
        if "composite" in definition or "tuple" in definition:
            return self._fields(self._members(definition))
        if "variant" in definition:
            variants = {
                int(v["index"]): self._fields([int(f["type"]) for f in v.get("fields", [])])
                for v in definition["variant"].get("variants", [])
            }

            def variant(data: bytes, offset: int) -> int:
                if offset >= len(data):
                    raise ValueError(f"a variant at byte {offset} runs past the end")
                chosen = variants.get(data[offset])
                if chosen is None:
                    raise ValueError(
                        f"variant index {data[offset]} at byte {offset} is unknown to type {type_id}"
                    )
                return chosen(data, offset + 1)

            return variant
        raise ValueError(f"type {type_id} has a definition this walker does not know: {sorted(definition)}")
