"""The coordinator's federated side: where workers join, and each task's round log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from coordinator.api.deps import IdPath
from coordinator.api.errors import ApiError, ErrorBody, ForbiddenError, NotFoundError, UnavailableError
from coordinator.api.schemas import NodeBindingIn, NodeBindingOut, RunOut
from coordinator.federation.nodes import NodeRegistry, NotAssignedError
from coordinator.federation.status import RunStatus, read_rounds, read_status
from decentralml.identity import Binding, BindingError
from decentralml_bindings.types import TaskStatus

router = APIRouter(tags=["federation"])


@router.get("/federation")
def federation(request: Request) -> dict[str, Any]:
    """The validator account tasks must list, the SuperLink address workers join, the validator's
    sealing key (signed by its account) that creators seal validation sets to, the SuperLink's TLS
    CA certificate and fingerprint (a task's signed manifest carries it to workers) and whether
    it admits only bound node keys; nulls when this coordinator runs no federated rounds."""
    found: dict[str, Any] = getattr(
        request.app.state,
        "federation",
        {"validator": None, "superlink": None, "sealing": None, "tls": None, "node_auth": False},
    )
    return {k: v for k, v in found.items() if k != "directory"}


@router.post(
    "/federation/nodes",
    status_code=201,
    responses={
        400: {"model": ErrorBody, "description": "the binding is malformed or not signed by its account"},
        403: {
            "model": ErrorBody,
            "description": "the account is assigned to no open task this coordinator judges",
        },
        409: {"model": ErrorBody, "description": "this coordinator's SuperLink does not authenticate nodes"},
        503: {"model": ErrorBody, "description": "the SuperLink refused or could not be reached"},
    },
)
def bind_node(body: NodeBindingIn, request: Request) -> NodeBindingOut:
    """Bind a worker's Flower node key to its chain account: the statement (see
    `decentralml.identity`) signed by the account's sr25519 key. The SuperLink then admits that
    node, and the ServerApp attributes its replies to the account. Binding again is idempotent."""
    registry: NodeRegistry | None = getattr(request.app.state, "nodes", None)
    if registry is None:
        raise ApiError("NoNodeAuth", "this coordinator's SuperLink does not authenticate nodes", status=409)
    binding = Binding(body.account, body.superlink, body.public_key, body.signature)
    try:
        node = registry.bind(binding)
    except BindingError as bad:
        raise ApiError("BadBinding", str(bad), status=400) from bad
    except NotAssignedError as outsider:
        raise ForbiddenError("NotAssigned", str(outsider)) from outsider
    except RuntimeError as refused:
        raise UnavailableError("SuperLinkRefused", str(refused)) from refused
    return NodeBindingOut(node_id=str(node.node_id), account=node.account)


def _directory(request: Request) -> Path | None:
    directory = getattr(request.app.state, "federation", {}).get("directory")
    return Path(directory) if directory else None


def refereed_rounds(request: Request, task_id: int) -> list[dict[str, Any]]:
    """The round log of `task_id`, committed and failed rounds (none if it runs no federated rounds)."""
    directory = _directory(request)
    return read_rounds(directory, task_id) if directory else []


def run_of(request: Request, task_id: int, chain_status: str | None = None) -> RunOut | None:
    """This coordinator's run status of the task, with the newest failed round's reason. A run
    still waiting or running for a task the chain (`chain_status`) says ended has ended."""
    directory = _directory(request)
    status = read_status(directory, task_id) if directory else None
    if status is None:
        return None
    if status.state in ("waiting", "running") and chain_status and not TaskStatus(chain_status).is_open:
        status = RunStatus("ended", f"the task is {chain_status} on chain", status.attempts)
    rounds = refereed_rounds(request, task_id)
    failed = [r for r in rounds if r.get("status") == "failed"]
    last = str(failed[-1]["reason"]) if failed else None
    if last is not None and not last.startswith("round "):
        last = f"round {failed[-1].get('round', '?')} failed: {last}"
    spent = {str(w): float(e) for r in rounds for w, e in (r.get("epsilon") or {}).items()}
    latest = {r.get("round"): r for r in rounds if r.get("status") != "failed"}  # the newest line per round
    warnings = [
        str(r["warning"])
        for _, r in sorted(latest.items(), key=lambda kv: int(kv[0] or 0))
        if r.get("warning")
    ]
    return RunOut(
        state=status.state,
        reason=status.reason,
        attempts=status.attempts,
        last_failure=last,
        epsilon=spent,
        warnings=warnings,
    )


@router.get(
    "/tasks/{task_id}/rounds",
    responses={
        404: {
            "model": ErrorBody,
            "description": "no round logged; the detail says why (e.g. the task was refused)",
        }
    },
)
def rounds(task_id: IdPath, request: Request) -> list[dict[str, Any]]:
    """The task's round log: each committed round (verdicts, the model, the task's own metrics on
    the test set, timings) and each failed attempt (`status: failed` and its reason)."""
    found = refereed_rounds(request, task_id)
    if not found:
        run = run_of(request, task_id)
        why = f": it is {run.state} ({run.reason})" if run is not None and run.reason else ""
        raise NotFoundError("NoRounds", f"this coordinator has refereed no round of task {task_id}{why}")
    return found
