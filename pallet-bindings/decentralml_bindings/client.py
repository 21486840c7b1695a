"""`DecentralMl`: sign, submit, batch and relay pallet calls, and read pallet storage.

A submission returns a `Receipt` with the typed events, or raises: `ExtrinsicRejected` when the
pool refuses it, the pallet error's own exception (`errors.TaskNotFound`, ...) or
`DispatchFailed` when its dispatch fails. A failed extrinsic is never reported as success.

One client is safe to share between threads: RPC traffic goes through one lock and a submission
holds it until inclusion, so concurrent submissions from one account take consecutive nonces and
never collide. Nonces always come from the chain (`system_accountNextIndex`): a signed extrinsic
that is never relayed cannot leave the client ahead of the chain and stall later submissions.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scalecodec.base import ScaleBytes
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException

from decentralml_bindings import council
from decentralml_bindings.calls import PALLET, Call
from decentralml_bindings.errors import DispatchFailed, ExtrinsicRejected, doc_line, error_for
from decentralml_bindings.events import PalletEvent, decode_event
from decentralml_bindings.types import (
    Assignment,
    ModelCommit,
    ModelStatus,
    RoundState,
    TaskInfo,
    TaskResult,
    Verdict,
)

E = TypeVar("E", bound=PalletEvent)


@dataclass(frozen=True)
class Receipt:
    """An included, successful extrinsic: where it landed, what its signer paid, what it emitted."""

    extrinsic_hash: str
    block_hash: str
    block_number: int
    fee: int
    events: tuple[PalletEvent, ...]
    other_events: tuple[tuple[str, str, dict[str, Any]], ...] = field(default=())

    def all(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def one(self, kind: type[E]) -> E:
        found = self.all(kind)
        if len(found) != 1:
            raise LookupError(f"expected one {kind.__name__}, found {len(found)}")
        return found[0]


class DecentralMl:
    """The pallet over one substrate-interface connection."""

    def __init__(self, substrate: SubstrateInterface) -> None:
        self.substrate = substrate
        self._lock = threading.RLock()

    @classmethod
    def connect(cls, url: str) -> DecentralMl:
        return cls(SubstrateInterface(url=url))

    def close(self) -> None:
        self.substrate.close()

    # Signing and submitting

    def _nonce(self, address: str) -> int:
        return int(self.substrate.get_account_nonce(address))

    def _compose(self, call: Call) -> Any:
        params = {k: self._compose(v) if isinstance(v, Call) else v for k, v in call.params.items()}
        return self.substrate.compose_call(call.module, call.function, params)

    def encoded(self, call: Call) -> bytes:
        """The call's SCALE encoding (its length bounds council motions)."""
        with self._lock:
            return bytes(self._compose(call).data.data)

    def sign(self, call: Call, signer: Keypair, *, nonce: int | None = None) -> str:
        """The signed extrinsic as hex, for the signer to hand to anyone who relays it.

        Without `nonce`, it is the account's next nonce: sign again after relaying, not before.
        """
        with self._lock:
            use = self._nonce(signer.ss58_address) if nonce is None else nonce
            extrinsic = self.substrate.create_signed_extrinsic(
                call=self._compose(call), keypair=signer, nonce=use
            )
            return str(extrinsic.data.to_hex())

    def submit(self, call: Call, signer: Keypair) -> Receipt:
        """Sign with `signer`, submit and wait for inclusion."""
        with self._lock:
            extrinsic = self.substrate.create_signed_extrinsic(
                call=self._compose(call), keypair=signer, nonce=self._nonce(signer.ss58_address)
            )
            return self._submit(extrinsic)

    def batch(self, calls: Sequence[Call], signer: Keypair) -> Receipt:
        """All of `calls` in one extrinsic (`Utility.batch_all`): all succeed or none does."""
        inner = [self._compose(c) for c in calls]
        return self.submit(Call("Utility", "batch_all", {"calls": inner}), signer)

    def call_hash(self, call: Call) -> str:
        """blake2-256 of the call's SCALE encoding, as the chain computes it."""
        return "0x" + hashlib.blake2b(self.encoded(call), digest_size=32).hexdigest()

    def council_motion(self, proposal: Call, proposer: Keypair, ayes: Sequence[Keypair]) -> Receipt:
        """Propose `proposal` to the council, vote aye with `ayes`, close it; the closing receipt.

        The proposer votes aye too, so the threshold is 1 + len(ayes). Raises
        `DispatchFailed` when the proposal was closed but its call failed.
        """
        length = len(self.encoded(proposal))
        proposed = self.submit(council.propose(proposal, 1 + len(ayes), length), proposer)
        motion = next(a for m, n, a in proposed.other_events if (m, n) == (council.COUNCIL, "Proposed"))
        proposal_hash, index = str(motion["proposal_hash"]), int(motion["proposal_index"])
        for member in (proposer, *ayes):
            self.submit(council.vote(proposal_hash, index, True), member)
        closed = self.submit(council.close(proposal_hash, index, length), proposer)
        for module, name, attributes in closed.other_events:
            outcome = attributes.get("result") if (module, name) == (council.COUNCIL, "Executed") else None
            if isinstance(outcome, dict) and "Err" in outcome:
                raise self._module_error(outcome["Err"])
        return closed

    def _module_error(self, error: Any) -> DispatchFailed:
        """A `DispatchError` value as it appears inside events, as the matching exception."""
        module = error.get("Module") if isinstance(error, dict) else None
        if not isinstance(module, dict):
            return DispatchFailed(str(error), "")
        with self._lock:
            found = self.substrate.metadata.get_module_error(
                module_index=int(module["index"]), error_index=bytes.fromhex(str(module["error"])[2:])[0]
            )
        return _dispatch_error({"type": "Module", "name": found.name, "docs": found.docs})

    def inspect_signed(self, signed_hex: str) -> tuple[str, str, str]:
        """(call hash, module.function, signer address) of a signed extrinsic, without submitting it.

        Raises `ValueError` when the bytes are not a signed extrinsic of this runtime.
        """
        with self._lock:
            try:
                extrinsic = self.substrate.create_scale_object("Extrinsic", data=ScaleBytes(signed_hex))
                value = extrinsic.decode()
            except Exception as malformed:  # scalecodec raises many kinds on bad bytes
                raise ValueError(f"not an extrinsic of this runtime: {malformed}") from malformed
        if not value.get("signature") or not value.get("address"):
            raise ValueError("the extrinsic is not signed")
        call = value["call"]
        return str(call["call_hash"]), f"{call['call_module']}.{call['call_function']}", str(value["address"])

    def relay(self, signed_hex: str) -> Receipt:
        """Submit an extrinsic someone else signed, and wait for inclusion."""
        with self._lock:
            extrinsic = self.substrate.create_scale_object("Extrinsic", data=ScaleBytes(signed_hex))
            extrinsic.decode()
            return self._submit(extrinsic)

    def _submit(self, extrinsic: Any) -> Receipt:
        try:
            receipt = self.substrate.submit_extrinsic(extrinsic, wait_for_inclusion=True)
        except SubstrateRequestException as refused:
            raise ExtrinsicRejected(str(refused)) from refused
        if not receipt.is_success:
            raise _dispatch_error(receipt.error_message or {})
        events: list[PalletEvent] = []
        others: list[tuple[str, str, dict[str, Any]]] = []
        fee = 0
        for record in receipt.triggered_events:
            event = record.value["event"]
            module, name, attributes = event["module_id"], event["event_id"], event["attributes"]
            if module == PALLET:
                events.append(decode_event(name, attributes))
            else:
                others.append((module, name, attributes))
            if (module, name) == ("TransactionPayment", "TransactionFeePaid"):
                fee += int(attributes["actual_fee"]) + int(attributes["tip"])
        header = self.substrate.get_block_header(receipt.block_hash)["header"]
        return Receipt(
            extrinsic_hash=str(receipt.extrinsic_hash),
            block_hash=str(receipt.block_hash),
            block_number=int(header["number"]),
            fee=fee,
            events=tuple(events),
            other_events=tuple(others),
        )

    # Reading pallet storage: at the best block, or at the block with hash `at`.

    def _query(self, item: str, *keys: Any, at: str | None = None) -> Any:
        return self._query_in(PALLET, item, *keys, at=at)

    def _query_in(self, pallet: str, item: str, *keys: Any, at: str | None = None) -> Any:
        with self._lock:
            return self.substrate.query(pallet, item, list(keys), block_hash=at).value

    def task(self, task_id: int, at: str | None = None) -> TaskInfo | None:
        value = self._query("Tasks", task_id, at=at)
        return None if value is None else TaskInfo.from_chain(value)

    def assignment(self, task_id: int, worker: str, at: str | None = None) -> Assignment | None:
        value = self._query("Assignments", task_id, worker, at=at)
        return None if value is None else Assignment.from_chain(value)

    def result(self, result_id: int, at: str | None = None) -> TaskResult | None:
        value = self._query("Results", result_id, at=at)
        return None if value is None else TaskResult.from_chain(value)

    def result_of(self, task_id: int, round_: int, worker: str, at: str | None = None) -> int | None:
        value = self._query("ResultIndex", task_id, round_, worker, at=at)
        return None if value is None else int(value)

    def round_results(self, task_id: int, round_: int, at: str | None = None) -> dict[str, int]:
        """Every result sent for a round of a task: worker address -> result id."""
        with self._lock:
            entries = self.substrate.query_map(
                PALLET, "ResultIndex", [task_id, round_], block_hash=at, page_size=1000
            )
            return {str(key.value if hasattr(key, "value") else key): int(v.value) for key, v in entries}

    def verdict(self, result_id: int, validator: str, at: str | None = None) -> Verdict | None:
        value = self._query("Verdicts", result_id, validator, at=at)
        return None if value is None else Verdict.from_chain(value)

    def round_state(self, task_id: int, round_: int, at: str | None = None) -> RoundState:
        return RoundState.from_chain(self._query("Rounds", task_id, round_, at=at))

    def model(self, model_id: int, at: str | None = None) -> ModelCommit | None:
        value = self._query("Models", model_id, at=at)
        return None if value is None else ModelCommit.from_chain(value)

    def released(self, model_id: int, at: str | None = None) -> bool:
        """Whether the council's release of the model stands (approved and not revoked)."""
        model = self.model(model_id, at=at)
        return model is not None and model.status == ModelStatus.APPROVED

    def round_model(self, task_id: int, round_: int, at: str | None = None) -> int | None:
        value = self._query("RoundModels", task_id, round_, at=at)
        return None if value is None else int(value)

    def next_ids(self) -> tuple[int, int, int]:
        """(next task id, next result id, next model id)."""
        return (
            int(self._query("NextTaskId")),
            int(self._query("NextResultId")),
            int(self._query("NextModelId")),
        )

    # Following blocks

    def finalized_head(self) -> tuple[int, str]:
        """(number, hash) of the newest finalized block."""
        with self._lock:
            block_hash = str(self.substrate.rpc_request("chain_getFinalizedHead", [])["result"])
            header = self.substrate.get_block_header(block_hash)["header"]
        return int(header["number"]), block_hash

    def block_hash(self, number: int) -> str | None:
        with self._lock:
            value = self.substrate.get_block_hash(number)
        return None if value is None else str(value)

    def pallet_events(self, block_hash: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(index in the block, name, attributes) of every DecentralMl event in a block."""
        return [(i, name, attrs) for i, _, name, attrs in self.block_events(block_hash, (PALLET,))]

    def block_events(
        self, block_hash: str, pallets: Sequence[str]
    ) -> list[tuple[int, str, str, dict[str, Any]]]:
        """(index in the block, pallet, name, attributes) of the block's events from `pallets`."""
        with self._lock:
            records = self.substrate.get_events(block_hash)
        found = []
        for index, record in enumerate(records):
            event = record.value["event"]
            if event["module_id"] in pallets:
                attributes = event["attributes"]
                found.append(
                    (
                        index,
                        str(event["module_id"]),
                        str(event["event_id"]),
                        dict(attributes) if isinstance(attributes, dict) else {"value": attributes},
                    )
                )
        return found

    def council_proposal(self, proposal_hash: str, at: str | None = None) -> dict[str, Any] | None:
        """The call a council motion proposes ({call_module, call_function, call_args}), while open."""
        value = self._query_in(council.COUNCIL, "ProposalOf", proposal_hash, at=at)
        return None if value is None else dict(value)

    def block_number(self) -> int:
        with self._lock:
            return int(self.substrate.get_block_header()["header"]["number"])

    def free_and_reserved(self, address: str) -> tuple[int, int]:
        with self._lock:
            data = self.substrate.query("System", "Account", [address]).value["data"]
        return int(data["free"]), int(data["reserved"])


def _dispatch_error(message: dict[str, Any]) -> DispatchFailed:
    name = str(message.get("name", "unknown"))
    docs = " ".join(str(d).strip() for d in message.get("docs") or []).strip()
    pallet_error = error_for(name) if message.get("type") == "Module" else None
    # Another pallet may use the same error name: the doc line tells ours apart.
    if pallet_error is not None and doc_line(pallet_error) == docs:
        return pallet_error()
    return DispatchFailed(name, docs)
