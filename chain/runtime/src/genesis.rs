//! Genesis presets. `development`: Alice to Ferdie funded, Alice the Aura authority and sudo,
//! Alice, Bob and Charlie on the council.

use crate::*;
use alloc::{string::String, vec, vec::Vec};
use frame::{
	deps::sp_genesis_builder::{self, PresetId},
	runtime::prelude::*,
};
use serde_json::Value;

/// Each dev account starts with a million DML.
pub const DEV_ENDOWMENT: Balance = 1_000_000 * UNIT;

fn development() -> Value {
	let accounts = [
		Sr25519Keyring::Alice,
		Sr25519Keyring::Bob,
		Sr25519Keyring::Charlie,
		Sr25519Keyring::Dave,
		Sr25519Keyring::Eve,
		Sr25519Keyring::Ferdie,
	];
	frame::deps::frame_support::build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: accounts
				.iter()
				.map(|a| (a.to_account_id(), DEV_ENDOWMENT))
				.collect::<Vec<_>>(),
		},
		aura: AuraConfig {
			authorities: vec![sp_consensus_aura::sr25519::AuthorityId::from(
				Sr25519Keyring::Alice.public()
			)],
		},
		council: CouncilConfig {
			members: vec![
				Sr25519Keyring::Alice.to_account_id(),
				Sr25519Keyring::Bob.to_account_id(),
				Sr25519Keyring::Charlie.to_account_id(),
			],
		},
		sudo: SudoConfig { key: Some(Sr25519Keyring::Alice.to_account_id()) },
	})
}

/// The preset with this id, as JSON bytes.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		sp_genesis_builder::DEV_RUNTIME_PRESET | "dev" => development(),
		_ => return None,
	};
	serde_json::to_string(&patch).ok().map(String::into_bytes)
}

/// Every preset this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![PresetId::from(sp_genesis_builder::DEV_RUNTIME_PRESET)]
}
