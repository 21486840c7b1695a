"""Handing out a committed model's weights: the release decision, asked of the chain at the time.

Where the task's signed manifest says `release: council`, only a model the council approved is
handed out; a revoked model never is, whatever the manifest says. A task whose manifest cannot be
read gets the strict policy. The bytes come from IPFS, checked against the plaintext hash on chain:
a sealed model is handed out once its plaintext is published (`Publisher`, after the release).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from substrateinterface import Keypair

from coordinator.api.errors import ApiError, ForbiddenError, NotFoundError, UnavailableError
from decentralml.admission import Admission, WithheldError
from decentralml.content import ContentError, ContentRefusedError, ContentStore
from decentralml.crypto import SealError
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl
from decentralml_bindings.types import ModelCommit

if TYPE_CHECKING:
    from coordinator.committee.verify import Verification


def release_check(chain: DecentralMl, admission: Admission | None, model_id: int) -> ModelCommit:
    """The model's commit if it may be handed out now (asked of the chain); else a domain error:
    503 no content store, 404 no such model, 410 revoked, 403 not released."""
    if admission is None:
        raise UnavailableError("NoContentStore", "this coordinator has no content store configured")
    model = chain.model(model_id)
    if model is None:
        raise NotFoundError("ModelNotFound", f"no model {model_id} on chain")
    try:
        admission.may_hand_out(model_id, model)
    except WithheldError as withheld:
        if withheld.code == "Revoked":
            raise ApiError("Revoked", str(withheld), status=410) from withheld
        raise ForbiddenError("NotReleased", str(withheld)) from withheld
    return model


def released_weights(chain: DecentralMl, admission: Admission | None, model_id: int) -> tuple[bytes, str]:
    """(the model's weights, their sha256) if they may be handed out; else a domain error."""
    model = release_check(chain, admission, model_id)
    assert admission is not None  # release_check refuses without one
    return weights_of_checked(admission, model_id, model), model.hash


def weights_of_checked(admission: Admission, model_id: int, model: ModelCommit) -> bytes:
    """The plaintext weights of a model `release_check` already allowed; 409 while its plaintext
    is not published yet, 404 when its bytes are not in the content store."""
    try:
        return model_bytes(admission.store, model, None)
    except SealError as sealed:
        raise ApiError(
            "NotPublished",
            f"model {model_id} is released but its plaintext is not published yet: try again shortly",
            status=409,
        ) from sealed
    except ContentRefusedError as missing:
        raise NotFoundError(
            "ContentNotFound",
            f"model {model_id}'s bytes ({model.cid}) are not in the content store: {missing}",
        ) from missing


def verification(
    chain: DecentralMl, store: ContentStore | None, member: Keypair, model_id: int
) -> Verification:
    """`verify_model` for a committee member's key held here, its refusals as domain errors: 404
    for no such model, 403 for a key outside the task's committee, 409 for a model that cannot be
    recomputed (a stateful rule, a reaped task, content gone), 503 for no content store."""
    from coordinator.committee.verify import VerifyError, verify_model  # torch: only for this route

    if store is None:
        raise UnavailableError("NoContentStore", "this coordinator has no content store configured")
    model = chain.model(model_id)
    if model is None:
        raise NotFoundError("ModelNotFound", f"no model {model_id} on chain")
    task = chain.task(model.task_id)
    if task is not None and member.ss58_address not in task.validators:
        raise ForbiddenError(
            "NotAMember",
            f"{member.ss58_address} is not on task {model.task_id}'s committee: ask one of its members",
        )
    try:
        return verify_model(chain, store, member, model_id)
    except (VerifyError, ContentError) as cannot:
        raise ApiError(
            "CannotVerify", f"model {model_id} cannot be verified: {cannot}", status=409
        ) from cannot
