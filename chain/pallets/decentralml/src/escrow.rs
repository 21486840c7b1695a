//! Escrow: a task's reward budget is a hold on its creator's balance, paid out on acceptance and
//! released on completion, cancellation or expiry. The task record keeps the running totals so
//! that `deposited == paid + refunded + escrowed` always holds.

use crate::{pallet::BalanceOf, Config, Error, HoldReason, TaskOf};
use frame::{
	prelude::*,
	traits::{
		fungible::MutateHold,
		tokens::{Fortitude, Precision, Restriction},
	},
};

/// Hold `amount` on `creator`'s balance for a new task.
pub(crate) fn hold<T: Config>(creator: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
	T::Currency::hold(&HoldReason::TaskEscrow.into(), creator, amount)
		.map_err(|_| Error::<T>::InsufficientBalance.into())
}

/// Pay `amount` from the task's escrow to `worker`.
pub(crate) fn pay<T: Config>(
	task: &mut TaskOf<T>,
	worker: &T::AccountId,
	amount: BalanceOf<T>,
) -> DispatchResult {
	let escrowed = task.escrowed.checked_sub(&amount).ok_or(Error::<T>::Overflow)?;
	let paid = task.paid.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
	T::Currency::transfer_on_hold(
		&HoldReason::TaskEscrow.into(),
		&task.creator,
		worker,
		amount,
		Precision::Exact,
		Restriction::Free,
		Fortitude::Polite,
	)?;
	task.escrowed = escrowed;
	task.paid = paid;
	Ok(())
}

/// Return `amount` of the task's escrow to its creator (the unearned part of a reward).
pub(crate) fn refund_part<T: Config>(task: &mut TaskOf<T>, amount: BalanceOf<T>) -> DispatchResult {
	if amount.is_zero() {
		return Ok(());
	}
	let escrowed = task.escrowed.checked_sub(&amount).ok_or(Error::<T>::Overflow)?;
	let refunded = task.refunded.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
	T::Currency::release(&HoldReason::TaskEscrow.into(), &task.creator, amount, Precision::Exact)?;
	task.escrowed = escrowed;
	task.refunded = refunded;
	Ok(())
}

/// Hold a task's storage deposit on its creator's balance.
pub(crate) fn hold_deposit<T: Config>(
	creator: &T::AccountId,
	amount: BalanceOf<T>,
) -> DispatchResult {
	if amount.is_zero() {
		return Ok(());
	}
	T::Currency::hold(&HoldReason::TaskStorage.into(), creator, amount)
		.map_err(|_| Error::<T>::InsufficientDeposit.into())
}

/// Return a reaped task's storage deposit to its creator. Returns the amount.
pub(crate) fn release_deposit<T: Config>(
	creator: &T::AccountId,
	amount: BalanceOf<T>,
) -> Result<BalanceOf<T>, DispatchError> {
	if !amount.is_zero() {
		T::Currency::release(&HoldReason::TaskStorage.into(), creator, amount, Precision::Exact)?;
	}
	Ok(amount)
}

/// Return everything still escrowed for the task to its creator. Returns the amount.
pub(crate) fn refund<T: Config>(task: &mut TaskOf<T>) -> Result<BalanceOf<T>, DispatchError> {
	let amount = task.escrowed;
	let refunded = task.refunded.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
	T::Currency::release(&HoldReason::TaskEscrow.into(), &task.creator, amount, Precision::Exact)?;
	task.escrowed = Zero::zero();
	task.refunded = refunded;
	Ok(amount)
}
