//! # DecentralML pallet
//!
//! The chain side of DecentralML, a federated learning coordinator. The chain is the referee:
//!
//! - a creator posts a task (`create_task`) that points at an asset manifest by CID and hash and
//!   escrows the whole reward budget (`reward_per_result * max_assignments * rounds`) as a hold;
//! - workers claim slots (`assign_task`) and, for every round, post the CID and hash of their
//!   update (`send_task_result`);
//! - validators (or the creator) record verdicts (`validate_task_result`); results are settled by
//!   the task's [`ValidationStrategy`]: the creator decides (`accept_task_result`,
//!   `reject_task_result`), the first verdict decides, or a threshold of validators decides.
//!   Acceptance pays the worker from escrow in the same call;
//! - the coordinator commits each round's aggregated model by CID and hash, listing exactly the
//!   accepted results it was built from and linking to the previous round (`commit_model`);
//! - an accepted result is paid its validators' score (a share of the reward per result); the rest
//!   of that reward returns to the creator at once;
//! - committing the last round completes the task; cancelling (`cancel_task`) or reaching the
//!   expiry block ends it early, after paying the results validators approved but nobody settled.
//!   Either way unspent escrow returns to the creator, and the task leaves the expiry queue;
//! - each task holds a storage deposit from its creator, returned by `reap` (callable by anyone)
//!   once the task has ended and `ReapDelay` blocks have passed since its expiry block;
//! - a council majority releases (`approve_model`) or withdraws (`revoke_model`) models.
//!
//! No credentials or private paths are ever stored: content is referenced by CID and hash only.
//! Storage is bounded per task; nothing grows with the number of tasks in a single value.

#![cfg_attr(not(feature = "std"), no_std)]
// Calls mirror the task description one argument per field, as Polkadot-JS Apps shows them.
#![allow(clippy::too_many_arguments)]
#![cfg_attr(test, allow(clippy::arithmetic_side_effects))]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

mod escrow;
mod impls;
pub mod migrations;
pub mod types;
pub mod weights;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;

#[frame::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use frame::{
		prelude::*,
		traits::fungible::{Inspect, Mutate, MutateHold},
	};

	/// Balance of the currency used for rewards.
	pub type BalanceOf<T> =
		<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	/// A content identifier (IPFS CID, as text bytes).
	pub type CidOf<T> = BoundedVec<u8, <T as Config>::MaxCidLength>;
	/// The validators of a task.
	pub type ValidatorsOf<T> =
		BoundedVec<<T as frame_system::Config>::AccountId, <T as Config>::MaxValidators>;
	/// The accepted results listed in a model commit.
	pub type AcceptedOf<T> = BoundedVec<ResultId, <T as Config>::MaxAssignments>;
	/// A task as stored.
	pub type TaskOf<T> = TaskInfo<
		<T as frame_system::Config>::AccountId,
		BalanceOf<T>,
		BlockNumberFor<T>,
		<T as Config>::MaxCidLength,
		<T as Config>::MaxValidators,
	>;
	/// A result as stored.
	pub type ResultOf<T> = TaskResult<
		<T as frame_system::Config>::AccountId,
		BlockNumberFor<T>,
		<T as Config>::MaxCidLength,
	>;
	/// A committee member's attestation as stored.
	pub type AttestationOf<T> =
		Attestation<BlockNumberFor<T>, <T as Config>::MaxCidLength, <T as Config>::MaxAssignments>;
	/// A worker's slot as stored.
	pub type AssignmentOf<T> = Assignment<BlockNumberFor<T>, <T as Config>::MaxCidLength>;
	/// A disputed round as stored.
	pub type DisputeOf<T> = Dispute<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
	/// A model commit as stored.
	pub type ModelOf<T> = ModelCommit<
		<T as frame_system::Config>::AccountId,
		BlockNumberFor<T>,
		<T as Config>::MaxCidLength,
		<T as Config>::MaxAssignments,
	>;

	/// The layout of this pallet's storage (`migrations` moves a chain from each to the next).
	pub const STORAGE_VERSION: StorageVersion = StorageVersion::new(3);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config {
		/// The currency rewards are paid in; escrow is a hold on the creator's balance.
		type Currency: Mutate<Self::AccountId>
			+ MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;
		/// The overarching hold reason.
		type RuntimeHoldReason: From<HoldReason>;
		/// Who may release or withdraw models (a council majority in the runtime).
		type ReleaseOrigin: EnsureOrigin<Self::RuntimeOrigin>;
		/// Most workers a task may take.
		#[pallet::constant]
		type MaxAssignments: Get<u32>;
		/// Most rounds a task may run.
		#[pallet::constant]
		type MaxRounds: Get<u32>;
		/// Most validators a task may name.
		#[pallet::constant]
		type MaxValidators: Get<u32>;
		/// Longest CID accepted, in bytes.
		#[pallet::constant]
		type MaxCidLength: Get<u32>;
		/// Longest time between creation and expiry, in blocks.
		#[pallet::constant]
		type MaxTaskDuration: Get<BlockNumberFor<Self>>;
		/// Most tasks that may expire at the same block.
		#[pallet::constant]
		type MaxExpiringPerBlock: Get<u32>;
		/// Most worker slots (`max_assignments`, summed) of the tasks that expire at the same block.
		/// The expiry hook pays at most this many approved results in one block, so this bounds its
		/// weight; it must be at least `MaxAssignments`.
		#[pallet::constant]
		type MaxExpiringAssignments: Get<u32>;
		/// The smallest reward per result (at least the existential deposit, so a reward can always
		/// be paid to a new account).
		#[pallet::constant]
		type MinReward: Get<BalanceOf<Self>>;
		/// Held from the creator for every task while its state is stored; returned by `reap`.
		#[pallet::constant]
		type TaskDeposit: Get<BalanceOf<Self>>;
		/// Blocks after a task's expiry block before an ended task may be reaped.
		#[pallet::constant]
		type ReapDelay: Get<BlockNumberFor<Self>>;

		/// Storage items one `reap` call removes at most (a result and its verdicts count one
		/// each and go together, so a call may remove up to `MaxValidators` more).
		#[pallet::constant]
		type ReapPage: Get<u32>;
		/// Blocks after a round's first attestation before it may be declared disputed, when its
		/// committee has not agreed.
		#[pallet::constant]
		type AttestationWindow: Get<BlockNumberFor<Self>>;
		/// Weights of this pallet's calls, from its benchmarks.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The unspent reward budget of a creator's open tasks.
		TaskEscrow,
		/// The storage deposit of a creator's tasks not yet reaped.
		TaskStorage,
	}

	/// The id the next task gets.
	#[pallet::storage]
	pub type NextTaskId<T> = StorageValue<_, TaskId, ValueQuery>;

	/// Every task, by id.
	#[pallet::storage]
	pub type Tasks<T: Config> = StorageMap<_, Twox64Concat, TaskId, TaskOf<T>>;

	/// Workers assigned to a task.
	#[pallet::storage]
	pub type Assignments<T: Config> =
		StorageDoubleMap<_, Twox64Concat, TaskId, Blake2_128Concat, T::AccountId, AssignmentOf<T>>;

	/// The id the next result gets.
	#[pallet::storage]
	pub type NextResultId<T> = StorageValue<_, ResultId, ValueQuery>;

	/// Every submitted result, by id.
	#[pallet::storage]
	pub type Results<T: Config> = StorageMap<_, Twox64Concat, ResultId, ResultOf<T>>;

	/// The result a worker sent for a round of a task (at most one).
	#[pallet::storage]
	pub type ResultIndex<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, TaskId>,
			NMapKey<Twox64Concat, RoundIndex>,
			NMapKey<Blake2_128Concat, T::AccountId>,
		),
		ResultId,
	>;

	/// The result that sent a hash in a round: a hash is accepted once per round, so a copied
	/// update cannot be sent again under another account.
	#[pallet::storage]
	pub type RoundHashes<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, TaskId>,
			NMapKey<Twox64Concat, RoundIndex>,
			NMapKey<Identity, ContentHash>,
		),
		ResultId,
	>;

	/// Each committee member's attestation of a round (kept after the commit, so members that
	/// disagreed stay visible).
	#[pallet::storage]
	pub type Attestations<T: Config> = StorageNMap<
		_,
		(
			NMapKey<Twox64Concat, TaskId>,
			NMapKey<Twox64Concat, RoundIndex>,
			NMapKey<Blake2_128Concat, T::AccountId>,
		),
		AttestationOf<T>,
	>;

	/// Rounds whose committee could not agree, until the council resolves them.
	#[pallet::storage]
	pub type Disputes<T: Config> =
		StorageDoubleMap<_, Twox64Concat, TaskId, Twox64Concat, RoundIndex, DisputeOf<T>>;

	/// Verdicts on a result, by validator.
	#[pallet::storage]
	pub type Verdicts<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		ResultId,
		Blake2_128Concat,
		T::AccountId,
		Verdict<BlockNumberFor<T>>,
	>;

	/// The first round of a task being reaped whose state is not yet removed (`reap` removes a
	/// page of items per call).
	#[pallet::storage]
	pub type ReapProgress<T> = StorageMap<_, Twox64Concat, TaskId, RoundIndex, ValueQuery>;

	/// Counters of each round of each task.
	#[pallet::storage]
	pub type Rounds<T> =
		StorageDoubleMap<_, Twox64Concat, TaskId, Twox64Concat, RoundIndex, RoundState, ValueQuery>;

	/// The id the next model commit gets.
	#[pallet::storage]
	pub type NextModelId<T> = StorageValue<_, ModelId, ValueQuery>;

	/// Every committed model, by id.
	#[pallet::storage]
	pub type Models<T: Config> = StorageMap<_, Twox64Concat, ModelId, ModelOf<T>>;

	/// The model committed for a round of a task.
	#[pallet::storage]
	pub type RoundModels<T> =
		StorageDoubleMap<_, Twox64Concat, TaskId, Twox64Concat, RoundIndex, ModelId>;

	/// Tasks that expire at a block; drained by `on_initialize` of that block.
	#[pallet::storage]
	pub type ExpiryQueue<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<TaskId, T::MaxExpiringPerBlock>,
		ValueQuery,
	>;

	/// The worker slots (`max_assignments`, summed) of the tasks in `ExpiryQueue` at a block.
	#[pallet::storage]
	pub type ExpiringSlots<T: Config> =
		StorageMap<_, Twox64Concat, BlockNumberFor<T>, u32, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A task was created and its reward budget escrowed.
		TaskCreated {
			task_id: TaskId,
			creator: T::AccountId,
			task_type: TaskType,
			rounds: RoundIndex,
			max_assignments: u32,
			reward_per_result: BalanceOf<T>,
			escrowed: BalanceOf<T>,
			expires_at: BlockNumberFor<T>,
			validation: ValidationStrategy,
			manifest_cid: CidOf<T>,
			manifest_hash: ContentHash,
			base_model: Option<ModelId>,
		},
		/// A worker claimed a slot of a task.
		TaskAssigned { task_id: TaskId, worker: T::AccountId, slot: u32 },
		/// A worker declared the card of the data it trains on for a task.
		DatasetDeclared { task_id: TaskId, worker: T::AccountId, cid: CidOf<T>, hash: ContentHash },
		/// A worker sent a result for a round.
		ResultSubmitted {
			result_id: ResultId,
			task_id: TaskId,
			round: RoundIndex,
			worker: T::AccountId,
			cid: CidOf<T>,
			hash: ContentHash,
		},
		/// A validator recorded a verdict on a result.
		ResultValidated {
			result_id: ResultId,
			task_id: TaskId,
			validator: T::AccountId,
			approved: bool,
			score: Permill,
			reason: Option<RejectionReason>,
		},
		/// A result was accepted and its worker paid from escrow its score's share of the reward;
		/// the rest of that reward went back to the creator.
		ResultAccepted {
			result_id: ResultId,
			task_id: TaskId,
			round: RoundIndex,
			worker: T::AccountId,
			reward: BalanceOf<T>,
			refunded: BalanceOf<T>,
		},
		/// A result was rejected.
		ResultRejected {
			result_id: ResultId,
			task_id: TaskId,
			round: RoundIndex,
			worker: T::AccountId,
			reason: RejectionReason,
		},
		/// A round's aggregated model was committed: `attestations` committee members agreed
		/// on its plaintext hash and accepted results (`cid` names the sealed bytes).
		ModelCommitted {
			model_id: ModelId,
			task_id: TaskId,
			round: RoundIndex,
			cid: CidOf<T>,
			hash: ContentHash,
			parent: Option<ModelId>,
			accepted: AcceptedOf<T>,
			committed_by: T::AccountId,
			attestations: u32,
		},
		/// A committee member attested a round's model.
		RoundAttested {
			task_id: TaskId,
			round: RoundIndex,
			validator: T::AccountId,
			hash: ContentHash,
			cid: CidOf<T>,
			accepted: AcceptedOf<T>,
		},
		/// A member's attestation differs from the model committed for its round.
		AttestationDisagreed {
			task_id: TaskId,
			round: RoundIndex,
			validator: T::AccountId,
			model_id: ModelId,
		},
		/// A round's committee did not agree in time; the council decides it.
		RoundDisputed { task_id: TaskId, round: RoundIndex, raised_by: T::AccountId },
		/// The council resolved a disputed round: committed the chosen member's attestation, or
		/// (no choice) voided the round and ended the task, refunding its escrow.
		DisputeResolved {
			task_id: TaskId,
			round: RoundIndex,
			chosen: Option<T::AccountId>,
			model_id: Option<ModelId>,
		},
		/// A released model's plaintext was published; anyone can fetch it by `cid` and check
		/// it against the committed hash.
		ModelPublished { model_id: ModelId, task_id: TaskId, round: RoundIndex, cid: CidOf<T> },
		/// An accepted result's share could not be paid into its worker's emptied account (below
		/// the existential deposit); it went back to the creator.
		RewardToCreator { result_id: ResultId, worker: T::AccountId, amount: BalanceOf<T> },
		/// Every round was committed; unspent escrow went back to the creator.
		TaskCompleted { task_id: TaskId, creator: T::AccountId, refunded: BalanceOf<T> },
		/// The creator cancelled the task; unspent escrow went back to the creator.
		TaskCancelled { task_id: TaskId, creator: T::AccountId, refunded: BalanceOf<T> },
		/// The task reached its expiry block; unspent escrow went back to the creator.
		TaskExpired { task_id: TaskId, creator: T::AccountId, refunded: BalanceOf<T> },
		/// The council released a model.
		ModelApproved { model_id: ModelId, task_id: TaskId, round: RoundIndex },
		/// The council withdrew a model.
		ModelRevoked { model_id: ModelId, task_id: TaskId, round: RoundIndex },
		/// An ended task's state was removed and its storage deposit returned to its creator.
		TaskReaped {
			task_id: TaskId,
			by: T::AccountId,
			creator: T::AccountId,
			deposit: BalanceOf<T>,
		},
		/// One page of an ended task's state was removed; more calls to `reap` remove the rest,
		/// from `next_round` on, and the last returns the deposit.
		TaskPartlyReaped { task_id: TaskId, by: T::AccountId, next_round: RoundIndex },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// No task has this id.
		TaskNotFound,
		/// No result has this id.
		ResultNotFound,
		/// No model has this id.
		ModelNotFound,
		/// Rounds must be between 1 and `MaxRounds`.
		InvalidRounds,
		/// `max_assignments` must be between 1 and `MaxAssignments`.
		InvalidMaxAssignments,
		/// The expiry block must be after the current block.
		ExpiryInPast,
		/// The expiry block is further away than `MaxTaskDuration`.
		ExpiryTooFar,
		/// Too many tasks, or tasks with too many worker slots, already expire at that block;
		/// choose another expiry block.
		ExpiryQueueFull,
		/// The reward per result must be above zero.
		ZeroReward,
		/// A CID must not be empty.
		EmptyCid,
		/// An account is listed twice as validator.
		DuplicateValidator,
		/// A CustomAccept threshold must be between 1 and the number of validators.
		InvalidThreshold,
		/// The base model is not released by the council.
		BaseModelNotReleased,
		/// `reward_per_result * max_assignments * rounds` does not fit in a balance.
		BudgetOverflow,
		/// The creator's free balance cannot cover the reward budget.
		InsufficientBalance,
		/// The task is completed, cancelled or expired.
		TaskNotOpen,
		/// The task reached its expiry block.
		TaskExpired,
		/// Every slot of the task is taken.
		TaskFull,
		/// The account already holds a slot in this task.
		AlreadyAssigned,
		/// A creator cannot work on their own task.
		CreatorCannotWork,
		/// The account holds no slot in this task.
		NotAssigned,
		/// The round is not the task's open round.
		WrongRound,
		/// The worker already sent a result for this round.
		DuplicateResult,
		/// Only the task's validators (or its creator, unless the task uses CustomAccept) may
		/// record verdicts.
		NotValidator,
		/// A worker cannot validate their own result.
		CannotValidateOwnResult,
		/// This validator already recorded a verdict on this result.
		AlreadyValidated,
		/// The result is already accepted or rejected.
		ResultAlreadySettled,
		/// The result's round is already committed; it can no longer be settled.
		RoundClosed,
		/// Only the task's creator may do this.
		NotCreator,
		/// Under CustomAccept, results are settled by the validators' votes only.
		SettledByValidators,
		/// Only the task's validators may attest and commit models (never its creator alone).
		NotCommitter,
		/// Accepted result ids must be listed in strictly ascending order.
		UnsortedResults,
		/// A listed result belongs to another task or round.
		ResultNotInRound,
		/// A listed result is not accepted.
		ResultNotAccepted,
		/// The list must name every result accepted in the round.
		IncompleteAcceptedList,
		/// The model is already released.
		ModelAlreadyApproved,
		/// The model is withdrawn; that is final.
		ModelAlreadyRevoked,
		/// An id counter or amount would overflow.
		Overflow,
		/// A CID is longer than `MaxCidLength` bytes.
		CidTooLong,
		/// More validators than `MaxValidators`.
		TooManyValidators,
		/// More accepted results than `MaxAssignments`.
		TooManyAccepted,
		/// The reward per result is below `MinReward` (the existential deposit).
		RewardTooSmall,
		/// The creator's free balance cannot cover the task's storage deposit.
		InsufficientDeposit,
		/// Only an ended task may be reaped.
		TaskStillOpen,
		/// The task may be reaped only `ReapDelay` blocks after its expiry block.
		TooEarlyToReap,
		/// A disapproving verdict needs a reason, and an approving one has none.
		VerdictReasonMismatch,
		/// Another result of this round already sent this hash: a copy earns nothing.
		DuplicateHash,
		/// This member already attested this round.
		AlreadyAttested,
		/// The round is disputed: only the council decides it now.
		RoundDisputed,
		/// The round is not disputed.
		NoDispute,
		/// A round may be disputed only after its first attestation, once every member attested
		/// without agreement or `AttestationWindow` blocks passed.
		DisputeNotDue,
		/// The chosen member did not attest the disputed round.
		NotAttested,
		/// A result the chosen attestation accepts was already rejected.
		DisputeCannotApply,
		/// The model is not released by the council.
		ModelNotReleased,
		/// The model's plaintext is already published.
		ModelAlreadyPublished,
		/// The published bytes' hash is not the committed plaintext hash.
		PublishedHashMismatch,
		/// Only the task's validators or the model's committer may publish it.
		NotPublisher,
		/// The round was never committed.
		RoundNotCommitted,
		/// The worker already declared its dataset card for this task; a card cannot be changed,
		/// so a model's provenance cannot be rewritten after training.
		DatasetAlreadyDeclared,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let due = ExpiryQueue::<T>::take(now);
			ExpiringSlots::<T>::remove(now);
			let count = u32::try_from(due.len()).unwrap_or(u32::MAX);
			let mut weight = T::WeightInfo::on_initialize_expiry(count)
				.saturating_add(T::DbWeight::get().writes(1));
			for task_id in due {
				let paid = Self::expire(task_id);
				weight = weight.saturating_add(T::WeightInfo::pay_approved(paid));
			}
			weight
		}

		/// The expiry hook's worst block (every queue full, every slot an approved result to pay)
		/// must fit in a quarter of the block, and a task of `MaxAssignments` must fit one block.
		fn integrity_test() {
			assert!(
				T::MaxExpiringAssignments::get() >= T::MaxAssignments::get(),
				"MaxExpiringAssignments is below MaxAssignments: the largest task could never expire"
			);
			let block = T::BlockWeights::get().max_block;
			let quarter = block.checked_div(4).unwrap_or(block);
			assert!(
				Self::expiry_worst_case().all_lte(quarter),
				"the expiry hook's worst case exceeds a quarter of the block: lower \
				 MaxExpiringAssignments or MaxExpiringPerBlock"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(
			_n: BlockNumberFor<T>,
		) -> Result<(), frame::deps::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Create a task and escrow its whole reward budget from the caller.
		///
		/// The budget is `reward_per_result * max_assignments * rounds`, held on the caller's
		/// balance until paid out or refunded. The task's assets are described by the manifest
		/// at `manifest_cid`, whose bytes hash to `manifest_hash`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::create_task())]
		pub fn create_task(
			origin: OriginFor<T>,
			task_type: TaskType,
			rounds: RoundIndex,
			max_assignments: u32,
			expires_at: BlockNumberFor<T>,
			validation: ValidationStrategy,
			validators: Vec<T::AccountId>,
			reward_per_result: BalanceOf<T>,
			manifest_cid: Vec<u8>,
			manifest_hash: ContentHash,
			base_model: Option<ModelId>,
		) -> DispatchResult {
			let creator = ensure_signed(origin)?;
			let validators: ValidatorsOf<T> =
				validators.try_into().map_err(|_| Error::<T>::TooManyValidators)?;
			let manifest_cid = Self::cid(manifest_cid)?;
			let now = frame_system::Pallet::<T>::block_number();
			ensure!((1..=T::MaxRounds::get()).contains(&rounds), Error::<T>::InvalidRounds);
			ensure!(
				(1..=T::MaxAssignments::get()).contains(&max_assignments),
				Error::<T>::InvalidMaxAssignments
			);
			ensure!(expires_at > now, Error::<T>::ExpiryInPast);
			ensure!(
				expires_at.saturating_sub(now) <= T::MaxTaskDuration::get(),
				Error::<T>::ExpiryTooFar
			);
			ensure!(!reward_per_result.is_zero(), Error::<T>::ZeroReward);
			ensure!(reward_per_result >= T::MinReward::get(), Error::<T>::RewardTooSmall);
			ensure!(!manifest_cid.is_empty(), Error::<T>::EmptyCid);
			Self::ensure_distinct(&validators)?;
			if let ValidationStrategy::CustomAccept { threshold } = validation {
				let listed = u32::try_from(validators.len()).map_err(|_| Error::<T>::Overflow)?;
				ensure!(threshold >= 1 && threshold <= listed, Error::<T>::InvalidThreshold);
			}
			if let Some(model_id) = base_model {
				let model = Models::<T>::get(model_id).ok_or(Error::<T>::ModelNotFound)?;
				ensure!(model.status == ModelStatus::Approved, Error::<T>::BaseModelNotReleased);
			}
			let budget = Self::budget(reward_per_result, max_assignments, rounds)?;
			let task_id = NextTaskId::<T>::get();
			let next_task_id = task_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
			let slots = ExpiringSlots::<T>::get(expires_at)
				.checked_add(max_assignments)
				.filter(|slots| *slots <= T::MaxExpiringAssignments::get())
				.ok_or(Error::<T>::ExpiryQueueFull)?;
			ExpiryQueue::<T>::try_mutate(expires_at, |due| due.try_push(task_id))
				.map_err(|_| Error::<T>::ExpiryQueueFull)?;
			ExpiringSlots::<T>::insert(expires_at, slots);
			escrow::hold_deposit::<T>(&creator, T::TaskDeposit::get())?;
			escrow::hold::<T>(&creator, budget)?;

			NextTaskId::<T>::put(next_task_id);
			Tasks::<T>::insert(
				task_id,
				TaskInfo {
					creator: creator.clone(),
					task_type,
					status: TaskStatus::Created,
					rounds,
					committed_rounds: 0,
					max_assignments,
					assigned: 0,
					expires_at,
					validation,
					validators,
					reward_per_result,
					deposited: budget,
					paid: Zero::zero(),
					refunded: Zero::zero(),
					escrowed: budget,
					manifest_cid: manifest_cid.clone(),
					manifest_hash,
					base_model,
					created_at: now,
				},
			);
			Self::deposit_event(Event::TaskCreated {
				task_id,
				creator,
				task_type,
				rounds,
				max_assignments,
				reward_per_result,
				escrowed: budget,
				expires_at,
				validation,
				manifest_cid,
				manifest_hash,
				base_model,
			});
			Ok(())
		}

		/// Claim a slot in a task as a worker. One slot per account per task.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::assign_task())]
		pub fn assign_task(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let mut task = Self::active_task(task_id)?;
			ensure!(worker != task.creator, Error::<T>::CreatorCannotWork);
			ensure!(!Assignments::<T>::contains_key(task_id, &worker), Error::<T>::AlreadyAssigned);
			ensure!(task.assigned < task.max_assignments, Error::<T>::TaskFull);

			let slot = task.assigned;
			task.assigned = slot.checked_add(1).ok_or(Error::<T>::Overflow)?;
			task.status = TaskStatus::InProgress;
			let assigned_at = frame_system::Pallet::<T>::block_number();
			Assignments::<T>::insert(
				task_id,
				&worker,
				Assignment { slot, assigned_at, dataset: None },
			);
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::TaskAssigned { task_id, worker, slot });
			Ok(())
		}

		/// Send the CID and hash of the caller's result for the task's open round.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::send_task_result())]
		pub fn send_task_result(
			origin: OriginFor<T>,
			task_id: TaskId,
			round: RoundIndex,
			cid: Vec<u8>,
			hash: ContentHash,
		) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let cid = Self::cid(cid)?;
			let task = Self::active_task(task_id)?;
			ensure!(Assignments::<T>::contains_key(task_id, &worker), Error::<T>::NotAssigned);
			ensure!(round == Self::open_round(&task)?, Error::<T>::WrongRound);
			ensure!(!cid.is_empty(), Error::<T>::EmptyCid);
			ensure!(
				!ResultIndex::<T>::contains_key((task_id, round, &worker)),
				Error::<T>::DuplicateResult
			);
			ensure!(
				!RoundHashes::<T>::contains_key((task_id, round, hash)),
				Error::<T>::DuplicateHash
			);
			let result_id = NextResultId::<T>::get();
			let next_result_id = result_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
			let mut counters = Rounds::<T>::get(task_id, round);
			counters.submitted = counters.submitted.checked_add(1).ok_or(Error::<T>::Overflow)?;

			NextResultId::<T>::put(next_result_id);
			Rounds::<T>::insert(task_id, round, counters);
			ResultIndex::<T>::insert((task_id, round, &worker), result_id);
			RoundHashes::<T>::insert((task_id, round, hash), result_id);
			Results::<T>::insert(
				result_id,
				TaskResult {
					task_id,
					round,
					worker: worker.clone(),
					cid: cid.clone(),
					hash,
					status: ResultSubmissionStatus::PendingValidation,
					approvals: 0,
					disapprovals: 0,
					rejection: None,
					submitted_at: frame_system::Pallet::<T>::block_number(),
				},
			);
			Self::deposit_event(Event::ResultSubmitted {
				result_id,
				task_id,
				round,
				worker,
				cid,
				hash,
			});
			Ok(())
		}

		/// Record the caller's verdict, score and (when disapproving) reason on a result.
		///
		/// The score is how much the result contributed: an accepted result is paid that share
		/// of the reward per result (the mean of its approving verdicts' scores). Under AutoAccept
		/// the verdict settles the result at once, a rejection with the verdict's reason; under
		/// CustomAccept the result is settled once the threshold is reached (or can no longer be).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::validate_task_result())]
		pub fn validate_task_result(
			origin: OriginFor<T>,
			result_id: ResultId,
			approved: bool,
			score: Permill,
			reason: Option<RejectionReason>,
		) -> DispatchResult {
			let validator = ensure_signed(origin)?;
			ensure!(approved == reason.is_none(), Error::<T>::VerdictReasonMismatch);
			let (mut task, mut result) = Self::unsettled_result(result_id)?;
			ensure!(Self::may_validate(&task, &validator), Error::<T>::NotValidator);
			ensure!(validator != result.worker, Error::<T>::CannotValidateOwnResult);
			ensure!(
				!Verdicts::<T>::contains_key(result_id, &validator),
				Error::<T>::AlreadyValidated
			);
			if approved {
				result.approvals = result.approvals.checked_add(1).ok_or(Error::<T>::Overflow)?;
			} else {
				result.disapprovals =
					result.disapprovals.checked_add(1).ok_or(Error::<T>::Overflow)?;
			}
			result.status = ResultSubmissionStatus::Validated;
			let at = frame_system::Pallet::<T>::block_number();
			Verdicts::<T>::insert(result_id, &validator, Verdict { approved, score, reason, at });
			Self::deposit_event(Event::ResultValidated {
				result_id,
				task_id: result.task_id,
				validator,
				approved,
				score,
				reason,
			});

			match Self::decision(&task, &result) {
				Some(true) => Self::settle_accept(result_id, &mut task, &mut result)?,
				Some(false) => Self::settle_reject(
					result_id,
					&mut result,
					reason.unwrap_or(RejectionReason::FailedValidation),
				)?,
				None => {}
			}
			let task_id = result.task_id;
			Results::<T>::insert(result_id, result);
			Tasks::<T>::insert(task_id, task);
			Ok(())
		}

		/// Accept a result and pay its worker from escrow. Creator only; not under CustomAccept.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::accept_task_result())]
		pub fn accept_task_result(origin: OriginFor<T>, result_id: ResultId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let (mut task, mut result) = Self::unsettled_result(result_id)?;
			Self::ensure_creator_settles(&task, &who)?;
			Self::settle_accept(result_id, &mut task, &mut result)?;
			let task_id = result.task_id;
			Results::<T>::insert(result_id, result);
			Tasks::<T>::insert(task_id, task);
			Ok(())
		}

		/// Reject a result with a reason. Creator only; not under CustomAccept.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::reject_task_result())]
		pub fn reject_task_result(
			origin: OriginFor<T>,
			result_id: ResultId,
			reason: RejectionReason,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let (task, mut result) = Self::unsettled_result(result_id)?;
			Self::ensure_creator_settles(&task, &who)?;
			Self::settle_reject(result_id, &mut result, reason)?;
			Results::<T>::insert(result_id, result);
			Ok(())
		}

		/// Attest a round's model: the plaintext `hash` the calling committee member aggregated,
		/// the `cid` of the sealed bytes it stored, and the results it accepted.
		///
		/// Validators only: a creator cannot commit a model. `accepted` lists, ascending, results
		/// of the round. The model is committed once the task's threshold of attestations (the
		/// CustomAccept threshold, else 1) agree on hash and accepted list; results validators
		/// approved but nobody settled are paid first, and the list must then name exactly the
		/// results accepted in the round. The commit links to the previous round's model (or to
		/// the task's base model in round 1); committing the last round completes the task and
		/// refunds unspent escrow. A member that attests a round already committed is recorded,
		/// and flagged when it disagrees.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::commit_model(accepted.len() as u32))]
		pub fn commit_model(
			origin: OriginFor<T>,
			task_id: TaskId,
			round: RoundIndex,
			cid: Vec<u8>,
			hash: ContentHash,
			accepted: Vec<ResultId>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let cid = Self::cid(cid)?;
			let accepted: AcceptedOf<T> =
				accepted.try_into().map_err(|_| Error::<T>::TooManyAccepted)?;
			let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
			ensure!(task.validators.contains(&who), Error::<T>::NotCommitter);
			ensure!(!cid.is_empty(), Error::<T>::EmptyCid);
			ensure!(
				accepted.iter().zip(accepted.iter().skip(1)).all(|(a, b)| a < b),
				Error::<T>::UnsortedResults
			);
			ensure!(
				!Attestations::<T>::contains_key((task_id, round, &who)),
				Error::<T>::AlreadyAttested
			);
			let attestation =
				Attestation { hash, cid, accepted, at: frame_system::Pallet::<T>::block_number() };
			if let Some(model_id) = RoundModels::<T>::get(task_id, round) {
				// A late member: recorded, and flagged if it disagrees with the commit.
				return Self::attest_committed(task_id, round, model_id, who, attestation);
			}
			let mut task = Self::active_task(task_id)?;
			ensure!(round == Self::open_round(&task)?, Error::<T>::WrongRound);
			ensure!(!Disputes::<T>::contains_key(task_id, round), Error::<T>::RoundDisputed);
			for result_id in attestation.accepted.iter() {
				let result = Results::<T>::get(result_id).ok_or(Error::<T>::ResultNotFound)?;
				ensure!(
					result.task_id == task_id && result.round == round,
					Error::<T>::ResultNotInRound
				);
			}
			Attestations::<T>::insert((task_id, round, &who), &attestation);
			Self::deposit_event(Event::RoundAttested {
				task_id,
				round,
				validator: who.clone(),
				hash,
				cid: attestation.cid.clone(),
				accepted: attestation.accepted.clone(),
			});
			let agreeing = Self::agreeing(task_id, round, &attestation);
			if agreeing >= Self::required_approvals(&task) {
				Self::pay_approved(task_id, &mut task)?;
				Self::ensure_accepted_list(task_id, round, &attestation.accepted)?;
				Self::commit(task_id, round, &mut task, attestation, who, agreeing)?;
			}
			Tasks::<T>::insert(task_id, task);
			Ok(())
		}

		/// Cancel an open task. Creator only. Results of the open round that a validator approved
		/// but nobody settled are paid first; then the unspent escrow is refunded.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::cancel_task(T::MaxAssignments::get()))]
		pub fn cancel_task(origin: OriginFor<T>, task_id: TaskId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
			ensure!(who == task.creator, Error::<T>::NotCreator);
			ensure!(task.status.is_open(), Error::<T>::TaskNotOpen);
			Self::pay_approved(task_id, &mut task)?;
			let refunded = escrow::refund::<T>(&mut task)?;
			task.status = TaskStatus::Withdrawn;
			Self::leave_expiry_queue(task_id, &task);
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::TaskCancelled { task_id, creator: who, refunded });
			Ok(())
		}

		/// Release a committed model. Council majority only.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::approve_model())]
		pub fn approve_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			T::ReleaseOrigin::ensure_origin(origin)?;
			let mut model = Models::<T>::get(model_id).ok_or(Error::<T>::ModelNotFound)?;
			match model.status {
				ModelStatus::Committed => {}
				ModelStatus::Approved => return Err(Error::<T>::ModelAlreadyApproved.into()),
				ModelStatus::Revoked => return Err(Error::<T>::ModelAlreadyRevoked.into()),
			}
			model.status = ModelStatus::Approved;
			let (task_id, round) = (model.task_id, model.round);
			Models::<T>::insert(model_id, model);
			Self::deposit_event(Event::ModelApproved { model_id, task_id, round });
			Ok(())
		}

		/// Withdraw a committed or released model, for good. Council majority only.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::revoke_model())]
		pub fn revoke_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			T::ReleaseOrigin::ensure_origin(origin)?;
			let mut model = Models::<T>::get(model_id).ok_or(Error::<T>::ModelNotFound)?;
			ensure!(model.status != ModelStatus::Revoked, Error::<T>::ModelAlreadyRevoked);
			model.status = ModelStatus::Revoked;
			let (task_id, round) = (model.task_id, model.round);
			Models::<T>::insert(model_id, model);
			Self::deposit_event(Event::ModelRevoked { model_id, task_id, round });
			Ok(())
		}

		/// Remove an ended task's state (the task, its assignments, results, verdicts, hashes,
		/// attestations, disputes and round counters; its committed models stay, for their
		/// lineage) and return the creator's storage deposit. Anyone may call it, `ReapDelay`
		/// blocks after the task's expiry block. Each call removes at most `ReapPage` items (a
		/// result with its verdicts together), so its weight is bounded: a large task takes
		/// several calls (`TaskPartlyReaped` after each but the last), and the deposit is
		/// returned by the call that removes the task itself (`TaskReaped`). A call that removes
		/// state pays no fee (one refused pays as usual).
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::reap(T::ReapPage::get().saturating_add(T::MaxValidators::get())))]
		pub fn reap(origin: OriginFor<T>, task_id: TaskId) -> DispatchResultWithPostInfo {
			let who = ensure_signed(origin)?;
			let removed = Self::reap_page(who, task_id, T::ReapPage::get())?;
			// Removing state is free to whoever does it, and weighed at what it removed.
			Ok(PostDispatchInfo {
				actual_weight: Some(T::WeightInfo::reap(removed)),
				pays_fee: Pays::No,
			})
		}

		/// Declare the open round disputed: its committee did not agree. A validator or the
		/// creator may call it once every member attested without reaching the threshold, or
		/// `AttestationWindow` blocks after the round's first attestation. The council then
		/// resolves it (`resolve_dispute`); until then nothing is committed for the round.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::dispute_round())]
		pub fn dispute_round(
			origin: OriginFor<T>,
			task_id: TaskId,
			round: RoundIndex,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let task = Self::active_task(task_id)?;
			ensure!(
				task.validators.contains(&who) || who == task.creator,
				Error::<T>::NotCommitter
			);
			ensure!(round == Self::open_round(&task)?, Error::<T>::WrongRound);
			ensure!(!Disputes::<T>::contains_key(task_id, round), Error::<T>::RoundDisputed);
			let mut attested: u32 = 0;
			let mut first: Option<BlockNumberFor<T>> = None;
			for (_, attestation) in Attestations::<T>::iter_prefix((task_id, round)) {
				attested = attested.saturating_add(1);
				first = Some(first.map_or(attestation.at, |f| f.min(attestation.at)));
			}
			let first = first.ok_or(Error::<T>::DisputeNotDue)?;
			let members = u32::try_from(task.validators.len()).unwrap_or(u32::MAX);
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(
				attested >= members || now >= first.saturating_add(T::AttestationWindow::get()),
				Error::<T>::DisputeNotDue
			);
			Disputes::<T>::insert(
				task_id,
				round,
				Dispute { raised_by: who.clone(), raised_at: now },
			);
			Self::deposit_event(Event::RoundDisputed { task_id, round, raised_by: who });
			Ok(())
		}

		/// Resolve a disputed round. Council majority only.
		///
		/// With `chosen`, that member's attestation decides the round: its unsettled results it
		/// accepts are accepted and paid, the other unsettled ones rejected, and its model
		/// committed. Without, the round is void: the task ends (Withdrawn), its unsettled
		/// results are not paid, and its escrow goes back to the creator.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::resolve_dispute(T::MaxAssignments::get()))]
		pub fn resolve_dispute(
			origin: OriginFor<T>,
			task_id: TaskId,
			round: RoundIndex,
			chosen: Option<T::AccountId>,
		) -> DispatchResult {
			T::ReleaseOrigin::ensure_origin(origin)?;
			ensure!(Disputes::<T>::contains_key(task_id, round), Error::<T>::NoDispute);
			let mut task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
			ensure!(task.status.is_open(), Error::<T>::TaskNotOpen);
			let model_id = match chosen.clone() {
				Some(member) => {
					let attestation = Attestations::<T>::get((task_id, round, &member))
						.ok_or(Error::<T>::NotAttested)?;
					Self::apply_attestation(task_id, round, &mut task, &attestation)?;
					Disputes::<T>::remove(task_id, round);
					Some(Self::commit(task_id, round, &mut task, attestation, member, 1)?)
				}
				None => {
					Disputes::<T>::remove(task_id, round);
					let refunded = escrow::refund::<T>(&mut task)?;
					task.status = TaskStatus::Withdrawn;
					Self::leave_expiry_queue(task_id, &task);
					Self::deposit_event(Event::TaskCancelled {
						task_id,
						creator: task.creator.clone(),
						refunded,
					});
					None
				}
			};
			Tasks::<T>::insert(task_id, task);
			Self::deposit_event(Event::DisputeResolved { task_id, round, chosen, model_id });
			Ok(())
		}

		/// Record the CID of a released model's plaintext. A validator of its task (or its
		/// committer) publishes the bytes and states their sha256, which must be the committed
		/// plaintext hash; anyone can then fetch and check them without a coordinator. A model
		/// once published cannot be unpublished (revoking it still marks it withdrawn).
		#[pallet::call_index(13)]
		#[pallet::weight(T::WeightInfo::publish_model())]
		pub fn publish_model(
			origin: OriginFor<T>,
			model_id: ModelId,
			cid: Vec<u8>,
			hash: ContentHash,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let cid = Self::cid(cid)?;
			let mut model = Models::<T>::get(model_id).ok_or(Error::<T>::ModelNotFound)?;
			let validator =
				Tasks::<T>::get(model.task_id).is_some_and(|t| t.validators.contains(&who));
			ensure!(validator || who == model.committed_by, Error::<T>::NotPublisher);
			match model.status {
				ModelStatus::Approved => {}
				ModelStatus::Committed => return Err(Error::<T>::ModelNotReleased.into()),
				ModelStatus::Revoked => return Err(Error::<T>::ModelAlreadyRevoked.into()),
			}
			ensure!(model.published.is_none(), Error::<T>::ModelAlreadyPublished);
			ensure!(!cid.is_empty(), Error::<T>::EmptyCid);
			ensure!(hash == model.hash, Error::<T>::PublishedHashMismatch);
			model.published = Some(cid.clone());
			let (task_id, round) = (model.task_id, model.round);
			Models::<T>::insert(model_id, model);
			Self::deposit_event(Event::ModelPublished { model_id, task_id, round, cid });
			Ok(())
		}

		/// Declare the card of the data the caller trains on for a task: the CID of its DATASET.md
		/// in IPFS and the card's hash. Once per assignment, while the task is active; model cards
		/// list each accepted contributor's declared dataset.
		#[pallet::call_index(14)]
		#[pallet::weight(T::WeightInfo::declare_dataset())]
		pub fn declare_dataset(
			origin: OriginFor<T>,
			task_id: TaskId,
			cid: Vec<u8>,
			hash: ContentHash,
		) -> DispatchResult {
			let worker = ensure_signed(origin)?;
			let cid = Self::cid(cid)?;
			Self::active_task(task_id)?;
			let mut assignment =
				Assignments::<T>::get(task_id, &worker).ok_or(Error::<T>::NotAssigned)?;
			ensure!(assignment.dataset.is_none(), Error::<T>::DatasetAlreadyDeclared);
			ensure!(!cid.is_empty(), Error::<T>::EmptyCid);
			assignment.dataset = Some(DatasetCard { cid: cid.clone(), hash });
			Assignments::<T>::insert(task_id, &worker, assignment);
			Self::deposit_event(Event::DatasetDeclared { task_id, worker, cid, hash });
			Ok(())
		}
	}
}
