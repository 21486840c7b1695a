"""Handing out a committed model's weights: the release decision, asked of the chain at the time.

Where the task's signed manifest says `release: council`, only a model the council approved is
handed out; a revoked model never is, whatever the manifest says. A task whose manifest cannot be
read gets the strict policy. The bytes come from IPFS, checked against the hash on chain.
"""

from __future__ import annotations

from coordinator.api.errors import ApiError, ForbiddenError, NotFoundError, UnavailableError
from coordinator.federation.tasks import load_task
from decentralml.content import ContentError, ContentRefusedError, ContentStore, ContentUnreachableError
from decentralml.manifest import ManifestError
from decentralml_bindings import DecentralMl
from decentralml_bindings.types import ModelStatus


def released_weights(chain: DecentralMl, store: ContentStore | None, model_id: int) -> tuple[bytes, str]:
    """(the model's weights, their sha256) if they may be handed out; else a domain error."""
    if store is None:
        raise UnavailableError("NoContentStore", "this coordinator has no content store configured")
    model = chain.model(model_id)
    if model is None:
        raise NotFoundError("ModelNotFound", f"no model {model_id} on chain")
    if model.status == ModelStatus.REVOKED:
        raise ApiError("Revoked", f"model {model_id} was withdrawn by the council: do not use it", status=410)
    try:
        release = load_task(chain, store, model.task_id).release
    except ContentUnreachableError:
        raise
    except (ManifestError, LookupError, ContentError):
        release = "council"  # no usable signed manifest: the strict policy
    if release == "council" and model.status != ModelStatus.APPROVED:
        raise ForbiddenError(
            "NotReleased",
            f"model {model_id} is not released: task {model.task_id} requires a council approval "
            "(approve_model) before its models are handed out",
        )
    try:
        return store.get(model.cid, model.hash), model.hash
    except ContentRefusedError as missing:
        raise NotFoundError(
            "ContentNotFound",
            f"model {model_id}'s bytes ({model.cid}) are not in the content store: {missing}",
        ) from missing
