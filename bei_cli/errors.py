"""The one error tree of bei.

Every failure a user can cause or meet is a `BeiError` subclass that carries what both edges need:
the CLI prints `message` and `hint` and exits with `exit_code`; the server answers with
`http_status` and an OpenAI-style error JSON whose `type` is `error_type`. Nothing else in the code
decides exit codes or status codes.

Exit codes (STYLE.md): 1 bug, 2 config, 3 network/auth, 4 unsupported model/hardware, 5 build.
"""

from __future__ import annotations

from typing import ClassVar


class BeiError(Exception):
    """Base class. Unexpected (non-Bei) exceptions are bugs: exit 1 / HTTP 500."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 500
    error_type: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        param: str | None = None,
        details: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # `param` is the dotted config path or the request field the error is about.
        self.param = param
        # Extra lines (e.g. every problem of a config) shown under the message.
        self.details = details

    def __str__(self) -> str:
        return self.message


# --- build-time errors (CLI edge) -------------------------------------------------------------


class ConfigError(BeiError):
    """config.yaml is unreadable or invalid."""

    exit_code = 2
    http_status = 400
    error_type = "invalid_config"


class CheckpointError(BeiError):
    """The checkpoint source could not be reached or read (network, not found)."""

    exit_code = 3
    http_status = 502
    error_type = "checkpoint_error"


class CredentialsError(CheckpointError):
    """Credentials are missing, wrong, or lack access."""

    error_type = "credentials_error"


class UnsupportedModelError(BeiError):
    """The checkpoint is readable but bei cannot serve it (architecture, missing files, ...)."""

    exit_code = 4
    http_status = 400
    error_type = "unsupported_model"


class UnsupportedHardwareError(BeiError):
    """The requested dtype/quantization cannot run on this hardware."""

    exit_code = 4
    http_status = 400
    error_type = "unsupported_hardware"


class BuildError(BeiError):
    """Writing or loading an engine artifact failed."""

    exit_code = 5
    http_status = 500
    error_type = "build_error"


class ArtifactError(BuildError):
    """An engine artifact directory is missing, incomplete or from an incompatible bei."""

    error_type = "artifact_error"


# --- request-time errors (server edge) --------------------------------------------------------


class InvalidRequestError(BeiError):
    """The request is well-formed JSON but its content is invalid (types, values)."""

    exit_code = 2
    http_status = 422
    error_type = "invalid_request_error"


class MalformedRequestError(InvalidRequestError):
    """The body is not JSON, or not the content type we accept."""

    http_status = 400


class EmptyInputError(InvalidRequestError):
    """The input is empty (empty string list, empty text)."""

    http_status = 400


class InputTooLongError(InvalidRequestError):
    """An input has more tokens than the model accepts and truncation is off."""

    http_status = 422


class PayloadTooLargeError(InvalidRequestError):
    """Too many inputs in one request, or a body over the size limit."""

    http_status = 413


class UnsupportedRouteError(InvalidRequestError):
    """The route exists but the loaded model cannot serve it (e.g. /rerank on an embedder)."""

    http_status = 424


class RouteNotFoundError(InvalidRequestError):
    """No route at this path."""

    http_status = 404
    error_type = "not_found_error"


class MethodNotAllowedError(InvalidRequestError):
    http_status = 405


class UnsupportedMediaTypeError(MalformedRequestError):
    """The body is not sent as application/json."""

    http_status = 415


class RequestTimeoutError(InvalidRequestError):
    """The client stopped sending its request body (`body_read_timeout_s`)."""

    http_status = 408
    error_type = "request_timeout"


class AuthenticationError(BeiError):
    """Missing or wrong API key."""

    exit_code = 3
    http_status = 401
    error_type = "authentication_error"


class OverloadedError(BeiError):
    """Too many requests queued; the client should retry with backoff. `retry_after_s`: when
    (the server answers it as `Retry-After`, whole seconds rounded up)."""

    exit_code = 1
    http_status = 429
    error_type = "overloaded_error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        param: str | None = None,
        retry_after_s: float = 1.0,
    ) -> None:
        super().__init__(message, hint=hint, param=param)
        self.retry_after_s = retry_after_s


class NotReadyError(BeiError):
    """The server is starting or shutting down."""

    exit_code = 1
    http_status = 503
    error_type = "service_unavailable"


class DeadlineExceededError(BeiError):
    """The request's deadline (`Request-Timeout-Ms` / `Request-Deadline-Ms`) passed before the
    engine could start its inputs; they were dropped before compute.

    504, not 408: 408 says the client was too slow sending its request, which it was not; the
    server could not get an answer from its engine in the time the client allowed, which is
    what a gateway timeout means, and clients and proxies treat it as retryable. Not 429
    either: that is admission refusing work up front (OverloadedError)."""

    exit_code = 1
    http_status = 504
    error_type = "timeout_error"


class FrontEndError(BeiError):
    """An HTTP front-end process exited on its own (it could not start, or it crashed)."""

    exit_code = 1
    error_type = "front_end_error"


class EngineError(BeiError):
    """A batch failed inside the engine; every request in that batch gets this error."""

    exit_code = 1
    http_status = 500
    error_type = "engine_error"
