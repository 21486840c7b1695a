"""One Python type per on-chain struct and enum of the DecentralML pallet.

`from_chain` builds a value from what substrate-interface decodes; `to_chain` gives the form a
call argument takes. Field names match the pallet's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

TaskId = int
ResultId = int
ModelId = int


class TaskType(StrEnum):
    """What kind of work a task asks for."""

    DATA_ANNOTATORS = "DataAnnotators"
    MODEL_CONTRIBUTOR = "ModelContributor"
    MODEL_ENGINEER = "ModelEngineer"


class TaskStatus(StrEnum):
    """Where a task is in its life."""

    CREATED = "Created"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    WITHDRAWN = "Withdrawn"
    EXPIRED = "Expired"

    @property
    def is_open(self) -> bool:
        """Whether the task still takes work (as the pallet's `TaskStatus::is_open`)."""
        return self in (TaskStatus.CREATED, TaskStatus.IN_PROGRESS)


class ResultSubmissionStatus(StrEnum):
    """Where a submitted result is in its life."""

    ASSIGNED = "Assigned"
    PENDING_VALIDATION = "PendingValidation"
    VALIDATED = "Validated"
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class ModelStatus(StrEnum):
    """Release state of a committed model."""

    COMMITTED = "Committed"
    APPROVED = "Approved"
    REVOKED = "Revoked"


def _variant(value: Any) -> tuple[str, Any]:
    """(name, payload) of a decoded enum value: `"Name"` or `{"Name": payload}`."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict) and len(value) == 1:
        ((name, payload),) = value.items()
        return str(name), payload
    raise ValueError(f"not an enum value: {value!r}")


@dataclass(frozen=True)
class ValidationStrategy:
    """How a result becomes accepted or rejected; `threshold` only for CustomAccept."""

    kind: str
    threshold: int | None = None

    @classmethod
    def auto_accept(cls) -> ValidationStrategy:
        return cls("AutoAccept")

    @classmethod
    def manual_accept(cls) -> ValidationStrategy:
        return cls("ManualAccept")

    @classmethod
    def custom_accept(cls, threshold: int) -> ValidationStrategy:
        return cls("CustomAccept", threshold)

    def to_chain(self) -> Any:
        return {"CustomAccept": {"threshold": self.threshold}} if self.kind == "CustomAccept" else self.kind

    @classmethod
    def from_chain(cls, value: Any) -> ValidationStrategy:
        name, payload = _variant(value)
        return cls(name, None if payload is None else int(payload["threshold"]))


# The pallet's `RejectionReason` variants without a payload (and `Other(u16)`): the one list the
# referee, the API's schemas and the mirror read.
RejectionKind = Literal[
    "FailedValidation",
    "HashMismatch",
    "Outlier",
    "Malformed",
    "LowTrust",
    "Unsealable",
    "NoContribution",
    "Duplicate",
]
REJECTION_KINDS: tuple[RejectionKind, ...] = get_args(RejectionKind)


@dataclass(frozen=True)
class RejectionReason:
    """Why a result was rejected; `code` only for `Other`."""

    kind: str
    code: int | None = None

    def to_chain(self) -> Any:
        return {"Other": self.code} if self.kind == "Other" else self.kind

    @classmethod
    def from_chain(cls, value: Any) -> RejectionReason:
        name, payload = _variant(value)
        return cls(name, None if payload is None else int(payload))


FAILED_VALIDATION = RejectionReason("FailedValidation")
HASH_MISMATCH = RejectionReason("HashMismatch")
OUTLIER = RejectionReason("Outlier")
MALFORMED = RejectionReason("Malformed")
LOW_TRUST = RejectionReason("LowTrust")
UNSEALABLE = RejectionReason("Unsealable")
NO_CONTRIBUTION = RejectionReason("NoContribution")
DUPLICATE = RejectionReason("Duplicate")


def text(value: Any) -> str:
    """A `BoundedVec<u8>` holding text (a CID) as decoded: str, or hex when not UTF-8."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:]).decode()
        except ValueError:
            return value
    return str(value)


@dataclass(frozen=True)
class TaskInfo:
    """A task's description and running totals (`pallet_decentralml::TaskInfo`)."""

    creator: str
    task_type: TaskType
    status: TaskStatus
    rounds: int
    committed_rounds: int
    max_assignments: int
    assigned: int
    expires_at: int
    validation: ValidationStrategy
    validators: tuple[str, ...]
    reward_per_result: int
    deposited: int
    paid: int
    refunded: int
    escrowed: int
    manifest_cid: str
    manifest_hash: str
    base_model: ModelId | None
    created_at: int

    @property
    def open_round(self) -> int:
        return self.committed_rounds + 1

    @classmethod
    def from_chain(cls, v: dict[str, Any]) -> TaskInfo:
        return cls(
            creator=str(v["creator"]),
            task_type=TaskType(v["task_type"]),
            status=TaskStatus(v["status"]),
            rounds=int(v["rounds"]),
            committed_rounds=int(v["committed_rounds"]),
            max_assignments=int(v["max_assignments"]),
            assigned=int(v["assigned"]),
            expires_at=int(v["expires_at"]),
            validation=ValidationStrategy.from_chain(v["validation"]),
            validators=tuple(str(a) for a in v["validators"]),
            reward_per_result=int(v["reward_per_result"]),
            deposited=int(v["deposited"]),
            paid=int(v["paid"]),
            refunded=int(v["refunded"]),
            escrowed=int(v["escrowed"]),
            manifest_cid=text(v["manifest_cid"]),
            manifest_hash=str(v["manifest_hash"]),
            base_model=None if v["base_model"] is None else int(v["base_model"]),
            created_at=int(v["created_at"]),
        )


@dataclass(frozen=True)
class DatasetCardRef:
    """Where a worker's dataset card (DATASET.md) is in IPFS, and its sha256 (0x-hex)."""

    cid: str
    hash: str


@dataclass(frozen=True)
class Assignment:
    """A worker's slot in a task, and the card of the data it declared (`declare_dataset`)."""

    slot: int
    assigned_at: int
    dataset: DatasetCardRef | None = None

    @classmethod
    def from_chain(cls, v: dict[str, Any]) -> Assignment:
        card = v.get("dataset")
        return cls(
            slot=int(v["slot"]),
            assigned_at=int(v["assigned_at"]),
            dataset=None if card is None else DatasetCardRef(cid=text(card["cid"]), hash=str(card["hash"])),
        )


@dataclass(frozen=True)
class TaskResult:
    """A result a worker submitted for one round."""

    task_id: TaskId
    round: int
    worker: str
    cid: str
    hash: str
    status: ResultSubmissionStatus
    approvals: int
    disapprovals: int
    rejection: RejectionReason | None
    submitted_at: int

    @classmethod
    def from_chain(cls, v: dict[str, Any]) -> TaskResult:
        return cls(
            task_id=int(v["task_id"]),
            round=int(v["round"]),
            worker=str(v["worker"]),
            cid=text(v["cid"]),
            hash=str(v["hash"]),
            status=ResultSubmissionStatus(v["status"]),
            approvals=int(v["approvals"]),
            disapprovals=int(v["disapprovals"]),
            rejection=None if v["rejection"] is None else RejectionReason.from_chain(v["rejection"]),
            submitted_at=int(v["submitted_at"]),
        )


@dataclass(frozen=True)
class Verdict:
    """One validator's verdict on one result; `score` in parts per million (an accepted result is
    paid that share of the reward), `reason` why it disapproves."""

    approved: bool
    score: int
    reason: RejectionReason | None
    at: int

    @classmethod
    def from_chain(cls, v: dict[str, Any]) -> Verdict:
        reason = None if v.get("reason") is None else RejectionReason.from_chain(v["reason"])
        return cls(approved=bool(v["approved"]), score=int(v["score"]), reason=reason, at=int(v["at"]))


@dataclass(frozen=True)
class Attestation:
    """A committee member's attestation of a round: the plaintext `hash` of the model it
    computed, the `cid` of its sealed bytes, the results it accepted, and the block."""

    hash: str
    cid: str
    accepted: tuple[int, ...]
    at: int

    @classmethod
    def from_chain(cls, v: dict[str, Any]) -> Attestation:
        return cls(
            hash=str(v["hash"]),
            cid=text(v["cid"]),
            accepted=tuple(int(r) for r in v["accepted"]),
            at=int(v["at"]),
        )


@dataclass(frozen=True)
class RoundState:
    """Per-round counters of a task."""

    submitted: int
    accepted: int
    rejected: int

    @classmethod
    def from_chain(cls, v: dict[str, Any]) -> RoundState:
        return cls(submitted=int(v["submitted"]), accepted=int(v["accepted"]), rejected=int(v["rejected"]))


@dataclass(frozen=True)
class ModelCommit:
    """An aggregated model committed for one round of a task."""

    task_id: TaskId
    round: int
    cid: str
    hash: str
    accepted: tuple[ResultId, ...]
    parent: ModelId | None
    committed_by: str
    committed_at: int
    status: ModelStatus
    published: str | None = None  # CID of the plaintext, once published after release
    attestations: int = 1  # committee members that agreed when it was committed

    @classmethod
    def from_chain(cls, v: dict[str, Any]) -> ModelCommit:
        return cls(
            task_id=int(v["task_id"]),
            round=int(v["round"]),
            cid=text(v["cid"]),
            hash=str(v["hash"]),
            accepted=tuple(int(r) for r in v["accepted"]),
            parent=None if v["parent"] is None else int(v["parent"]),
            committed_by=str(v["committed_by"]),
            committed_at=int(v["committed_at"]),
            status=ModelStatus(v["status"]),
            published=None if v["published"] is None else text(v["published"]),
            attestations=int(v["attestations"]),
        )
