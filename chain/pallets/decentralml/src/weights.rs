//! Weights for `pallet_decentralml`, measured by `frame-omni-bencher` (do not edit by hand).
//!
//! Benchmark CLI 53.0.0, 2026-12-04, steps 50, repeat 20,
//! Compiled wasm execution, CPU `AMD EPYC`.
//! Made by `make weights` (chain/scripts/benchmark-pallet.sh) from the benchmarks in
//! `benchmarking.rs`, each in its worst case. Times are the fitted base plus per-component
//! slopes, in picoseconds; proof sizes are the worst case from the storage's MaxEncodedLen.

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
	fn pay_approved(n: u32) -> Weight;
	fn dispute_round() -> Weight;
	fn resolve_dispute(n: u32) -> Weight;
	fn publish_model() -> Weight;
	fn declare_dataset() -> Weight;
}

/// Weights for `pallet_decentralml` measured on the benchmark machine, runtime database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	/// Storage: `DecentralMl::Models` (r:1 w:0)
	/// Storage: `DecentralMl::NextTaskId` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiringSlots` (r:1 w:1) (counted by hand; not yet re-measured)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:0 w:1)
	fn create_task() -> Weight {
		Weight::from_parts(145_232_000, 4_350)
			.saturating_add(T::DbWeight::get().reads(6_u64))
			.saturating_add(T::DbWeight::get().writes(6_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Assignments` (r:1 w:1)
	fn assign_task() -> Weight {
		Weight::from_parts(48_852_000, 4_308)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:0)
	/// Storage: `DecentralMl::Assignments` (r:1 w:0)
	/// Storage: `DecentralMl::ResultIndex` (r:1 w:1)
	/// Storage: `DecentralMl::RoundHashes` (r:1 w:1)
	/// Storage: `DecentralMl::NextResultId` (r:1 w:1)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Results` (r:0 w:1)
	fn send_task_result() -> Weight {
		Weight::from_parts(112_330_000, 4_308)
			.saturating_add(T::DbWeight::get().reads(6_u64))
			.saturating_add(T::DbWeight::get().writes(5_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:2 w:1)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `System::Account` (r:2 w:2)
	/// Storage: `Balances::Holds` (r:1 w:1)
	fn validate_task_result() -> Weight {
		Weight::from_parts(170_599_000, 6_196)
			.saturating_add(T::DbWeight::get().reads(8_u64))
			.saturating_add(T::DbWeight::get().writes(7_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:1 w:0)
	/// Storage: `System::Account` (r:2 w:2)
	/// Storage: `Balances::Holds` (r:1 w:1)
	fn accept_task_result() -> Weight {
		Weight::from_parts(106_189_000, 6_196)
			.saturating_add(T::DbWeight::get().reads(7_u64))
			.saturating_add(T::DbWeight::get().writes(6_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:0)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	fn reject_task_result() -> Weight {
		Weight::from_parts(36_779_000, 4_308)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Attestations` (r:2 w:1)
	/// Storage: `DecentralMl::RoundModels` (r:1 w:1)
	/// Storage: `DecentralMl::Disputes` (r:1 w:0)
	/// Storage: `DecentralMl::Results` (r:64 w:64)
	/// Storage: `DecentralMl::ResultIndex` (r:65 w:0)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:128 w:0)
	/// Storage: `System::Account` (r:65 w:65)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `DecentralMl::NextModelId` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiringSlots` (r:1 w:1) (counted by hand; not yet re-measured)
	/// Storage: `DecentralMl::Models` (r:0 w:1)
	/// The range of component `n` is `[0, 64]`.
	fn commit_model(n: u32) -> Weight {
		Weight::from_parts(525_443_794, 7_452)
			.saturating_add(Weight::from_parts(147_623_530, 5_104).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((12_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get()
					.writes((10_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::ResultIndex` (r:65 w:0)
	/// Storage: `DecentralMl::Results` (r:64 w:64)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:128 w:0)
	/// Storage: `System::Account` (r:65 w:65)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiringSlots` (r:1 w:1) (counted by hand; not yet re-measured)
	/// The range of component `n` is `[0, 64]`.
	fn cancel_task(n: u32) -> Weight {
		Weight::from_parts(84_278_000, 4_308)
			.saturating_add(Weight::from_parts(157_050_403, 5_104).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((7_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((6_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Models` (r:1 w:1)
	fn approve_model() -> Weight {
		Weight::from_parts(29_616_000, 4_350)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::Models` (r:1 w:1)
	fn revoke_model() -> Weight {
		Weight::from_parts(22_823_000, 4_350)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiringSlots` (r:1 w:1) (counted by hand; not yet re-measured)
	/// Storage: `DecentralMl::Tasks` (r:16 w:16)
	/// Storage: `DecentralMl::ResultIndex` (r:16 w:0)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// The range of component `n` is `[0, 16]`.
	fn on_initialize_expiry(n: u32) -> Weight {
		Weight::from_parts(18_163_329, 3_606)
			.saturating_add(Weight::from_parts(59_805_836, 3_318).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((2_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((2_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::ReapProgress` (r:1 w:1)
	/// Storage: `DecentralMl::ResultIndex` (r:16 w:15)
	/// Storage: `DecentralMl::Verdicts` (r:30 w:15)
	/// Storage: `DecentralMl::RoundHashes` (r:16 w:15)
	/// Storage: `DecentralMl::Attestations` (r:2 w:1)
	/// Storage: `DecentralMl::Assignments` (r:16 w:15)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `DecentralMl::Results` (r:0 w:15)
	/// Storage: `DecentralMl::Disputes` (r:0 w:1)
	/// Storage: `DecentralMl::Rounds` (r:0 w:1)
	/// The range of component `n` is `[0, 64]`.
	fn reap(n: u32) -> Weight {
		Weight::from_parts(56_081_632, 7_452)
			.saturating_add(Weight::from_parts(10_044_786, 1_025).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((4_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((1_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::ResultIndex` (r:65 w:0)
	/// Storage: `DecentralMl::Results` (r:64 w:64)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:128 w:0)
	/// Storage: `System::Account` (r:65 w:65)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// The range of component `n` is `[0, 64]`.
	fn pay_approved(n: u32) -> Weight {
		Weight::from_parts(42_991_132, 3_593)
			.saturating_add(Weight::from_parts(146_701_704, 5_104).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((4_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((3_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:0)
	/// Storage: `DecentralMl::Disputes` (r:1 w:1)
	/// Storage: `DecentralMl::Attestations` (r:17 w:0)
	fn dispute_round() -> Weight {
		Weight::from_parts(135_493_000, 55_917)
			.saturating_add(T::DbWeight::get().reads(19_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::Disputes` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Attestations` (r:17 w:0)
	/// Storage: `DecentralMl::ResultIndex` (r:65 w:0)
	/// Storage: `DecentralMl::Results` (r:64 w:64)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::NextModelId` (r:1 w:1)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiringSlots` (r:1 w:1) (counted by hand; not yet re-measured)
	/// Storage: `DecentralMl::RoundModels` (r:0 w:1)
	/// Storage: `DecentralMl::Models` (r:0 w:1)
	/// The range of component `n` is `[0, 64]`.
	fn resolve_dispute(n: u32) -> Weight {
		Weight::from_parts(370_335_753, 55_917)
			.saturating_add(Weight::from_parts(21_053_548, 2_714).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((26_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get()
					.writes((10_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Models` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:0)
	fn publish_model() -> Weight {
		Weight::from_parts(28_564_000, 4_350)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:0)
	/// Storage: `DecentralMl::Assignments` (r:1 w:1)
	fn declare_dataset() -> Weight {
		Weight::from_parts(30_357_000, 4_308)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
}

/// For tests: the same weights with RocksDB's database weights.
impl WeightInfo for () {
	fn create_task() -> Weight {
		Weight::from_parts(145_232_000, 4_350)
			.saturating_add(RocksDbWeight::get().reads(6_u64))
			.saturating_add(RocksDbWeight::get().writes(6_u64))
	}
	fn assign_task() -> Weight {
		Weight::from_parts(48_852_000, 4_308)
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().writes(2_u64))
	}
	fn send_task_result() -> Weight {
		Weight::from_parts(112_330_000, 4_308)
			.saturating_add(RocksDbWeight::get().reads(6_u64))
			.saturating_add(RocksDbWeight::get().writes(5_u64))
	}
	fn validate_task_result() -> Weight {
		Weight::from_parts(170_599_000, 6_196)
			.saturating_add(RocksDbWeight::get().reads(8_u64))
			.saturating_add(RocksDbWeight::get().writes(7_u64))
	}
	fn accept_task_result() -> Weight {
		Weight::from_parts(106_189_000, 6_196)
			.saturating_add(RocksDbWeight::get().reads(7_u64))
			.saturating_add(RocksDbWeight::get().writes(6_u64))
	}
	fn reject_task_result() -> Weight {
		Weight::from_parts(36_779_000, 4_308)
			.saturating_add(RocksDbWeight::get().reads(3_u64))
			.saturating_add(RocksDbWeight::get().writes(2_u64))
	}
	fn commit_model(n: u32) -> Weight {
		Weight::from_parts(525_443_794, 7_452)
			.saturating_add(Weight::from_parts(147_623_530, 5_104).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((12_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((10_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	fn cancel_task(n: u32) -> Weight {
		Weight::from_parts(84_278_000, 4_308)
			.saturating_add(Weight::from_parts(157_050_403, 5_104).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((7_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((6_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	fn approve_model() -> Weight {
		Weight::from_parts(29_616_000, 4_350)
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn revoke_model() -> Weight {
		Weight::from_parts(22_823_000, 4_350)
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn on_initialize_expiry(n: u32) -> Weight {
		Weight::from_parts(18_163_329, 3_606)
			.saturating_add(Weight::from_parts(59_805_836, 3_318).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((2_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((2_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
	}
	fn reap(n: u32) -> Weight {
		Weight::from_parts(56_081_632, 7_452)
			.saturating_add(Weight::from_parts(10_044_786, 1_025).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((4_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((1_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
	}
	fn pay_approved(n: u32) -> Weight {
		Weight::from_parts(42_991_132, 3_593)
			.saturating_add(Weight::from_parts(146_701_704, 5_104).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((4_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((3_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	fn dispute_round() -> Weight {
		Weight::from_parts(135_493_000, 55_917)
			.saturating_add(RocksDbWeight::get().reads(19_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn resolve_dispute(n: u32) -> Weight {
		Weight::from_parts(370_335_753, 55_917)
			.saturating_add(Weight::from_parts(21_053_548, 2_714).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((26_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((10_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
	}
	fn publish_model() -> Weight {
		Weight::from_parts(28_564_000, 4_350)
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn declare_dataset() -> Weight {
		Weight::from_parts(30_357_000, 4_308)
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
}
