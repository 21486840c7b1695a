"""`DecentralMl`: sign, submit, batch and relay pallet calls, read pallet storage and constants.

A submission returns a `Receipt` with the typed events, or raises: `ExtrinsicRejected` when the
pool refuses it, `InclusionTimeout` when the pool took it but no block included it by the
deadline (or the pool dropped it first), the pallet error's own exception (`errors.TaskNotFound`,
...) or `DispatchFailed` when its dispatch fails. A failed extrinsic is never reported as success.

One client is safe to share between threads. Reads go through one shared connection under a
lock that is only ever held for one short request: every submission is sent and watched on a
websocket of its own, so a write that waits for inclusion (or never gets it) blocks no read and
no other account's write. Submissions by one signer are serialised (each waits for the previous
one's inclusion), so they take consecutive nonces and never collide. Nonces always come from the
chain: a signed extrinsic that is never relayed cannot leave the client ahead of the chain.

The shared connection heals itself: a read that finds it gone (the node restarted) reconnects
to the same URL and is retried once; if that fails too, the error is raised. A read the node
does not answer within `read_timeout` seconds raises `TimeoutError` and the connection is
replaced on the next read.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from scalecodec.base import ScaleBytes
from substrateinterface import Keypair, SubstrateInterface
from substrateinterface.base import ExtrinsicReceipt
from substrateinterface.exceptions import SubstrateRequestException
from websocket import WebSocketException, WebSocketTimeoutException

from decentralml_bindings import council
from decentralml_bindings.blocks import (
    BatchRefused,
    Event,
    StorageRead,
    block_events,
    read_run,
    read_storage,
    spans_for,
)
from decentralml_bindings.calls import PALLET, Call, batch_all
from decentralml_bindings.errors import (
    FINAL_STATUSES,
    DispatchFailed,
    ExtrinsicRejected,
    InclusionTimeout,
    doc_line,
    error_for,
)
from decentralml_bindings.event_spans import EventSpans
from decentralml_bindings.events import PalletEvent, decode_event
from decentralml_bindings.types import (
    Assignment,
    Attestation,
    ModelCommit,
    ModelStatus,
    RoundState,
    TaskInfo,
    TaskResult,
    Verdict,
)

E = TypeVar("E", bound=PalletEvent)
PREFETCH_LIMIT = 4096  # storage values `prefetch` keeps at most
R = TypeVar("R")

_SILENT = (WebSocketTimeoutException, TimeoutError)
"""The node did not answer in time (checked before `_LOST`: `TimeoutError` is an `OSError`)."""
_LOST = (OSError, WebSocketException)
# scalecodec builds its decoder classes in one class hierarchy shared by every connection in the
# process: two connections loading their type registry and metadata at once can see each other's
# half-built registry ("Decoder class for Compact<u32> not found", seen when the indexer and the API
# connected together). Connections are therefore set up, metadata included, one at a time.
_SETUP = threading.Lock()


def _open(url: str, **options: Any) -> SubstrateInterface:
    """A connection to `url` with its runtime metadata loaded, set up under the process-wide lock."""
    # websocket-client checks every text frame's UTF-8 in pure Python (about 1 s per 10 MB read);
    # decoding the frame to text for JSON checks it again, so the first check is skipped.
    options["ws_options"] = {"skip_utf8_validation": True, **options.get("ws_options", {})}
    with _SETUP:
        substrate = SubstrateInterface(url=url, **options)
        if options.get("auto_discover", True):
            substrate.init_runtime()
        return substrate


"""The connection is gone: BrokenPipeError, ConnectionResetError, ConnectionRefusedError (all
`OSError`), WebSocketConnectionClosedException, a failed handshake, ..."""

_POOL_STATUS_MEANING = {
    "future": "its nonce is ahead of the account's, so it waits for the nonces before it",
    "ready": "it is valid and waits for a block",
    "broadcast": "it is valid, sent to peers, and waits for a block",
    "usurped": "another extrinsic with the same nonce replaced it",
    "dropped": "the pool had no room for it",
}
"""What a pool status (a real node's or Chopsticks') says about an extrinsic not yet included;
an `invalid` status carries its own reason (`future`, `stale`, `payment`, ...)."""


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


@dataclass(frozen=True)
class Cost:
    """What one signed extrinsic costs the chain: its length in bytes, its weight (`ref_time` in
    picoseconds, `proof_size` in bytes) and its fee."""

    length: int
    ref_time: int
    proof_size: int
    fee: int


@dataclass
class _Watched:
    """What the pool last said about a watched extrinsic; `expired` once the deadline passed."""

    status: str | None = None
    reason: str | None = None
    expired: bool = False


class _NotIncludedError(Exception):
    def __init__(self, seen: _Watched) -> None:
        self.seen = seen


class DecentralMl:
    """The pallet over one shared connection to the node at `url` (plus one per submission).

    `read_timeout` bounds every read: a node that does not answer within it raises
    `TimeoutError` (the connection is then replaced on the next read).
    """

    def __init__(self, substrate: SubstrateInterface, *, read_timeout: float = 30.0) -> None:
        if not substrate.url:
            raise ValueError("DecentralMl needs a connection made from a URL, to open more of them")
        self.url: str = str(substrate.url)
        self.read_timeout = read_timeout
        self._substrate: SubstrateInterface | None = substrate
        if substrate.websocket is not None:
            substrate.websocket.settimeout(read_timeout)
        self._lock = threading.RLock()
        self._signers_lock = threading.Lock()
        self._signers: dict[str, threading.Lock] = {}
        self._constants: dict[str, int] | None = None
        self._existential_deposit: int | None = None
        self._spans: tuple[int, EventSpans] | None = None
        self._prefetched: dict[StorageRead, Any] = {}
        self._batches = True  # until the node refuses a batch request

    @classmethod
    def connect(cls, url: str, *, read_timeout: float = 30.0) -> DecentralMl:
        """A client of the node at `url` (`ws://` or `wss://`)."""
        return cls(_open(url, ws_options={"timeout": read_timeout}), read_timeout=read_timeout)

    def close(self) -> None:
        """Close the shared connection; a later read opens a new one."""
        with self._lock:
            self._drop()

    @property
    def substrate(self) -> SubstrateInterface:
        """The shared connection as it is now (it is replaced when it breaks: do not keep it)."""
        with self._lock:
            return self._connection()

    # The shared connection

    def _connection(self) -> SubstrateInterface:
        if self._substrate is None:
            self._substrate = _open(self.url, ws_options={"timeout": self.read_timeout})
        return self._substrate

    def _drop(self) -> None:
        """Forget the shared connection and everything cached from it."""
        if self._substrate is not None:
            with contextlib.suppress(*_LOST):  # it is already broken; that is why it goes
                self._substrate.close()
        self._substrate = None
        self._constants = None
        self._existential_deposit = None
        self._spans = None

    def _read(self, action: Callable[[SubstrateInterface], R]) -> R:
        """`action` on the shared connection under the lock; once more on a new connection if
        the first one turns out to be gone. Never retries more than once."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    return action(self._connection())
                except _SILENT as silent:
                    self._drop()  # a late answer would desynchronise the connection
                    raise TimeoutError(f"the node at {self.url} did not answer in time") from silent
                except _LOST as lost:
                    self._drop()
                    if attempt == 2:
                        if isinstance(lost, OSError):
                            raise
                        raise ConnectionError(f"the node at {self.url} is unreachable: {lost}") from lost
            raise AssertionError("unreachable")

    # Signing and submitting

    def _signer(self, address: str) -> threading.Lock:
        with self._signers_lock:
            return self._signers.setdefault(address, threading.Lock())

    def _compose(self, substrate: SubstrateInterface, call: Call) -> Any:
        def part(value: Any) -> Any:
            if isinstance(value, Call):
                return self._compose(substrate, value)
            if isinstance(value, list) and any(isinstance(item, Call) for item in value):
                return [part(item) for item in value]
            return value

        params = {name: part(value) for name, value in call.params.items()}
        return substrate.compose_call(call.module, call.function, params)

    def _signed(self, call: Call, signer: Keypair, nonce: int | None) -> tuple[str, int]:
        def sign(substrate: SubstrateInterface) -> tuple[str, int]:
            use = int(substrate.get_account_nonce(signer.ss58_address)) if nonce is None else nonce
            extrinsic = substrate.create_signed_extrinsic(
                call=self._compose(substrate, call), keypair=signer, nonce=use
            )
            return str(extrinsic.data.to_hex()), use

        return self._read(sign)

    def encoded(self, call: Call) -> bytes:
        """The call's SCALE encoding (its length bounds council motions)."""
        return self._read(lambda substrate: bytes(self._compose(substrate, call).data.data))

    def sign(self, call: Call, signer: Keypair, *, nonce: int | None = None) -> str:
        """The signed extrinsic as hex, for the signer to hand to anyone who relays it.

        Without `nonce`, it is the account's next nonce once the client's own submissions by
        `signer` are included: sign again after relaying, not before.
        """
        if nonce is not None:
            return self._signed(call, signer, nonce)[0]
        with self._signer(signer.ss58_address):
            return self._signed(call, signer, None)[0]

    def cost(self, call: Call, signer: Keypair) -> Cost:
        """What `call` signed by `signer` would cost the chain, without submitting it: the signed
        extrinsic's length (at nonce 0) and the runtime's own weight and fee for it
        (`TransactionPaymentApi.query_info`)."""

        def measure(substrate: SubstrateInterface) -> Cost:
            composed = self._compose(substrate, call)
            signed = substrate.create_signed_extrinsic(call=composed, keypair=signer, nonce=0)
            info = substrate.get_payment_info(call=composed, keypair=signer)
            weight = info["weight"]
            return Cost(
                length=len(signed.data.data),
                ref_time=int(weight["ref_time"]),
                proof_size=int(weight["proof_size"]),
                fee=int(info["partialFee"]),
            )

        return self._read(measure)

    def submit(self, call: Call, signer: Keypair, *, deadline: float = 60.0) -> Receipt:
        """Sign with `signer` (next nonce), submit, and wait up to `deadline` seconds for inclusion.

        Raises `ExtrinsicRejected` at once when the pool refuses it, `InclusionTimeout` when no
        block includes it within `deadline`, or the dispatch error's exception.
        """
        with self._signer(signer.ss58_address):
            signed_hex, nonce = self._signed(call, signer, None)
            return self._include(signed_hex, deadline, (signer.ss58_address, nonce))

    def batch(self, calls: Sequence[Call], signer: Keypair, *, deadline: float = 60.0) -> Receipt:
        """All of `calls` in one extrinsic (`Utility.batch_all`): all succeed or none does.

        Submitted as by `submit`, with the same `deadline` and errors.
        """
        return self.submit(batch_all(calls), signer, deadline=deadline)

    def call_hash(self, call: Call) -> str:
        """blake2-256 of the call's SCALE encoding, as the chain computes it."""
        return "0x" + hashlib.blake2b(self.encoded(call), digest_size=32).hexdigest()

    def council_motion(self, proposal: Call, proposer: Keypair, ayes: Sequence[Keypair]) -> Receipt:
        """Propose `proposal` to the council, vote aye with `ayes`, close it; the closing receipt.

        The proposer votes aye too, so the threshold is 1 + len(ayes). The motion is closed with
        the proposal's weight as the runtime itself reports it (`cost`) as the bound, so a call
        whose weight grows with the runtime's limits (`resolve_dispute`) can still be closed.
        Raises `DispatchFailed` when the proposal was closed but its call failed.
        """
        length = len(self.encoded(proposal))
        weight = self.cost(proposal, proposer)
        bound = {"ref_time": weight.ref_time, "proof_size": weight.proof_size}
        proposed = self.submit(council.propose(proposal, 1 + len(ayes), length), proposer)
        motion = next(a for m, n, a in proposed.other_events if (m, n) == (council.COUNCIL, "Proposed"))
        proposal_hash, index = str(motion["proposal_hash"]), int(motion["proposal_index"])
        for member in (proposer, *ayes):
            self.submit(council.vote(proposal_hash, index, True), member)
        closed = self.submit(council.close(proposal_hash, index, length, bound), proposer)
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
        found = self._read(
            lambda substrate: substrate.metadata.get_module_error(
                module_index=int(module["index"]), error_index=bytes.fromhex(str(module["error"])[2:])[0]
            )
        )
        return _dispatch_error({"type": "Module", "name": found.name, "docs": found.docs})

    def _decoded(self, signed_hex: str) -> dict[str, Any]:
        def decode(substrate: SubstrateInterface) -> dict[str, Any]:
            try:
                extrinsic = substrate.create_scale_object("Extrinsic", data=ScaleBytes(signed_hex))
                return dict(extrinsic.decode())
            except _LOST:
                raise
            except Exception as malformed:  # scalecodec raises many kinds on bad bytes
                raise ValueError(f"not an extrinsic of this runtime: {malformed}") from malformed

        return self._read(decode)

    def inspect_signed(self, signed_hex: str) -> tuple[str, str, str]:
        """(call hash, module.function, signer address) of a signed extrinsic, without submitting it.

        Raises `ValueError` when the bytes are not a signed extrinsic of this runtime.
        """
        value = self._decoded(signed_hex)
        if not value.get("signature") or not value.get("address"):
            raise ValueError("the extrinsic is not signed")
        call = value["call"]
        return str(call["call_hash"]), f"{call['call_module']}.{call['call_function']}", str(value["address"])

    def relay(self, signed_hex: str, *, deadline: float = 60.0) -> Receipt:
        """Submit an extrinsic someone else signed, and wait up to `deadline` seconds for inclusion.

        Raises `ValueError` for bytes that are no extrinsic of this runtime, and otherwise the
        same errors as `submit`.
        """
        value = self._decoded(signed_hex)
        address, nonce = value.get("address"), value.get("nonce")
        account = (str(address), int(nonce)) if address and nonce is not None else None
        return self._include(signed_hex, deadline, account)

    def _include(self, signed_hex: str, deadline: float, account: tuple[str, int] | None) -> Receipt:
        """Submit on a connection of its own, wait for inclusion, build the receipt."""
        if deadline <= 0:
            raise ValueError(f"the deadline must be above zero seconds, got {deadline}")
        signed_hex = signed_hex if signed_hex.startswith("0x") else "0x" + signed_hex
        extrinsic_hash = "0x" + hashlib.blake2b(bytes.fromhex(signed_hex[2:]), digest_size=32).hexdigest()
        try:
            block_hash = self._await_inclusion(signed_hex, extrinsic_hash, deadline)
        except _NotIncludedError as missed:
            raise self._not_included(extrinsic_hash, deadline, missed.seen, account) from None
        return self._read(lambda substrate: _receipt(substrate, extrinsic_hash, block_hash))

    def _await_inclusion(self, signed_hex: str, extrinsic_hash: str, deadline: float) -> str:
        """The hash of the block that included the extrinsic. Raises `_NotIncludedError` when the
        deadline passes or the pool drops it, and `ExtrinsicRejected` when the pool refuses it."""
        end = time.monotonic() + deadline
        seen = _Watched()
        # No type registry is needed to watch: this connection only sends bytes and reads statuses.
        watcher = _open(self.url, auto_discover=False, auto_reconnect=False, ws_options={"timeout": deadline})
        watcher.websocket.settimeout(max(end - time.monotonic(), 0.001))

        def on_update(message: dict[str, Any], update_nr: int, subscription_id: str) -> Any:
            update = message["params"]["result"]
            status = (update if isinstance(update, str) else next(iter(update), "")).lower()
            detail = update.get(next(iter(update))) if isinstance(update, dict) and update else None
            if status in ("inblock", "finalized"):
                return {"block_hash": str(detail)}
            seen.status = status
            seen.reason = next(iter(detail), None) if isinstance(detail, dict) else None
            left = end - time.monotonic()
            if status in FINAL_STATUSES or left <= 0:
                seen.expired = left <= 0
                raise _NotIncludedError(seen)
            watcher.websocket.settimeout(left)
            return None

        try:
            found = watcher.rpc_request(
                "author_submitAndWatchExtrinsic", [signed_hex], result_handler=on_update
            )
            return str(found["block_hash"])
        except SubstrateRequestException as refused:
            raise ExtrinsicRejected(str(refused)) from refused
        except _SILENT:
            seen.expired = True
            raise _NotIncludedError(seen) from None
        except _LOST as lost:
            raise ConnectionError(
                f"lost the node at {self.url} while waiting for extrinsic {extrinsic_hash} "
                f"(last pool status: {seen.status}); it may still be included"
            ) from lost
        finally:
            with contextlib.suppress(*_LOST):
                watcher.close()

    def _not_included(
        self, extrinsic_hash: str, deadline: float, seen: _Watched, account: tuple[str, int] | None
    ) -> InclusionTimeout:
        """The exception for an extrinsic the pool took but no block included, with every reason
        known: the pool's last status and how the extrinsic's nonce compares with the account's."""
        when = f"within {deadline:g} s" if seen.expired else "before the pool dropped it"
        said = seen.status or "nothing"
        if seen.reason:
            said += f" ({seen.reason})"
        meaning = _POOL_STATUS_MEANING.get(seen.status or "")
        parts = [f"extrinsic {extrinsic_hash} was not included {when}; the pool last said: {said}"]
        if meaning:
            parts.append(meaning)
        if account is not None:
            parts.append(self._nonce_hint(*account))
        return InclusionTimeout(
            "; ".join(p for p in parts if p),
            extrinsic_hash=extrinsic_hash,
            status=seen.status,
            reason=seen.reason,
        )

    def _nonce_hint(self, address: str, nonce: int) -> str:
        try:
            current = self._read(lambda substrate: int(substrate.get_account_nonce(address)))
        except (*_LOST, SubstrateRequestException):
            return ""  # only a hint: the timeout itself is what the caller needs to hear
        if nonce > current:
            return (
                f"its nonce {nonce} is ahead of the account's next nonce {current} (future): "
                f"submit the nonces before it, or sign again with nonce {current}"
            )
        if nonce < current:
            return (
                f"its nonce {nonce} is used now (the account's next nonce is {current}): it or another "
                "extrinsic with that nonce was included; check the chain before signing again"
            )
        return f"its nonce {nonce} is the account's next nonce"

    # Reading pallet storage: at the best block, or at the block with hash `at`.

    def _query(self, item: str, *keys: Any, at: str | None = None) -> Any:
        return self._query_in(PALLET, item, *keys, at=at)

    def _query_in(self, pallet: str, item: str, *keys: Any, at: str | None = None) -> Any:
        if at is not None:
            with self._lock:
                read = (pallet, item, keys, at)
                if read in self._prefetched:
                    return self._prefetched.pop(read)
        return self._read(lambda substrate: substrate.query(pallet, item, list(keys), block_hash=at).value)

    def prefetch(self, reads: Sequence[StorageRead]) -> None:
        """Read these storage values ((pallet, item, keys, block hash), keys as the accessors
        take them) in batch requests, and keep each until it is first asked for: a block's state
        never changes, so the answer is the one a read would get then. Keeps at most
        `PREFETCH_LIMIT` values; a run across a runtime upgrade, or a node that refuses batch
        requests, prefetches nothing."""
        if not self._batches:
            return
        reads = list(dict.fromkeys(reads))[:PREFETCH_LIMIT]
        try:
            values = self._read(lambda substrate: read_storage(substrate, reads))
        except BatchRefused:
            self._batches = False
            return
        if values is None:
            return
        with self._lock:
            if len(self._prefetched) + len(reads) > PREFETCH_LIMIT:
                self._prefetched.clear()  # values nobody asked for
            self._prefetched.update(zip(reads, values, strict=True))

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

        def read(substrate: SubstrateInterface) -> dict[str, int]:
            entries = substrate.query_map(
                PALLET, "ResultIndex", [task_id, round_], block_hash=at, page_size=1000
            )
            return {str(key.value if hasattr(key, "value") else key): int(v.value) for key, v in entries}

        return self._read(read)

    def verdict(self, result_id: int, validator: str, at: str | None = None) -> Verdict | None:
        value = self._query("Verdicts", result_id, validator, at=at)
        return None if value is None else Verdict.from_chain(value)

    def attestation(
        self, task_id: int, round_: int, validator: str, at: str | None = None
    ) -> Attestation | None:
        """`validator`'s attestation of the round, if it made one (kept after the commit)."""
        value = self._query("Attestations", task_id, round_, validator, at=at)
        return None if value is None else Attestation.from_chain(value)

    def disputed(self, task_id: int, round_: int, at: str | None = None) -> bool:
        """Whether the round is disputed and awaits the council (`resolve_dispute`)."""
        return self._query("Disputes", task_id, round_, at=at) is not None

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

        def read(substrate: SubstrateInterface) -> tuple[int, str]:
            block_hash = str(substrate.rpc_request("chain_getFinalizedHead", [])["result"])
            return int(substrate.get_block_header(block_hash)["header"]["number"]), block_hash

        return self._read(read)

    def block_hash(self, number: int) -> str | None:
        value = self._read(lambda substrate: substrate.get_block_hash(number))
        return None if value is None else str(value)

    def pallet_events(self, block_hash: str) -> list[tuple[int, str, dict[str, Any]]]:
        """(index in the block, name, attributes) of every DecentralMl event in a block."""
        return [(i, name, attrs) for i, _, name, attrs in self.block_events(block_hash, (PALLET,))]

    def block_events(self, block_hash: str, pallets: Sequence[str]) -> list[Event]:
        """(index in the block, pallet, name, attributes) of the block's events from `pallets`."""
        return self._read(lambda substrate: block_events(substrate, block_hash, pallets))

    def blocks_events(
        self, first: int, last: int, pallets: Sequence[str], *, run: int = 50
    ) -> list[tuple[int, str, list[Event]]]:
        """(number, hash, events from `pallets`) of each block `first`..`last`, in order: what
        `block_hash` and `block_events` give for each, read `run` blocks at a time in batch
        requests (`blocks.read_run`). LookupError if a block is not on the chain yet."""
        found: list[tuple[int, str, list[Event]]] = []
        for start in range(first, last + 1, run):
            end = min(last, start + run - 1)
            read = None
            if self._batches:
                try:
                    read = self._read(
                        functools.partial(
                            read_run, first=start, last=end, pallets=pallets, spans=self._event_spans
                        )
                    )
                except BatchRefused:
                    self._batches = False  # this node takes none: one request at a time from now
            if read is None:  # a runtime upgrade inside the run, or no batches: block by block
                read = []
                for number in range(start, end + 1):
                    block_hash = self.block_hash(number)
                    if block_hash is None:
                        raise LookupError(f"block #{number} is not on the chain yet")
                    read.append((number, block_hash, self.block_events(block_hash, pallets)))
            found.extend(read)
        return found

    def _event_spans(self, substrate: SubstrateInterface) -> EventSpans:
        """The loaded runtime's `EventSpans`, built once per runtime version (under the lock)."""
        version = int(substrate.runtime_version)
        if self._spans is None or self._spans[0] != version:
            self._spans = (version, spans_for(substrate))
        return self._spans[1]

    def council_proposal(self, proposal_hash: str, at: str | None = None) -> dict[str, Any] | None:
        """The call a council motion proposes ({call_module, call_function, call_args}), while open."""
        value = self._query_in(council.COUNCIL, "ProposalOf", proposal_hash, at=at)
        return None if value is None else dict(value)

    def block_number(self) -> int:
        return self._read(lambda substrate: int(substrate.get_block_header()["header"]["number"]))

    def free_and_reserved(self, address: str) -> tuple[int, int]:
        data = self._query_in("System", "Account", address)["data"]
        return int(data["free"]), int(data["reserved"])

    # Constants, from the runtime metadata (cached until the shared connection is replaced)

    def pallet_constants(self) -> dict[str, int]:
        """Every integer constant the DecentralMl pallet declares, by name (MaxAssignments,
        MaxRounds, MaxValidators, MaxCidLength, MaxTaskDuration, MaxExpiringPerBlock, ...)."""
        with self._lock:
            if self._constants is None:
                self._constants = self._read(lambda substrate: _integer_constants(substrate, PALLET))
            return dict(self._constants)

    def constant(self, pallet: str, name: str) -> Any:
        """A runtime constant's decoded value (`System.BlockWeights`, say); LookupError if the
        runtime declares none by that name."""
        found = self._read(lambda substrate: substrate.get_constant(pallet, name))
        if found is None:
            raise LookupError(f"the runtime declares no {pallet}.{name}")
        return found.value

    def existential_deposit(self) -> int:
        """`Balances.ExistentialDeposit`: the least balance an account may hold, in plancks."""
        with self._lock:
            if self._existential_deposit is None:
                constant = self._read(
                    lambda substrate: substrate.get_constant("Balances", "ExistentialDeposit")
                )
                if constant is None:
                    raise LookupError("the runtime declares no Balances.ExistentialDeposit")
                self._existential_deposit = int(constant.value)
            return self._existential_deposit


def _integer_constants(substrate: SubstrateInterface, pallet: str) -> dict[str, int]:
    substrate.init_runtime()
    found: dict[str, int] = {}
    for constant in substrate.metadata.get_metadata_pallet(pallet).constants or []:
        name = str(constant.value["name"])
        value = substrate.get_constant(pallet, name).value
        if isinstance(value, int) and not isinstance(value, bool):
            found[name] = value
    return found


def _receipt(substrate: SubstrateInterface, extrinsic_hash: str, block_hash: str) -> Receipt:
    """The receipt of an included extrinsic, or its dispatch error raised."""
    receipt = ExtrinsicReceipt(substrate=substrate, extrinsic_hash=extrinsic_hash, block_hash=block_hash)
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
    header = substrate.get_block_header(block_hash)["header"]
    return Receipt(
        extrinsic_hash=extrinsic_hash,
        block_hash=block_hash,
        block_number=int(header["number"]),
        fee=fee,
        events=tuple(events),
        other_events=tuple(others),
    )


def _dispatch_error(message: dict[str, Any]) -> DispatchFailed:
    name = str(message.get("name", "unknown"))
    docs = " ".join(str(d).strip() for d in message.get("docs") or []).strip()
    pallet_error = error_for(name) if message.get("type") == "Module" else None
    # Another pallet may use the same error name: the doc line tells ours apart.
    if pallet_error is not None and doc_line(pallet_error) == docs:
        return pallet_error()
    return DispatchFailed(name, docs)
