"""Typed `DecentralMl` events, one dataclass per pallet event, fields named as in the pallet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from decentralml_bindings.types import ModelId, RejectionReason, TaskType, ValidationStrategy, text


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# How each event field is read from substrate-interface's decoded attributes.
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "task_id": int,
    "result_id": int,
    "model_id": _optional_int,
    "round": int,
    "rounds": int,
    "max_assignments": int,
    "slot": int,
    "expires_at": int,
    "reward_per_result": int,
    "escrowed": int,
    "reward": int,
    "refunded": int,
    "score": int,
    "approved": bool,
    "creator": str,
    "worker": str,
    "validator": str,
    "committed_by": str,
    "by": str,
    "deposit": int,
    "manifest_hash": str,
    "hash": str,
    "manifest_cid": text,
    "cid": text,
    "task_type": TaskType,
    "validation": ValidationStrategy.from_chain,
    "reason": lambda value: None if value is None else RejectionReason.from_chain(value),
    "base_model": _optional_int,
    "parent": _optional_int,
    "accepted": lambda ids: tuple(int(i) for i in ids),
    "attestations": int,
    "raised_by": str,
    "chosen": lambda value: None if value is None else str(value),
    "amount": int,
}


@dataclass(frozen=True)
class PalletEvent:
    """Base of the typed events; `name` is the pallet's event name."""

    name: ClassVar[str] = ""

    @classmethod
    def from_attributes(cls, attributes: dict[str, Any]) -> PalletEvent:
        return cls(**{f.name: _CONVERT[f.name](attributes[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class TaskCreated(PalletEvent):
    name: ClassVar[str] = "TaskCreated"
    task_id: int
    creator: str
    task_type: TaskType
    rounds: int
    max_assignments: int
    reward_per_result: int
    escrowed: int
    expires_at: int
    validation: ValidationStrategy
    manifest_cid: str
    manifest_hash: str
    base_model: ModelId | None


@dataclass(frozen=True)
class TaskAssigned(PalletEvent):
    name: ClassVar[str] = "TaskAssigned"
    task_id: int
    worker: str
    slot: int


@dataclass(frozen=True)
class DatasetDeclared(PalletEvent):
    name: ClassVar[str] = "DatasetDeclared"
    task_id: int
    worker: str
    cid: str
    hash: str


@dataclass(frozen=True)
class ResultSubmitted(PalletEvent):
    name: ClassVar[str] = "ResultSubmitted"
    result_id: int
    task_id: int
    round: int
    worker: str
    cid: str
    hash: str


@dataclass(frozen=True)
class ResultValidated(PalletEvent):
    name: ClassVar[str] = "ResultValidated"
    result_id: int
    task_id: int
    validator: str
    approved: bool
    score: int
    reason: RejectionReason | None


@dataclass(frozen=True)
class ResultAccepted(PalletEvent):
    name: ClassVar[str] = "ResultAccepted"
    result_id: int
    task_id: int
    round: int
    worker: str
    reward: int
    refunded: int


@dataclass(frozen=True)
class ResultRejected(PalletEvent):
    name: ClassVar[str] = "ResultRejected"
    result_id: int
    task_id: int
    round: int
    worker: str
    reason: RejectionReason


@dataclass(frozen=True)
class ModelCommitted(PalletEvent):
    name: ClassVar[str] = "ModelCommitted"
    model_id: int
    task_id: int
    round: int
    cid: str
    hash: str
    parent: ModelId | None
    accepted: tuple[int, ...]
    committed_by: str
    attestations: int


@dataclass(frozen=True)
class RoundAttested(PalletEvent):
    name: ClassVar[str] = "RoundAttested"
    task_id: int
    round: int
    validator: str
    hash: str
    cid: str
    accepted: tuple[int, ...]


@dataclass(frozen=True)
class AttestationDisagreed(PalletEvent):
    name: ClassVar[str] = "AttestationDisagreed"
    task_id: int
    round: int
    validator: str
    model_id: int


@dataclass(frozen=True)
class RoundDisputed(PalletEvent):
    name: ClassVar[str] = "RoundDisputed"
    task_id: int
    round: int
    raised_by: str


@dataclass(frozen=True)
class DisputeResolved(PalletEvent):
    name: ClassVar[str] = "DisputeResolved"
    task_id: int
    round: int
    chosen: str | None
    model_id: ModelId | None


@dataclass(frozen=True)
class ModelPublished(PalletEvent):
    name: ClassVar[str] = "ModelPublished"
    model_id: int
    task_id: int
    round: int
    cid: str


@dataclass(frozen=True)
class RewardToCreator(PalletEvent):
    name: ClassVar[str] = "RewardToCreator"
    result_id: int
    worker: str
    amount: int


@dataclass(frozen=True)
class TaskCompleted(PalletEvent):
    name: ClassVar[str] = "TaskCompleted"
    task_id: int
    creator: str
    refunded: int


@dataclass(frozen=True)
class TaskCancelled(PalletEvent):
    name: ClassVar[str] = "TaskCancelled"
    task_id: int
    creator: str
    refunded: int


@dataclass(frozen=True)
class TaskExpired(PalletEvent):
    name: ClassVar[str] = "TaskExpired"
    task_id: int
    creator: str
    refunded: int


@dataclass(frozen=True)
class ModelApproved(PalletEvent):
    name: ClassVar[str] = "ModelApproved"
    model_id: int
    task_id: int
    round: int


@dataclass(frozen=True)
class ModelRevoked(PalletEvent):
    name: ClassVar[str] = "ModelRevoked"
    model_id: int
    task_id: int
    round: int


@dataclass(frozen=True)
class TaskReaped(PalletEvent):
    name: ClassVar[str] = "TaskReaped"
    task_id: int
    by: str
    creator: str
    deposit: int


@dataclass(frozen=True)
class TaskPartlyReaped(PalletEvent):
    """One page of an ended task's state was removed; more `reap` calls remove the rest."""

    name: ClassVar[str] = "TaskPartlyReaped"
    task_id: int
    by: str
    next_round: int


EVENTS: dict[str, type[PalletEvent]] = {cls.name: cls for cls in PalletEvent.__subclasses__()}


def decode_event(name: str, attributes: dict[str, Any]) -> PalletEvent:
    """The typed event for a `DecentralMl` event as substrate-interface decodes it."""
    return EVENTS[name].from_attributes(attributes)
