//! Unit tests: every call's success path, every error (`assert_noop!`), escrow conservation
//! (checked after every test by `mock::run`), expiry and cancellation refunds, the three
//! validation strategies and council-only origins.

use crate::{mock::*, pallet::*, types::*, Error, Event};
use frame::{testing_prelude::*, traits::fungible::InspectHold};

const REWARD: Balance = 1_000;
const HASH: ContentHash = [7u8; 32];

/// A task description with sensible defaults; override fields per test.
#[derive(Clone)]
struct TaskSpec {
	task_type: TaskType,
	rounds: RoundIndex,
	max_assignments: u32,
	expires_at: u64,
	validation: ValidationStrategy,
	validators: Vec<AccountId>,
	reward: Balance,
	manifest: Vec<u8>,
	base_model: Option<ModelId>,
}

impl Default for TaskSpec {
	fn default() -> Self {
		Self {
			task_type: TaskType::ModelContributor,
			rounds: 2,
			max_assignments: 3,
			expires_at: 100,
			validation: ValidationStrategy::ManualAccept,
			validators: vec![VALIDATOR],
			reward: REWARD,
			manifest: b"bafy-manifest".to_vec(),
			base_model: None,
		}
	}
}

fn create_as(creator: AccountId, spec: TaskSpec) -> DispatchResult {
	DecentralMl::create_task(
		RuntimeOrigin::signed(creator),
		spec.task_type,
		spec.rounds,
		spec.max_assignments,
		spec.expires_at,
		spec.validation,
		spec.validators,
		spec.reward,
		spec.manifest,
		HASH,
		spec.base_model,
	)
}

fn create(spec: TaskSpec) -> TaskId {
	let task_id = NextTaskId::<Test>::get();
	assert_ok!(create_as(CREATOR, spec));
	task_id
}

fn cid(text: &str) -> CidOf<Test> {
	text.as_bytes().to_vec().try_into().expect("test CID fits")
}

/// A CID as a call takes it (unbounded: the pallet checks its length).
fn cid_arg(text: &str) -> Vec<u8> {
	text.as_bytes().to_vec()
}

fn assign(task_id: TaskId, workers: &[AccountId]) {
	for worker in workers {
		assert_ok!(DecentralMl::assign_task(RuntimeOrigin::signed(*worker), task_id));
	}
}

/// A distinct update hash per worker and round (the pallet refuses a hash twice in a round).
fn update_hash(worker: AccountId, round: RoundIndex) -> ContentHash {
	let mut hash = [0u8; 32];
	hash[..8].copy_from_slice(&worker.to_le_bytes());
	hash[8..12].copy_from_slice(&round.to_le_bytes());
	hash
}

fn send(task_id: TaskId, round: RoundIndex, worker: AccountId) -> ResultId {
	let result_id = NextResultId::<Test>::get();
	assert_ok!(DecentralMl::send_task_result(
		RuntimeOrigin::signed(worker),
		task_id,
		round,
		cid_arg("bafy-update"),
		update_hash(worker, round)
	));
	result_id
}

fn accept(result_id: ResultId) {
	assert_ok!(DecentralMl::accept_task_result(RuntimeOrigin::signed(CREATOR), result_id));
}

fn reject(result_id: ResultId) {
	assert_ok!(DecentralMl::reject_task_result(
		RuntimeOrigin::signed(CREATOR),
		result_id,
		RejectionReason::Outlier
	));
}

fn commit(task_id: TaskId, round: RoundIndex, accepted: Vec<ResultId>) -> ModelId {
	let model_id = NextModelId::<Test>::get();
	assert_ok!(DecentralMl::commit_model(
		RuntimeOrigin::signed(VALIDATOR),
		task_id,
		round,
		cid_arg("bafy-model"),
		HASH,
		accepted
	));
	model_id
}

/// A verdict with a full score (an accepted result earns the whole reward) and, when it
/// disapproves, the FailedValidation reason.
fn validate(who: AccountId, result_id: ResultId, approved: bool) -> DispatchResult {
	validate_scored(who, result_id, approved, Permill::one())
}

fn validate_scored(
	who: AccountId,
	result_id: ResultId,
	approved: bool,
	score: Permill,
) -> DispatchResult {
	let reason = if approved { None } else { Some(RejectionReason::FailedValidation) };
	DecentralMl::validate_task_result(
		RuntimeOrigin::signed(who),
		result_id,
		approved,
		score,
		reason,
	)
}

fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

fn escrow_held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::TaskEscrow.into(), &who)
}

fn task(task_id: TaskId) -> TaskOf<Test> {
	Tasks::<Test>::get(task_id).expect("task exists")
}

fn result(result_id: ResultId) -> ResultOf<Test> {
	Results::<Test>::get(result_id).expect("result exists")
}

/// A finished round-1 model, released by the council.
fn released_model() -> ModelId {
	let task_id = create(TaskSpec { rounds: 1, ..Default::default() });
	assign(task_id, &[WORKER_A]);
	let r = send(task_id, 1, WORKER_A);
	accept(r);
	let model_id = commit(task_id, 1, vec![r]);
	assert_ok!(DecentralMl::approve_model(council(2), model_id));
	model_id
}

mod create_task {
	use super::*;

	#[test]
	fn escrows_the_whole_budget_and_records_the_task() {
		run(|| {
			let task_id = create(TaskSpec::default());

			let budget = REWARD * 3 * 2;
			assert_eq!(free(CREATOR), ENDOWMENT - budget);
			assert_eq!(escrow_held(CREATOR), budget);
			let stored = task(task_id);
			assert_eq!(stored.status, TaskStatus::Created);
			assert_eq!((stored.deposited, stored.escrowed), (budget, budget));
			assert_eq!(stored.manifest_cid.to_vec(), b"bafy-manifest".to_vec());
			assert_eq!(ExpiryQueue::<Test>::get(100).to_vec(), vec![task_id]);
			System::assert_last_event(
				Event::TaskCreated {
					task_id,
					creator: CREATOR,
					task_type: TaskType::ModelContributor,
					rounds: 2,
					max_assignments: 3,
					reward_per_result: REWARD,
					escrowed: budget,
					expires_at: 100,
					validation: ValidationStrategy::ManualAccept,
					manifest_cid: cid("bafy-manifest"),
					manifest_hash: HASH,
					base_model: None,
				}
				.into(),
			);
		});
	}

	#[test]
	fn refuses_bad_rounds_and_slots() {
		run(|| {
			for rounds in [0, 11] {
				assert_noop!(
					create_as(CREATOR, TaskSpec { rounds, ..Default::default() }),
					Error::<Test>::InvalidRounds
				);
			}
			for max_assignments in [0, 9] {
				assert_noop!(
					create_as(CREATOR, TaskSpec { max_assignments, ..Default::default() }),
					Error::<Test>::InvalidMaxAssignments
				);
			}
		});
	}

	#[test]
	fn refuses_bad_expiry() {
		run(|| {
			assert_noop!(
				create_as(CREATOR, TaskSpec { expires_at: 1, ..Default::default() }),
				Error::<Test>::ExpiryInPast
			);
			assert_noop!(
				create_as(CREATOR, TaskSpec { expires_at: 1_002, ..Default::default() }),
				Error::<Test>::ExpiryTooFar
			);
		});
	}

	#[test]
	fn refuses_an_expiry_block_whose_worker_slots_are_full() {
		run(|| {
			// The mock allows 12 slots a block; a task of 8 and one of 5 would be 13.
			let big = create(TaskSpec { max_assignments: 8, ..Default::default() });
			assert_eq!(ExpiringSlots::<Test>::get(100), 8);
			let too_many = TaskSpec { max_assignments: 5, ..Default::default() };
			assert_noop!(create_as(CREATOR, too_many.clone()), Error::<Test>::ExpiryQueueFull);
			assert_ok!(create_as(
				CREATOR,
				TaskSpec { max_assignments: 5, expires_at: 101, ..too_many }
			));
			assert_ok!(create_as(CREATOR, TaskSpec { max_assignments: 4, ..Default::default() }));
			assert_eq!(ExpiringSlots::<Test>::get(100), 12);
			// A cancelled task frees its slots, and only its own.
			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), big));
			assert_eq!(ExpiringSlots::<Test>::get(100), 4);
			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), big + 2));
			assert!(!ExpiringSlots::<Test>::contains_key(100), "an empty block keeps no count");
			assert_ok!(create_as(CREATOR, TaskSpec { max_assignments: 8, ..Default::default() }));
			// The expiry hook drops the block's count with its queue.
			run_to_block(101);
			assert!(!ExpiringSlots::<Test>::contains_key(100));
			assert!(!ExpiringSlots::<Test>::contains_key(101));
		});
	}

	#[test]
	fn the_expiry_hook_at_the_runtime_limits_fits_a_quarter_block() {
		// The runtime's values (runtime/src/configs.rs): 16 tasks and 1,024 slots a block, a
		// two-second block, and the measured weights with RocksDB's reads and writes.
		use crate::weights::WeightInfo as _;
		type W = ();
		let per_task = W::pay_approved(0);
		let per_result = W::pay_approved(1).saturating_sub(per_task);
		let worst = W::on_initialize_expiry(16)
			.saturating_add(per_task.saturating_mul(16))
			.saturating_add(per_result.saturating_mul(1024));
		let block = frame::deps::frame_support::weights::constants::WEIGHT_REF_TIME_PER_SECOND * 2;
		assert!(
			worst.ref_time() <= block / 4,
			"{} ps > a quarter of {} ps",
			worst.ref_time(),
			block
		);
		// and the test can fail: twice the slots would not fit
		assert!(worst.saturating_add(per_result.saturating_mul(1024)).ref_time() > block / 4);
		// The pallet's own check, on the mock's values.
		run(<DecentralMl as frame::traits::Hooks<u64>>::integrity_test);
	}

	#[test]
	fn refuses_a_full_expiry_block() {
		run(|| {
			create(TaskSpec::default());
			create(TaskSpec::default());
			assert_noop!(create_as(CREATOR, TaskSpec::default()), Error::<Test>::ExpiryQueueFull);
			assert_ok!(create_as(CREATOR, TaskSpec { expires_at: 101, ..Default::default() }));
		});
	}

	#[test]
	fn refuses_zero_reward_and_empty_manifest() {
		run(|| {
			assert_noop!(
				create_as(CREATOR, TaskSpec { reward: 0, ..Default::default() }),
				Error::<Test>::ZeroReward
			);
			assert_noop!(
				create_as(CREATOR, TaskSpec { manifest: vec![], ..Default::default() }),
				Error::<Test>::EmptyCid
			);
		});
	}

	#[test]
	fn refuses_bad_validator_sets() {
		run(|| {
			assert_noop!(
				create_as(
					CREATOR,
					TaskSpec { validators: vec![VALIDATOR, VALIDATOR], ..Default::default() }
				),
				Error::<Test>::DuplicateValidator
			);
			for threshold in [0, 2] {
				assert_noop!(
					create_as(
						CREATOR,
						TaskSpec {
							validation: ValidationStrategy::CustomAccept { threshold },
							..Default::default()
						}
					),
					Error::<Test>::InvalidThreshold
				);
			}
		});
	}

	#[test]
	fn refuses_budget_overflow_and_insufficient_funds() {
		run(|| {
			assert_noop!(
				create_as(CREATOR, TaskSpec { reward: u64::MAX / 2, ..Default::default() }),
				Error::<Test>::BudgetOverflow
			);
			assert_noop!(
				create_as(CREATOR, TaskSpec { reward: ENDOWMENT, ..Default::default() }),
				Error::<Test>::InsufficientBalance
			);
			assert_noop!(create_as(POOR, TaskSpec::default()), Error::<Test>::InsufficientBalance);
		});
	}

	#[test]
	fn base_model_must_exist_and_be_released() {
		run(|| {
			assert_noop!(
				create_as(CREATOR, TaskSpec { base_model: Some(99), ..Default::default() }),
				Error::<Test>::ModelNotFound
			);
			let task_id = create(TaskSpec { rounds: 1, ..Default::default() });
			assign(task_id, &[WORKER_A]);
			let unreleased = commit(task_id, 1, vec![]);
			assert_noop!(
				create_as(CREATOR, TaskSpec { base_model: Some(unreleased), ..Default::default() }),
				Error::<Test>::BaseModelNotReleased
			);
			let released = released_model();
			let child = create(TaskSpec {
				base_model: Some(released),
				expires_at: 101,
				..Default::default()
			});
			assert_eq!(task(child).base_model, Some(released));
		});
	}

	#[test]
	fn refuses_when_the_id_counter_is_exhausted() {
		run(|| {
			NextTaskId::<Test>::put(u64::MAX);
			assert_noop!(create_as(CREATOR, TaskSpec::default()), Error::<Test>::Overflow);
		});
	}
}

mod assign_task {
	use super::*;

	#[test]
	fn takes_slots_in_order_and_starts_the_task() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A, WORKER_B]);

			assert_eq!(Assignments::<Test>::get(task_id, WORKER_B).map(|a| a.slot), Some(1));
			assert_eq!(task(task_id).assigned, 2);
			assert_eq!(task(task_id).status, TaskStatus::InProgress);
			System::assert_last_event(
				Event::TaskAssigned { task_id, worker: WORKER_B, slot: 1 }.into(),
			);
		});
	}

	#[test]
	fn refuses_unknown_full_duplicate_and_self_dealing() {
		run(|| {
			let task_id = create(TaskSpec { max_assignments: 2, ..Default::default() });
			let assign_as =
				|who: AccountId| DecentralMl::assign_task(RuntimeOrigin::signed(who), task_id);
			assert_noop!(
				DecentralMl::assign_task(RuntimeOrigin::signed(WORKER_A), 99),
				Error::<Test>::TaskNotFound
			);
			assert_noop!(assign_as(CREATOR), Error::<Test>::CreatorCannotWork);
			assert_ok!(assign_as(WORKER_A));
			assert_noop!(assign_as(WORKER_A), Error::<Test>::AlreadyAssigned);
			assert_ok!(assign_as(WORKER_B));
			// The prototype allowed max_assignments + 1; the limit is exact here.
			assert_noop!(assign_as(WORKER_C), Error::<Test>::TaskFull);
		});
	}

	#[test]
	fn refuses_closed_and_expired_tasks() {
		run(|| {
			let cancelled = create(TaskSpec::default());
			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), cancelled));
			assert_noop!(
				DecentralMl::assign_task(RuntimeOrigin::signed(WORKER_A), cancelled),
				Error::<Test>::TaskNotOpen
			);
			// Past the expiry block before the expiry hook ran: still refused.
			let late = create(TaskSpec { expires_at: 50, ..Default::default() });
			System::set_block_number(50);
			assert_noop!(
				DecentralMl::assign_task(RuntimeOrigin::signed(WORKER_A), late),
				Error::<Test>::TaskExpired
			);
		});
	}
}

mod declare_dataset {
	use super::*;

	fn declare_as(who: AccountId, task_id: TaskId, text: &str) -> DispatchResult {
		DecentralMl::declare_dataset(RuntimeOrigin::signed(who), task_id, cid_arg(text), HASH)
	}

	#[test]
	fn records_the_card_once_on_the_assignment() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A, WORKER_B]);
			assert!(Assignments::<Test>::get(task_id, WORKER_A).and_then(|a| a.dataset).is_none());
			assert_ok!(declare_as(WORKER_A, task_id, "bafy-card"));

			let card = Assignments::<Test>::get(task_id, WORKER_A).and_then(|a| a.dataset);
			assert_eq!(card.map(|c| (c.cid, c.hash)), Some((cid("bafy-card"), HASH)));
			assert_eq!(Assignments::<Test>::get(task_id, WORKER_A).map(|a| a.slot), Some(0));
			System::assert_last_event(
				Event::DatasetDeclared {
					task_id,
					worker: WORKER_A,
					cid: cid("bafy-card"),
					hash: HASH,
				}
				.into(),
			);
			// A card cannot be rewritten after training.
			assert_noop!(
				declare_as(WORKER_A, task_id, "bafy-other"),
				Error::<Test>::DatasetAlreadyDeclared
			);
			assert!(Assignments::<Test>::get(task_id, WORKER_B).and_then(|a| a.dataset).is_none());
		});
	}

	#[test]
	fn refuses_strangers_empty_and_long_cids_and_ended_tasks() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A]);
			assert_noop!(declare_as(OUTSIDER, task_id, "x"), Error::<Test>::NotAssigned);
			assert_noop!(declare_as(WORKER_A, 99, "x"), Error::<Test>::TaskNotFound);
			assert_noop!(declare_as(WORKER_A, task_id, ""), Error::<Test>::EmptyCid);
			let long = "c".repeat(1 + <<Test as Config>::MaxCidLength as Get<u32>>::get() as usize);
			assert_noop!(
				DecentralMl::declare_dataset(
					RuntimeOrigin::signed(WORKER_A),
					task_id,
					long.into_bytes(),
					HASH
				),
				Error::<Test>::CidTooLong
			);
			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), task_id));
			assert_noop!(declare_as(WORKER_A, task_id, "x"), Error::<Test>::TaskNotOpen);
		});
	}
}

mod send_task_result {
	use super::*;

	#[test]
	fn records_one_result_per_worker_per_round() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A]);
			let result_id = send(task_id, 1, WORKER_A);

			let stored = result(result_id);
			assert_eq!(stored.status, ResultSubmissionStatus::PendingValidation);
			assert_eq!((stored.task_id, stored.round, stored.worker), (task_id, 1, WORKER_A));
			assert_eq!(ResultIndex::<Test>::get((task_id, 1, WORKER_A)), Some(result_id));
			assert_eq!(Rounds::<Test>::get(task_id, 1).submitted, 1);
			System::assert_last_event(
				Event::ResultSubmitted {
					result_id,
					task_id,
					round: 1,
					worker: WORKER_A,
					cid: cid("bafy-update"),
					hash: update_hash(WORKER_A, 1),
				}
				.into(),
			);
		});
	}

	#[test]
	fn refuses_strangers_wrong_rounds_duplicates_and_empty_cids() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A]);
			let send_as = |who: AccountId, round: RoundIndex, text: &str| {
				DecentralMl::send_task_result(
					RuntimeOrigin::signed(who),
					task_id,
					round,
					cid_arg(text),
					HASH,
				)
			};
			assert_noop!(send_as(OUTSIDER, 1, "x"), Error::<Test>::NotAssigned);
			assert_noop!(send_as(WORKER_A, 2, "x"), Error::<Test>::WrongRound);
			assert_noop!(send_as(WORKER_A, 0, "x"), Error::<Test>::WrongRound);
			assert_noop!(send_as(WORKER_A, 1, ""), Error::<Test>::EmptyCid);
			assert_ok!(send_as(WORKER_A, 1, "x"));
			assert_noop!(send_as(WORKER_A, 1, "y"), Error::<Test>::DuplicateResult);
		});
	}
}

mod validation {
	use super::*;

	#[test]
	fn manual_accept_verdicts_are_advisory_until_the_creator_decides() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A, WORKER_B]);
			let good = send(task_id, 1, WORKER_A);
			let bad = send(task_id, 1, WORKER_B);

			assert_ok!(validate(VALIDATOR, good, true));
			assert_eq!(result(good).status, ResultSubmissionStatus::Validated);
			assert_eq!(Verdicts::<Test>::get(good, VALIDATOR).map(|v| v.approved), Some(true));
			assert_eq!(free(WORKER_A), ENDOWMENT);
			accept(good);
			reject(bad);

			assert_eq!(result(good).status, ResultSubmissionStatus::Accepted);
			assert_eq!(free(WORKER_A), ENDOWMENT + REWARD);
			assert_eq!(result(bad).status, ResultSubmissionStatus::Rejected);
			assert_eq!(result(bad).rejection, Some(RejectionReason::Outlier));
			assert_eq!(free(WORKER_B), ENDOWMENT);
			assert_eq!(task(task_id).paid, REWARD);
			assert_eq!(escrow_held(CREATOR), REWARD * 6 - REWARD);
			let counters = Rounds::<Test>::get(task_id, 1);
			assert_eq!((counters.accepted, counters.rejected), (1, 1));
			System::assert_last_event(
				Event::ResultRejected {
					result_id: bad,
					task_id,
					round: 1,
					worker: WORKER_B,
					reason: RejectionReason::Outlier,
				}
				.into(),
			);
		});
	}

	#[test]
	fn auto_accept_settles_on_the_first_verdict() {
		run(|| {
			let task_id = create(TaskSpec {
				validation: ValidationStrategy::AutoAccept,
				..Default::default()
			});
			assign(task_id, &[WORKER_A, WORKER_B]);
			let good = send(task_id, 1, WORKER_A);
			let bad = send(task_id, 1, WORKER_B);

			assert_ok!(validate(VALIDATOR, good, true));
			System::assert_last_event(
				Event::ResultAccepted {
					result_id: good,
					task_id,
					round: 1,
					worker: WORKER_A,
					reward: REWARD,
					refunded: 0,
				}
				.into(),
			);
			assert_ok!(validate(VALIDATOR, bad, false));

			assert_eq!(result(good).status, ResultSubmissionStatus::Accepted);
			assert_eq!(free(WORKER_A), ENDOWMENT + REWARD);
			assert_eq!(result(bad).status, ResultSubmissionStatus::Rejected);
			assert_eq!(result(bad).rejection, Some(RejectionReason::FailedValidation));
		});
	}

	#[test]
	fn custom_accept_follows_the_validator_threshold() {
		run(|| {
			let task_id = create(TaskSpec {
				validation: ValidationStrategy::CustomAccept { threshold: 2 },
				validators: vec![VALIDATOR, VALIDATOR_2, VALIDATOR_3],
				..Default::default()
			});
			assign(task_id, &[WORKER_A, WORKER_B]);
			let passes = send(task_id, 1, WORKER_A);
			let fails = send(task_id, 1, WORKER_B);

			assert_ok!(validate(VALIDATOR, passes, true));
			assert_eq!(result(passes).status, ResultSubmissionStatus::Validated);
			assert_ok!(validate(VALIDATOR_2, passes, true));
			assert_eq!(result(passes).status, ResultSubmissionStatus::Accepted);
			assert_eq!(free(WORKER_A), ENDOWMENT + REWARD);

			assert_ok!(validate(VALIDATOR, fails, false));
			assert_ok!(validate(VALIDATOR_2, fails, true));
			assert_eq!(result(fails).status, ResultSubmissionStatus::Validated);
			assert_ok!(validate(VALIDATOR_3, fails, false));
			assert_eq!(result(fails).status, ResultSubmissionStatus::Rejected);
			assert_eq!(free(WORKER_B), ENDOWMENT);
		});
	}

	#[test]
	fn custom_accept_leaves_no_say_to_the_creator() {
		run(|| {
			let task_id = create(TaskSpec {
				validation: ValidationStrategy::CustomAccept { threshold: 1 },
				..Default::default()
			});
			assign(task_id, &[WORKER_A]);
			let r = send(task_id, 1, WORKER_A);
			assert_noop!(validate(CREATOR, r, true), Error::<Test>::NotValidator);
			assert_noop!(
				DecentralMl::accept_task_result(RuntimeOrigin::signed(CREATOR), r),
				Error::<Test>::SettledByValidators
			);
			assert_noop!(
				DecentralMl::reject_task_result(
					RuntimeOrigin::signed(CREATOR),
					r,
					RejectionReason::Other(7)
				),
				Error::<Test>::SettledByValidators
			);
		});
	}

	#[test]
	fn refuses_bad_verdicts() {
		run(|| {
			let task_id =
				create(TaskSpec { validators: vec![VALIDATOR, WORKER_A], ..Default::default() });
			assign(task_id, &[WORKER_A]);
			let r = send(task_id, 1, WORKER_A);
			assert_noop!(validate(VALIDATOR, 99, true), Error::<Test>::ResultNotFound);
			assert_noop!(validate(OUTSIDER, r, true), Error::<Test>::NotValidator);
			assert_noop!(validate(WORKER_A, r, true), Error::<Test>::CannotValidateOwnResult);
			assert_ok!(validate(VALIDATOR, r, true));
			assert_noop!(validate(VALIDATOR, r, false), Error::<Test>::AlreadyValidated);
			accept(r);
			assert_noop!(validate(CREATOR, r, true), Error::<Test>::ResultAlreadySettled);
		});
	}

	#[test]
	fn refuses_settling_by_anyone_but_the_creator_or_twice() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A]);
			let r = send(task_id, 1, WORKER_A);
			assert_noop!(
				DecentralMl::accept_task_result(RuntimeOrigin::signed(VALIDATOR), r),
				Error::<Test>::NotCreator
			);
			assert_noop!(
				DecentralMl::reject_task_result(
					RuntimeOrigin::signed(WORKER_A),
					r,
					RejectionReason::Malformed
				),
				Error::<Test>::NotCreator
			);
			assert_noop!(
				DecentralMl::accept_task_result(RuntimeOrigin::signed(CREATOR), 99),
				Error::<Test>::ResultNotFound
			);
			accept(r);
			assert_noop!(
				DecentralMl::accept_task_result(RuntimeOrigin::signed(CREATOR), r),
				Error::<Test>::ResultAlreadySettled
			);
		});
	}

	#[test]
	fn results_of_a_committed_round_can_no_longer_be_settled() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A, WORKER_B]);
			let late = send(task_id, 1, WORKER_A);
			commit(task_id, 1, vec![]);
			assert_noop!(validate(VALIDATOR, late, true), Error::<Test>::RoundClosed);
			assert_noop!(
				DecentralMl::accept_task_result(RuntimeOrigin::signed(CREATOR), late),
				Error::<Test>::RoundClosed
			);
			assert_eq!(free(WORKER_A), ENDOWMENT);
		});
	}
}

mod commit_model {
	use super::*;

	#[test]
	fn a_whole_task_pays_accepted_work_links_rounds_and_refunds_the_rest() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A, WORKER_B, WORKER_C]);
			let round1: Vec<_> =
				[WORKER_A, WORKER_B, WORKER_C].into_iter().map(|w| send(task_id, 1, w)).collect();
			accept(round1[0]);
			accept(round1[1]);
			reject(round1[2]);
			let first = commit(task_id, 1, vec![round1[0], round1[1]]);
			let a2 = send(task_id, 2, WORKER_A);
			accept(a2);
			let second = commit(task_id, 2, vec![a2]);

			let model = Models::<Test>::get(second).expect("model committed");
			assert_eq!((model.task_id, model.round, model.parent), (task_id, 2, Some(first)));
			assert_eq!(model.accepted.to_vec(), vec![a2]);
			assert_eq!(Models::<Test>::get(first).map(|m| m.parent), Some(None));
			assert_eq!(RoundModels::<Test>::get(task_id, 1), Some(first));
			let done = task(task_id);
			assert_eq!(done.status, TaskStatus::Completed);
			assert_eq!(done.committed_rounds, 2);
			assert_eq!((done.paid, done.refunded, done.escrowed), (3 * REWARD, 3 * REWARD, 0));
			assert_eq!(free(CREATOR), ENDOWMENT - 3 * REWARD);
			assert_eq!(escrow_held(CREATOR), 0);
			assert_eq!(free(WORKER_A), ENDOWMENT + 2 * REWARD);
			assert_eq!(free(WORKER_B), ENDOWMENT + REWARD);
			assert_eq!(free(WORKER_C), ENDOWMENT);
			System::assert_has_event(
				Event::ModelCommitted {
					model_id: second,
					task_id,
					round: 2,
					cid: cid("bafy-model"),
					hash: HASH,
					parent: Some(first),
					accepted: vec![a2].try_into().expect("fits"),
					committed_by: VALIDATOR,
					attestations: 1,
				}
				.into(),
			);
			System::assert_last_event(
				Event::TaskCompleted { task_id, creator: CREATOR, refunded: 3 * REWARD }.into(),
			);
			assert_noop!(
				DecentralMl::send_task_result(
					RuntimeOrigin::signed(WORKER_B),
					task_id,
					3,
					cid_arg("x"),
					HASH
				),
				Error::<Test>::TaskNotOpen
			);
		});
	}

	#[test]
	fn round_one_of_a_continuation_links_to_the_base_model() {
		run(|| {
			let base = released_model();
			let task_id = create(TaskSpec { base_model: Some(base), ..Default::default() });
			let first = commit(task_id, 1, vec![]);
			assert_eq!(Models::<Test>::get(first).and_then(|m| m.parent), Some(base));
		});
	}

	#[test]
	fn refuses_anything_but_the_exact_accepted_set_of_the_open_round() {
		run(|| {
			let task_id = create(TaskSpec::default());
			let other = create(TaskSpec { expires_at: 101, ..Default::default() });
			assign(task_id, &[WORKER_A, WORKER_B, WORKER_C]);
			assign(other, &[WORKER_A]);
			let a = send(task_id, 1, WORKER_A);
			let b = send(task_id, 1, WORKER_B);
			let pending = send(task_id, 1, WORKER_C);
			let foreign = send(other, 1, WORKER_A);
			accept(a);
			accept(b);
			let commit_as = |who: AccountId, round: RoundIndex, text: &str, list: Vec<ResultId>| {
				DecentralMl::commit_model(
					RuntimeOrigin::signed(who),
					task_id,
					round,
					cid_arg(text),
					HASH,
					list,
				)
			};
			assert_noop!(commit_as(OUTSIDER, 1, "m", vec![a, b]), Error::<Test>::NotCommitter);
			assert_noop!(commit_as(VALIDATOR, 2, "m", vec![a, b]), Error::<Test>::WrongRound);
			assert_noop!(commit_as(VALIDATOR, 1, "", vec![a, b]), Error::<Test>::EmptyCid);
			assert_noop!(commit_as(VALIDATOR, 1, "m", vec![b, a]), Error::<Test>::UnsortedResults);
			assert_noop!(commit_as(VALIDATOR, 1, "m", vec![a, a]), Error::<Test>::UnsortedResults);
			assert_noop!(commit_as(VALIDATOR, 1, "m", vec![a, 99]), Error::<Test>::ResultNotFound);
			assert_noop!(
				commit_as(VALIDATOR, 1, "m", vec![a, b, foreign]),
				Error::<Test>::ResultNotInRound
			);
			assert_noop!(
				commit_as(VALIDATOR, 1, "m", vec![a, b, pending]),
				Error::<Test>::ResultNotAccepted
			);
			assert_noop!(
				commit_as(VALIDATOR, 1, "m", vec![a]),
				Error::<Test>::IncompleteAcceptedList
			);
			assert_noop!(commit_as(CREATOR, 1, "m", vec![a, b]), Error::<Test>::NotCommitter);
			assert_ok!(commit_as(VALIDATOR, 1, "m", vec![a, b]));
			assert_noop!(commit_as(VALIDATOR, 1, "m", vec![a, b]), Error::<Test>::AlreadyAttested);
		});
	}

	#[test]
	fn a_commit_pays_results_approved_but_not_settled() {
		run(|| {
			let task_id = create(TaskSpec { rounds: 1, ..Default::default() }); // ManualAccept
			assign(task_id, &[WORKER_A, WORKER_B]);
			let approved = send(task_id, 1, WORKER_A);
			let unjudged = send(task_id, 1, WORKER_B);
			assert_ok!(validate_scored(VALIDATOR, approved, true, Permill::from_percent(50)));
			let before = free(WORKER_A);

			commit(task_id, 1, vec![approved]);

			assert_eq!(free(WORKER_A), before + REWARD / 2);
			assert_eq!(result(approved).status, ResultSubmissionStatus::Accepted);
			assert_eq!(result(unjudged).status, ResultSubmissionStatus::PendingValidation);
			assert_eq!(task(task_id).status, TaskStatus::Completed);
			assert_eq!(task(task_id).paid, REWARD / 2);
		});
	}
}

mod committee {
	use super::*;

	const MEMBERS: [AccountId; 3] = [VALIDATOR, VALIDATOR_2, VALIDATOR_3];
	const H1: ContentHash = [1u8; 32];
	const H2: ContentHash = [2u8; 32];

	fn committee_task(rounds: RoundIndex) -> TaskId {
		create(TaskSpec {
			rounds,
			validation: ValidationStrategy::CustomAccept { threshold: 2 },
			validators: MEMBERS.to_vec(),
			..Default::default()
		})
	}

	fn attest(
		who: AccountId,
		task_id: TaskId,
		hash: ContentHash,
		list: Vec<ResultId>,
	) -> DispatchResult {
		DecentralMl::commit_model(
			RuntimeOrigin::signed(who),
			task_id,
			1,
			cid_arg("sealed"),
			hash,
			list,
		)
	}

	#[test]
	fn two_of_three_agreeing_commit_and_the_third_is_flagged() {
		run(|| {
			let task_id = committee_task(2);
			assign(task_id, &[WORKER_A, WORKER_B]);
			let good = send(task_id, 1, WORKER_A);
			let poisoned = send(task_id, 1, WORKER_B);
			// The liar approves the poisoned update and attests another hash first.
			assert_ok!(validate(VALIDATOR_3, poisoned, true));
			assert_ok!(validate(VALIDATOR_3, good, true));
			assert_ok!(attest(VALIDATOR_3, task_id, H2, vec![good, poisoned]));
			assert_ok!(validate(VALIDATOR, good, true)); // the second approval settles it
			for member in [VALIDATOR, VALIDATOR_2] {
				assert_ok!(validate(member, poisoned, false));
			}
			// A member whose verdict comes after the threshold settled the result is refused: a
			// committee member reads the result's status before it votes.
			assert_noop!(validate(VALIDATOR_2, good, true), Error::<Test>::ResultAlreadySettled);
			assert_eq!(result(good).status, ResultSubmissionStatus::Accepted);
			assert_eq!(result(poisoned).status, ResultSubmissionStatus::Rejected);
			assert_ok!(attest(VALIDATOR, task_id, H1, vec![good]));
			assert!(
				RoundModels::<Test>::get(task_id, 1).is_none(),
				"one attestation is not enough"
			);

			assert_ok!(attest(VALIDATOR_2, task_id, H1, vec![good]));

			let model_id = RoundModels::<Test>::get(task_id, 1).expect("committed");
			let model = Models::<Test>::get(model_id).expect("stored");
			assert_eq!((model.hash, model.attestations, model.committed_by), (H1, 2, VALIDATOR_2));
			System::assert_has_event(
				Event::AttestationDisagreed { task_id, round: 1, validator: VALIDATOR_3, model_id }
					.into(),
			);
			assert_eq!(task(task_id).committed_rounds, 1);
		});
	}

	#[test]
	fn a_late_member_is_recorded_and_flagged_only_when_it_disagrees() {
		run(|| {
			let task_id = committee_task(2);
			assert_ok!(attest(VALIDATOR, task_id, H1, vec![]));
			assert_ok!(attest(VALIDATOR_2, task_id, H1, vec![]));
			let model_id = RoundModels::<Test>::get(task_id, 1).expect("committed");
			System::reset_events();

			assert_ok!(attest(VALIDATOR_3, task_id, H2, vec![]));

			assert!(Attestations::<Test>::contains_key((task_id, 1, VALIDATOR_3)));
			System::assert_last_event(
				Event::AttestationDisagreed { task_id, round: 1, validator: VALIDATOR_3, model_id }
					.into(),
			);
			assert_noop!(attest(VALIDATOR_3, task_id, H1, vec![]), Error::<Test>::AlreadyAttested);
			assert_eq!(Models::<Test>::get(model_id).map(|m| m.hash), Some(H1));
		});
	}

	#[test]
	fn a_split_committee_is_disputed_and_the_council_picks_an_attestation() {
		run(|| {
			let task_id = committee_task(2);
			assign(task_id, &[WORKER_A, WORKER_B]);
			let a = send(task_id, 1, WORKER_A);
			let b = send(task_id, 1, WORKER_B);
			assert_ok!(attest(VALIDATOR, task_id, H1, vec![a]));
			assert_noop!(
				DecentralMl::dispute_round(RuntimeOrigin::signed(VALIDATOR), task_id, 1),
				Error::<Test>::DisputeNotDue
			);
			assert_ok!(attest(VALIDATOR_2, task_id, H2, vec![a, b]));
			assert_ok!(attest(VALIDATOR_3, task_id, [3u8; 32], vec![b]));
			assert_noop!(
				DecentralMl::dispute_round(RuntimeOrigin::signed(OUTSIDER), task_id, 1),
				Error::<Test>::NotCommitter
			);
			assert_noop!(
				DecentralMl::resolve_dispute(council(2), task_id, 1, Some(VALIDATOR)),
				Error::<Test>::NoDispute
			);

			assert_ok!(DecentralMl::dispute_round(RuntimeOrigin::signed(CREATOR), task_id, 1));

			assert_noop!(
				DecentralMl::dispute_round(RuntimeOrigin::signed(VALIDATOR), task_id, 1),
				Error::<Test>::RoundDisputed
			);
			let late = DecentralMl::commit_model(
				RuntimeOrigin::signed(VALIDATOR),
				task_id,
				1,
				cid_arg("x"),
				H1,
				vec![a],
			);
			assert_noop!(late, Error::<Test>::AlreadyAttested);
			assert_noop!(
				DecentralMl::resolve_dispute(RuntimeOrigin::signed(VALIDATOR), task_id, 1, None),
				BadOrigin
			);
			assert_noop!(
				DecentralMl::resolve_dispute(council(2), task_id, 1, Some(OUTSIDER)),
				Error::<Test>::NotAttested
			);
			let before = free(WORKER_A);

			assert_ok!(DecentralMl::resolve_dispute(council(2), task_id, 1, Some(VALIDATOR)));

			let model_id = RoundModels::<Test>::get(task_id, 1).expect("committed");
			assert_eq!(
				Models::<Test>::get(model_id).map(|m| (m.hash, m.attestations)),
				Some((H1, 1))
			);
			assert_eq!(free(WORKER_A), before + REWARD);
			assert_eq!(result(b).status, ResultSubmissionStatus::Rejected);
			assert!(!Disputes::<Test>::contains_key(task_id, 1));
			System::assert_last_event(
				Event::DisputeResolved {
					task_id,
					round: 1,
					chosen: Some(VALIDATOR),
					model_id: Some(model_id),
				}
				.into(),
			);
		});
	}

	#[test]
	fn a_silent_committee_is_disputed_after_the_window_and_the_council_voids_it() {
		run(|| {
			let task_id = committee_task(2);
			assign(task_id, &[WORKER_A]);
			let a = send(task_id, 1, WORKER_A);
			assert_ok!(validate(VALIDATOR, a, true));
			assert_ok!(attest(VALIDATOR, task_id, H1, vec![a]));
			System::set_block_number(5); // attested at 1, AttestationWindow 5
			assert_noop!(
				DecentralMl::dispute_round(RuntimeOrigin::signed(VALIDATOR), task_id, 1),
				Error::<Test>::DisputeNotDue
			);
			System::set_block_number(6);
			assert_ok!(DecentralMl::dispute_round(RuntimeOrigin::signed(VALIDATOR), task_id, 1));
			let before = free(WORKER_A);

			assert_ok!(DecentralMl::resolve_dispute(council(2), task_id, 1, None));

			assert_eq!(free(WORKER_A), before, "one approval short of the threshold is not paid");
			assert_eq!(task(task_id).status, TaskStatus::Withdrawn);
			assert_eq!(task(task_id).escrowed, 0);
			assert_eq!(escrow_held(CREATOR), 0);
			assert!(RoundModels::<Test>::get(task_id, 1).is_none());
		});
	}

	#[test]
	fn cancel_and_expiry_pay_only_results_at_the_threshold() {
		run(|| {
			let task_id = committee_task(2);
			assign(task_id, &[WORKER_A, WORKER_B]);
			let short = send(task_id, 1, WORKER_A);
			assert_ok!(validate(VALIDATOR, short, true));
			let before = free(WORKER_A);

			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), task_id));

			assert_eq!(free(WORKER_A), before);
			assert_eq!(result(short).status, ResultSubmissionStatus::Validated);
			assert_eq!(task(task_id).paid, 0);
		});
	}
}

mod privacy {
	use super::*;

	fn committed_model() -> ModelId {
		let task_id = create(TaskSpec { rounds: 1, ..Default::default() });
		commit(task_id, 1, vec![])
	}

	#[test]
	fn a_released_model_is_published_once_with_its_committed_hash() {
		run(|| {
			let model_id = committed_model();
			let publish = |who: AccountId, hash: ContentHash| {
				DecentralMl::publish_model(
					RuntimeOrigin::signed(who),
					model_id,
					cid_arg("plain"),
					hash,
				)
			};
			assert_noop!(publish(VALIDATOR, HASH), Error::<Test>::ModelNotReleased);
			assert_ok!(DecentralMl::approve_model(council(2), model_id));
			assert_noop!(publish(OUTSIDER, HASH), Error::<Test>::NotPublisher);
			assert_noop!(publish(CREATOR, HASH), Error::<Test>::NotPublisher);
			assert_noop!(publish(VALIDATOR, [9u8; 32]), Error::<Test>::PublishedHashMismatch);
			assert_noop!(
				DecentralMl::publish_model(
					RuntimeOrigin::signed(VALIDATOR),
					model_id,
					vec![],
					HASH
				),
				Error::<Test>::EmptyCid
			);
			assert_noop!(
				DecentralMl::publish_model(
					RuntimeOrigin::signed(VALIDATOR),
					99,
					cid_arg("p"),
					HASH
				),
				Error::<Test>::ModelNotFound
			);

			assert_ok!(publish(VALIDATOR, HASH));

			assert_eq!(Models::<Test>::get(model_id).and_then(|m| m.published), Some(cid("plain")));
			System::assert_last_event(
				Event::ModelPublished { model_id, task_id: 0, round: 1, cid: cid("plain") }.into(),
			);
			assert_noop!(publish(VALIDATOR, HASH), Error::<Test>::ModelAlreadyPublished);
			assert_ok!(DecentralMl::revoke_model(council(2), model_id));
			assert_eq!(Models::<Test>::get(model_id).map(|m| m.status), Some(ModelStatus::Revoked));
		});
	}

	#[test]
	fn a_revoked_model_cannot_be_published() {
		run(|| {
			let model_id = committed_model();
			assert_ok!(DecentralMl::revoke_model(council(2), model_id));
			assert_noop!(
				DecentralMl::publish_model(
					RuntimeOrigin::signed(VALIDATOR),
					model_id,
					cid_arg("p"),
					HASH
				),
				Error::<Test>::ModelAlreadyRevoked
			);
		});
	}

	#[test]
	fn a_hash_already_sent_in_the_round_is_refused_but_not_in_the_next() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A, WORKER_B]);
			let a = send(task_id, 1, WORKER_A);
			let copy = |round: RoundIndex| {
				DecentralMl::send_task_result(
					RuntimeOrigin::signed(WORKER_B),
					task_id,
					round,
					cid_arg("bafy-copy"),
					update_hash(WORKER_A, 1),
				)
			};

			assert_noop!(copy(1), Error::<Test>::DuplicateHash);

			accept(a);
			commit(task_id, 1, vec![a]);
			assert_ok!(copy(2));
		});
	}

	#[test]
	fn a_share_an_emptied_account_cannot_receive_goes_to_the_creator() {
		run(|| {
			let task_id = create(TaskSpec {
				validation: ValidationStrategy::AutoAccept,
				reward: 10, // the existential deposit is 5 in the mock; a 40% share is below it
				..Default::default()
			});
			assign(task_id, &[POOR_WORKER]);
			let r = send(task_id, 1, POOR_WORKER);
			// The worker empties its account after sending.
			assert_ok!(Balances::transfer_all(RuntimeOrigin::signed(POOR_WORKER), OUTSIDER, false));
			let creator_before = free(CREATOR);

			assert_ok!(validate_scored(VALIDATOR, r, true, Permill::from_percent(40)));

			assert_eq!(result(r).status, ResultSubmissionStatus::Accepted);
			assert_eq!(free(POOR_WORKER), 0);
			assert_eq!(free(CREATOR), creator_before + 10);
			System::assert_has_event(
				Event::RewardToCreator { result_id: r, worker: POOR_WORKER, amount: 4 }.into(),
			);
		});
	}
}

mod ending_tasks {
	use super::*;

	#[test]
	fn cancel_refunds_what_was_not_paid() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A]);
			accept(send(task_id, 1, WORKER_A));

			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), task_id));

			let budget = REWARD * 6;
			assert_eq!(task(task_id).status, TaskStatus::Withdrawn);
			assert_eq!(task(task_id).refunded, budget - REWARD);
			assert_eq!(free(CREATOR), ENDOWMENT - REWARD);
			assert_eq!(escrow_held(CREATOR), 0);
			System::assert_last_event(
				Event::TaskCancelled { task_id, creator: CREATOR, refunded: budget - REWARD }
					.into(),
			);
		});
	}

	#[test]
	fn cancel_is_for_the_creator_of_an_open_task() {
		run(|| {
			let task_id = create(TaskSpec::default());
			assert_noop!(
				DecentralMl::cancel_task(RuntimeOrigin::signed(OUTSIDER), task_id),
				Error::<Test>::NotCreator
			);
			assert_noop!(
				DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), 99),
				Error::<Test>::TaskNotFound
			);
			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), task_id));
			assert_noop!(
				DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), task_id),
				Error::<Test>::TaskNotOpen
			);
		});
	}

	#[test]
	fn expiry_refunds_unspent_escrow_at_the_expiry_block() {
		run(|| {
			let task_id = create(TaskSpec { expires_at: 20, ..Default::default() });
			let finished = create(TaskSpec { expires_at: 20, rounds: 1, ..Default::default() });
			assign(task_id, &[WORKER_A]);
			assign(finished, &[WORKER_B]);
			accept(send(task_id, 1, WORKER_A));
			let r = send(finished, 1, WORKER_B);
			accept(r);
			commit(finished, 1, vec![r]);

			run_to_block(19);
			assert_eq!(task(task_id).status, TaskStatus::InProgress);
			run_to_block(20);

			assert_eq!(task(task_id).status, TaskStatus::Expired);
			assert_eq!(task(finished).status, TaskStatus::Completed);
			assert_eq!(escrow_held(CREATOR), 0);
			assert_eq!(free(CREATOR), ENDOWMENT - 2 * REWARD);
			assert!(ExpiryQueue::<Test>::get(20).is_empty());
			System::assert_has_event(
				Event::TaskExpired { task_id, creator: CREATOR, refunded: 5 * REWARD }.into(),
			);
			assert_noop!(
				DecentralMl::send_task_result(
					RuntimeOrigin::signed(WORKER_A),
					task_id,
					1,
					cid_arg("x"),
					HASH
				),
				Error::<Test>::TaskNotOpen
			);
		});
	}
}

mod governance {
	use super::*;

	fn committed_model() -> ModelId {
		let task_id = create(TaskSpec { rounds: 1, ..Default::default() });
		commit(task_id, 1, vec![])
	}

	#[test]
	fn a_council_majority_approves_then_revokes() {
		run(|| {
			let model_id = committed_model();
			assert_ok!(DecentralMl::approve_model(council(2), model_id));
			assert_eq!(
				Models::<Test>::get(model_id).map(|m| m.status),
				Some(ModelStatus::Approved)
			);
			System::assert_last_event(
				Event::ModelApproved { model_id, task_id: 0, round: 1 }.into(),
			);
			assert_noop!(
				DecentralMl::approve_model(council(2), model_id),
				Error::<Test>::ModelAlreadyApproved
			);
			assert_ok!(DecentralMl::revoke_model(council(3), model_id));
			assert_eq!(Models::<Test>::get(model_id).map(|m| m.status), Some(ModelStatus::Revoked));
			assert_noop!(
				DecentralMl::revoke_model(council(2), model_id),
				Error::<Test>::ModelAlreadyRevoked
			);
			assert_noop!(
				DecentralMl::approve_model(council(2), model_id),
				Error::<Test>::ModelAlreadyRevoked
			);
		});
	}

	#[test]
	fn anyone_but_a_council_majority_is_refused() {
		run(|| {
			let model_id = committed_model();
			for origin in [
				RuntimeOrigin::signed(COUNCIL[0]),
				RuntimeOrigin::signed(CREATOR),
				RuntimeOrigin::root(),
				council(1),
			] {
				assert_noop!(DecentralMl::approve_model(origin.clone(), model_id), BadOrigin);
				assert_noop!(DecentralMl::revoke_model(origin, model_id), BadOrigin);
			}
			assert_noop!(DecentralMl::approve_model(council(2), 99), Error::<Test>::ModelNotFound);
			assert_noop!(DecentralMl::revoke_model(council(2), 99), Error::<Test>::ModelNotFound);
		});
	}

	#[test]
	fn a_council_motion_dispatches_approve_model() {
		run(|| {
			let model_id = committed_model();
			let proposal: RuntimeCall = crate::Call::<Test>::approve_model { model_id }.into();
			let length = proposal.encoded_size() as u32;
			assert_ok!(Council::propose(
				RuntimeOrigin::signed(COUNCIL[0]),
				2,
				Box::new(proposal.clone()),
				length
			));
			let hash = BlakeTwo256::hash_of(&proposal);
			assert_ok!(Council::vote(RuntimeOrigin::signed(COUNCIL[0]), hash, 0, true));
			assert_ok!(Council::vote(RuntimeOrigin::signed(COUNCIL[1]), hash, 0, true));
			assert_eq!(
				Models::<Test>::get(model_id).map(|m| m.status),
				Some(ModelStatus::Committed)
			);
			assert_ok!(Council::close(
				RuntimeOrigin::signed(COUNCIL[2]),
				hash,
				0,
				Weight::from_parts(1_000_000_000, 100_000),
				length
			));
			assert_eq!(
				Models::<Test>::get(model_id).map(|m| m.status),
				Some(ModelStatus::Approved)
			);
		});
	}
}

#[test]
fn every_error_and_event_has_a_doc_line() {
	use scale_info::{TypeDef, TypeInfo};
	for info in [Error::<Test>::type_info(), Event::<Test>::type_info()] {
		let TypeDef::Variant(def) = info.type_def else { panic!("errors and events are enums") };
		assert!(def.variants.len() >= 12);
		for variant in def.variants {
			assert!(!variant.docs.is_empty(), "{} has no doc line", variant.name);
		}
	}
}

mod abuse {
	use super::*;

	#[test]
	fn ended_tasks_leave_the_expiry_queue_so_nobody_can_fill_it_for_others() {
		run(|| {
			// MaxExpiringPerBlock is 2: two cheap tasks, cancelled, used to block the block.
			for _ in 0..2 {
				let spam = NextTaskId::<Test>::get();
				assert_ok!(create_as(
					OUTSIDER,
					TaskSpec {
						rounds: 1,
						max_assignments: 1,
						reward: 5,
						expires_at: 50,
						..Default::default()
					}
				));
				assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(OUTSIDER), spam));
			}
			assert!(ExpiryQueue::<Test>::get(50).is_empty());
			let completed = create(TaskSpec { rounds: 1, expires_at: 60, ..Default::default() });
			commit(completed, 1, vec![]);
			assert!(ExpiryQueue::<Test>::get(60).is_empty(), "a completed task left its slot");

			assert_ok!(create_as(CREATOR, TaskSpec { expires_at: 50, ..Default::default() }));
			assert_ok!(create_as(CREATOR, TaskSpec { expires_at: 50, ..Default::default() }));
			assert_noop!(
				create_as(CREATOR, TaskSpec { expires_at: 50, ..Default::default() }),
				Error::<Test>::ExpiryQueueFull
			);
		});
	}

	#[test]
	fn over_long_arguments_get_named_errors() {
		run(|| {
			let long = "b".repeat(65); // MaxCidLength is 64
			assert_noop!(
				create_as(
					CREATOR,
					TaskSpec { manifest: long.as_bytes().to_vec(), ..Default::default() }
				),
				Error::<Test>::CidTooLong
			);
			let five = vec![VALIDATOR, VALIDATOR_2, VALIDATOR_3, OUTSIDER, WORKER_C]; // MaxValidators 4
			assert_noop!(
				create_as(CREATOR, TaskSpec { validators: five, ..Default::default() }),
				Error::<Test>::TooManyValidators
			);
			let task_id = create(TaskSpec::default());
			assign(task_id, &[WORKER_A]);
			assert_noop!(
				DecentralMl::send_task_result(
					RuntimeOrigin::signed(WORKER_A),
					task_id,
					1,
					cid_arg(&long),
					HASH
				),
				Error::<Test>::CidTooLong
			);
			assert_noop!(
				DecentralMl::commit_model(
					RuntimeOrigin::signed(VALIDATOR),
					task_id,
					1,
					cid_arg("m"),
					HASH,
					(0..9).collect()
				),
				Error::<Test>::TooManyAccepted
			);
		});
	}

	#[test]
	fn a_reward_below_the_minimum_is_refused() {
		run(|| {
			assert_noop!(
				create_as(CREATOR, TaskSpec { reward: 4, ..Default::default() }),
				Error::<Test>::RewardTooSmall
			);
			assert_noop!(
				create_as(CREATOR, TaskSpec { reward: 0, ..Default::default() }),
				Error::<Test>::ZeroReward
			);
			assert_ok!(create_as(CREATOR, TaskSpec { reward: 5, ..Default::default() }));
		});
	}

	#[test]
	fn reap_returns_the_storage_deposit_after_the_grace_period() {
		run(|| {
			TaskDeposit::set(50);
			let task_id = create(TaskSpec { rounds: 1, expires_at: 20, ..Default::default() });
			let storage_held =
				|| Balances::balance_on_hold(&HoldReason::TaskStorage.into(), &CREATOR);
			assert_eq!(storage_held(), 50);
			assign(task_id, &[WORKER_A]);
			let r = send(task_id, 1, WORKER_A);
			accept(r);
			let model_id = commit(task_id, 1, vec![r]);
			assert_noop!(
				DecentralMl::reap(RuntimeOrigin::signed(OUTSIDER), task_id),
				Error::<Test>::TooEarlyToReap
			);
			let open = create(TaskSpec { expires_at: 20, ..Default::default() });
			System::set_block_number(30); // expiry 20 + ReapDelay 10
			assert_noop!(
				DecentralMl::reap(RuntimeOrigin::signed(OUTSIDER), open),
				Error::<Test>::TaskStillOpen
			);
			assert_noop!(
				DecentralMl::reap(RuntimeOrigin::signed(OUTSIDER), 99),
				Error::<Test>::TaskNotFound
			);
			let before = free(CREATOR);

			reap_all(task_id);

			assert_eq!(free(CREATOR), before + 50);
			assert_eq!(storage_held(), 50, "the open task keeps its deposit");
			assert!(!Tasks::<Test>::contains_key(task_id));
			assert!(Results::<Test>::get(r).is_none());
			assert!(!Assignments::<Test>::contains_key(task_id, WORKER_A));
			assert!(Verdicts::<Test>::iter_prefix(r).next().is_none());
			assert!(
				Models::<Test>::contains_key(model_id),
				"committed models stay for their lineage"
			);
			System::assert_last_event(
				Event::TaskReaped { task_id, by: OUTSIDER, creator: CREATOR, deposit: 50 }.into(),
			);
			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), open));
		});
	}

	/// Reap `task_id` page by page until it is gone; the number of calls it took.
	fn reap_all(task_id: TaskId) -> u32 {
		let mut calls = 0;
		while Tasks::<Test>::contains_key(task_id) {
			assert_ok!(DecentralMl::reap(RuntimeOrigin::signed(OUTSIDER), task_id));
			DecentralMl::do_try_state().expect("invariants hold after every page");
			calls += 1;
			assert!(calls <= 100, "reap makes no progress");
		}
		calls
	}

	#[test]
	fn reap_removes_a_large_task_a_page_at_a_time_and_returns_the_deposit_last() {
		run(|| {
			TaskDeposit::set(50);
			let workers = [WORKER_A, WORKER_B, WORKER_C];
			let task_id = create(TaskSpec { rounds: 3, expires_at: 20, ..Default::default() });
			let storage_held =
				|| Balances::balance_on_hold(&HoldReason::TaskStorage.into(), &CREATOR);
			assign(task_id, &workers);
			let mut results = Vec::new();
			let mut models = Vec::new();
			for round in 1..=3 {
				let sent: Vec<ResultId> =
					workers.iter().map(|w| send(task_id, round, *w)).collect();
				for r in &sent {
					accept(*r);
				}
				models.push(commit(task_id, round, sent.clone()));
				results.extend(sent);
			}
			System::set_block_number(30);
			let before = free(CREATOR);

			// The first page: the task and its deposit stay, part of its state is gone; the
			// reaper pays no fee, and the call is weighed at the items it removed.
			let post = DecentralMl::reap(RuntimeOrigin::signed(OUTSIDER), task_id).expect("a page");
			assert_eq!(post.pays_fee, Pays::No);
			let removed = post.actual_weight.expect("weighed at what it removed");
			assert!(removed.all_lte(<() as crate::weights::WeightInfo>::reap(4 + 4)));
			assert!(removed.all_gte(<() as crate::weights::WeightInfo>::reap(4)));
			System::assert_last_event(
				Event::TaskPartlyReaped { task_id, by: OUTSIDER, next_round: 1 }.into(),
			);
			assert!(Tasks::<Test>::contains_key(task_id));
			assert_eq!(storage_held(), 50);
			assert_eq!(free(CREATOR), before);
			assert!(Results::<Test>::get(results[0]).is_none());
			assert!(Results::<Test>::get(results[8]).is_some());
			DecentralMl::do_try_state().expect("invariants hold after a page");

			let calls = reap_all(task_id);

			assert!(
				calls >= 3,
				"9 results and their rounds take several pages of 4, took {calls} more"
			);
			assert_eq!(free(CREATOR), before + 50);
			assert_eq!(storage_held(), 0);
			assert!(!ReapProgress::<Test>::contains_key(task_id));
			for r in &results {
				assert!(Results::<Test>::get(r).is_none());
				assert!(Verdicts::<Test>::iter_prefix(r).next().is_none());
			}
			for round in 1..=3 {
				assert!(ResultIndex::<Test>::iter_prefix((task_id, round)).next().is_none());
				assert!(RoundHashes::<Test>::iter_prefix((task_id, round)).next().is_none());
				assert!(Attestations::<Test>::iter_prefix((task_id, round)).next().is_none());
				assert!(!Rounds::<Test>::contains_key(task_id, round));
			}
			assert!(Assignments::<Test>::iter_prefix(task_id).next().is_none());
			for model_id in models {
				assert!(Models::<Test>::contains_key(model_id));
			}
			System::assert_last_event(
				Event::TaskReaped { task_id, by: OUTSIDER, creator: CREATOR, deposit: 50 }.into(),
			);
			assert_noop!(
				DecentralMl::reap(RuntimeOrigin::signed(OUTSIDER), task_id),
				Error::<Test>::TaskNotFound
			);
		});
	}

	#[test]
	fn a_creator_without_the_deposit_cannot_create() {
		run(|| {
			TaskDeposit::set(ENDOWMENT);
			assert_noop!(
				create_as(CREATOR, TaskSpec::default()),
				Error::<Test>::InsufficientDeposit
			);
		});
	}
}

mod contribution {
	use super::*;

	#[test]
	fn an_accepted_result_is_paid_its_score_and_the_rest_returns_to_the_creator() {
		run(|| {
			let task_id = create(TaskSpec {
				validation: ValidationStrategy::AutoAccept,
				..Default::default()
			});
			assign(task_id, &[WORKER_A]);
			let r = send(task_id, 1, WORKER_A);
			let (worker_before, creator_before) = (free(WORKER_A), free(CREATOR));

			assert_ok!(validate_scored(VALIDATOR, r, true, Permill::from_percent(40)));

			assert_eq!(free(WORKER_A), worker_before + 400);
			assert_eq!(free(CREATOR), creator_before + 600);
			let stored = task(task_id);
			assert_eq!((stored.paid, stored.refunded), (400, 600));
			System::assert_last_event(
				Event::ResultAccepted {
					result_id: r,
					task_id,
					round: 1,
					worker: WORKER_A,
					reward: 400,
					refunded: 600,
				}
				.into(),
			);
		});
	}

	#[test]
	fn a_verdict_carries_its_reason_and_the_rejection_uses_it() {
		run(|| {
			let task_id = create(TaskSpec {
				validation: ValidationStrategy::AutoAccept,
				..Default::default()
			});
			assign(task_id, &[WORKER_A, WORKER_B]);
			let r = send(task_id, 1, WORKER_A);
			let approve_with_reason = DecentralMl::validate_task_result(
				RuntimeOrigin::signed(VALIDATOR),
				r,
				true,
				Permill::one(),
				Some(RejectionReason::Outlier),
			);
			assert_noop!(approve_with_reason, Error::<Test>::VerdictReasonMismatch);
			let reject_without = DecentralMl::validate_task_result(
				RuntimeOrigin::signed(VALIDATOR),
				r,
				false,
				Permill::zero(),
				None,
			);
			assert_noop!(reject_without, Error::<Test>::VerdictReasonMismatch);

			assert_ok!(DecentralMl::validate_task_result(
				RuntimeOrigin::signed(VALIDATOR),
				r,
				false,
				Permill::from_parts(120_000),
				Some(RejectionReason::Outlier),
			));

			assert_eq!(result(r).rejection, Some(RejectionReason::Outlier));
			let verdict = Verdicts::<Test>::get(r, VALIDATOR).expect("stored");
			assert_eq!(
				(verdict.score, verdict.reason),
				(Permill::from_parts(120_000), Some(RejectionReason::Outlier))
			);
		});
	}

	#[test]
	fn cancelling_pays_results_a_validator_approved_before_refunding() {
		run(|| {
			let task_id = create(TaskSpec::default()); // ManualAccept: the creator settles
			assign(task_id, &[WORKER_A, WORKER_B]);
			let approved = send(task_id, 1, WORKER_A);
			let unjudged = send(task_id, 1, WORKER_B);
			assert_ok!(validate(VALIDATOR, approved, true));
			let before = free(WORKER_A);

			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), task_id));

			assert_eq!(free(WORKER_A), before + REWARD);
			assert_eq!(result(approved).status, ResultSubmissionStatus::Accepted);
			assert_eq!(result(unjudged).status, ResultSubmissionStatus::PendingValidation);
			assert_eq!(task(task_id).paid, REWARD);
		});
	}

	#[test]
	fn expiry_pays_results_a_validator_approved_before_refunding() {
		run(|| {
			let task_id = create(TaskSpec { expires_at: 5, ..Default::default() });
			assign(task_id, &[WORKER_A]);
			let approved = send(task_id, 1, WORKER_A);
			assert_ok!(validate_scored(VALIDATOR, approved, true, Permill::from_percent(50)));
			let before = free(WORKER_A);

			run_to_block(5);

			assert_eq!(task(task_id).status, TaskStatus::Expired);
			assert_eq!(free(WORKER_A), before + REWARD / 2);
			assert_eq!(task(task_id).escrowed, 0);
		});
	}

	#[test]
	fn the_expiry_hook_weighs_the_results_it_paid() {
		use crate::weights::WeightInfo;
		run(|| {
			let paying = create(TaskSpec { expires_at: 5, ..Default::default() });
			let idle = create(TaskSpec { expires_at: 5, ..Default::default() });
			assign(paying, &[WORKER_A, WORKER_B]);
			for worker in [WORKER_A, WORKER_B] {
				let approved = send(paying, 1, worker);
				assert_ok!(validate_scored(VALIDATOR, approved, true, Permill::from_percent(50)));
			}
			System::set_block_number(5);

			let weight = <DecentralMl as Hooks<u64>>::on_initialize(5);

			assert_eq!(task(paying).status, TaskStatus::Expired);
			assert_eq!(task(idle).status, TaskStatus::Expired);
			let expected = <() as WeightInfo>::on_initialize_expiry(2)
				.saturating_add(<() as WeightInfo>::pay_approved(2))
				.saturating_add(<() as WeightInfo>::pay_approved(0));
			assert_eq!(weight, expected);
			assert!(weight.any_gt(<() as WeightInfo>::on_initialize_expiry(2)));
		});
	}
}

mod migrations {
	use super::*;
	use crate::migrations::v1::{MigrateV0ToV1, OldModelCommit, OldModelOf};
	use frame::deps::codec::Encode;
	use frame::deps::frame_support::{storage::unhashed, traits::OnRuntimeUpgrade};

	fn old_model(round: RoundIndex, status: ModelStatus) -> OldModelOf<Test> {
		OldModelCommit {
			task_id: 0,
			round,
			cid: b"bafy-old".to_vec().try_into().unwrap(),
			hash: [round as u8; 32],
			accepted: vec![1, 2].try_into().unwrap(),
			parent: round.checked_sub(1).map(u64::from),
			committed_by: VALIDATOR,
			committed_at: 5,
			status,
		}
	}

	#[test]
	fn a_chain_at_version_0_has_its_models_rewritten_once() {
		let _ =
			core::marker::PhantomData::<OldModelCommit<AccountId, u64, ConstU32<1>, ConstU32<1>>>;
		run(|| {
			// A chain born of this runtime is at the current version: nothing to do.
			assert_eq!(StorageVersion::get::<DecentralMl>(), STORAGE_VERSION);
			// Prepare: two commits as version 0 stored them, and the chain at version 0.
			for (id, status) in [(0u64, ModelStatus::Approved), (1, ModelStatus::Committed)] {
				let old = old_model(id as RoundIndex + 1, status);
				unhashed::put_raw(&Models::<Test>::hashed_key_for(id), &old.encode());
			}
			assert!(Models::<Test>::get(0).is_none()); // the old layout does not decode as the new
			StorageVersion::new(0).put::<DecentralMl>();

			let weight = MigrateV0ToV1::<Test>::on_runtime_upgrade();

			assert_eq!(StorageVersion::get::<DecentralMl>(), 1);
			for id in [0u64, 1] {
				let model = Models::<Test>::get(id).expect("rewritten in the new layout");
				let old = old_model(id as RoundIndex + 1, model.status);
				assert_eq!(
					(model.round, model.hash, model.parent),
					(old.round, old.hash, old.parent)
				);
				assert_eq!((model.cid, model.accepted), (old.cid, old.accepted));
				assert_eq!((model.published, model.attestations), (None, 1));
			}
			assert_eq!(Models::<Test>::get(0).map(|m| m.status), Some(ModelStatus::Approved));
			let db: frame::deps::frame_support::weights::RuntimeDbWeight =
				<Test as frame_system::Config>::DbWeight::get();
			assert_eq!(weight, db.reads_writes(3, 3)); // two models, and the version
											  // Run again: the version says it is done, so a model changed since stays as it is.
			Models::<Test>::mutate(0, |m| m.as_mut().map(|m| m.attestations = 3));
			MigrateV0ToV1::<Test>::on_runtime_upgrade();
			assert_eq!(Models::<Test>::get(0).map(|m| m.attestations), Some(3));
			assert_eq!(Models::<Test>::iter().count(), 2);
			let _ = Models::<Test>::clear(u32::MAX, None); // the task they name was never created
		});
	}

	#[test]
	fn a_chain_at_version_1_has_its_assignments_rewritten_once() {
		use crate::migrations::v2::{MigrateV1ToV2, OldAssignment};
		run(|| {
			let task_id = create(TaskSpec::default());
			// Prepare: two assignments as version 1 stored them, and the chain at version 1.
			for (slot, worker) in [(0u32, WORKER_A), (1, WORKER_B)] {
				let old = OldAssignment { slot, assigned_at: 3u64 };
				let key = Assignments::<Test>::hashed_key_for(task_id, worker);
				unhashed::put_raw(&key, &old.encode());
			}
			assert!(Assignments::<Test>::get(task_id, WORKER_A).is_none()); // no longer decodes
			StorageVersion::new(1).put::<DecentralMl>();

			let weight = MigrateV1ToV2::<Test>::on_runtime_upgrade();

			assert_eq!(StorageVersion::get::<DecentralMl>(), 2);
			for (slot, worker) in [(0u32, WORKER_A), (1, WORKER_B)] {
				let now = Assignments::<Test>::get(task_id, worker).expect("rewritten");
				assert_eq!((now.slot, now.assigned_at), (slot, 3));
				assert!(now.dataset.is_none());
			}
			let db: frame::deps::frame_support::weights::RuntimeDbWeight =
				<Test as frame_system::Config>::DbWeight::get();
			assert_eq!(weight, db.reads_writes(3, 3)); // two assignments, and the version
											  // The declared card survives a second run: the version says it is done.
			assert_ok!(DecentralMl::declare_dataset(
				RuntimeOrigin::signed(WORKER_A),
				task_id,
				cid_arg("bafy-card"),
				HASH
			));
			MigrateV1ToV2::<Test>::on_runtime_upgrade();
			assert!(Assignments::<Test>::get(task_id, WORKER_A).and_then(|a| a.dataset).is_some());
		});
	}

	#[test]
	fn a_chain_at_version_2_has_its_expiring_slots_counted_once() {
		use crate::migrations::v3::MigrateV2ToV3;
		run(|| {
			let first = create(TaskSpec { max_assignments: 3, ..Default::default() });
			create(TaskSpec { max_assignments: 5, ..Default::default() });
			create(TaskSpec { max_assignments: 2, expires_at: 120, ..Default::default() });
			// Prepare: a version-2 chain kept no counts.
			let _ = ExpiringSlots::<Test>::clear(u32::MAX, None);
			StorageVersion::new(2).put::<DecentralMl>();

			let weight = MigrateV2ToV3::<Test>::on_runtime_upgrade();

			assert_eq!(StorageVersion::get::<DecentralMl>(), 3);
			assert_eq!(ExpiringSlots::<Test>::get(100), 8);
			assert_eq!(ExpiringSlots::<Test>::get(120), 2);
			let db: frame::deps::frame_support::weights::RuntimeDbWeight =
				<Test as frame_system::Config>::DbWeight::get();
			// two blocks and three tasks read; two counts and the version written
			assert_eq!(weight, db.reads_writes(5 + 1, 2 + 1));
			// A second run changes nothing: the version says it is done.
			assert_ok!(DecentralMl::cancel_task(RuntimeOrigin::signed(CREATOR), first));
			MigrateV2ToV3::<Test>::on_runtime_upgrade();
			assert_eq!(ExpiringSlots::<Test>::get(100), 5);
		});
	}
}
