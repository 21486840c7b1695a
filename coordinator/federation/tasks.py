"""Publishing a federated task: initial weights and manifest into IPFS, then `create_task`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from substrateinterface import Keypair

from decentralml import bundle, codec
from decentralml.admission import Admission
from decentralml.content import ContentStore
from decentralml.crypto import sealing_statement, verify_sealing_key
from decentralml.manifest import ContentRef, SealingStatement, TaskManifest
from decentralml.models import ModelSpec, build, weights_of
from decentralml_bindings import DecentralMl, calls
from decentralml_bindings.events import TaskCreated
from decentralml_bindings.types import TaskType, ValidationStrategy


@dataclass(frozen=True)
class PublishedTask:
    task_id: int
    manifest: TaskManifest
    manifest_cid: str
    manifest_hash: str


def initial_manifest(
    store: ContentStore, name: str, model: ModelSpec, seed: int = 0, **settings: object
) -> TaskManifest:
    """A manifest whose initial weights (the model built from `seed`) are already in IPFS."""
    stored = store.put(codec.encode(weights_of(build(model, seed))))
    return TaskManifest.model_validate(
        {
            "name": name,
            "model": model,
            "initial_weights": ContentRef(cid=stored.cid, sha256=stored.sha256),
            **settings,
        }
    )


def publish_task(
    chain: DecentralMl,
    store: ContentStore,
    creator: Keypair,
    manifest: TaskManifest,
    *,
    rounds: int,
    workers: int,
    reward_per_result: int,
    validator: str | Sequence[str],
    expires_in: int = 14_400,
    base_model: int | None = None,
    sealing: dict[str, str] | Sequence[dict[str, str]] | None = None,
    threshold: int | None = None,
) -> PublishedTask:
    """Sign the manifest into a bundle, store it, and create the task on chain, with `validator`
    (the coordinator, or a committee of them) judging; with `threshold`, a result is settled and a
    round committed once that many members agree (CustomAccept), else by the first (AutoAccept).

    With `sealing` (each validator's signed sealing key, as `GET /federation` publishes it, checked
    here against the validators, in their order) the task is private: workers seal updates to
    every validator, and each committed model is sealed to the validators and to the creator.

    With `base_model` (a council-released model) the task starts from that model's weights and
    continues its lineage as a new branch.
    """
    validators = [validator] if isinstance(validator, str) else list(validator)
    if sealing is not None:
        statements = [sealing] if isinstance(sealing, dict) else list(sealing)
        if len(statements) != len(validators):
            raise ValueError(f"{len(validators)} validators but {len(statements)} sealing keys")
        for statement, member in zip(statements, validators, strict=True):
            verify_sealing_key(statement, member)
        privacy = manifest.privacy.model_copy(  # keeps the manifest's differential privacy, if any
            update={
                "seal_to": [SealingStatement.model_validate(st) for st in statements],
                "creator": SealingStatement.model_validate(sealing_statement(creator)),
            }
        )
        manifest = manifest.model_copy(update={"privacy": privacy})
    stored = store.put(bundle.sign(manifest, creator))
    call = calls.create_task(
        task_type=TaskType.MODEL_CONTRIBUTOR,
        rounds=rounds,
        max_assignments=workers,
        expires_at=chain.block_number() + expires_in,
        validation=(
            ValidationStrategy.auto_accept()
            if threshold is None
            else ValidationStrategy.custom_accept(threshold)
        ),
        validators=validators,
        reward_per_result=reward_per_result,
        manifest_cid=stored.cid,
        manifest_hash=stored.sha256,
        base_model=base_model,
    )
    task_id = chain.submit(call, creator).one(TaskCreated).task_id
    return PublishedTask(task_id, manifest, stored.cid, stored.sha256)


def load_task(chain: DecentralMl, store: ContentStore, task_id: int) -> TaskManifest:
    """The task's manifest from its signed bundle in IPFS: hash on chain, creator's signature, assets
    (verified afresh; `decentralml.admission.Admission` caches it per task)."""
    return Admission(chain, store).manifest(task_id)


def initial_weights(store: ContentStore, manifest: TaskManifest) -> codec.Weights:
    ref = manifest.initial_weights
    return codec.decode(store.get(ref.cid, ref.sha256))
