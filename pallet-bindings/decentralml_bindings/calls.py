"""One builder per pallet call: `calls.create_task(...)` returns a `Call` to sign and submit.

Argument names and order are the pallet's. A `Call` is plain data; `client.DecentralMl` signs,
submits, batches or relays it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from decentralml_bindings.types import ModelId, RejectionReason, TaskType, ValidationStrategy

PALLET = "DecentralMl"


@dataclass(frozen=True)
class Call:
    """A runtime call: pallet, function and its arguments in substrate-interface's form."""

    module: str
    function: str
    params: dict[str, Any] = field(default_factory=dict)


def _hash(value: bytes | str) -> str:
    if isinstance(value, bytes):
        if len(value) != 32:
            raise ValueError(f"a content hash is 32 bytes, got {len(value)}")
        return "0x" + value.hex()
    if not (value.startswith("0x") and len(value) == 66):
        raise ValueError(f"a content hash is 0x and 64 hex digits, got {value!r}")
    return value


def _cid(cid: str) -> str:
    return "0x" + cid.encode().hex()


def create_task(
    *,
    task_type: TaskType,
    rounds: int,
    max_assignments: int,
    expires_at: int,
    validation: ValidationStrategy,
    validators: Sequence[str],
    reward_per_result: int,
    manifest_cid: str,
    manifest_hash: bytes | str,
    base_model: ModelId | None = None,
) -> Call:
    """Create a task and escrow `reward_per_result * max_assignments * rounds`."""
    return Call(
        PALLET,
        "create_task",
        {
            "task_type": task_type.value,
            "rounds": rounds,
            "max_assignments": max_assignments,
            "expires_at": expires_at,
            "validation": validation.to_chain(),
            "validators": list(validators),
            "reward_per_result": reward_per_result,
            "manifest_cid": _cid(manifest_cid),
            "manifest_hash": _hash(manifest_hash),
            "base_model": base_model,
        },
    )


def assign_task(task_id: int) -> Call:
    """Claim a slot in a task."""
    return Call(PALLET, "assign_task", {"task_id": task_id})


def send_task_result(task_id: int, round: int, cid: str, hash: bytes | str) -> Call:
    """Send a result's CID and hash for the task's open round."""
    return Call(
        PALLET,
        "send_task_result",
        {"task_id": task_id, "round": round, "cid": _cid(cid), "hash": _hash(hash)},
    )


def validate_task_result(
    result_id: int, approved: bool, score: int, reason: RejectionReason | None = None
) -> Call:
    """Record a verdict; `score` in parts per million (0 to 1,000,000): an accepted result is paid
    that share of the reward. A disapproving verdict names its `reason` (FailedValidation when
    none is given), an approving one has none."""
    if not 0 <= score <= 1_000_000:
        raise ValueError(f"score is in parts per million, 0 to 1000000, got {score}")
    if approved and reason is not None:
        raise ValueError("an approving verdict has no rejection reason")
    why = None if approved else (reason or RejectionReason("FailedValidation")).to_chain()
    return Call(
        PALLET,
        "validate_task_result",
        {"result_id": result_id, "approved": approved, "score": score, "reason": why},
    )


def accept_task_result(result_id: int) -> Call:
    """Accept a result and pay its worker."""
    return Call(PALLET, "accept_task_result", {"result_id": result_id})


def reject_task_result(result_id: int, reason: RejectionReason) -> Call:
    """Reject a result with a reason."""
    return Call(PALLET, "reject_task_result", {"result_id": result_id, "reason": reason.to_chain()})


def commit_model(task_id: int, round: int, cid: str, hash: bytes | str, accepted: Sequence[int]) -> Call:
    """Attest a round's model (validators only): `hash` of its plaintext, `cid` of its sealed bytes,
    `accepted` every result the caller accepted; committed once the task's threshold agree."""
    return Call(
        PALLET,
        "commit_model",
        {
            "task_id": task_id,
            "round": round,
            "cid": _cid(cid),
            "hash": _hash(hash),
            "accepted": sorted(accepted),
        },
    )


def cancel_task(task_id: int) -> Call:
    """Cancel an open task and refund its unspent escrow."""
    return Call(PALLET, "cancel_task", {"task_id": task_id})


def approve_model(model_id: int) -> Call:
    """Release a committed model (council majority only)."""
    return Call(PALLET, "approve_model", {"model_id": model_id})


def revoke_model(model_id: int) -> Call:
    """Withdraw a model for good (council majority only)."""
    return Call(PALLET, "revoke_model", {"model_id": model_id})


def reap(task_id: int) -> Call:
    """Remove an ended task's state and return its creator's storage deposit (anyone may, once
    `ReapDelay` blocks have passed since its expiry block)."""
    return Call(PALLET, "reap", {"task_id": task_id})


def dispute_round(task_id: int, round: int) -> Call:
    """Declare the open round disputed when its committee did not agree (validators or creator)."""
    return Call(PALLET, "dispute_round", {"task_id": task_id, "round": round})


def resolve_dispute(task_id: int, round: int, chosen: str | None) -> Call:
    """Commit the chosen member's attestation, or (None) void the round and end the task (council)."""
    return Call(PALLET, "resolve_dispute", {"task_id": task_id, "round": round, "chosen": chosen})


def publish_model(model_id: int, cid: str, hash: bytes | str) -> Call:
    """Record the CID of a released model's plaintext, whose sha256 is the committed `hash`."""
    return Call(PALLET, "publish_model", {"model_id": model_id, "cid": _cid(cid), "hash": _hash(hash)})


def declare_dataset(task_id: int, cid: str, hash: bytes | str) -> Call:
    """Declare the card (DATASET.md) of the data the caller trains on for a task: its CID in IPFS
    and its sha256. Once per assignment, while the task is active."""
    return Call(PALLET, "declare_dataset", {"task_id": task_id, "cid": _cid(cid), "hash": _hash(hash)})


def batch_all(inner: Sequence[Call]) -> Call:
    """`inner` as one extrinsic (`Utility.batch_all`): all succeed or none does. Not a pallet call,
    so not in `CALLS`."""
    return Call("Utility", "batch_all", {"calls": list(inner)})


def transfer_keep_alive(dest: str, value: int) -> Call:
    """`Balances.transfer_keep_alive`: `value` plancks to `dest`, never reaping the sender. Not a
    pallet call, so not in `CALLS`."""
    return Call("Balances", "transfer_keep_alive", {"dest": dest, "value": value})


# The builders above, by pallet call name: the metadata conformance test compares this table
# with the runtime's calls and their arguments.
CALLS = {
    fn.__name__: fn
    for fn in (
        create_task,
        assign_task,
        send_task_result,
        validate_task_result,
        accept_task_result,
        reject_task_result,
        commit_model,
        cancel_task,
        approve_model,
        revoke_model,
        reap,
        dispute_round,
        resolve_dispute,
        publish_model,
        declare_dataset,
    )
}
