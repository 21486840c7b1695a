//! Weights for `pallet_decentralml`.
//!
//! The shape follows `frame-omni-bencher`'s output: a base time plus database reads and writes
//! counted from each call's storage accesses in its worst case (see `benchmarking.rs`, whose
//! benchmarks run as tests). The base times are conservative estimates, not yet measured: the
//! benchmarking CLI is not built on these machines. Replace this file with the CLI's output once
//! it is, and whenever a call changes what it touches.

#![allow(unused_parens, unused_imports, missing_docs)]

use core::marker::PhantomData;
use frame::weights_prelude::*;

/// Weight functions needed for `pallet_decentralml`.
pub trait WeightInfo {
	fn create_task() -> Weight;
	fn assign_task() -> Weight;
	fn send_task_result() -> Weight;
	fn validate_task_result() -> Weight;
	fn accept_task_result() -> Weight;
	fn reject_task_result() -> Weight;
	fn commit_model(n: u32) -> Weight;
	fn cancel_task(n: u32) -> Weight;
	fn approve_model() -> Weight;
	fn revoke_model() -> Weight;
	fn on_initialize_expiry(n: u32) -> Weight;
	fn reap(n: u32) -> Weight;
}

/// Weights for `pallet_decentralml` using the Substrate node and recommended hardware.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	/// Storage: `DecentralMl::Models` (r:1), `DecentralMl::NextTaskId` (r:1 w:1),
	/// `DecentralMl::ExpiryQueue` (r:1 w:1), `Balances::Holds` (r:1 w:1),
	/// `System::Account` (r:1 w:1), `DecentralMl::Tasks` (w:1)
	fn create_task() -> Weight {
		Weight::from_parts(60_000_000, 8_000)
			.saturating_add(T::DbWeight::get().reads(5_u64))
			.saturating_add(T::DbWeight::get().writes(5_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1), `DecentralMl::Assignments` (r:1 w:1)
	fn assign_task() -> Weight {
		Weight::from_parts(30_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1), `DecentralMl::Assignments` (r:1),
	/// `DecentralMl::ResultIndex` (r:1 w:1), `DecentralMl::NextResultId` (r:1 w:1),
	/// `DecentralMl::Rounds` (r:1 w:1), `DecentralMl::Results` (w:1)
	fn send_task_result() -> Weight {
		Weight::from_parts(35_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(5_u64))
			.saturating_add(T::DbWeight::get().writes(4_u64))
	}
	/// Worst case: the verdict settles and pays. Storage: `DecentralMl::Results` (r:1 w:1),
	/// `DecentralMl::Tasks` (r:1 w:1), `DecentralMl::Verdicts` (r:1 w:1),
	/// `DecentralMl::Rounds` (r:1 w:1), `Balances::Holds` (r:1 w:1), `System::Account` (r:2 w:2)
	fn validate_task_result() -> Weight {
		Weight::from_parts(70_000_000, 8_000)
			.saturating_add(T::DbWeight::get().reads(7_u64))
			.saturating_add(T::DbWeight::get().writes(7_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1), `DecentralMl::Tasks` (r:1 w:1),
	/// `DecentralMl::Rounds` (r:1 w:1), `Balances::Holds` (r:1 w:1), `System::Account` (r:2 w:2)
	fn accept_task_result() -> Weight {
		Weight::from_parts(60_000_000, 8_000)
			.saturating_add(T::DbWeight::get().reads(6_u64))
			.saturating_add(T::DbWeight::get().writes(6_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1), `DecentralMl::Tasks` (r:1),
	/// `DecentralMl::Rounds` (r:1 w:1)
	fn reject_task_result() -> Weight {
		Weight::from_parts(30_000_000, 4_000)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1), `DecentralMl::Results` (r:n),
	/// `DecentralMl::Rounds` (r:1), `DecentralMl::RoundModels` (r:1 w:1),
	/// `DecentralMl::NextModelId` (r:1 w:1), `DecentralMl::Models` (w:1),
	/// `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn commit_model(n: u32) -> Weight {
		Weight::from_parts(60_000_000, 8_000)
			.saturating_add(Weight::from_parts(6_000_000, 600).saturating_mul(n.into()))
			.saturating_add(T::DbWeight::get().reads(6_u64))
			.saturating_add(T::DbWeight::get().reads((1_u64).saturating_mul(n.into())))
			.saturating_add(T::DbWeight::get().writes(6_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1), `Balances::Holds` (r:1 w:1),
	/// `System::Account` (r:1 w:1), `DecentralMl::ExpiryQueue` (r:1 w:1); per approved result of
	/// the open round paid first: `DecentralMl::Results`, `Verdicts`, `Rounds`, the worker's account
	fn cancel_task(n: u32) -> Weight {
		Weight::from_parts(50_000_000, 6_000)
			.saturating_add(Weight::from_parts(40_000_000, 4_000).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((4_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((4_u64).saturating_add((4_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Models` (r:1 w:1)
	fn approve_model() -> Weight {
		Weight::from_parts(20_000_000, 3_000)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::Models` (r:1 w:1)
	fn revoke_model() -> Weight {
		Weight::from_parts(20_000_000, 3_000)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1), per task: `DecentralMl::Tasks` (r:1 w:1),
	/// `Balances::Holds` (r:1 w:1), `System::Account` (r:1 w:1)
	fn on_initialize_expiry(n: u32) -> Weight {
		Weight::from_parts(5_000_000, 1_000)
			.saturating_add(Weight::from_parts(45_000_000, 6_000).saturating_mul(n.into()))
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().reads((3_u64).saturating_mul(n.into())))
			.saturating_add(T::DbWeight::get().writes(1_u64))
			.saturating_add(T::DbWeight::get().writes((3_u64).saturating_mul(n.into())))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1), `Balances::Holds` (r:1 w:1), `System::Account`
	/// (r:1 w:1); per result: `DecentralMl::ResultIndex`, `Results`, `Verdicts` (w:3)
	fn reap(n: u32) -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(Weight::from_parts(8_000_000, 1_000).saturating_mul(n.into()))
			.saturating_add(T::DbWeight::get().reads((3_u64).saturating_add(n.into())))
			.saturating_add(
				T::DbWeight::get().writes((6_u64).saturating_add((3_u64).saturating_mul(n.into()))),
			)
	}
}

/// For tests: the same shape with RocksDB weights.
impl WeightInfo for () {
	fn create_task() -> Weight {
		Weight::from_parts(60_000_000, 8_000)
			.saturating_add(RocksDbWeight::get().reads_writes(5, 5))
	}
	fn assign_task() -> Weight {
		Weight::from_parts(30_000_000, 4_000)
			.saturating_add(RocksDbWeight::get().reads_writes(2, 2))
	}
	fn send_task_result() -> Weight {
		Weight::from_parts(35_000_000, 4_000)
			.saturating_add(RocksDbWeight::get().reads_writes(5, 4))
	}
	fn validate_task_result() -> Weight {
		Weight::from_parts(70_000_000, 8_000)
			.saturating_add(RocksDbWeight::get().reads_writes(7, 7))
	}
	fn accept_task_result() -> Weight {
		Weight::from_parts(60_000_000, 8_000)
			.saturating_add(RocksDbWeight::get().reads_writes(6, 6))
	}
	fn reject_task_result() -> Weight {
		Weight::from_parts(30_000_000, 4_000)
			.saturating_add(RocksDbWeight::get().reads_writes(3, 2))
	}
	fn commit_model(n: u32) -> Weight {
		Weight::from_parts(60_000_000, 8_000)
			.saturating_add(Weight::from_parts(6_000_000, 600).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(6u64.saturating_add(n.into()), 6))
	}
	fn cancel_task(n: u32) -> Weight {
		Weight::from_parts(50_000_000, 6_000)
			.saturating_add(Weight::from_parts(40_000_000, 4_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(
				4u64.saturating_add(5u64.saturating_mul(n.into())),
				4u64.saturating_add(4u64.saturating_mul(n.into())),
			))
	}
	fn approve_model() -> Weight {
		Weight::from_parts(20_000_000, 3_000)
			.saturating_add(RocksDbWeight::get().reads_writes(1, 1))
	}
	fn revoke_model() -> Weight {
		Weight::from_parts(20_000_000, 3_000)
			.saturating_add(RocksDbWeight::get().reads_writes(1, 1))
	}
	fn on_initialize_expiry(n: u32) -> Weight {
		Weight::from_parts(5_000_000, 1_000)
			.saturating_add(Weight::from_parts(45_000_000, 6_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(
				1u64.saturating_add(3u64.saturating_mul(n.into())),
				1u64.saturating_add(3u64.saturating_mul(n.into())),
			))
	}
	fn reap(n: u32) -> Weight {
		Weight::from_parts(40_000_000, 6_000)
			.saturating_add(Weight::from_parts(8_000_000, 1_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(
				3u64.saturating_add(n.into()),
				6u64.saturating_add(3u64.saturating_mul(n.into())),
			))
	}
}
