"""The OpenAPI document says, for each operation, the statuses it can answer, its security and
the headers around it.

FastAPI documents what a route declares. The refusals that come from elsewhere are added here,
operation by operation, from what the operation is:

- every operation: 400 `UnknownHost` (the Host check), 429 (the rate limits, with `Retry-After`),
  431 (request line and headers too long), 500 (a fault of the coordinator's own);
- with path or query parameters or a body: 422 (they do not fit the schema); with an id in the
  path (a row of the mirror, a submission): 404;
- with a body: 413 (too large); a POST: the `Idempotency-Key` request header;
- a write that signs with the keystore or relays a signed extrinsic (it depends on the request
  signer and answers `Submitted`): 400, 401, 402, 403, 404, 409, 503 and 504
  (`errors.status_of`: what the chain refuses; an extrinsic not included in time), and the
  bearer token, optional (a relayed extrinsic needs none); an operation that uses a keystore key
  otherwise (`verify`) declares its own statuses, and its token is required.

What a route declares itself (the weights route's 403/409/410, say) is kept, except FastAPI's own
422 body: this API answers 422 in its one error shape too. Every response says `X-Request-ID`.
The descriptions are `errors.DESCRIBED`'s.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from coordinator.api import errors
from coordinator.api.deps import RequestSigner
from coordinator.api.schemas import Submitted

EVERY = (400, 429, 431, 500)
WRITES = (400, 401, 402, 403, 404, 409, 503, 504)
BEARER = "bearer"
REQUEST_ID = {
    "description": "this request's id (the caller's X-Request-ID if it sent one), also in the log",
    "schema": {"type": "string"},
}
RETRY_AFTER = {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "a retry with the same key and body gets the first answer (2xx only) instead of "
    "a second extrinsic; the same key with another body is refused (422)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def uses_keystore(route: Any) -> bool:
    """Whether the route depends on the request signer (the keystore and the caller's token)."""
    return any(d.call is not None and _returns(d.call, RequestSigner) for d in route.dependant.dependencies)


def signs(route: Any) -> bool:
    """Whether the route signs or relays an extrinsic: it uses the keystore and answers `Submitted`."""
    return uses_keystore(route) and route.response_model is Submitted


def _returns(call: Any, kind: type) -> bool:
    hint = getattr(call, "__annotations__", {}).get("return")
    return hint is kind or hint == kind.__name__


def statuses(route: Any) -> set[int]:
    """The error statuses `route` can answer besides those it declares."""
    found = set(EVERY)
    dependant = route.dependant
    if dependant.path_params or dependant.query_params or dependant.body_params:
        found.add(422)
    if any(p.name.endswith("_id") or p.name == "index" for p in dependant.path_params):
        found.add(404)
    if dependant.body_params:
        found.add(413)
    if signs(route):
        found.update(WRITES)
    return found


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI, each operation with its statuses, security and headers (built once)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).setdefault("ErrorBody", errors.ErrorBody.model_json_schema())
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "an API token (`dml coordinator token`) for keystore signing",
        }
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for route in iter_route_contexts(app.routes):  # an APIRoute as included: its prefix applied
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = schema["paths"][route.path_format][method.lower()]
            responses = operation.setdefault("responses", {})
            # FastAPI documents its own 422 body; this API answers 422 in the one error shape.
            if "HTTPValidationError" in str(responses.get("422", {})):
                responses["422"] = {"description": errors.DESCRIBED[422], "content": error}
            for status in sorted(statuses(route)):
                responses.setdefault(str(status), {"description": errors.DESCRIBED[status], "content": error})
            for status, answer in responses.items():
                headers = answer.setdefault("headers", {})
                headers["X-Request-ID"] = REQUEST_ID
                if status == "429":
                    headers["Retry-After"] = RETRY_AFTER
            if signs(route):
                operation["security"] = [{}, {BEARER: []}]  # relaying needs none; keystore signing does
            elif uses_keystore(route):
                operation["security"] = [{BEARER: []}]
            if method == "POST":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    app.openapi_schema = schema
    return schema
