//! Weights for `pallet_decentralml`, measured by `frame-omni-bencher` (do not edit by hand).
//!
//! Benchmark CLI 53.0.0, 2026-12-01, steps 50, repeat 20,
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
}

/// Weights for `pallet_decentralml` measured on the benchmark machine, runtime database weights.
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	/// Storage: `DecentralMl::Models` (r:1 w:0)
	/// Storage: `DecentralMl::NextTaskId` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:0 w:1)
	fn create_task() -> Weight {
		Weight::from_parts(76_875_000, 4_215)
			.saturating_add(T::DbWeight::get().reads(5_u64))
			.saturating_add(T::DbWeight::get().writes(5_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Assignments` (r:1 w:1)
	fn assign_task() -> Weight {
		Weight::from_parts(15_904_000, 4_308)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:0)
	/// Storage: `DecentralMl::Assignments` (r:1 w:0)
	/// Storage: `DecentralMl::ResultIndex` (r:1 w:1)
	/// Storage: `DecentralMl::NextResultId` (r:1 w:1)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Results` (r:0 w:1)
	fn send_task_result() -> Weight {
		Weight::from_parts(23_695_000, 4_308)
			.saturating_add(T::DbWeight::get().reads(5_u64))
			.saturating_add(T::DbWeight::get().writes(4_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:2 w:1)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `System::Account` (r:2 w:2)
	fn validate_task_result() -> Weight {
		Weight::from_parts(87_731_000, 6_196)
			.saturating_add(T::DbWeight::get().reads(8_u64))
			.saturating_add(T::DbWeight::get().writes(7_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:1 w:0)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `System::Account` (r:2 w:2)
	fn accept_task_result() -> Weight {
		Weight::from_parts(53_730_000, 6_196)
			.saturating_add(T::DbWeight::get().reads(7_u64))
			.saturating_add(T::DbWeight::get().writes(6_u64))
	}
	/// Storage: `DecentralMl::Results` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:1 w:0)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	fn reject_task_result() -> Weight {
		Weight::from_parts(15_934_000, 4_308)
			.saturating_add(T::DbWeight::get().reads(3_u64))
			.saturating_add(T::DbWeight::get().writes(2_u64))
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::Results` (r:64 w:0)
	/// Storage: `DecentralMl::Rounds` (r:1 w:0)
	/// Storage: `DecentralMl::NextModelId` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `DecentralMl::RoundModels` (r:0 w:1)
	/// Storage: `DecentralMl::Models` (r:0 w:1)
	/// The range of component `n` is `[0, 64]`.
	fn commit_model(n: u32) -> Weight {
		// Measured 51.2 µs + 3.1 µs·n before commits paid approved results and counted
		// attestations; estimated with `cancel_task`'s per-result cost until `make weights` reruns.
		Weight::from_parts(60_000_000, 40_000)
			.saturating_add(Weight::from_parts(77_108_919, 5_104).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((23_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((8_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `DecentralMl::ResultIndex` (r:65 w:0)
	/// Storage: `DecentralMl::Results` (r:64 w:64)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Verdicts` (r:128 w:0)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `System::Account` (r:65 w:65)
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// The range of component `n` is `[0, 64]`.
	fn cancel_task(n: u32) -> Weight {
		Weight::from_parts(39_750_044, 4_308)
			.saturating_add(Weight::from_parts(77_108_919, 5_104).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((6_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((5_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Models` (r:1 w:1)
	fn approve_model() -> Weight {
		Weight::from_parts(8_433_000, 4_215)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::Models` (r:1 w:1)
	fn revoke_model() -> Weight {
		Weight::from_parts(8_293_000, 4_215)
			.saturating_add(T::DbWeight::get().reads(1_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Storage: `DecentralMl::ExpiryQueue` (r:1 w:1)
	/// Storage: `DecentralMl::Tasks` (r:16 w:16)
	/// Storage: `DecentralMl::ResultIndex` (r:16 w:0)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// The range of component `n` is `[0, 16]`.
	fn on_initialize_expiry(n: u32) -> Weight {
		Weight::from_parts(8_108_130, 3_606)
			.saturating_add(Weight::from_parts(32_795_778, 3_318).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((2_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((2_u64).saturating_add((1_u64).saturating_mul(n.into()))),
			)
	}
	/// Storage: `DecentralMl::Tasks` (r:1 w:1)
	/// Storage: `System::Account` (r:1 w:1)
	/// Storage: `Balances::Holds` (r:1 w:1)
	/// Storage: `DecentralMl::ResultIndex` (r:65 w:64)
	/// Storage: `DecentralMl::Assignments` (r:64 w:64)
	/// Storage: `DecentralMl::Rounds` (r:1 w:1)
	/// Storage: `DecentralMl::Results` (r:0 w:64)
	/// The range of component `n` is `[0, 64]`.
	fn reap(n: u32) -> Weight {
		Weight::from_parts(41_462_644, 4_308)
			.saturating_add(Weight::from_parts(7_971_431, 2_559).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((5_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((4_u64).saturating_add((3_u64).saturating_mul(n.into()))),
			)
	}
	fn pay_approved(n: u32) -> Weight {
		Weight::from_parts(10_000_000, 4_000)
			.saturating_add(Weight::from_parts(77_108_919, 5_104).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((1_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(T::DbWeight::get().writes((2_u64).saturating_mul(n.into())))
	}
	/// Estimated, not yet measured (run `make weights`): a committee of 16 attestations read.
	fn dispute_round() -> Weight {
		Weight::from_parts(60_000_000, 40_000)
			.saturating_add(T::DbWeight::get().reads(19_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
	/// Estimated, not yet measured (run `make weights`): settles `n` results like `cancel_task`.
	fn resolve_dispute(n: u32) -> Weight {
		Weight::from_parts(90_000_000, 40_000)
			.saturating_add(Weight::from_parts(80_000_000, 5_104).saturating_mul(n.into()))
			.saturating_add(
				T::DbWeight::get().reads((24_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				T::DbWeight::get().writes((8_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	/// Estimated, not yet measured (run `make weights`).
	fn publish_model() -> Weight {
		Weight::from_parts(20_000_000, 4_215)
			.saturating_add(T::DbWeight::get().reads(2_u64))
			.saturating_add(T::DbWeight::get().writes(1_u64))
	}
}

/// For tests: the same weights with RocksDB's database weights.
impl WeightInfo for () {
	fn create_task() -> Weight {
		Weight::from_parts(76_875_000, 4_215)
			.saturating_add(RocksDbWeight::get().reads(5_u64))
			.saturating_add(RocksDbWeight::get().writes(5_u64))
	}
	fn assign_task() -> Weight {
		Weight::from_parts(15_904_000, 4_308)
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().writes(2_u64))
	}
	fn send_task_result() -> Weight {
		Weight::from_parts(23_695_000, 4_308)
			.saturating_add(RocksDbWeight::get().reads(5_u64))
			.saturating_add(RocksDbWeight::get().writes(4_u64))
	}
	fn validate_task_result() -> Weight {
		Weight::from_parts(87_731_000, 6_196)
			.saturating_add(RocksDbWeight::get().reads(8_u64))
			.saturating_add(RocksDbWeight::get().writes(7_u64))
	}
	fn accept_task_result() -> Weight {
		Weight::from_parts(53_730_000, 6_196)
			.saturating_add(RocksDbWeight::get().reads(7_u64))
			.saturating_add(RocksDbWeight::get().writes(6_u64))
	}
	fn reject_task_result() -> Weight {
		Weight::from_parts(15_934_000, 4_308)
			.saturating_add(RocksDbWeight::get().reads(3_u64))
			.saturating_add(RocksDbWeight::get().writes(2_u64))
	}
	fn commit_model(n: u32) -> Weight {
		// Measured 51.2 µs + 3.1 µs·n before commits paid approved results and counted
		// attestations; estimated with `cancel_task`'s per-result cost until `make weights` reruns.
		Weight::from_parts(60_000_000, 40_000)
			.saturating_add(Weight::from_parts(77_108_919, 5_104).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((23_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((8_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	fn cancel_task(n: u32) -> Weight {
		Weight::from_parts(39_750_044, 4_308)
			.saturating_add(Weight::from_parts(77_108_919, 5_104).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((6_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((5_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	fn approve_model() -> Weight {
		Weight::from_parts(8_433_000, 4_215)
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn revoke_model() -> Weight {
		Weight::from_parts(8_293_000, 4_215)
			.saturating_add(RocksDbWeight::get().reads(1_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	fn on_initialize_expiry(n: u32) -> Weight {
		Weight::from_parts(8_108_130, 3_606)
			.saturating_add(Weight::from_parts(32_795_778, 3_318).saturating_mul(n.into()))
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
		Weight::from_parts(41_462_644, 4_308)
			.saturating_add(Weight::from_parts(7_971_431, 2_559).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((5_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((4_u64).saturating_add((3_u64).saturating_mul(n.into()))),
			)
	}
	fn pay_approved(n: u32) -> Weight {
		Weight::from_parts(10_000_000, 4_000)
			.saturating_add(Weight::from_parts(77_108_919, 5_104).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((1_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(RocksDbWeight::get().writes((2_u64).saturating_mul(n.into())))
	}
	/// Estimated, not yet measured (run `make weights`): a committee of 16 attestations read.
	fn dispute_round() -> Weight {
		Weight::from_parts(60_000_000, 40_000)
			.saturating_add(RocksDbWeight::get().reads(19_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
	/// Estimated, not yet measured (run `make weights`): settles `n` results like `cancel_task`.
	fn resolve_dispute(n: u32) -> Weight {
		Weight::from_parts(90_000_000, 40_000)
			.saturating_add(Weight::from_parts(80_000_000, 5_104).saturating_mul(n.into()))
			.saturating_add(
				RocksDbWeight::get()
					.reads((24_u64).saturating_add((5_u64).saturating_mul(n.into()))),
			)
			.saturating_add(
				RocksDbWeight::get()
					.writes((8_u64).saturating_add((2_u64).saturating_mul(n.into()))),
			)
	}
	/// Estimated, not yet measured (run `make weights`).
	fn publish_model() -> Weight {
		Weight::from_parts(20_000_000, 4_215)
			.saturating_add(RocksDbWeight::get().reads(2_u64))
			.saturating_add(RocksDbWeight::get().writes(1_u64))
	}
}
