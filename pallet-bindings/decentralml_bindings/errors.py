"""Exceptions: one per pallet error, each carrying the pallet's own doc line.

Exception tree::

    ChainError
    ├── ExtrinsicRejected        the pool refused the extrinsic (bad signature, stale nonce, ...)
    │   └── InclusionTimeout     the pool took it, but no block included it by the deadline
    │                            (or the pool dropped it first: `final`)
    └── DispatchFailed           included, but its dispatch failed with a non-pallet error
        └── DecentralMlError     a `DecentralMl` pallet error; one subclass per error below

`error_for(name)` maps a pallet error name to its class. `tests/bindings` checks that these
classes and their doc lines match the runtime metadata exactly.
"""

from __future__ import annotations

from typing import ClassVar


class ChainError(Exception):
    """Something the chain refused."""


class ExtrinsicRejected(ChainError):
    """The transaction pool refused the extrinsic before inclusion (for example a bad signature)."""


FINAL_STATUSES = frozenset({"invalid", "dropped", "usurped", "unknown"})
"""Pool statuses after which an extrinsic is out of the pool and will never be included."""


class InclusionTimeout(ExtrinsicRejected):
    """The pool took the extrinsic, but no block included it before the deadline or before the
    pool let it go.

    `status` is the pool's last word on it (`future`, `ready`, `broadcast`, `invalid`, `dropped`,
    `usurped`, ...) or None if the pool said nothing; `reason` is the detail of an `invalid`
    status (`future`, `stale`, `payment`, ...). When `final` is true the pool has dropped the
    extrinsic and it will never be included; otherwise it may still be: read the chain (or the
    signer's nonce) before signing the call again.
    """

    def __init__(
        self, message: str, *, extrinsic_hash: str, status: str | None, reason: str | None = None
    ) -> None:
        self.extrinsic_hash = extrinsic_hash
        self.status = status
        self.reason = reason
        super().__init__(message)

    @property
    def final(self) -> bool:
        """Whether the pool dropped the extrinsic for good (it will never be included)."""
        return self.status in FINAL_STATUSES


class DispatchFailed(ChainError):
    """The extrinsic was included but its dispatch failed (for example `BadOrigin`)."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        super().__init__(f"{name}: {detail}" if detail else name)


class DecentralMlError(DispatchFailed):
    """A `DecentralMl` pallet error; the class docstring is the pallet's doc line."""

    pallet_name: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__(type(self).__name__, (type(self).__doc__ or "").strip())


class TaskNotFound(DecentralMlError):
    """No task has this id."""


class ResultNotFound(DecentralMlError):
    """No result has this id."""


class ModelNotFound(DecentralMlError):
    """No model has this id."""


class InvalidRounds(DecentralMlError):
    """Rounds must be between 1 and `MaxRounds`."""


class InvalidMaxAssignments(DecentralMlError):
    """`max_assignments` must be between 1 and `MaxAssignments`."""


class ExpiryInPast(DecentralMlError):
    """The expiry block must be after the current block."""


class ExpiryTooFar(DecentralMlError):
    """The expiry block is further away than `MaxTaskDuration`."""


class ExpiryQueueFull(DecentralMlError):
    """Too many tasks, or tasks with too many worker slots, already expire at that block;
    choose another expiry block."""


class ZeroReward(DecentralMlError):
    """The reward per result must be above zero."""


class EmptyCid(DecentralMlError):
    """A CID must not be empty."""


class DuplicateValidator(DecentralMlError):
    """An account is listed twice as validator."""


class InvalidThreshold(DecentralMlError):
    """A CustomAccept threshold must be between 1 and the number of validators."""


class BaseModelNotReleased(DecentralMlError):
    """The base model is not released by the council."""


class BudgetOverflow(DecentralMlError):
    """`reward_per_result * max_assignments * rounds` does not fit in a balance."""


class InsufficientBalance(DecentralMlError):
    """The creator's free balance cannot cover the reward budget."""


class TaskNotOpen(DecentralMlError):
    """The task is completed, cancelled or expired."""


class TaskExpired(DecentralMlError):
    """The task reached its expiry block."""


class TaskFull(DecentralMlError):
    """Every slot of the task is taken."""


class AlreadyAssigned(DecentralMlError):
    """The account already holds a slot in this task."""


class CreatorCannotWork(DecentralMlError):
    """A creator cannot work on their own task."""


class NotAssigned(DecentralMlError):
    """The account holds no slot in this task."""


class WrongRound(DecentralMlError):
    """The round is not the task's open round."""


class DuplicateResult(DecentralMlError):
    """The worker already sent a result for this round."""


class NotValidator(DecentralMlError):
    """Only the task's validators (or its creator, unless the task uses CustomAccept) may
    record verdicts."""


class CannotValidateOwnResult(DecentralMlError):
    """A worker cannot validate their own result."""


class AlreadyValidated(DecentralMlError):
    """This validator already recorded a verdict on this result."""


class ResultAlreadySettled(DecentralMlError):
    """The result is already accepted or rejected."""


class RoundClosed(DecentralMlError):
    """The result's round is already committed; it can no longer be settled."""


class NotCreator(DecentralMlError):
    """Only the task's creator may do this."""


class SettledByValidators(DecentralMlError):
    """Under CustomAccept, results are settled by the validators' votes only."""


class NotCommitter(DecentralMlError):
    """Only the task's validators may attest and commit models (never its creator alone)."""


class UnsortedResults(DecentralMlError):
    """Accepted result ids must be listed in strictly ascending order."""


class ResultNotInRound(DecentralMlError):
    """A listed result belongs to another task or round."""


class ResultNotAccepted(DecentralMlError):
    """A listed result is not accepted."""


class IncompleteAcceptedList(DecentralMlError):
    """The list must name every result accepted in the round."""


class ModelAlreadyApproved(DecentralMlError):
    """The model is already released."""


class ModelAlreadyRevoked(DecentralMlError):
    """The model is withdrawn; that is final."""


class Overflow(DecentralMlError):
    """An id counter or amount would overflow."""


class CidTooLong(DecentralMlError):
    """A CID is longer than `MaxCidLength` bytes."""


class TooManyValidators(DecentralMlError):
    """More validators than `MaxValidators`."""


class TooManyAccepted(DecentralMlError):
    """More accepted results than `MaxAssignments`."""


class RewardTooSmall(DecentralMlError):
    """The reward per result is below `MinReward` (the existential deposit)."""


class InsufficientDeposit(DecentralMlError):
    """The creator's free balance cannot cover the task's storage deposit."""


class TaskStillOpen(DecentralMlError):
    """Only an ended task may be reaped."""


class TooEarlyToReap(DecentralMlError):
    """The task may be reaped only `ReapDelay` blocks after its expiry block."""


class VerdictReasonMismatch(DecentralMlError):
    """A disapproving verdict needs a reason, and an approving one has none."""


class DuplicateHash(DecentralMlError):
    """Another result of this round already sent this hash: a copy earns nothing."""


class AlreadyAttested(DecentralMlError):
    """This member already attested this round."""


class RoundDisputed(DecentralMlError):
    """The round is disputed: only the council decides it now."""


class NoDispute(DecentralMlError):
    """The round is not disputed."""


class DisputeNotDue(DecentralMlError):
    """A round may be disputed only after its first attestation, once every member attested
    without agreement or `AttestationWindow` blocks passed."""


class NotAttested(DecentralMlError):
    """The chosen member did not attest the disputed round."""


class DisputeCannotApply(DecentralMlError):
    """A result the chosen attestation accepts was already rejected."""


class ModelNotReleased(DecentralMlError):
    """The model is not released by the council."""


class ModelAlreadyPublished(DecentralMlError):
    """The model's plaintext is already published."""


class PublishedHashMismatch(DecentralMlError):
    """The published bytes' hash is not the committed plaintext hash."""


class NotPublisher(DecentralMlError):
    """Only the task's validators or the model's committer may publish it."""


class RoundNotCommitted(DecentralMlError):
    """The round was never committed."""


class DatasetAlreadyDeclared(DecentralMlError):
    """The worker already declared its dataset card for this task; a card cannot be changed,
    so a model's provenance cannot be rewritten after training."""


PALLET_ERRORS: dict[str, type[DecentralMlError]] = {
    cls.__name__: cls for cls in DecentralMlError.__subclasses__()
}


def error_for(name: str) -> type[DecentralMlError] | None:
    """The exception class of the pallet error `name`, if it is one."""
    return PALLET_ERRORS.get(name)


def doc_line(cls: type[DecentralMlError]) -> str:
    """The doc line as the metadata holds it: the docstring's lines joined by spaces."""
    return " ".join(line.strip() for line in (cls.__doc__ or "").splitlines()).strip()
