"""The chain's limits, read from its metadata once, and the checks a create needs no chain for.

A create the chain would refuse for a reason visible in the request alone (too many rounds,
slots or validators, a repeated validator, an expiry in the past or too far, a reward below the
existential deposit, a budget that overflows) is refused here with the pallet's own error name,
before it is relayed: the submitter pays no fee for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.api.errors import InvalidRequestError
from coordinator.api.schemas import U128_MAX, CreateTask
from decentralml_bindings import DecentralMl


@dataclass(frozen=True)
class ChainLimits:
    max_rounds: int
    max_assignments: int
    max_validators: int
    max_cid_length: int
    max_task_duration: int
    existential_deposit: int

    @classmethod
    def of(cls, chain: DecentralMl) -> ChainLimits:
        constants = chain.pallet_constants()
        return cls(
            max_rounds=constants["MaxRounds"],
            max_assignments=constants["MaxAssignments"],
            max_validators=constants["MaxValidators"],
            max_cid_length=constants["MaxCidLength"],
            max_task_duration=constants["MaxTaskDuration"],
            existential_deposit=chain.existential_deposit(),
        )


def check_create(body: CreateTask, limits: ChainLimits, head: int) -> None:
    """Refuse, with the pallet's error name, a create the chain would refuse; `head` is the
    current block."""

    def refuse(error: str, detail: str) -> None:
        raise InvalidRequestError(error, detail)

    reward = int(body.reward_per_result)
    if not 1 <= body.rounds <= limits.max_rounds:
        refuse("InvalidRounds", f"rounds must be between 1 and the chain's MaxRounds ({limits.max_rounds})")
    if not 1 <= body.max_assignments <= limits.max_assignments:
        refuse(
            "InvalidMaxAssignments",
            f"max_assignments must be between 1 and the chain's MaxAssignments ({limits.max_assignments})",
        )
    if body.expires_at <= head:
        refuse("ExpiryInPast", f"expires_at must be after the current block ({head})")
    if body.expires_at > head + limits.max_task_duration:
        refuse(
            "ExpiryTooFar",
            f"expires_at may be at most {limits.max_task_duration} blocks after the current block ({head})",
        )
    if reward == 0:
        refuse("ZeroReward", "the reward per result must be above zero")
    if reward < limits.existential_deposit:
        refuse(
            "RewardBelowExistentialDeposit",
            f"a reward below the existential deposit ({limits.existential_deposit} plancks) could never "
            "be paid to a new account",
        )
    if len(body.manifest_cid) > limits.max_cid_length:
        refuse("CidTooLong", f"a CID may have at most {limits.max_cid_length} bytes")
    if len(body.validators) > limits.max_validators:
        refuse("TooManyValidators", f"at most the chain's MaxValidators ({limits.max_validators}) validators")
    if len(set(body.validators)) != len(body.validators):
        refuse("DuplicateValidator", "an account is listed twice as validator")
    if body.validation == "CustomAccept" and not (body.threshold and body.threshold <= len(body.validators)):
        refuse("InvalidThreshold", "a CustomAccept threshold must be between 1 and the number of validators")
    if reward * body.max_assignments * body.rounds > U128_MAX:
        refuse("BudgetOverflow", "reward_per_result * max_assignments * rounds does not fit in a balance")
