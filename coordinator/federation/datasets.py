"""The data a task is judged on: the creator's sealed validation set (and test set), or a demo
source's own splits when the task names one.

For a task with its own data the coordinator never touches bundled data: it fetches the sealed
sets by CID (checked against the sha256 in the signed manifest), opens them with the validator's
sealing key, checks them against the manifest's schema and applies the bundle's preprocessing,
the same transform every worker applies. Without a sealed test set, rounds are reported on the
validation set. Anything that stops this raises `TaskDataError`, whose message the creator sees;
an unreachable content store raises `ContentError` (a reason to try again, not to refuse).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from substrateinterface import Keypair

from decentralml import kinds
from decentralml.content import ContentStore, HashMismatchError
from decentralml.crypto import SealError, open_sealed, sealing_key_hex
from decentralml.data import SealedAsset, Split, demo_splits
from decentralml.kinds.schema import Objective, TabularSchema
from decentralml.manifest import TaskManifest


class TaskDataError(ValueError):
    """The task's validation or test set is missing, sealed to someone else, or does not fit."""


@dataclass(frozen=True)
class JudgingSets:
    """What the referee judges on (`validation`) and reports on (`test`)."""

    validation: Split
    test: Split
    test_name: str  # "test" or "validation": which set the round log's test metrics come from
    objective: Objective
    target_std: float = 1.0  # a regression's target scale: reports in the target's units


def judging_sets(manifest: TaskManifest, store: ContentStore, validator: Keypair) -> JudgingSets:
    """The task's judging sets; raises TaskDataError saying why they cannot be had."""
    data = manifest.data
    try:
        schema = data.schema_of()
    except ValueError as unsupported:
        raise TaskDataError(str(unsupported)) from unsupported
    if data.is_demo:
        splits = demo_splits(data)
        return JudgingSets(splits.validation, splits.test, "test", schema.objective)
    if data.validation is None:  # the manifest refuses this; kept for a manifest built in code
        raise TaskDataError(f"task data {data.dataset!r} names no validation set")
    full = _open(data.validation, "validation", manifest, store, validator)
    validation = sample(full, manifest)
    scale = schema.target_std if isinstance(schema, TabularSchema) else 1.0
    if data.test is None:
        return JudgingSets(validation, full, "validation", schema.objective, scale)
    test = _open(data.test, "test", manifest, store, validator)
    return JudgingSets(validation, test, "test", schema.objective, scale)


def sample(validation: Split, manifest: TaskManifest) -> Split:
    """At most `manifest.validation.max_examples` of `validation`: the same examples every round and
    on every restart (drawn with the task's training seed), in their order."""
    cap = manifest.validation.max_examples
    if cap is None or len(validation) <= cap:
        return validation
    keep = np.sort(np.random.default_rng(manifest.training.seed).choice(len(validation), cap, replace=False))
    return Split(validation.x[keep], validation.y[keep])


def _open(
    asset: SealedAsset, name: str, manifest: TaskManifest, store: ContentStore, validator: Keypair
) -> Split:
    mine = sealing_key_hex(validator)
    copy = asset.for_recipient(mine)
    if copy is None:
        keys = ", ".join(c.recipient for c in [asset, *asset.copies])
        raise TaskDataError(f"the {name} set is sealed to {keys}, not to this validator's sealing key {mine}")
    try:
        sealed = store.get(copy.cid, copy.sha256)
    except HashMismatchError as altered:
        raise TaskDataError(f"the {name} set is not the one the signed bundle names: {altered}") from altered
    try:
        plain = open_sealed(sealed, validator)
    except SealError as broken:
        raise TaskDataError(f"the {name} set cannot be decrypted: {broken}") from broken
    schema = manifest.data.schema_of()
    try:
        raw = kinds.raw_from_bytes(schema, plain, f"the {name} set")
    except (kinds.DataMismatch, ValueError) as unfit:
        raise TaskDataError(f"the {name} set does not fit the task's schema: {unfit}") from unfit
    if len(raw) == 0:
        raise TaskDataError(f"the {name} set is empty")
    return kinds.prepare(schema, raw)
