//! A test runtime: System, Balances, a council (`pallet_collective`) and DecentralML.

use crate as pallet_decentralml;
use frame::{deps::sp_runtime::BuildStorage, testing_prelude::*};

type Block = frame_system::mocking::MockBlock<Test>;

pub type AccountId = u64;
pub type Balance = u64;

/// Accounts used by the tests.
pub const CREATOR: AccountId = 10;
pub const WORKER_A: AccountId = 11;
pub const WORKER_B: AccountId = 12;
pub const WORKER_C: AccountId = 13;
pub const VALIDATOR: AccountId = 20;
pub const VALIDATOR_2: AccountId = 21;
pub const VALIDATOR_3: AccountId = 22;
pub const OUTSIDER: AccountId = 30;
pub const POOR: AccountId = 40;
/// A funded worker that empties its account in a test.
pub const POOR_WORKER: AccountId = 41;
/// The council.
pub const COUNCIL: [AccountId; 3] = [1, 2, 3];
/// Every funded account starts with this much.
pub const ENDOWMENT: Balance = 1_000_000;

construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Council: pallet_collective::<Instance1>,
		DecentralMl: pallet_decentralml,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type AccountStore = System;
	/// The smallest reward (`MinReward`), as in the runtime.
	type ExistentialDeposit = ConstU64<5>;
	type RuntimeHoldReason = RuntimeHoldReason;
}

parameter_types! {
	pub MaxProposalWeight: Weight = Weight::from_parts(1_000_000_000_000, u64::MAX);
}

impl pallet_collective::Config<pallet_collective::Instance1> for Test {
	type RuntimeOrigin = RuntimeOrigin;
	type Proposal = RuntimeCall;
	type RuntimeEvent = RuntimeEvent;
	type MotionDuration = ConstU64<10>;
	type MaxProposals = ConstU32<10>;
	type MaxMembers = ConstU32<10>;
	type DefaultVote = pallet_collective::PrimeDefaultVote;
	type WeightInfo = ();
	type SetMembersOrigin = frame_system::EnsureRoot<AccountId>;
	type MaxProposalWeight = MaxProposalWeight;
	type DisapproveOrigin = frame_system::EnsureRoot<AccountId>;
	type KillOrigin = frame_system::EnsureRoot<AccountId>;
	type Consideration = ();
}

/// A strict majority of the council.
pub type CouncilMajority =
	pallet_collective::EnsureProportionMoreThan<AccountId, pallet_collective::Instance1, 1, 2>;

impl pallet_decentralml::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ReleaseOrigin = CouncilMajority;
	type MaxAssignments = ConstU32<8>;
	type MaxRounds = ConstU32<10>;
	type MaxValidators = ConstU32<4>;
	type MaxCidLength = ConstU32<64>;
	type MaxTaskDuration = ConstU64<1_000>;
	type MaxExpiringPerBlock = ConstU32<2>;
	type MaxExpiringAssignments = ConstU32<12>;
	type MinReward = ConstU64<5>;
	type TaskDeposit = TaskDeposit;
	type ReapDelay = ConstU64<10>;
	type ReapPage = ConstU32<4>;
	type AttestationWindow = ConstU64<5>;
	type WeightInfo = ();
}

parameter_types! {
	/// Zero unless a test sets it: most tests count balances without the storage deposit.
	pub static TaskDeposit: Balance = 0;
}

/// Genesis: funded accounts (but not `POOR`) and a three-member council; block 1.
pub fn new_test_ext() -> TestState {
	let funded = [
		CREATOR,
		WORKER_A,
		WORKER_B,
		WORKER_C,
		VALIDATOR,
		VALIDATOR_2,
		VALIDATOR_3,
		OUTSIDER,
		POOR_WORKER,
	]
	.into_iter()
	.chain(COUNCIL);
	let storage = RuntimeGenesisConfig {
		balances: pallet_balances::GenesisConfig {
			balances: funded.map(|who| (who, ENDOWMENT)).collect(),
			..Default::default()
		},
		council: pallet_collective::GenesisConfig {
			members: COUNCIL.to_vec(),
			..Default::default()
		},
		..Default::default()
	}
	.build_storage()
	.unwrap();
	let mut ext = TestState::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Runs a test and then checks the pallet's invariants (escrow conservation among them).
pub fn run(test: impl FnOnce()) {
	new_test_ext().execute_with(|| {
		test();
		DecentralMl::do_try_state().expect("pallet invariants hold after the test");
	});
}

/// Advances to block `n`, running every pallet's hooks on the way.
pub fn run_to_block(n: u64) {
	System::run_to_block::<AllPalletsWithSystem>(n);
}

/// An origin carrying `ayes` of the council's three votes.
pub fn council(ayes: u32) -> RuntimeOrigin {
	pallet_collective::RawOrigin::<AccountId, pallet_collective::Instance1>::Members(ayes, 3).into()
}
