"""Every refusal as an HTTP answer in one body shape: `{"error": Name, "detail": what to do}`.

The exception tree the handlers map:

    ApiError(status, error, detail)        a refusal the coordinator's services make
    ├── NotFoundError                      404
    ├── NotAuthenticatedError              401 (with WWW-Authenticate: Bearer)
    ├── ForbiddenError                     403
    ├── InvalidRequestError                400 (or 422 for a body that breaks a rule of the schema)
    ├── TooManyRequestsError               429 (with Retry-After)
    └── UnavailableError                   503 (a dependency is down)
    decentralml_bindings.ChainError        by `status_of`: 404, 403, 400, 402, 409; an extrinsic not
                                           included by its deadline: 504 `InclusionTimeout`; one
                                           the pool dropped for good: 400 `ExtrinsicDropped`
    decentralml.content.ContentError       503 (IPFS unreachable); other bytes than the hash: 502
    HTTPException, RequestValidationError  their status, same shape (422 lists the fields)
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from decentralml.content import ContentError, ContentUnreachableError, HashMismatchError
from decentralml_bindings import errors

log = logging.getLogger(__name__)

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


class ApiError(Exception):
    """A request the coordinator refuses, with the status and the error name to answer it with."""

    status = 400

    def __init__(self, error: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.error, self.detail = error, detail
        if status is not None:
            self.status = status

    def headers(self) -> dict[str, str] | None:
        return None


class NotFoundError(ApiError):
    status = 404


class NotAuthenticatedError(ApiError):
    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class ForbiddenError(ApiError):
    status = 403


class InvalidRequestError(ApiError):
    status = 400


class TooManyRequestsError(ApiError):
    status = 429

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__("TooManyRequests", detail)
        self.retry_after = max(1, int(retry_after + 0.999))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UnavailableError(ApiError):
    status = 503


class ErrorBody(BaseModel):
    """What every refusal answers."""

    error: str
    detail: str


DESCRIBED = {
    400: "Refused: the request breaks a rule of the chain or the API, or names a host this "
    "coordinator does not serve (no fee was paid)",
    401: "Keystore signing needs `Authorization: Bearer TOKEN`",
    402: "The signer cannot pay",
    403: "Not allowed for this caller or account",
    404: "Not found (or not indexed yet)",
    409: "Conflicts with the chain's state",
    410: "Withdrawn",
    413: "Request body too large",
    422: "The body or parameters do not fit the schema",
    429: "Too many requests: wait Retry-After seconds",
    431: "The request line and headers are too long",
    500: "A fault of the coordinator's own (logged with the request's X-Request-ID)",
    502: "A dependency answered wrongly (content that does not match its hash)",
    503: "A dependency (chain, IPFS) is unreachable",
    504: "The chain did not include the extrinsic by its deadline",
}
"""What each error status means, for the OpenAPI (`api.openapi` says which operation answers which)."""


def status_of(error: errors.ChainError) -> int:
    kind = type(error)
    if kind in NOT_FOUND:
        return 404
    if kind in FORBIDDEN or (isinstance(error, errors.DispatchFailed) and error.name == "BadOrigin"):
        return 403
    if isinstance(error, errors.InclusionTimeout):
        return 400 if error.final else 504
    if kind in INVALID or isinstance(error, errors.ExtrinsicRejected):
        return 400
    if kind is errors.InsufficientBalance:
        return 402
    return 409


def error_body(error: errors.ChainError) -> tuple[int, dict[str, str]]:
    """The HTTP status and the body that name a chain error and say what it means."""
    name = getattr(error, "name", type(error).__name__)
    if isinstance(error, errors.InclusionTimeout) and error.final:
        name = "ExtrinsicDropped"  # the pool refused it for good: it will never be included
    return status_of(error), {"error": name, "detail": str(error)}


def answer(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail}, headers=headers)


_NAMES = {
    400: "BadRequest",
    404: "NotFound",
    405: "MethodNotAllowed",
    410: "Gone",
    413: "BodyTooLarge",
    431: "HeadersTooLarge",
}


def fields(error: RequestValidationError) -> str:
    """A validation error as one line: `body.rounds: Input should be ...; query.limit: ...`."""
    parts = []
    for item in error.errors()[:8]:
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request does not fit the schema"


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.ChainError)
    async def chain_error(_: Request, error: errors.ChainError) -> JSONResponse:
        status, body = error_body(error)
        return answer(status, body["error"], body["detail"])

    @app.exception_handler(ApiError)
    async def refused(_: Request, error: ApiError) -> JSONResponse:
        return answer(error.status, error.error, error.detail, error.headers())

    @app.exception_handler(ContentError)
    async def content(_: Request, error: ContentError) -> JSONResponse:
        if isinstance(error, HashMismatchError):
            return answer(502, "ContentMismatch", f"IPFS returned other bytes than the chain names: {error}")
        if isinstance(error, ContentUnreachableError):
            return answer(503, "ContentUnavailable", f"the content store cannot be reached: {error}")
        return answer(502, "ContentRefused", f"the content store refused: {error}")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return answer(422, "InvalidRequest", fields(error))

    @app.exception_handler(HTTPException)
    async def http(_: Request, error: HTTPException) -> JSONResponse:
        name = _NAMES.get(error.status_code, "Refused")
        return answer(error.status_code, name, str(error.detail), dict(error.headers or {}) or None)

    @app.exception_handler(Exception)
    async def broken(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        if isinstance(error, ConnectionError | OSError | TimeoutError):
            return answer(503, "Unavailable", f"a dependency cannot be reached: {type(error).__name__}")
        return answer(500, "InternalError", "the coordinator failed on this request; it is logged")
