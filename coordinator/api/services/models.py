"""Handing out a committed model's weights: the release decision, asked of the chain at the time.

Where the task's signed manifest says `release: council`, only a model the council approved is
handed out; a revoked model never is, whatever the manifest says. A task whose manifest cannot be
read gets the strict policy. The bytes come from IPFS, checked against the plaintext hash on chain:
a sealed model is handed out once its plaintext is published (`Publisher`, after the release).
"""

from __future__ import annotations

from coordinator.api.errors import ApiError, ForbiddenError, NotFoundError, UnavailableError
from decentralml.admission import Admission, WithheldError
from decentralml.content import ContentRefusedError
from decentralml.crypto import SealError
from decentralml.privacy.models import model_bytes
from decentralml_bindings import DecentralMl


def released_weights(chain: DecentralMl, admission: Admission | None, model_id: int) -> tuple[bytes, str]:
    """(the model's weights, their sha256) if they may be handed out; else a domain error."""
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
    try:
        return model_bytes(admission.store, model, None), model.hash
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
