"""Committed models and their lineage."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from coordinator.api.deps import IdPath, SessionDep, SignerDep, mirrored
from coordinator.api.errors import ErrorBody
from coordinator.api.routes.federation import refereed_rounds
from coordinator.api.schemas import (
    GeneratedOut,
    GenerateIn,
    Lineage,
    LineageNode,
    ModelOut,
    PredictIn,
    PredictionsOut,
    VerificationOut,
    VerifyModel,
)
from coordinator.api.services import inference
from coordinator.api.services.models import released_weights, verification
from coordinator.db import models
from coordinator.federation.status import committed

router = APIRouter(prefix="/models", tags=["models"])


@router.get("/{model_id}", response_model=ModelOut)
def show_model(model_id: IdPath, session: SessionDep) -> ModelOut:
    """A committed model: CID, hash, the accepted results it was built from, its parent, release status."""
    model = mirrored(session, models.Model, model_id, "model")
    return ModelOut.model_validate(model)


@router.get(
    "/{model_id}/weights",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the weights, hash-checked"},
        403: {
            "model": ErrorBody,
            "description": "not released by the council, and the task requires release",
        },
        409: {
            "model": ErrorBody,
            "description": "released, but its sealed plaintext is not published yet (it will be shortly)",
        },
        410: {"model": ErrorBody, "description": "revoked by the council"},
        502: {"model": ErrorBody, "description": "IPFS holds other bytes than the hash on chain"},
        503: {"model": ErrorBody, "description": "no content store configured, or IPFS unreachable"},
    },
)
def weights(model_id: IdPath, session: SessionDep, request: Request) -> Response:
    """A committed model's weights (codec bytes) from IPFS, checked against the plaintext hash on chain.

    A sealed model is served from its published plaintext once the council released it.

    Where the task's manifest says `release: council`, only a model the council approved is handed
    out; a revoked model never is. The chain is asked at the time of the request, not the mirror.
    """
    mirrored(session, models.Model, model_id, "model")
    data, sha256 = released_weights(request.app.state.chain, request.app.state.admission, model_id)
    return Response(data, media_type="application/octet-stream", headers={"X-DML-Sha256": sha256})


RELEASE_RULE: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorBody, "description": "not released by the council, and the task requires release"},
    409: {
        "model": ErrorBody,
        "description": "released, but its plaintext is not published yet (it will be shortly), or its "
        "task's bundle or weights cannot be used",
    },
    410: {"model": ErrorBody, "description": "revoked by the council"},
    502: {"model": ErrorBody, "description": "IPFS holds other bytes than the hash on chain"},
    503: {"model": ErrorBody, "description": "no content store configured, or IPFS unreachable"},
}


@router.post(
    "/{model_id}/predict",
    response_model=PredictionsOut,
    responses={
        400: {
            "model": ErrorBody,
            "description": "inputs that do not fit the task: `BadInputs` (a missing column, an unknown "
            "category, an undecodable image...) or `WrongKind` (rows for an image model, a language model)",
        },
        **RELEASE_RULE,
    },
)
def predict(model_id: IdPath, body: PredictIn, request: Request) -> PredictionsOut:
    """A released model's predictions on your rows (tabular) or images, through the task's own
    preprocessing: class names with their probabilities, or numbers in a regression target's units.
    Refused like the weights route for a model that is not released or was revoked."""
    return inference.predict(request.app.state.chain, request.app.state.admission, model_id, body)


@router.post(
    "/{model_id}/generate",
    response_model=GeneratedOut,
    responses={
        400: {"model": ErrorBody, "description": "`WrongKind`: not a language model"},
        **RELEASE_RULE,
    },
)
def generate(model_id: IdPath, body: GenerateIn, request: Request) -> GeneratedOut:
    """Text sampled from a released language model, continuing `prompt` (top-k sampling at
    `temperature`, seeded: the same request gives the same text). Refused like the weights route
    for a model that is not released or was revoked."""
    return inference.generate(request.app.state.chain, request.app.state.admission, model_id, body)


@router.post(
    "/{model_id}/verify",
    response_model=VerificationOut,
    responses={
        401: {"model": ErrorBody, "description": "no valid token"},
        403: {
            "model": ErrorBody,
            "description": "the member is not bound to the token, not in the keystore, or not on the "
            "task's committee",
        },
        404: {"model": ErrorBody, "description": "no such model on chain"},
        409: {
            "model": ErrorBody,
            "description": "the model cannot be recomputed: a rule that keeps state between rounds, "
            "a reaped task, or content gone from IPFS",
        },
        429: {"model": ErrorBody, "description": "the member's rate limit"},
        502: {"model": ErrorBody, "description": "IPFS holds other bytes than the hashes on chain"},
        503: {"model": ErrorBody, "description": "no content store configured, or IPFS unreachable"},
    },
)
def verify(model_id: IdPath, body: VerifyModel, signer: SignerDep, request: Request) -> VerificationOut:
    """Recompute a committed model with a committee member's key held by this coordinator (the
    accepted updates from IPFS, the previous model, the task's rule) and compare the hashes with
    the chain's; 200 with `match: false` is a mismatch found, not a refusal. Needs a token bound to
    the member, as signing does. The same check as `dml model verify`, which needs no coordinator."""
    key = signer.key_for(body.member, "verify", "run `dml model verify` with the member's own key")
    found = verification(request.app.state.chain, request.app.state.store, key, model_id)
    return VerificationOut(
        **asdict(found),
        stored_match=found.stored_match,
        recomputed_match=found.recomputed_match,
        match=found.match,
    )


@router.get("/{model_id}/lineage", response_model=Lineage)
def lineage(model_id: IdPath, session: SessionDep, request: Request) -> Lineage:
    """The whole tree the model belongs to: its ancestors up to the root, and every descendant of
    the root, across tasks (a task started from another task's released model is a branch)."""
    model = mirrored(session, models.Model, model_id, "model")
    root = model
    while root.parent is not None and (parent := session.get(models.Model, root.parent)) is not None:
        root = parent
    children: dict[int | None, list[models.Model]] = {}
    for row in session.scalars(select(models.Model).order_by(models.Model.id)):
        children.setdefault(row.parent, []).append(row)
    accuracies: dict[int, dict[int, float]] = {}  # task -> round -> accuracy, each log read once

    def accuracy(task_id: int, round_: int) -> float | None:
        if task_id not in accuracies:
            logged = refereed_rounds(request, task_id)
            accuracies[task_id] = {
                int(r["round"]): float(r["test_accuracy"]) for r in committed(logged) if "test_accuracy" in r
            }
        return accuracies[task_id].get(round_)

    nodes: list[LineageNode] = []
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        nodes.append(
            LineageNode(
                id=node.id,
                parent=node.parent,
                iteration=depth,
                task_id=node.task_id,
                round=node.round,
                hash=node.hash,
                cid=node.cid,
                status=node.status,
                committed_at=node.committed_at,
                accuracy=accuracy(node.task_id, node.round),
            )
        )
        stack += [(child, depth + 1) for child in reversed(children.get(node.id, []))]
    return Lineage(root=root.id, model=model_id, nodes=nodes)
