//! On-chain types of the DecentralML pallet.
//!
//! Enum variant order is part of the SCALE encoding: new variants are only ever appended.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame::prelude::*;
use scale_info::TypeInfo;

/// Identifies a task. Allocated sequentially from zero.
pub type TaskId = u64;
/// Identifies a submitted result. Allocated sequentially from zero.
pub type ResultId = u64;
/// Identifies a committed model. Allocated sequentially from zero.
pub type ModelId = u64;
/// A federated round, counted from 1.
pub type RoundIndex = u32;
/// A 32-byte content hash (sha256 of the bytes stored under a CID).
pub type ContentHash = [u8; 32];

/// What kind of work a task asks for.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	RuntimeDebug,
	TypeInfo,
	MaxEncodedLen,
)]
pub enum TaskType {
	/// Label or annotate data.
	DataAnnotators,
	/// Train a shared model on local data (federated learning).
	ModelContributor,
	/// Design or improve the model itself.
	ModelEngineer,
}

/// How a submitted result becomes accepted or rejected.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	RuntimeDebug,
	TypeInfo,
	MaxEncodedLen,
)]
pub enum ValidationStrategy {
	/// The first verdict settles the result: approval accepts and pays, disapproval rejects.
	AutoAccept,
	/// Verdicts are advisory; the creator accepts or rejects.
	ManualAccept,
	/// `threshold` approving validators accept the result; once so many disapprove that the
	/// threshold can no longer be reached, it is rejected.
	CustomAccept {
		/// Number of approvals needed, between 1 and the number of validators.
		threshold: u32,
	},
}

/// Where a task is in its life.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	RuntimeDebug,
	TypeInfo,
	MaxEncodedLen,
)]
pub enum TaskStatus {
	/// Created, no worker assigned yet.
	Created,
	/// At least one worker assigned; rounds are running.
	InProgress,
	/// Every round committed; unspent escrow refunded.
	Completed,
	/// Cancelled by its creator; unspent escrow refunded.
	Withdrawn,
	/// Reached its expiry block before completing; unspent escrow refunded.
	Expired,
}

impl TaskStatus {
	/// Whether the task still accepts work (assignments, results, verdicts, commits).
	pub fn is_open(self) -> bool {
		matches!(self, TaskStatus::Created | TaskStatus::InProgress)
	}
}

/// Where a submitted result is in its life.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	RuntimeDebug,
	TypeInfo,
	MaxEncodedLen,
)]
pub enum ResultSubmissionStatus {
	/// Kept for SCALE compatibility with the prototype; a stored result is never in this state.
	Assigned,
	/// Submitted, no verdict yet.
	PendingValidation,
	/// At least one verdict recorded, not settled yet.
	Validated,
	/// Accepted; the worker was paid.
	Accepted,
	/// Rejected with a reason.
	Rejected,
}

impl ResultSubmissionStatus {
	/// Whether the result is accepted or rejected for good.
	pub fn is_settled(self) -> bool {
		matches!(self, ResultSubmissionStatus::Accepted | ResultSubmissionStatus::Rejected)
	}
}

/// Why a result was rejected.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	RuntimeDebug,
	TypeInfo,
	MaxEncodedLen,
)]
pub enum RejectionReason {
	/// Validators judged it not good enough (evaluation on held-out data).
	FailedValidation,
	/// The bytes received do not hash to the hash sent on chain.
	HashMismatch,
	/// The update is an outlier (norm or distance check).
	Outlier,
	/// The content could not be fetched or decoded.
	Malformed,
	/// The aggregation rule gave it no weight: its update points away from the validator's own
	/// reference update (trust rule), or the rule did not select it.
	LowTrust,
	/// Any other reason, by code, documented by the task's policy.
	Other(u16),
	/// The sealed update does not open for this task, round and worker: sealed to other keys,
	/// altered, or another worker's ciphertext sent as one's own.
	Unsealable,
	/// The update adds nothing to the round (a no-op, or the model sent back untouched).
	NoContribution,
	/// The update is a near copy of another update of the round, which earns the contribution.
	Duplicate,
}

/// Release state of a committed model, decided by the council.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	RuntimeDebug,
	TypeInfo,
	MaxEncodedLen,
)]
pub enum ModelStatus {
	/// Committed by the task's coordinator, not reviewed yet.
	Committed,
	/// Released by a council majority.
	Approved,
	/// Withdrawn by a council majority; final.
	Revoked,
}

/// One committee member's attestation of a round: the model it computed and the results it
/// accepted. The round is committed once the task's threshold of attestations agree.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCid, MaxResults))]
pub struct Attestation<BlockNumber, MaxCid: Get<u32>, MaxResults: Get<u32>> {
	/// sha256 of the plaintext model the member aggregated.
	pub hash: ContentHash,
	/// CID of the model's sealed bytes the member stored.
	pub cid: BoundedVec<u8, MaxCid>,
	/// The results the member accepted, ascending.
	pub accepted: BoundedVec<ResultId, MaxResults>,
	/// Block of the attestation.
	pub at: BlockNumber,
}

/// A round whose committee could not agree, awaiting the council.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
pub struct Dispute<AccountId, BlockNumber> {
	/// Who declared the dispute.
	pub raised_by: AccountId,
	/// Block it was declared.
	pub raised_at: BlockNumber,
}

/// A task's description and running totals.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCid, MaxValidators))]
pub struct TaskInfo<AccountId, Balance, BlockNumber, MaxCid: Get<u32>, MaxValidators: Get<u32>> {
	/// Who created and funded the task.
	pub creator: AccountId,
	/// What kind of work it is.
	pub task_type: TaskType,
	/// Where it is in its life.
	pub status: TaskStatus,
	/// Number of federated rounds (1 for non-federated work).
	pub rounds: RoundIndex,
	/// Rounds committed so far; the open round is `committed_rounds + 1`.
	pub committed_rounds: RoundIndex,
	/// Most workers that may be assigned.
	pub max_assignments: u32,
	/// Workers assigned so far.
	pub assigned: u32,
	/// Block from which the task no longer accepts work and its escrow is refunded.
	pub expires_at: BlockNumber,
	/// How results are settled.
	pub validation: ValidationStrategy,
	/// Accounts allowed to record verdicts and commit models, besides the creator.
	pub validators: BoundedVec<AccountId, MaxValidators>,
	/// Paid for each accepted result.
	pub reward_per_result: Balance,
	/// Escrowed at creation: `reward_per_result * max_assignments * rounds`.
	pub deposited: Balance,
	/// Paid to workers so far.
	pub paid: Balance,
	/// Returned to the creator (on completion, cancellation or expiry).
	pub refunded: Balance,
	/// Still held in escrow. Always `deposited == paid + refunded + escrowed`.
	pub escrowed: Balance,
	/// CID of the asset manifest in the content store.
	pub manifest_cid: BoundedVec<u8, MaxCid>,
	/// sha256 of the manifest's bytes.
	pub manifest_hash: ContentHash,
	/// A released model this task continues from, if any.
	pub base_model: Option<ModelId>,
	/// Block of creation.
	pub created_at: BlockNumber,
}

/// A worker's slot in a task.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCid))]
pub struct Assignment<BlockNumber, MaxCid: Get<u32>> {
	/// Slot number, from 0.
	pub slot: u32,
	/// Block of assignment.
	pub assigned_at: BlockNumber,
	/// The card of the data the worker trains on, once declared (`declare_dataset`).
	pub dataset: Option<DatasetCard<MaxCid>>,
}

/// Where a worker's dataset card (its DATASET.md: name, licence, source, description, size) is
/// in IPFS, and the card's hash. The card describes the data; the data never leaves the worker.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCid))]
pub struct DatasetCard<MaxCid: Get<u32>> {
	/// CID of the card.
	pub cid: BoundedVec<u8, MaxCid>,
	/// SHA-256 of the card's bytes.
	pub hash: ContentHash,
}

/// A result a worker submitted for one round.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCid))]
pub struct TaskResult<AccountId, BlockNumber, MaxCid: Get<u32>> {
	/// The task it belongs to.
	pub task_id: TaskId,
	/// The round it was sent for.
	pub round: RoundIndex,
	/// Who sent it.
	pub worker: AccountId,
	/// CID of the result's bytes in the content store.
	pub cid: BoundedVec<u8, MaxCid>,
	/// sha256 of the result's bytes.
	pub hash: ContentHash,
	/// Where it is in its life.
	pub status: ResultSubmissionStatus,
	/// Approving verdicts so far.
	pub approvals: u32,
	/// Disapproving verdicts so far.
	pub disapprovals: u32,
	/// Why it was rejected, once rejected.
	pub rejection: Option<RejectionReason>,
	/// Block of submission.
	pub submitted_at: BlockNumber,
}

/// One validator's verdict on one result.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
pub struct Verdict<BlockNumber> {
	/// Whether the validator approves.
	pub approved: bool,
	/// The validator's score: how much the result contributed (an approved result is paid this
	/// share of the task's reward per result).
	pub score: Permill,
	/// Why the validator disapproves (`None` when it approves).
	pub reason: Option<RejectionReason>,
	/// Block of the verdict.
	pub at: BlockNumber,
}

/// Per-round counters of a task.
#[derive(Encode, Decode, Clone, Default, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
pub struct RoundState {
	/// Results submitted.
	pub submitted: u32,
	/// Results accepted (and paid).
	pub accepted: u32,
	/// Results rejected.
	pub rejected: u32,
}

/// An aggregated model committed for one round of a task.
#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
#[scale_info(skip_type_params(MaxCid, MaxResults))]
pub struct ModelCommit<AccountId, BlockNumber, MaxCid: Get<u32>, MaxResults: Get<u32>> {
	/// The task that trained it.
	pub task_id: TaskId,
	/// The round it closes.
	pub round: RoundIndex,
	/// CID of the model's sealed bytes in the content store (readable by the task's validators
	/// and creator only).
	pub cid: BoundedVec<u8, MaxCid>,
	/// sha256 of the model's plaintext bytes (what lineage and verification are about).
	pub hash: ContentHash,
	/// The accepted results it was aggregated from, ascending.
	pub accepted: BoundedVec<ResultId, MaxResults>,
	/// The model it continues from: the previous round's commit, or the task's base model.
	pub parent: Option<ModelId>,
	/// Who committed it.
	pub committed_by: AccountId,
	/// Block of the commit.
	pub committed_at: BlockNumber,
	/// Release state.
	pub status: ModelStatus,
	/// CID of the plaintext, once a validator published it after the council's release.
	pub published: Option<BoundedVec<u8, MaxCid>>,
	/// How many committee members attested this model when it was committed.
	pub attestations: u32,
}
