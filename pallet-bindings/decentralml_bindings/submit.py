"""Submit signed extrinsics, and read events, balances and pallet storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from substrateinterface import ExtrinsicReceipt, Keypair, SubstrateInterface

PALLET = "DecentralMl"
UNIT = 10**12
ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (
    Keypair.create_from_uri(f"//{name}") for name in ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
)


@dataclass
class Outcome:
    """What an included extrinsic did: success, the fee its signer paid, its events."""

    receipt: ExtrinsicReceipt
    fee: int
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.receipt.is_success)

    @property
    def error_name(self) -> str | None:
        message = self.receipt.error_message
        return None if message is None else str(message.get("name"))

    def event(self, module: str, name: str) -> dict[str, Any]:
        found = [attrs for (m, n, attrs) in self.events if (m, n) == (module, name)]
        assert len(found) == 1, f"expected one {module}.{name}, got {found} among {self.events}"
        return found[0]


def submit(
    substrate: SubstrateInterface, signer: Keypair, module: str, function: str, **params: Any
) -> Outcome:
    """Sign, submit and wait for inclusion; return what happened (success or not)."""
    call = substrate.compose_call(call_module=module, call_function=function, call_params=params)
    extrinsic = substrate.create_signed_extrinsic(call=call, keypair=signer)
    receipt = substrate.submit_extrinsic(extrinsic, wait_for_inclusion=True)
    events: list[tuple[str, str, dict[str, Any]]] = []
    fee = 0
    for record in receipt.triggered_events:
        event = record.value["event"]
        attrs = event["attributes"]
        events.append((event["module_id"], event["event_id"], attrs))
        if (event["module_id"], event["event_id"]) == ("TransactionPayment", "TransactionFeePaid"):
            fee += int(attrs["actual_fee"]) + int(attrs["tip"])
    return Outcome(receipt=receipt, fee=fee, events=events)


def must(outcome: Outcome) -> Outcome:
    assert outcome.ok, f"extrinsic failed: {outcome.receipt.error_message}"
    return outcome


def balance(substrate: SubstrateInterface, who: Keypair) -> tuple[int, int]:
    """(free, reserved) of an account; holds count as reserved."""
    data = substrate.query("System", "Account", [who.ss58_address]).value["data"]
    return int(data["free"]), int(data["reserved"])


def storage(substrate: SubstrateInterface, item: str, *keys: Any) -> Any:
    return substrate.query(PALLET, item, list(keys)).value


def hex32(seed: int) -> str:
    return "0x" + f"{seed:02x}" * 32


def cid(text: str) -> str:
    return "0x" + text.encode().hex()


def bounded(items: list[Any]) -> list[list[Any]]:
    """A `BoundedVec<T, N>` call argument (T not u8) as substrate-interface 1.8 encodes it.

    scalecodec sees a BoundedVec as a one-field tuple struct around the `Vec<T>`, so the list must
    be wrapped once more; a bare list fails with "Provided value is not a list".
    """
    return [list(items)]
