//! Storage migrations, each from one storage version to the next.
//!
//! A runtime upgrade runs them (`Executive`'s migrations in the runtime); a chain started from
//! this runtime's genesis is already at the current version, so they do nothing there.

use super::*;
use frame::{
	deps::frame_support::{migrations::VersionedMigration, traits::UncheckedOnRuntimeUpgrade},
	prelude::*,
};

/// Version 0 to 1: a model commit records how many committee members attested it and where its
/// plaintext was published after release (`ModelCommit::attestations`, `published`).
pub mod v1 {
	use super::*;

	/// A model commit as version 0 stored it.
	#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
	#[scale_info(skip_type_params(MaxCid, MaxResults))]
	pub struct OldModelCommit<AccountId, BlockNumber, MaxCid: Get<u32>, MaxResults: Get<u32>> {
		pub task_id: TaskId,
		pub round: RoundIndex,
		pub cid: BoundedVec<u8, MaxCid>,
		pub hash: ContentHash,
		pub accepted: BoundedVec<ResultId, MaxResults>,
		pub parent: Option<ModelId>,
		pub committed_by: AccountId,
		pub committed_at: BlockNumber,
		pub status: ModelStatus,
	}

	/// `OldModelCommit` for the pallet's configuration.
	pub type OldModelOf<T> = OldModelCommit<
		<T as frame_system::Config>::AccountId,
		BlockNumberFor<T>,
		<T as Config>::MaxCidLength,
		<T as Config>::MaxAssignments,
	>;

	/// Rewrites every model commit: a version-0 commit was made by its one committer, so it counts
	/// one attestation, and nothing of it is published yet.
	pub struct UncheckedModelsV0ToV1<T>(PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for UncheckedModelsV0ToV1<T> {
		fn on_runtime_upgrade() -> Weight {
			let mut moved: u64 = 0;
			Models::<T>::translate::<OldModelOf<T>, _>(|_, old| {
				moved = moved.saturating_add(1);
				Some(ModelCommit {
					task_id: old.task_id,
					round: old.round,
					cid: old.cid,
					hash: old.hash,
					accepted: old.accepted,
					parent: old.parent,
					committed_by: old.committed_by,
					committed_at: old.committed_at,
					status: old.status,
					published: None,
					attestations: 1,
				})
			});
			T::DbWeight::get().reads_writes(moved, moved)
		}
	}

	/// The migration a runtime lists: runs once, when the pallet's on-chain storage version is 0,
	/// and sets it to 1.
	pub type MigrateV0ToV1<T> = VersionedMigration<
		0,
		1,
		UncheckedModelsV0ToV1<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}

/// Version 1 to 2: a worker's assignment may carry the card of its dataset
/// (`Assignment::dataset`).
pub mod v2 {
	use super::*;

	/// An assignment as version 1 stored it.
	#[derive(Encode, Decode, Clone, PartialEq, Eq, RuntimeDebug, TypeInfo, MaxEncodedLen)]
	pub struct OldAssignment<BlockNumber> {
		pub slot: u32,
		pub assigned_at: BlockNumber,
	}

	/// Rewrites every assignment: none declared a dataset before version 2.
	pub struct UncheckedAssignmentsV1ToV2<T>(PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for UncheckedAssignmentsV1ToV2<T> {
		fn on_runtime_upgrade() -> Weight {
			let mut moved: u64 = 0;
			Assignments::<T>::translate::<OldAssignment<BlockNumberFor<T>>, _>(|_, _, old| {
				moved = moved.saturating_add(1);
				Some(Assignment { slot: old.slot, assigned_at: old.assigned_at, dataset: None })
			});
			T::DbWeight::get().reads_writes(moved, moved)
		}
	}

	/// The migration a runtime lists: runs once, when the pallet's on-chain storage version is 1,
	/// and sets it to 2.
	pub type MigrateV1ToV2<T> = VersionedMigration<
		1,
		2,
		UncheckedAssignmentsV1ToV2<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}

/// Version 2 to 3: the worker slots of the tasks that expire at each block are counted
/// (`ExpiringSlots`), so the expiry hook's payouts per block are bounded.
pub mod v3 {
	use super::*;

	/// Counts the slots of every queued task from the tasks themselves.
	pub struct UncheckedCountSlotsV2ToV3<T>(PhantomData<T>);

	impl<T: Config> UncheckedOnRuntimeUpgrade for UncheckedCountSlotsV2ToV3<T> {
		fn on_runtime_upgrade() -> Weight {
			let mut reads: u64 = 0;
			let mut writes: u64 = 0;
			for (at, due) in ExpiryQueue::<T>::iter() {
				reads = reads.saturating_add(1);
				let mut slots: u32 = 0;
				for task_id in due {
					reads = reads.saturating_add(1);
					if let Some(task) = Tasks::<T>::get(task_id) {
						slots = slots.saturating_add(task.max_assignments);
					}
				}
				ExpiringSlots::<T>::insert(at, slots);
				writes = writes.saturating_add(1);
			}
			T::DbWeight::get().reads_writes(reads, writes)
		}
	}

	/// The migration a runtime lists: runs once, when the pallet's on-chain storage version is 2,
	/// and sets it to 3.
	pub type MigrateV2ToV3<T> = VersionedMigration<
		2,
		3,
		UncheckedCountSlotsV2ToV3<T>,
		Pallet<T>,
		<T as frame_system::Config>::DbWeight,
	>;
}
