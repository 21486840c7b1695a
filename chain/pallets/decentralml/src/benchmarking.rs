//! Benchmarks for `pallet_decentralml`, each in its worst case.
// Setup arithmetic on constants chosen far from the bounds.
#![allow(clippy::arithmetic_side_effects)]

use super::*;

use alloc::{vec, vec::Vec};
use frame::{
	benchmarking::prelude::*,
	deps::sp_io::hashing::blake2_256,
	traits::fungible::{Inspect, Mutate},
};

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	let plenty = BalanceOf::<T>::max_value() / 4u32.into();
	T::Currency::set_balance(&who, plenty);
	who
}

fn reward<T: Config>() -> BalanceOf<T> {
	T::Currency::minimum_balance().max(1u32.into()).saturating_mul(100u32.into())
}

fn cid<T: Config>() -> Vec<u8> {
	vec![b'b'; T::MaxCidLength::get() as usize]
}

fn expiry<T: Config>() -> BlockNumberFor<T> {
	frame_system::Pallet::<T>::block_number().saturating_add(T::MaxTaskDuration::get())
}

/// A task by `creator` with `validators` validators, the largest budget allowed.
fn new_task<T: Config>(
	creator: &T::AccountId,
	validation: ValidationStrategy,
	validators: Vec<T::AccountId>,
	rounds: RoundIndex,
) -> Result<TaskId, BenchmarkError> {
	new_task_of::<T>(creator, validation, validators, rounds, T::MaxAssignments::get())
}

/// `new_task` with `slots` workers.
fn new_task_of<T: Config>(
	creator: &T::AccountId,
	validation: ValidationStrategy,
	validators: Vec<T::AccountId>,
	rounds: RoundIndex,
	slots: u32,
) -> Result<TaskId, BenchmarkError> {
	let task_id = NextTaskId::<T>::get();
	Pallet::<T>::create_task(
		RawOrigin::Signed(creator.clone()).into(),
		TaskType::ModelContributor,
		rounds,
		slots,
		expiry::<T>(),
		validation,
		validators,
		reward::<T>(),
		cid::<T>(),
		[1u8; 32],
		None,
	)?;
	Ok(task_id)
}

fn assigned_worker<T: Config>(task_id: TaskId, index: u32) -> Result<T::AccountId, BenchmarkError> {
	let worker = funded::<T>("worker", index);
	Pallet::<T>::assign_task(RawOrigin::Signed(worker.clone()).into(), task_id)?;
	Ok(worker)
}

fn sent_result<T: Config>(
	task_id: TaskId,
	worker: &T::AccountId,
) -> Result<ResultId, BenchmarkError> {
	let result_id = NextResultId::<T>::get();
	Pallet::<T>::send_task_result(
		RawOrigin::Signed(worker.clone()).into(),
		task_id,
		1,
		cid::<T>(),
		worker.using_encoded(blake2_256),
	)?;
	Ok(result_id)
}

/// `count` workers assigned to `task_id`, each with a result its `validator` approved and nobody
/// settled: the worst case of every call that pays or removes results. Returns their result ids.
fn approved_results<T: Config>(
	task_id: TaskId,
	validator: &T::AccountId,
	count: u32,
) -> Result<Vec<ResultId>, BenchmarkError> {
	let mut approved = Vec::new();
	for i in 0..count {
		let worker = assigned_worker::<T>(task_id, i)?;
		let result_id = sent_result::<T>(task_id, &worker)?;
		Pallet::<T>::validate_task_result(
			RawOrigin::Signed(validator.clone()).into(),
			result_id,
			true,
			Permill::from_percent(80),
			None,
		)?;
		approved.push(result_id);
	}
	Ok(approved)
}

/// A task with one validator (who may commit), one round.
fn committee_of_one<T: Config>(
	creator: &T::AccountId,
) -> Result<(TaskId, T::AccountId), BenchmarkError> {
	let validator = funded::<T>("validator", 0);
	let task_id =
		new_task::<T>(creator, ValidationStrategy::ManualAccept, vec![validator.clone()], 1)?;
	Ok((task_id, validator))
}

fn validators<T: Config>() -> Vec<T::AccountId> {
	(0..T::MaxValidators::get()).map(|i| funded::<T>("validator", i)).collect()
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn create_task() -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let validators = validators::<T>();
		let threshold = validators.len() as u32;
		let base = NextModelId::<T>::get();
		Models::<T>::insert(
			base,
			ModelCommit {
				task_id: 0,
				round: 1,
				cid: cid::<T>().try_into().unwrap_or_default(),
				hash: [3u8; 32],
				accepted: Default::default(),
				parent: None,
				committed_by: creator.clone(),
				committed_at: Zero::zero(),
				status: ModelStatus::Approved,
				published: None,
				attestations: 1,
			},
		);
		#[extrinsic_call]
		_(
			RawOrigin::Signed(creator),
			TaskType::ModelContributor,
			T::MaxRounds::get(),
			T::MaxAssignments::get(),
			expiry::<T>(),
			ValidationStrategy::CustomAccept { threshold },
			validators,
			reward::<T>(),
			cid::<T>(),
			[1u8; 32],
			Some(base),
		);
		assert!(Tasks::<T>::contains_key(0));
		Ok(())
	}

	#[benchmark]
	fn assign_task() -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let task_id =
			new_task::<T>(&creator, ValidationStrategy::ManualAccept, Default::default(), 1)?;
		for i in 1..T::MaxAssignments::get() {
			assigned_worker::<T>(task_id, i)?;
		}
		let worker = funded::<T>("worker", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(worker.clone()), task_id);
		assert!(Assignments::<T>::contains_key(task_id, worker));
		Ok(())
	}

	#[benchmark]
	fn declare_dataset() -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let task_id =
			new_task::<T>(&creator, ValidationStrategy::ManualAccept, Default::default(), 1)?;
		let worker = assigned_worker::<T>(task_id, 0)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(worker.clone()), task_id, cid::<T>(), [3u8; 32]);
		assert!(Assignments::<T>::get(task_id, worker).is_some_and(|a| a.dataset.is_some()));
		Ok(())
	}

	#[benchmark]
	fn send_task_result() -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let task_id =
			new_task::<T>(&creator, ValidationStrategy::ManualAccept, Default::default(), 1)?;
		let worker = assigned_worker::<T>(task_id, 0)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(worker.clone()), task_id, 1, cid::<T>(), [2u8; 32]);
		assert!(ResultIndex::<T>::contains_key((task_id, 1, worker)));
		Ok(())
	}

	#[benchmark]
	fn validate_task_result() -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let validators = validators::<T>();
		let validator = validators.first().cloned().unwrap_or_else(|| creator.clone());
		let task_id = new_task::<T>(&creator, ValidationStrategy::AutoAccept, validators, 1)?;
		let worker = assigned_worker::<T>(task_id, 0)?;
		let result_id = sent_result::<T>(task_id, &worker)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(validator), result_id, true, Permill::from_percent(90), None);
		assert_eq!(
			Results::<T>::get(result_id).map(|r| r.status),
			Some(ResultSubmissionStatus::Accepted)
		);
		Ok(())
	}

	#[benchmark]
	fn accept_task_result() -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let task_id =
			new_task::<T>(&creator, ValidationStrategy::ManualAccept, Default::default(), 1)?;
		let worker = assigned_worker::<T>(task_id, 0)?;
		let result_id = sent_result::<T>(task_id, &worker)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(creator), result_id);
		assert_eq!(
			Results::<T>::get(result_id).map(|r| r.status),
			Some(ResultSubmissionStatus::Accepted)
		);
		Ok(())
	}

	#[benchmark]
	fn reject_task_result() -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let task_id =
			new_task::<T>(&creator, ValidationStrategy::ManualAccept, Default::default(), 1)?;
		let worker = assigned_worker::<T>(task_id, 0)?;
		let result_id = sent_result::<T>(task_id, &worker)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(creator), result_id, RejectionReason::Outlier);
		assert_eq!(
			Results::<T>::get(result_id).map(|r| r.status),
			Some(ResultSubmissionStatus::Rejected)
		);
		Ok(())
	}

	#[benchmark]
	fn commit_model(n: Linear<0, { T::MaxAssignments::get() }>) -> Result<(), BenchmarkError> {
		// Worst case: every result approved but unsettled, so the commit pays each first.
		let creator = funded::<T>("creator", 0);
		let (task_id, validator) = committee_of_one::<T>(&creator)?;
		let accepted = approved_results::<T>(task_id, &validator, n)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(validator), task_id, 1, cid::<T>(), [4u8; 32], accepted);
		assert_eq!(Tasks::<T>::get(task_id).map(|t| t.status), Some(TaskStatus::Completed));
		Ok(())
	}

	#[benchmark]
	fn cancel_task(n: Linear<0, { T::MaxAssignments::get() }>) -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let validators = validators::<T>();
		let validator = validators.first().cloned().unwrap_or_else(|| creator.clone());
		let task_id = new_task::<T>(&creator, ValidationStrategy::ManualAccept, validators, 1)?;
		approved_results::<T>(task_id, &validator, n)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(creator), task_id);
		assert_eq!(Tasks::<T>::get(task_id).map(|t| t.status), Some(TaskStatus::Withdrawn));
		Ok(())
	}

	/// A page of `n` items, then the task itself. Each worker leaves four items (its assignment,
	/// its result with one verdict, the round's hash of its update) and the round two more (its
	/// counters and the committing attestation); the state is one item short of `n` or less, so
	/// the page ends the task. The declared range reaches the most a page may take, `ReapPage`
	/// plus a last result's `MaxValidators` verdicts.
	#[benchmark]
	fn reap(
		n: Linear<0, { T::ReapPage::get() + T::MaxValidators::get() }>,
	) -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let (task_id, validator) = committee_of_one::<T>(&creator)?;
		let accepted = approved_results::<T>(task_id, &validator, n.saturating_sub(3) / 4)?;
		Pallet::<T>::commit_model(
			RawOrigin::Signed(validator).into(),
			task_id,
			1,
			cid::<T>(),
			[4u8; 32],
			accepted,
		)?;
		let after = expiry::<T>().saturating_add(T::ReapDelay::get());
		frame_system::Pallet::<T>::set_block_number(after);
		let removed;
		#[block]
		{
			removed = Pallet::<T>::reap_page(creator, task_id, n)?;
		}
		assert!(removed <= n);
		assert!(n < 3 || !Tasks::<T>::contains_key(task_id));
		Ok(())
	}

	/// Paying `n` results its validator approved and nobody settled, as the expiry hook does for
	/// each task it ends (its weight adds this per task to `on_initialize_expiry`).
	#[benchmark]
	fn pay_approved(n: Linear<0, { T::MaxAssignments::get() }>) -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let (task_id, validator) = committee_of_one::<T>(&creator)?;
		approved_results::<T>(task_id, &validator, n)?;
		let mut task = Tasks::<T>::get(task_id).ok_or(BenchmarkError::Weightless)?;
		let paid;
		#[block]
		{
			paid = Pallet::<T>::pay_approved(task_id, &mut task)?;
		}
		assert_eq!(paid, n);
		Ok(())
	}

	fn committed_model<T: Config>() -> Result<ModelId, BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let (task_id, validator) = committee_of_one::<T>(&creator)?;
		let model_id = NextModelId::<T>::get();
		Pallet::<T>::commit_model(
			RawOrigin::Signed(validator).into(),
			task_id,
			1,
			cid::<T>(),
			[4u8; 32],
			Default::default(),
		)?;
		Ok(model_id)
	}

	#[benchmark]
	fn approve_model() -> Result<(), BenchmarkError> {
		let model_id = committed_model::<T>()?;
		let origin =
			T::ReleaseOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, model_id);
		assert_eq!(Models::<T>::get(model_id).map(|m| m.status), Some(ModelStatus::Approved));
		Ok(())
	}

	#[benchmark]
	fn revoke_model() -> Result<(), BenchmarkError> {
		let model_id = committed_model::<T>()?;
		let origin =
			T::ReleaseOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, model_id);
		assert_eq!(Models::<T>::get(model_id).map(|m| m.status), Some(ModelStatus::Revoked));
		Ok(())
	}

	/// A committee of `MaxValidators` members with threshold 2 where every member attested a
	/// different model: the round can be disputed at once.
	fn split_round<T: Config>(results: u32) -> Result<(TaskId, Vec<T::AccountId>), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		let members = validators::<T>();
		let threshold = 2u32.min(members.len() as u32).max(1);
		let task_id = new_task::<T>(
			&creator,
			ValidationStrategy::CustomAccept { threshold },
			members.clone(),
			1,
		)?;
		for i in 0..results {
			let worker = assigned_worker::<T>(task_id, i)?;
			sent_result::<T>(task_id, &worker)?;
		}
		for (i, member) in members.iter().enumerate() {
			Pallet::<T>::commit_model(
				RawOrigin::Signed(member.clone()).into(),
				task_id,
				1,
				cid::<T>(),
				[i as u8; 32],
				Default::default(),
			)?;
		}
		Ok((task_id, members))
	}

	#[benchmark]
	fn dispute_round() -> Result<(), BenchmarkError> {
		let (task_id, members) = split_round::<T>(0)?;
		let member = members.first().cloned().ok_or(BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(RawOrigin::Signed(member), task_id, 1);
		assert!(Disputes::<T>::contains_key(task_id, 1));
		Ok(())
	}

	#[benchmark]
	fn resolve_dispute(n: Linear<0, { T::MaxAssignments::get() }>) -> Result<(), BenchmarkError> {
		// Worst case: every result unsettled, each rejected by the chosen attestation.
		let (task_id, members) = split_round::<T>(n)?;
		let member = members.first().cloned().ok_or(BenchmarkError::Weightless)?;
		Pallet::<T>::dispute_round(RawOrigin::Signed(member.clone()).into(), task_id, 1)?;
		let origin =
			T::ReleaseOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, task_id, 1, Some(member));
		assert!(RoundModels::<T>::contains_key(task_id, 1));
		Ok(())
	}

	#[benchmark]
	fn publish_model() -> Result<(), BenchmarkError> {
		let model_id = committed_model::<T>()?;
		let origin =
			T::ReleaseOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		Pallet::<T>::approve_model(origin, model_id)?;
		let validator = funded::<T>("validator", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(validator), model_id, cid::<T>(), [4u8; 32]);
		assert!(Models::<T>::get(model_id).is_some_and(|m| m.published.is_some()));
		Ok(())
	}

	#[benchmark]
	fn on_initialize_expiry(
		n: Linear<0, { T::MaxExpiringPerBlock::get() }>,
	) -> Result<(), BenchmarkError> {
		let creator = funded::<T>("creator", 0);
		// As many slots each as lets `MaxExpiringPerBlock` tasks share one expiry block.
		let slots = (T::MaxExpiringAssignments::get() / T::MaxExpiringPerBlock::get().max(1))
			.clamp(1, T::MaxAssignments::get());
		for _ in 0..n {
			let manual = ValidationStrategy::ManualAccept;
			new_task_of::<T>(&creator, manual, Default::default(), 1, slots)?;
		}
		let at = expiry::<T>();
		#[block]
		{
			Pallet::<T>::on_initialize(at);
		}
		assert!(ExpiryQueue::<T>::get(at).is_empty());
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
