//! The DecentralML runtime: System, Timestamp, Aura (one dev authority, so the same wasm runs on
//! `polkadot-omni-node`), Balances, TransactionPayment, Sudo, Utility, a Council
//! (`pallet_collective`) and DecentralML. Council majorities release models.

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` and `impl_runtime_apis` expand to code these lints do not fit.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing, clippy::expect_used)]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

mod apis;
mod configs;
pub mod genesis;

use alloc::{borrow::Cow, vec::Vec};
use frame::{
	prelude::*,
	runtime::{prelude::*, types_common::BlockOf},
};

/// Balance of an account, in the smallest unit (1 DML = 10^12 units).
pub type Balance = u128;
/// One DML.
pub const UNIT: Balance = 1_000_000_000_000;
/// Accounts below this balance are reaped.
pub const EXISTENTIAL_DEPOSIT: Balance = UNIT / 1_000;
/// Target block time; Aura's slot.
pub const MILLISECS_PER_BLOCK: u64 = 6_000;
/// Blocks in a minute, hour and day at the target block time.
pub const MINUTES: BlockNumber = 60_000 / (MILLISECS_PER_BLOCK as BlockNumber);
pub const HOURS: BlockNumber = MINUTES * 60;
pub const DAYS: BlockNumber = HOURS * 24;

/// Block number type.
pub type BlockNumber = u32;
/// Account id: an sr25519 public key.
pub type AccountId = <Runtime as frame_system::Config>::AccountId;
/// Account nonce.
pub type Nonce = <Runtime as frame_system::Config>::Nonce;
/// Block hash.
pub type Hash = <Runtime as frame_system::Config>::Hash;

#[runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: Cow::Borrowed("decentralml"),
	impl_name: Cow::Borrowed("decentralml"),
	authoring_version: 1,
	spec_version: 103,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// The version information used to identify this runtime when compiled natively.
#[cfg(feature = "std")]
pub fn native_version() -> NativeVersion {
	NativeVersion { runtime_version: VERSION, can_author_with: Default::default() }
}

/// The checks every signed transaction goes through.
pub type TxExtension = (
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

/// The block type.
pub type Block = BlockOf<Runtime, TxExtension>;
/// The header type.
pub type Header = HeaderFor<Runtime>;

#[frame_construct_runtime]
mod runtime {
	use pallet_collective::Instance1;

	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	#[runtime::pallet_index(0)]
	pub type System = frame_system::Pallet<Runtime>;

	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp::Pallet<Runtime>;

	#[runtime::pallet_index(2)]
	pub type Aura = pallet_aura::Pallet<Runtime>;

	#[runtime::pallet_index(3)]
	pub type Balances = pallet_balances::Pallet<Runtime>;

	#[runtime::pallet_index(4)]
	pub type TransactionPayment = pallet_transaction_payment::Pallet<Runtime>;

	#[runtime::pallet_index(5)]
	pub type Sudo = pallet_sudo::Pallet<Runtime>;

	#[runtime::pallet_index(6)]
	pub type Utility = pallet_utility::Pallet<Runtime>;

	#[runtime::pallet_index(7)]
	pub type Council = pallet_collective::Pallet<Runtime, Instance1>;

	#[runtime::pallet_index(8)]
	pub type DecentralMl = pallet_decentralml::Pallet<Runtime>;
}

/// Storage migrations run on a runtime upgrade (each once, by the pallet's storage version).
type Migrations = (
	pallet_decentralml::migrations::v1::MigrateV0ToV1<Runtime>,
	pallet_decentralml::migrations::v2::MigrateV1ToV2<Runtime>,
	pallet_decentralml::migrations::v3::MigrateV2ToV3<Runtime>,
);

type RuntimeExecutive = Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;
