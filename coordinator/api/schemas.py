"""Request and response bodies. Amounts are u128 on chain: they travel as decimal strings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from substrateinterface.utils.ss58 import is_valid_ss58_address

from decentralml_bindings.types import RejectionKind

U32_MAX, U64_MAX, U128_MAX = 2**32 - 1, 2**64 - 1, 2**128 - 1


def _ss58(value: str) -> str:
    if not is_valid_ss58_address(value):
        raise ValueError("not an SS58 address of this chain (a typo, or a wrong checksum)")
    return value


def _u128(value: str) -> str:
    if int(value) > U128_MAX:
        raise ValueError("larger than the chain's amounts can be (u128)")
    return value


Address = Annotated[
    str,
    StringConstraints(min_length=46, max_length=48, pattern=r"^[1-9A-HJ-NP-Za-km-z]+$"),
    AfterValidator(_ss58),
]
Hash32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
Cid = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Amount = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,39}$"), AfterValidator(_u128)]
SignedHex = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]+$", max_length=65_536)]
U32 = Annotated[int, Field(ge=0, le=U32_MAX)]
U64 = Annotated[int, Field(ge=0, le=U64_MAX)]


class Signing(BaseModel):
    """How a write is authorised: an extrinsic the caller signed, or an operator keystore account."""

    model_config = ConfigDict(extra="forbid")

    signed_extrinsic: SignedHex | None = Field(
        None, description="hex of an extrinsic signed by the caller for exactly this call; relayed as is"
    )
    signer: Address | None = Field(
        None, description="an account in the operator's keystore that signs for you"
    )
    wait: bool = Field(
        True,
        description="wait for inclusion (201/200 with the receipt), or get 202 and a status URL at once",
    )

    @model_validator(mode="after")
    def one_way(self) -> Signing:
        if (self.signed_extrinsic is None) == (self.signer is None):
            raise ValueError("give exactly one of signed_extrinsic or signer")
        return self


class CreateTask(Signing):
    """The chain's own limits (MaxRounds, MaxAssignments, MaxValidators, MaxTaskDuration, the
    existential deposit) are checked before anything is relayed: `GET /limits` lists them."""

    task_type: Literal["DataAnnotators", "ModelContributor", "ModelEngineer"] = "ModelContributor"
    rounds: int = Field(1, ge=1, le=U32_MAX, description="at most the chain's MaxRounds")
    max_assignments: int = Field(ge=1, le=U32_MAX, description="at most the chain's MaxAssignments")
    expires_at: int = Field(ge=1, le=U32_MAX, description="a block after the current one")
    validation: Literal["AutoAccept", "ManualAccept", "CustomAccept"] = "ManualAccept"
    threshold: int | None = Field(None, ge=1, le=U32_MAX, description="CustomAccept only")
    validators: list[Address] = Field(
        default_factory=list, max_length=256, description="at most the chain's MaxValidators, no repeats"
    )
    reward_per_result: Amount = Field(description="plancks; at least the existential deposit")
    manifest_cid: Cid
    manifest_hash: Hash32
    base_model: U64 | None = None


class SendResult(Signing):
    round: int = Field(ge=1, le=U32_MAX)
    cid: Cid
    hash: Hash32


class Validate(Signing):
    approved: bool
    score: int = Field(
        ge=0,
        le=1_000_000,
        description="parts per million: an accepted result is paid this share of the reward",
    )
    reason: RejectionKind | None = Field(
        None,
        description="why a disapproving verdict disapproves (default FailedValidation); none when approving",
    )


class Reject(Signing):
    reason: RejectionKind | Literal["Other"]
    code: int | None = Field(None, ge=0, le=65_535, description="with reason Other")


class CommitModel(Signing):
    round: int = Field(ge=1, le=U32_MAX)
    cid: Cid
    hash: Hash32
    accepted: list[U64] = Field(default_factory=list, max_length=1_000)


class Submitted(BaseModel):
    """An included extrinsic and the DecentralMl events it emitted."""

    extrinsic_hash: str
    block_hash: str
    block_number: int
    fee: Amount
    events: list[dict[str, object]]


SubmissionState = Literal["pending", "included", "failed"]


class Submission(BaseModel):
    """A write queued with `wait: false`: poll `status_url` until it is included or failed."""

    id: str
    call: str = Field(description="pallet call, as Module.function")
    state: SubmissionState
    status_url: str
    status: int | None = Field(None, description="the HTTP status the write would have had if waited for")
    result: Submitted | None = None
    error: dict[str, str] | None = Field(None, description="error name and detail when failed")


QUEUED: dict[int | str, dict[str, Any]] = {
    202: {"model": Submission, "description": "Queued (`wait: false`): poll `status_url` (also in Location)"}
}


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, coerce_numbers_to_str=True)

    id: int
    creator: str
    task_type: str
    status: str
    rounds: int
    committed_rounds: int
    max_assignments: int
    assigned: int
    expires_at: int
    validation: str
    validation_threshold: int | None
    validators: list[str]
    reward_per_result: Amount
    deposited: Amount
    paid: Amount
    refunded: Amount
    escrowed: Amount
    manifest_cid: str
    manifest_hash: str
    base_model: int | None
    created_at: int
    synced_block: int


class AssignmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, coerce_numbers_to_str=True)

    worker: str
    slot: int
    assigned_at: int
    dataset_cid: str | None = None  # the worker's dataset card (DATASET.md) in IPFS, once declared
    dataset_hash: str | None = None  # its sha256, as on chain


class VerdictOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, coerce_numbers_to_str=True)

    validator: str
    approved: bool
    score: int
    reason: str | None = None
    at: int


class ResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, coerce_numbers_to_str=True)

    id: int
    task_id: int
    round: int
    worker: str
    cid: str
    hash: str
    status: str
    approvals: int
    disapprovals: int
    rejection: str | None
    reward_paid: Amount
    submitted_at: int
    verdicts: list[VerdictOut] = Field(default_factory=list)


class ModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, coerce_numbers_to_str=True)

    id: int
    task_id: int
    round: int
    cid: str
    hash: str
    accepted: list[int]
    parent: int | None
    committed_by: str
    committed_at: int
    status: str
    published: str | None = Field(
        None,
        description="CID of the plaintext once published after the council's release; `cid` names "
        "the sealed bytes only the task's validators and creator can open",
    )
    attestations: int = Field(1, description="committee members that agreed on this model when committed")


class PredictIn(BaseModel):
    """Inputs in the task's raw form: rows for a tabular task, encoded images for an image task."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, float | str]] | None = Field(
        None,
        max_length=1000,
        description="tabular tasks: one object per row, feature column -> value as a CSV holds it (a "
        "number, or a category's name); the label column is not needed",
    )
    images: list[str] | None = Field(
        None,
        max_length=64,
        description="image tasks: base64 of each encoded image (PNG, JPEG, ...), converted and resized "
        "like the task's training images",
    )


class PredictionsOut(BaseModel):
    """A released model's answers, in the task's own terms."""

    model_id: int
    task_id: int
    predictions: list[str | float] = Field(description="a class name, or a number in the target's units")
    probabilities: list[list[float]] | None = Field(
        None, description="per input, one per class in `classes` order; null for a regression"
    )
    classes: list[str] | None = None


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("def ", max_length=4096, description="the text to continue")
    tokens: int = Field(200, ge=1, le=1024, description="new tokens to sample")
    temperature: float = Field(0.8, ge=0, le=5, description="0 is greedy")
    top_k: int | None = Field(40, ge=1, le=1_000_000, description="sample among the k likeliest; null: all")
    seed: int = Field(0, ge=0, le=2**32 - 1)


class GeneratedOut(BaseModel):
    model_id: int
    task_id: int
    prompt: str
    text: str = Field(description="the continuation (the prompt not repeated)")


class VerifyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member: Address = Field(
        description="the committee member whose key opens the task's sealed updates and models; it "
        "must be in this coordinator's keystore and bound to the caller's token"
    )


class VerificationOut(BaseModel):
    """A committed model recomputed from the chain and IPFS by a committee member's key."""

    model_id: int
    task_id: int
    round: int
    rule: str = Field(
        description="the aggregation rule applied (a fallback rule if the task's gave no weight)"
    )
    accepted: list[int] = Field(description="the results the chain says the model was built from")
    on_chain: str = Field(description="sha256 of the plaintext model, as the chain records it")
    stored: str = Field(description="sha256 of the bytes the chain's CID opens to")
    recomputed: str = Field(description="sha256 of the rule's aggregate of the accepted updates")
    stored_match: bool
    recomputed_match: bool
    match: bool = Field(description="both hashes equal the chain's: the model is what the committee says")


class RunOut(BaseModel):
    """What this coordinator knows of running the task, beyond the chain (coordinator-local)."""

    state: Literal["waiting", "running", "refused", "stalled", "ended"] = Field(
        description="waiting for workers; running (attempt n); refused before any round (its data or "
        "bundle cannot be judged); stalled (runs kept failing, the coordinator stopped trying); ended "
        "(the task is no longer open on chain: completed, withdrawn or expired)"
    )
    reason: str | None = Field(None, description="why it is refused, stalled or waiting")
    attempts: int = Field(0, description="runs in a row that committed no round")
    last_failure: str | None = Field(
        None, description="the newest failed round's reason, e.g. 'round 1 failed: ...'"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="rounds that committed without any accepted update (the model left unchanged), and why",
    )
    epsilon: dict[str, float] = Field(
        default_factory=dict,
        description="differential privacy: the ε each worker last reported having spent on the task",
    )


class AttestationOut(BaseModel):
    """A committee member's attestation of a round, from the chain's `RoundAttested` events."""

    round: int
    validator: str
    hash: str = Field(description="sha256 of the plaintext model the member computed")
    cid: str = Field(description="its sealed bytes (each member seals its own)")
    accepted: list[int]
    block: int
    agrees: bool | None = Field(
        description="whether it matches the model committed for the round (hash and accepted set); "
        "null while the round is not committed"
    )


class DisputeOut(BaseModel):
    """A round the committee did not agree on, and the council's resolution once it came."""

    round: int
    raised_by: str
    block: int
    resolved: bool
    chosen: str | None = Field(None, description="the member whose attestation the council chose")
    model_id: int | None = Field(None, description="the model committed by the resolution; null if voided")


class TaskDetail(TaskOut):
    assignments: list[AssignmentOut]
    results: list[ResultOut]
    models: list[ModelOut]
    attestations: list[AttestationOut] = Field(
        default_factory=list, description="every committee member's attestation of every round"
    )
    disputes: list[DisputeOut] = Field(default_factory=list)
    run: RunOut | None = Field(None, description="null when this coordinator does not referee the task")


class Page(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[TaskOut]


class Earnings(BaseModel):
    account: str
    accepted_results: int
    earned: Amount
    tasks: list[int]


class Limits(BaseModel):
    """The chain's limits, from its metadata."""

    max_rounds: int
    max_assignments: int
    max_validators: int
    max_cid_length: int
    max_task_duration: int = Field(description="blocks")
    existential_deposit: Amount


class Health(BaseModel):
    chain: Literal["ok", "unreachable"]
    database: Literal["ok", "unreachable"]
    finalized_block: int | None
    indexed_block: int | None
    indexer_lag: int | None


class CouncilVoteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    voter: str
    aye: bool
    at: int


class CouncilMotionOut(BaseModel):
    """A council motion as its events told it: Voting, Approved, Disapproved, Executed, ExecutionFailed."""

    model_config = ConfigDict(from_attributes=True)

    index: int
    proposal_hash: str
    proposer: str
    threshold: int
    call: dict[str, Any] | None
    status: str
    ayes: int
    nays: int
    proposed_at: int
    closed_at: int | None
    outcome: str | None
    votes: list[CouncilVoteOut] = Field(default_factory=list)


class LineageNode(BaseModel):
    """One iteration of a model: a committed round, linked to its parent."""

    id: int
    parent: int | None
    iteration: int = Field(description="1 for the root of the tree, parent's + 1 after")
    task_id: int
    round: int
    hash: str
    cid: str
    status: str = Field(description="Committed, Approved (released by the council) or Revoked")
    committed_at: int
    accuracy: float | None = Field(
        None, description="test accuracy, when this coordinator refereed the round"
    )


class Lineage(BaseModel):
    """Every model in the tree the asked-for model belongs to, parents before children."""

    root: int
    model: int
    nodes: list[LineageNode]


class NodeBindingIn(BaseModel):
    """A worker's Flower node key bound to its account (`decentralml.identity.Binding`)."""

    model_config = ConfigDict(extra="forbid")

    account: Address
    superlink: str = Field(min_length=3, max_length=260, description="the SuperLink it joins (host:port)")
    public_key: str = Field(min_length=16, max_length=1_024, description="OpenSSH EC public key line")
    signature: str = Field(pattern=r"^0x[0-9a-f]{128}$", description="sr25519 signature of the statement")


class NodeBindingOut(BaseModel):
    node_id: str = Field(description="the Flower node id the SuperLink gave the key (a u64, as text)")
    account: str
