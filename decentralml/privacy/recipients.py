"""Whose keys a task's sealed bytes are for, checked against the chain before anything is sealed.

The manifest carries each validator's sealing statement (its X25519 key signed by its sr25519
account); the manifest's hash is on chain, but a statement is only trusted when its account is one
of the task's validators *on chain* and its signature verifies. A worker therefore never seals to a
key the task's creator slipped in for an account that does not judge the task.
"""

from __future__ import annotations

from collections.abc import Sequence

from decentralml.crypto import SealError, verify_sealing_key
from decentralml.manifest import PrivacySpec, SealingStatement


def _verified(statement: SealingStatement) -> str:
    return verify_sealing_key(statement.model_dump(), statement.account)


def update_recipients(privacy: PrivacySpec, validators: Sequence[str]) -> list[str]:
    """The sealing keys a worker seals its updates to: every validator's, each verified. SealError
    when a statement names an account that is not a validator on chain, or does not verify, or a
    validator on chain has no statement (it could not judge the updates)."""
    keys: dict[str, str] = {}
    for statement in privacy.seal_to:
        if statement.account not in validators:
            raise SealError(
                f"the manifest seals to {statement.account}, which is not a validator of the task"
            )
        keys[statement.account] = _verified(statement)
    missing = [v for v in validators if v not in keys]
    if missing:
        raise SealError(f"the manifest has no sealing key for validator(s) {', '.join(missing)}")
    return [keys[v] for v in validators]


def model_recipients(privacy: PrivacySpec, validators: Sequence[str], creator: str) -> list[str]:
    """The keys a committed model is sealed to: the validators' and, when given, the creator's."""
    keys = update_recipients(privacy, validators)
    if privacy.creator is not None:
        if privacy.creator.account != creator:
            raise SealError(
                f"the manifest's creator key is signed by {privacy.creator.account}, not {creator}"
            )
        keys.append(_verified(privacy.creator))
    return keys
