//! The pallet's internal helpers: lookups that enforce preconditions, settlement and expiry.

use crate::{escrow, pallet::*, types::*, weights::WeightInfo, Config, Error, Event, Pallet};
use alloc::vec::Vec;
use frame::{
	prelude::*,
	traits::{
		fungible::Inspect,
		tokens::{DepositConsequence, Provenance},
	},
};

impl<T: Config> Pallet<T> {
	/// A CID as stored, refusing an over-long one by name.
	pub(crate) fn cid(bytes: Vec<u8>) -> Result<CidOf<T>, DispatchError> {
		bytes.try_into().map_err(|_| Error::<T>::CidTooLong.into())
	}

	/// Take an ended task, and its worker slots, out of the expiry queue of its expiry block, so
	/// that ended tasks never fill the queue for others.
	pub(crate) fn leave_expiry_queue(task_id: TaskId, task: &TaskOf<T>) {
		let mut left = false;
		ExpiryQueue::<T>::mutate_exists(task.expires_at, |due| {
			if let Some(queue) = due {
				let before = queue.len();
				queue.retain(|id| *id != task_id);
				left = queue.len() < before;
				if queue.is_empty() {
					*due = None;
				}
			}
		});
		if left {
			ExpiringSlots::<T>::mutate_exists(task.expires_at, |slots| {
				let rest = slots.unwrap_or(0).saturating_sub(task.max_assignments);
				*slots = (rest > 0).then_some(rest);
			});
		}
	}

	/// The expiry hook's heaviest block: `MaxExpiringPerBlock` tasks expire, and every one of
	/// their `MaxExpiringAssignments` slots holds an approved result to pay.
	pub fn expiry_worst_case() -> Weight {
		let tasks = T::MaxExpiringPerBlock::get();
		let per_task = T::WeightInfo::pay_approved(0);
		let per_result = T::WeightInfo::pay_approved(1).saturating_sub(per_task);
		T::WeightInfo::on_initialize_expiry(tasks)
			.saturating_add(T::DbWeight::get().writes(1))
			.saturating_add(per_task.saturating_mul(u64::from(tasks)))
			.saturating_add(per_result.saturating_mul(u64::from(T::MaxExpiringAssignments::get())))
	}

	/// The share of the reward per result an accepted result earns: the mean score of its
	/// approving verdicts (the whole reward when nobody scored it).
	pub(crate) fn payout_share(result_id: ResultId) -> Permill {
		let mut total: u64 = 0;
		let mut count: u64 = 0;
		for (_, verdict) in Verdicts::<T>::iter_prefix(result_id) {
			if verdict.approved {
				total = total.saturating_add(u64::from(verdict.score.deconstruct()));
				count = count.saturating_add(1);
			}
		}
		if count == 0 {
			return Permill::one();
		}
		let mean = total.checked_div(count).unwrap_or(1_000_000);
		Permill::from_parts(u32::try_from(mean).unwrap_or(1_000_000))
	}

	/// Approvals a result needs, and attestations a round needs: the CustomAccept threshold,
	/// else one.
	pub(crate) fn required_approvals(task: &TaskOf<T>) -> u32 {
		match task.validation {
			ValidationStrategy::CustomAccept { threshold } => threshold,
			_ => 1,
		}
	}

	/// How many attestations of the round agree with `attestation` (itself included, if stored):
	/// the same plaintext hash and the same accepted results.
	pub(crate) fn agreeing(
		task_id: TaskId,
		round: RoundIndex,
		attestation: &AttestationOf<T>,
	) -> u32 {
		let mut count: u32 = 0;
		for (_, other) in Attestations::<T>::iter_prefix((task_id, round)) {
			if other.hash == attestation.hash && other.accepted == attestation.accepted {
				count = count.saturating_add(1);
			}
		}
		count
	}

	/// Every listed result is accepted, and the list names every result accepted in the round.
	pub(crate) fn ensure_accepted_list(
		task_id: TaskId,
		round: RoundIndex,
		accepted: &AcceptedOf<T>,
	) -> DispatchResult {
		for result_id in accepted.iter() {
			let result = Results::<T>::get(result_id).ok_or(Error::<T>::ResultNotFound)?;
			ensure!(
				result.status == ResultSubmissionStatus::Accepted,
				Error::<T>::ResultNotAccepted
			);
		}
		let listed = u32::try_from(accepted.len()).map_err(|_| Error::<T>::Overflow)?;
		ensure!(
			listed == Rounds::<T>::get(task_id, round).accepted,
			Error::<T>::IncompleteAcceptedList
		);
		Ok(())
	}

	/// Commit the round's model as `attestation` names it, flag the round's attestations that
	/// disagree, and complete the task after its last round. The caller stores the task.
	pub(crate) fn commit(
		task_id: TaskId,
		round: RoundIndex,
		task: &mut TaskOf<T>,
		attestation: AttestationOf<T>,
		committed_by: T::AccountId,
		attestations: u32,
	) -> Result<ModelId, DispatchError> {
		let parent = match round.checked_sub(1) {
			Some(previous) if previous >= 1 => RoundModels::<T>::get(task_id, previous),
			_ => task.base_model,
		};
		let model_id = NextModelId::<T>::get();
		let next_model_id = model_id.checked_add(1).ok_or(Error::<T>::Overflow)?;
		NextModelId::<T>::put(next_model_id);
		RoundModels::<T>::insert(task_id, round, model_id);
		let Attestation { hash, cid, accepted, .. } = attestation;
		Models::<T>::insert(
			model_id,
			ModelCommit {
				task_id,
				round,
				cid: cid.clone(),
				hash,
				accepted: accepted.clone(),
				parent,
				committed_by: committed_by.clone(),
				committed_at: frame_system::Pallet::<T>::block_number(),
				status: ModelStatus::Committed,
				published: None,
				attestations,
			},
		);
		task.committed_rounds = round;
		Self::deposit_event(Event::ModelCommitted {
			model_id,
			task_id,
			round,
			cid,
			hash,
			parent,
			accepted: accepted.clone(),
			committed_by,
			attestations,
		});
		for (validator, other) in Attestations::<T>::iter_prefix((task_id, round)) {
			if other.hash != hash || other.accepted != accepted {
				Self::deposit_event(Event::AttestationDisagreed {
					task_id,
					round,
					validator,
					model_id,
				});
			}
		}
		if round == task.rounds {
			let refunded = escrow::refund::<T>(task)?;
			task.status = TaskStatus::Completed;
			Self::leave_expiry_queue(task_id, task);
			Self::deposit_event(Event::TaskCompleted {
				task_id,
				creator: task.creator.clone(),
				refunded,
			});
		}
		Ok(model_id)
	}

	/// Record a member's attestation of a round already committed, flagged if it disagrees.
	pub(crate) fn attest_committed(
		task_id: TaskId,
		round: RoundIndex,
		model_id: ModelId,
		validator: T::AccountId,
		attestation: AttestationOf<T>,
	) -> DispatchResult {
		let model = Models::<T>::get(model_id).ok_or(Error::<T>::ModelNotFound)?;
		let agrees = model.hash == attestation.hash && model.accepted == attestation.accepted;
		Attestations::<T>::insert((task_id, round, &validator), &attestation);
		Self::deposit_event(Event::RoundAttested {
			task_id,
			round,
			validator: validator.clone(),
			hash: attestation.hash,
			cid: attestation.cid,
			accepted: attestation.accepted,
		});
		if !agrees {
			Self::deposit_event(Event::AttestationDisagreed {
				task_id,
				round,
				validator,
				model_id,
			});
		}
		Ok(())
	}

	/// Settle a disputed round as `attestation` says: its unsettled listed results accepted and
	/// paid, every other unsettled result rejected. The caller stores the task.
	pub(crate) fn apply_attestation(
		task_id: TaskId,
		round: RoundIndex,
		task: &mut TaskOf<T>,
		attestation: &AttestationOf<T>,
	) -> DispatchResult {
		for result_id in attestation.accepted.iter() {
			let result = Results::<T>::get(result_id).ok_or(Error::<T>::ResultNotFound)?;
			ensure!(
				result.status != ResultSubmissionStatus::Rejected,
				Error::<T>::DisputeCannotApply
			);
		}
		for (_, result_id) in ResultIndex::<T>::iter_prefix((task_id, round)) {
			let Some(mut result) = Results::<T>::get(result_id) else { continue };
			if result.status.is_settled() {
				continue;
			}
			if attestation.accepted.contains(&result_id) {
				Self::settle_accept(result_id, task, &mut result)?;
			} else {
				Self::settle_reject(result_id, &mut result, RejectionReason::FailedValidation)?;
			}
			Results::<T>::insert(result_id, result);
		}
		Ok(())
	}

	/// Pay every result of the task's open round that its validators approved (to the task's
	/// threshold) but nobody settled: before a commit, a cancellation or an expiry refunds the
	/// escrow. The caller stores the task. Returns how many results it paid.
	pub(crate) fn pay_approved(
		task_id: TaskId,
		task: &mut TaskOf<T>,
	) -> Result<u32, DispatchError> {
		let round = Self::open_round(task)?;
		if round > task.rounds {
			return Ok(0);
		}
		let mut paid = 0u32;
		for (_, result_id) in ResultIndex::<T>::iter_prefix((task_id, round)) {
			let Some(mut result) = Results::<T>::get(result_id) else { continue };
			if result.status.is_settled() || result.approvals < Self::required_approvals(task) {
				continue;
			}
			Self::settle_accept(result_id, task, &mut result)?;
			Results::<T>::insert(result_id, result);
			paid = paid.saturating_add(1);
		}
		Ok(paid)
	}

	/// One call of `reap` with a page of `budget` items: refuses a task that is open or inside its
	/// grace period, removes up to `budget` items of its state and, once nothing else is left,
	/// the task itself, returning its storage deposit to the creator. Returns the items removed.
	pub(crate) fn reap_page(
		who: T::AccountId,
		task_id: TaskId,
		budget: u32,
	) -> Result<u32, DispatchError> {
		let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
		ensure!(!task.status.is_open(), Error::<T>::TaskStillOpen);
		let now = frame_system::Pallet::<T>::block_number();
		ensure!(
			now >= task.expires_at.saturating_add(T::ReapDelay::get()),
			Error::<T>::TooEarlyToReap
		);
		let (done, removed) = Self::remove_task_state(task_id, &task, budget);
		if !done {
			let next_round = ReapProgress::<T>::get(task_id).max(1);
			Self::deposit_event(Event::TaskPartlyReaped { task_id, by: who, next_round });
			return Ok(removed);
		}
		let deposit = escrow::release_deposit::<T>(&task.creator, T::TaskDeposit::get())?;
		ReapProgress::<T>::remove(task_id);
		Tasks::<T>::remove(task_id);
		Self::deposit_event(Event::TaskReaped { task_id, by: who, creator: task.creator, deposit });
		Ok(removed)
	}

	/// Remove up to `budget` storage items of an ended task's state, from the first round not yet
	/// cleared (`ReapProgress`) on: its results with their verdicts (a result and every verdict
	/// on it go together, so a page may exceed the budget by `MaxValidators`), hashes and
	/// attestations, then its disputes, assignments and round counters. Committed models stay.
	/// Returns (true once nothing is left but the task itself, the items removed).
	pub(crate) fn remove_task_state(task_id: TaskId, task: &TaskOf<T>, budget: u32) -> (bool, u32) {
		let mut page = Page { left: budget, removed: 0 };
		let done = Self::remove_page(task_id, task, &mut page);
		(done, page.removed)
	}

	fn remove_page(task_id: TaskId, task: &TaskOf<T>, page: &mut Page) -> bool {
		let mut round = ReapProgress::<T>::get(task_id).max(1);
		while round <= task.rounds {
			let mut results = ResultIndex::<T>::drain_prefix((task_id, round));
			loop {
				if page.left == 0 {
					return false;
				}
				let Some((_, result_id)) = results.next() else { break };
				Results::<T>::remove(result_id);
				let verdicts = Verdicts::<T>::drain_prefix(result_id).count();
				page.take(u32::try_from(verdicts).unwrap_or(u32::MAX).saturating_add(1));
			}
			if !page.drain(RoundHashes::<T>::drain_prefix((task_id, round)))
				|| !page.drain(Attestations::<T>::drain_prefix((task_id, round)))
				|| page.left == 0
			{
				return false;
			}
			// The round's counters and dispute: one item of the budget.
			Rounds::<T>::remove(task_id, round);
			Disputes::<T>::remove(task_id, round);
			page.take(1);
			round = round.saturating_add(1);
			ReapProgress::<T>::insert(task_id, round);
		}
		page.drain(Assignments::<T>::drain_prefix(task_id))
	}

	/// The full reward budget of a task, refusing overflow.
	pub(crate) fn budget(
		reward_per_result: BalanceOf<T>,
		max_assignments: u32,
		rounds: RoundIndex,
	) -> Result<BalanceOf<T>, DispatchError> {
		let results = max_assignments.checked_mul(rounds).ok_or(Error::<T>::BudgetOverflow)?;
		reward_per_result
			.checked_mul(&BalanceOf::<T>::from(results))
			.ok_or_else(|| Error::<T>::BudgetOverflow.into())
	}

	/// Refuses a validator list that names an account twice.
	pub(crate) fn ensure_distinct(validators: &ValidatorsOf<T>) -> DispatchResult {
		for (i, validator) in validators.iter().enumerate() {
			let later = validators.iter().skip(i.saturating_add(1));
			ensure!(!later.into_iter().any(|v| v == validator), Error::<T>::DuplicateValidator);
		}
		Ok(())
	}

	/// A task that exists, is open and has not reached its expiry block.
	pub(crate) fn active_task(task_id: TaskId) -> Result<TaskOf<T>, DispatchError> {
		let task = Tasks::<T>::get(task_id).ok_or(Error::<T>::TaskNotFound)?;
		ensure!(task.status.is_open(), Error::<T>::TaskNotOpen);
		ensure!(
			frame_system::Pallet::<T>::block_number() < task.expires_at,
			Error::<T>::TaskExpired
		);
		Ok(task)
	}

	/// The round that accepts results and commits: the one after the last committed.
	pub(crate) fn open_round(task: &TaskOf<T>) -> Result<RoundIndex, DispatchError> {
		task.committed_rounds.checked_add(1).ok_or_else(|| Error::<T>::Overflow.into())
	}

	/// A result that may still be settled, with its active task.
	pub(crate) fn unsettled_result(
		result_id: ResultId,
	) -> Result<(TaskOf<T>, ResultOf<T>), DispatchError> {
		let result = Results::<T>::get(result_id).ok_or(Error::<T>::ResultNotFound)?;
		let task = Self::active_task(result.task_id)?;
		ensure!(!result.status.is_settled(), Error::<T>::ResultAlreadySettled);
		ensure!(result.round == Self::open_round(&task)?, Error::<T>::RoundClosed);
		Ok((task, result))
	}

	/// Whether `who` may record verdicts on the task's results.
	pub(crate) fn may_validate(task: &TaskOf<T>, who: &T::AccountId) -> bool {
		let custom = matches!(task.validation, ValidationStrategy::CustomAccept { .. });
		task.validators.contains(who) || (!custom && *who == task.creator)
	}

	/// Only the creator settles by hand, and never under CustomAccept.
	pub(crate) fn ensure_creator_settles(task: &TaskOf<T>, who: &T::AccountId) -> DispatchResult {
		ensure!(*who == task.creator, Error::<T>::NotCreator);
		ensure!(
			!matches!(task.validation, ValidationStrategy::CustomAccept { .. }),
			Error::<T>::SettledByValidators
		);
		Ok(())
	}

	/// What the verdicts so far decide under the task's strategy: accept, reject, or not yet.
	pub(crate) fn decision(task: &TaskOf<T>, result: &ResultOf<T>) -> Option<bool> {
		match task.validation {
			ValidationStrategy::AutoAccept => Some(result.approvals > 0),
			ValidationStrategy::ManualAccept => None,
			ValidationStrategy::CustomAccept { threshold } => {
				let listed = u32::try_from(task.validators.len()).unwrap_or(u32::MAX);
				if result.approvals >= threshold {
					Some(true)
				} else if result.disapprovals > listed.saturating_sub(threshold) {
					Some(false)
				} else {
					None
				}
			}
		}
	}

	/// Accept a result: pay its worker its share of the reward (`payout_share`), return the rest
	/// of that reward to the creator, and count it in its round. The caller stores both.
	pub(crate) fn settle_accept(
		result_id: ResultId,
		task: &mut TaskOf<T>,
		result: &mut ResultOf<T>,
	) -> DispatchResult {
		let mut counters = Rounds::<T>::get(result.task_id, result.round);
		counters.accepted = counters.accepted.checked_add(1).ok_or(Error::<T>::Overflow)?;
		let mut reward = Self::payout_share(result_id).mul_floor(task.reward_per_result);
		// A share below the existential deposit cannot be paid into an emptied account: it goes
		// back to the creator rather than block the settlement of everything else.
		if !reward.is_zero()
			&& T::Currency::can_deposit(&result.worker, reward, Provenance::Extant)
				!= DepositConsequence::Success
		{
			Self::deposit_event(Event::RewardToCreator {
				result_id,
				worker: result.worker.clone(),
				amount: reward,
			});
			reward = Zero::zero();
		}
		let refunded = task.reward_per_result.saturating_sub(reward);
		if !reward.is_zero() {
			escrow::pay::<T>(task, &result.worker, reward)?;
		}
		escrow::refund_part::<T>(task, refunded)?;
		result.status = ResultSubmissionStatus::Accepted;
		Rounds::<T>::insert(result.task_id, result.round, counters);
		Self::deposit_event(Event::ResultAccepted {
			result_id,
			task_id: result.task_id,
			round: result.round,
			worker: result.worker.clone(),
			reward,
			refunded,
		});
		Ok(())
	}

	/// Reject a result and count it in its round. The caller stores the result.
	pub(crate) fn settle_reject(
		result_id: ResultId,
		result: &mut ResultOf<T>,
		reason: RejectionReason,
	) -> DispatchResult {
		let mut counters = Rounds::<T>::get(result.task_id, result.round);
		counters.rejected = counters.rejected.checked_add(1).ok_or(Error::<T>::Overflow)?;
		result.status = ResultSubmissionStatus::Rejected;
		result.rejection = Some(reason);
		Rounds::<T>::insert(result.task_id, result.round, counters);
		Self::deposit_event(Event::ResultRejected {
			result_id,
			task_id: result.task_id,
			round: result.round,
			worker: result.worker.clone(),
			reason,
		});
		Ok(())
	}

	/// End a task that reached its expiry block: pay its approved results, then refund the
	/// escrow. A task that already ended is left alone. Returns how many results it paid (for the
	/// hook's weight; the most a round may hold if paying failed part way).
	pub(crate) fn expire(task_id: TaskId) -> u32 {
		let Some(mut task) = Tasks::<T>::get(task_id) else { return 0 };
		if !task.status.is_open() {
			return 0;
		}
		let paid = Self::pay_approved(task_id, &mut task).unwrap_or_else(|error| {
			defensive!("approved results of an expiring task could not be paid", error);
			T::MaxAssignments::get()
		});
		match escrow::refund::<T>(&mut task) {
			Ok(refunded) => {
				task.status = TaskStatus::Expired;
				let creator = task.creator.clone();
				Tasks::<T>::insert(task_id, task);
				Self::deposit_event(Event::TaskExpired { task_id, creator, refunded });
			}
			Err(error) => {
				defensive!("escrow of an expiring task could not be released", error);
			}
		}
		paid
	}

	/// Invariants: every task's escrow adds up, and the pallet's escrow bookkeeping equals what
	/// the currency holds for it.
	#[cfg(any(test, feature = "try-runtime"))]
	pub fn do_try_state() -> Result<(), frame::deps::sp_runtime::TryRuntimeError> {
		use frame::traits::fungible::InspectHold;
		let mut per_creator: alloc::collections::BTreeMap<T::AccountId, BalanceOf<T>> =
			Default::default();
		for (task_id, task) in Tasks::<T>::iter() {
			let accounted = task
				.paid
				.checked_add(&task.refunded)
				.and_then(|sum| sum.checked_add(&task.escrowed))
				.ok_or("escrow totals overflow")?;
			ensure!(accounted == task.deposited, "deposited != paid + refunded + escrowed");
			ensure!(
				task.status.is_open() || task.escrowed.is_zero(),
				"a closed task still holds escrow"
			);
			ensure!(task.assigned <= task.max_assignments, "more workers than slots");
			ensure!(task.committed_rounds <= task.rounds, "more rounds committed than planned");
			ensure!(task_id < NextTaskId::<T>::get(), "task id beyond the counter");
			let entry = per_creator.entry(task.creator.clone()).or_default();
			*entry = entry.checked_add(&task.escrowed).ok_or("escrow sum overflow")?;
		}
		let mut deposits: alloc::collections::BTreeMap<T::AccountId, BalanceOf<T>> =
			Default::default();
		for (_, task) in Tasks::<T>::iter() {
			let entry = deposits.entry(task.creator.clone()).or_default();
			*entry = entry.checked_add(&T::TaskDeposit::get()).ok_or("deposit sum overflow")?;
		}
		for (creator, escrowed) in per_creator {
			let held = T::Currency::balance_on_hold(&HoldReason::TaskEscrow.into(), &creator);
			ensure!(held == escrowed, "held balance differs from the tasks' escrow");
		}
		for (creator, deposit) in deposits {
			let held = T::Currency::balance_on_hold(&HoldReason::TaskStorage.into(), &creator);
			ensure!(held == deposit, "held storage deposit differs from the creator's tasks");
		}
		for (at, due) in ExpiryQueue::<T>::iter() {
			let mut slots: u32 = 0;
			for task_id in due {
				let task = Tasks::<T>::get(task_id).filter(|t| t.status.is_open());
				let task = task.ok_or("an ended task is still in the expiry queue")?;
				slots = slots.checked_add(task.max_assignments).ok_or("slot sum overflow")?;
			}
			ensure!(slots == ExpiringSlots::<T>::get(at), "expiring slots differ from the queue");
			ensure!(slots <= T::MaxExpiringAssignments::get(), "too many slots expire at a block");
		}
		for (at, _) in ExpiringSlots::<T>::iter() {
			ensure!(ExpiryQueue::<T>::contains_key(at), "slots counted for an empty expiry block");
		}
		Ok(())
	}
}

/// What one `reap` call may still remove, and what it removed (a result's verdicts go with it, so
/// `removed` may exceed the budget by `MaxValidators`).
pub(crate) struct Page {
	left: u32,
	removed: u32,
}

impl Page {
	fn take(&mut self, items: u32) {
		self.left = self.left.saturating_sub(items);
		self.removed = self.removed.saturating_add(items);
	}

	/// Take items from `items` (a draining iterator: each one taken is removed) while the budget
	/// allows, one per item; true when `items` ran out.
	fn drain<I: Iterator>(&mut self, mut items: I) -> bool {
		loop {
			if self.left == 0 {
				return false;
			}
			if items.next().is_none() {
				return true;
			}
			self.take(1);
		}
	}
}
