"""Chain errors as HTTP answers: a status and a body naming the error and saying what it means."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from decentralml_bindings import errors

NOT_FOUND = {errors.TaskNotFound, errors.ResultNotFound, errors.ModelNotFound}
FORBIDDEN = {
    errors.NotCreator,
    errors.NotValidator,
    errors.NotCommitter,
    errors.NotAssigned,
    errors.CreatorCannotWork,
    errors.CannotValidateOwnResult,
    errors.SettledByValidators,
}
INVALID = {
    errors.InvalidRounds,
    errors.InvalidMaxAssignments,
    errors.ExpiryInPast,
    errors.ExpiryTooFar,
    errors.ZeroReward,
    errors.EmptyCid,
    errors.DuplicateValidator,
    errors.InvalidThreshold,
    errors.BudgetOverflow,
    errors.UnsortedResults,
}


class RequestRefusedError(Exception):
    """A request the coordinator refuses before anything reaches the chain."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def status_of(error: errors.ChainError) -> int:
    kind = type(error)
    if kind in NOT_FOUND:
        return 404
    if kind in FORBIDDEN or (isinstance(error, errors.DispatchFailed) and error.name == "BadOrigin"):
        return 403
    if kind in INVALID or isinstance(error, errors.ExtrinsicRejected):
        return 400
    if kind is errors.InsufficientBalance:
        return 402
    return 409


def error_body(error: errors.ChainError) -> tuple[int, dict[str, str]]:
    """The HTTP status and the body that name a chain error and say what it means."""
    name = getattr(error, "name", type(error).__name__)
    return status_of(error), {"error": name, "detail": str(error)}


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.ChainError)
    async def chain_error(_: Request, error: errors.ChainError) -> JSONResponse:
        status, body = error_body(error)
        return JSONResponse(status_code=status, content=body)

    @app.exception_handler(RequestRefusedError)
    async def refused(_: Request, error: RequestRefusedError) -> JSONResponse:
        return JSONResponse(status_code=error.status, content={"error": error.error, "detail": error.detail})
