"""The council (`pallet_collective`, instance `Council`): propose a call, vote, close.

Releasing and revoking models (`approve_model`, `revoke_model`) needs more than half of the
council: a member proposes the call with a threshold, members vote, anyone closes the motion.
These builders return `Call`s like the pallet's own; the proposal inside is a `Call` too, which
the client composes. `DecentralMl.council_motion` runs the whole sequence for dev accounts.
"""

from __future__ import annotations

from decentralml_bindings.calls import Call

COUNCIL = "Council"
# Generous bounds for closing a motion: the runtime checks the real weight and length against them.
CLOSE_WEIGHT_BOUND = {"ref_time": 50_000_000_000, "proof_size": 1_000_000}


def propose(proposal: Call, threshold: int, length_bound: int) -> Call:
    """Put `proposal` to the council; it runs once `threshold` members vote aye and it is closed."""
    return Call(
        COUNCIL, "propose", {"threshold": threshold, "proposal": proposal, "length_bound": length_bound}
    )


def vote(proposal_hash: str, index: int, approve: bool) -> Call:
    return Call(COUNCIL, "vote", {"proposal": proposal_hash, "index": index, "approve": approve})


def close(
    proposal_hash: str, index: int, length_bound: int, weight_bound: dict[str, int] | None = None
) -> Call:
    """Close a motion: executes it if approved, drops it if it can no longer pass. The runtime
    refuses a `weight_bound` below the proposal's own weight (`WrongProposalWeight`); without
    one, `CLOSE_WEIGHT_BOUND`, enough for the release calls."""
    return Call(
        COUNCIL,
        "close",
        {
            "proposal_hash": proposal_hash,
            "index": index,
            "proposal_weight_bound": weight_bound or CLOSE_WEIGHT_BOUND,
            "length_bound": length_bound,
        },
    )
