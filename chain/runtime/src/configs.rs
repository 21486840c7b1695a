//! Configuration of every pallet in the runtime.

use crate::*;
use frame::deps::{
	frame_support::weights::{
		constants::{RocksDbWeight, WEIGHT_REF_TIME_PER_SECOND},
		ConstantMultiplier, IdentityFee,
	},
	sp_runtime::traits::One,
};
use frame::{
	deps::{sp_core::ConstU128, sp_runtime::Perbill},
	runtime::prelude::*,
	traits::{ConstBool, ConstU32, ConstU64, ConstU8, VariantCountOf},
};
use pallet_transaction_payment::{ConstFeeMultiplier, FungibleAdapter, Multiplier};

parameter_types! {
	pub const Version: RuntimeVersion = VERSION;
	/// Two seconds of compute per block, 5 MiB, 75% for normal transactions.
	pub RuntimeBlockWeights: frame_system::limits::BlockWeights =
		frame_system::limits::BlockWeights::with_sensible_defaults(
			Weight::from_parts(2u64 * WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
			Perbill::from_percent(75),
		);
	pub RuntimeBlockLength: frame_system::limits::BlockLength =
		frame_system::limits::BlockLength::max_with_normal_ratio(5 * 1024 * 1024, Perbill::from_percent(75));
	pub FeeMultiplier: Multiplier = Multiplier::one();
	/// Half a block: a council motion may dispatch at most this much.
	pub MaxCollectiveProposalWeight: Weight = Perbill::from_percent(50) * RuntimeBlockWeights::get().max_block;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type Version = Version;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = ConstU16<42>;
	/// Storage reads and writes cost what they cost on RocksDB, so fees and block limits count
	/// them (the default would count them as free).
	type DbWeight = RocksDbWeight;
}

impl pallet_timestamp::Config for Runtime {
	type Moment = u64;
	type OnTimestampSet = Aura;
	type MinimumPeriod = ConstU64<{ MILLISECS_PER_BLOCK / 2 }>;
	type WeightInfo = ();
}

impl pallet_aura::Config for Runtime {
	type AuthorityId = sp_consensus_aura::sr25519::AuthorityId;
	type MaxAuthorities = ConstU32<32>;
	type DisabledValidators = ();
	type AllowMultipleBlocksPerSlot = ConstBool<false>;
	type SlotDuration = pallet_aura::MinimumPeriodTimesTwo<Runtime>;
}

impl pallet_balances::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type Balance = Balance;
	type DustRemoval = ();
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
	type ReserveIdentifier = [u8; 8];
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ConstU32<50>;
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type DoneSlashHandler = ();
}

impl pallet_transaction_payment::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type OnChargeTransaction = FungibleAdapter<Balances, ()>;
	/// One unit per picosecond of compute, a million units per byte.
	type WeightToFee = IdentityFee<Balance>;
	type LengthToFee = ConstantMultiplier<Balance, ConstU128<1_000_000>>;
	type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightInfo = ();
}

impl pallet_sudo::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

impl pallet_utility::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type PalletsOrigin = OriginCaller;
	type WeightInfo = pallet_utility::weights::SubstrateWeight<Runtime>;
}

/// The council's instance of `pallet_collective`.
pub type CouncilCollective = pallet_collective::Instance1;

impl pallet_collective::Config<CouncilCollective> for Runtime {
	type RuntimeOrigin = RuntimeOrigin;
	type Proposal = RuntimeCall;
	type RuntimeEvent = RuntimeEvent;
	type MotionDuration = ConstU32<{ 3 * DAYS }>;
	type MaxProposals = ConstU32<100>;
	type MaxMembers = ConstU32<100>;
	type DefaultVote = pallet_collective::PrimeDefaultVote;
	type WeightInfo = pallet_collective::weights::SubstrateWeight<Runtime>;
	type SetMembersOrigin = EnsureRoot<AccountId>;
	type MaxProposalWeight = MaxCollectiveProposalWeight;
	type DisapproveOrigin = EnsureRoot<AccountId>;
	type KillOrigin = EnsureRoot<AccountId>;
	type Consideration = ();
}

/// More than half of the council.
pub type CouncilMajority =
	pallet_collective::EnsureProportionMoreThan<AccountId, CouncilCollective, 1, 2>;

impl pallet_decentralml::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ReleaseOrigin = CouncilMajority;
	/// Enough for the 300-worker rounds `bench/scale.py` commits to the devnet.
	type MaxAssignments = ConstU32<512>;
	type MaxRounds = ConstU32<100>;
	type MaxValidators = ConstU32<16>;
	type MaxCidLength = ConstU32<128>;
	type MaxTaskDuration = ConstU32<{ 30 * DAYS }>;
	type MaxExpiringPerBlock = ConstU32<16>;
	/// Two of the largest tasks a block: the expiry hook's worst block is then under a quarter
	/// of the block's weight (the pallet's `integrity_test`).
	type MaxExpiringAssignments = ConstU32<1024>;
	type MinReward = ConstU128<EXISTENTIAL_DEPOSIT>;
	type TaskDeposit = ConstU128<{ UNIT / 100 }>;
	type ReapDelay = ConstU32<{ DAYS }>;
	type ReapPage = ConstU32<48>;
	/// An hour for a committee to agree on a round before it may be declared disputed.
	type AttestationWindow = ConstU32<{ HOURS }>;
	type WeightInfo = pallet_decentralml::weights::SubstrateWeight<Runtime>;
}
