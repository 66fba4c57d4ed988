"""OpenTelemetry tracing (opt-in, `bei serve --tracing`): one server span per HTTP request,
child of the caller's W3C `traceparent` when it sends one, named `METHOD /route/template`.

Spans go to the tracer provider given (tests pass an SDK provider with an in-memory exporter) or
to the global one, which `opentelemetry-instrument bei serve ...` or the application configures;
with neither, the API's no-op provider drops them. Imported only when tracing is on: the
`opentelemetry-api` package is needed then, not otherwise.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

INSTRUMENTATION = "bei_cli.server"


def _carrier(scope: Scope) -> dict[str, str]:
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}


class Tracing:
    def __init__(self, app: ASGIApp, tracer_provider: Any = None) -> None:
        self.app = app
        provider = tracer_provider or trace.get_tracer_provider()
        self.tracer = provider.get_tracer(INSTRUMENTATION)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = propagate.extract(_carrier(scope))
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method, context=context, kind=SpanKind.SERVER
        ) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("url.path", scope["path"])

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
