"""The server's error edge: every failure becomes a BeiError, rendered once as OpenAI's envelope
`{"error": {"message", "type", "param", "code"}}` with the error's own `http_status`.

Framework exceptions (FastAPI validation, Starlette's 404/405, malformed JSON) are translated
into BeiErrors here; anything else is a bug -> 500 with a generic message, logged in full.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

from bei_cli.errors import (
    AuthenticationError,
    BeiError,
    EmptyInputError,
    InvalidRequestError,
    MalformedRequestError,
    MethodNotAllowedError,
    NotReadyError,
    OverloadedError,
    PayloadTooLargeError,
    RouteNotFoundError,
    UnsupportedMediaTypeError,
)

log = logging.getLogger(__name__)


class ClientDisconnectedError(Exception):
    """The client closed the connection before its answer was ready: nobody reads the reply."""


# nginx's "client closed request"; only ever seen in metrics and logs.
CLIENT_CLOSED_STATUS = 499

# Starlette raises HTTPException for routing failures; each status has its BeiError.
HTTP_EXCEPTION_ERRORS: dict[int, type[BeiError]] = {
    400: MalformedRequestError,
    401: AuthenticationError,
    404: RouteNotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: InvalidRequestError,
    429: OverloadedError,
    503: NotReadyError,
}

# What a field accepts, for a readable message when a union-typed field fails validation;
# ROUTE_FIELD_SHAPES first, for routes whose field of that name takes another shape.
FIELD_SHAPES = {
    "input": "a string, a list of strings, a list of token ids, or a list of token-id lists",
    "inputs": "a string, a list of strings, a list of token ids, or a list of token-id lists",
}
ROUTE_FIELD_SHAPES = {
    ("/predict", "inputs"): "a string, a pair of strings, or a list of one-or-two-string lists",
    ("/predict_tokens", "inputs"): "a string, a list of strings, or a list of lists of strings",
}


def error_body(err: BeiError) -> dict[str, Any]:
    message = f"{err.message} {err.hint}" if err.hint else err.message
    return {
        "error": {
            "message": message,
            "type": err.error_type,
            "param": err.param,
            "code": err.http_status,
        }
    }


# pydantic error types that mean "empty": answered 400 like the services' own emptiness checks.
EMPTY_ERROR_TYPES = frozenset({"string_too_short", "too_short"})


def error_response(err: BeiError, headers: Mapping[str, str] | None = None) -> Response:
    if isinstance(err, AuthenticationError):
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    if isinstance(err, OverloadedError):  # whole seconds (RFC 9110), never 0: clients spin
        headers = {**(headers or {}), "Retry-After": str(max(1, math.ceil(err.retry_after_s)))}
    return Response(
        orjson.dumps(error_body(err)),
        status_code=err.http_status,
        media_type="application/json",
        headers=headers,
    )


def internal_error_response(exc: BaseException) -> Response:
    log.error("unhandled error while serving a request", exc_info=exc)
    return error_response(BeiError("Internal server error."))


def from_validation(exc: RequestValidationError, path: str = "") -> BeiError:
    errors = list(exc.errors())
    if not errors:
        return InvalidRequestError("The request is invalid.")
    first = errors[0]
    loc = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        return MalformedRequestError(f"The request body is not valid JSON: {first.get('msg')}.")
    if loc == ("body",):
        if first.get("type") == "missing":
            return MalformedRequestError("The request needs a JSON object body.")
        return InvalidRequestError("The request body must be a JSON object.")
    field = str(loc[1]) if len(loc) > 1 and loc[0] == "body" else ".".join(map(str, loc))
    if first.get("type") == "missing":
        return InvalidRequestError(f"`{field}` is required.", param=field)
    if any(e.get("type") in EMPTY_ERROR_TYPES and _is_empty(e.get("input")) for e in errors):
        return EmptyInputError(f"`{field}` cannot be empty or contain empty texts.", param=field)
    shape = ROUTE_FIELD_SHAPES.get((path, field), FIELD_SHAPES.get(field))
    if shape is not None:
        return InvalidRequestError(f"`{field}` must be {shape}.", param=field)
    return InvalidRequestError(f"`{field}`: {first.get('msg')}.", param=field)


def _is_empty(value: object) -> bool:
    return isinstance(value, str | list) and len(value) == 0


def from_http_exception(exc: HTTPException, request: Request) -> BeiError:
    error_class = HTTP_EXCEPTION_ERRORS.get(exc.status_code, BeiError)
    if exc.status_code == 404:
        return RouteNotFoundError(f"No route {request.method} {request.url.path}.")
    if exc.status_code == 405:
        return MethodNotAllowedError(f"{request.method} is not allowed on {request.url.path}.")
    return error_class(str(exc.detail))


def install_error_handlers(app: FastAPI) -> None:
    async def on_bei_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BeiError)
        if exc.http_status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.message)
        return error_response(exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(from_validation(exc, request.url.path))

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(from_http_exception(exc, request), headers=exc.headers)

    async def on_disconnect(request: Request, exc: Exception) -> Response:
        return Response(status_code=CLIENT_CLOSED_STATUS)

    app.add_exception_handler(BeiError, on_bei_error)
    app.add_exception_handler(ClientDisconnectedError, on_disconnect)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http_exception)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: int


class ErrorEnvelope(BaseModel):
    """OpenAI's error body, used by every route for every error."""

    error: ErrorDetail


# For the OpenAPI document of model routes.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (400, "Malformed or empty input"),
        (401, "Missing or wrong API key"),
        (413, "Too many inputs or body too large"),
        (415, "Body is not JSON"),
        (422, "Invalid field, or input too long without truncation"),
        (424, "The loaded model cannot serve this route (the message names those it can)"),
        (429, "Overloaded: retry with backoff"),
        (500, "The model failed"),
        (503, "Starting or shutting down"),
    )
}
