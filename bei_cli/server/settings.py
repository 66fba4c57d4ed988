"""ServerSettings: every knob of the HTTP server, decided once by the caller and passed in.

The server never reads the environment or the config file; `bei serve` builds this value from
the validated config and CLI flags. The engine batch limits are not here: they are the
artifact's `Limits` (`EngineInfo.max_batch_tokens` / `max_batch_size`), fixed at build time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from bei_cli.errors import ConfigError

DEFAULT_PAYLOAD_LIMIT_BYTES = 8 * 1024 * 1024
OPENAI_ROUTE = "/v1/embeddings"


def default_workers() -> int:
    """Front-ends: half the cores (the engine process and the tokenizer threads take the
    rest), at least 1, at most 8."""
    return min(8, max(1, (os.cpu_count() or 2) // 2))


def default_tokenization_workers() -> int:
    """TEI's default: one thread per core but one, clamped to 1..64."""
    return min(64, max(1, (os.cpu_count() or 2) - 1))


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    """Interface to bind. Use 0.0.0.0 inside a container."""

    port: int = 7997
    """TCP port."""

    max_client_batch_size: int = 1024
    """Most inputs in one HTTP request; more is answered 413. The performance client sends up
    to 1024 per request, so TEI's default of 32 would be too small."""

    max_concurrent_requests: int = 2048
    """HTTP requests in flight on model routes; one more is answered 429 (clients retry it)."""

    max_queued_items: int = 32_768
    """Sequences waiting for the engine; a request that would exceed it is answered 429."""

    max_queue_wait_s: float | None = 10.0
    """Longest estimated wait before a request's inputs start (the batches queued ahead of it
    at the engine's measured batch cost; `bei serve --max-queue-wait`); a request that would
    wait longer is answered 429 with `Retry-After`, so clients back off instead of timing out in
    the queue. None: no bound. 10 s, not 1: on a 2-core CPU the performance client's default
    fan-out (240 inputs, 8 per request, all at once) already queues ~1.2 s of work, and a
    client's own burst must not be refused; a latency-bound deployment sets it lower."""

    max_tokenization_queue: int = 256
    """Large requests waiting for (or in) the tokenization threads; one more is answered 429."""

    auto_truncate: bool = True
    """Truncate over-long inputs when the request does not say (`truncate: null`). The OpenAI
    route always follows this setting, as TEI's does."""

    token_ids: bool = True
    """Accept token-id inputs (`"input": [101, 7592, 102]`) on the embedding routes, as OpenAI
    and TEI do. False (`bei serve --no-token-ids`): they are a 422 saying so -- for servers whose
    clients may send another tokenizer's ids (langchain-openai sends tiktoken's by default),
    which no check can tell from the model's own when they fit its vocabulary."""

    served_model_name: str = "bei"
    """The `model` value of OpenAI responses (the request's `model` is accepted and ignored)."""

    default_route: str = OPENAI_ROUTE
    """Where `POST /` and the Truss-style `POST /v1/models/model:predict` are sent
    (Truss `webserver_default_route`)."""

    api_key: str | None = None
    """When set, model routes require `Authorization: Bearer KEY` or `Authorization: Api-Key
    KEY`; /health, /metrics, /docs and /openapi.json stay open."""

    payload_limit_bytes: int = DEFAULT_PAYLOAD_LIMIT_BYTES
    """Largest request body; a bigger one is answered 413."""

    tokenization_workers: int = field(default_factory=default_tokenization_workers)
    """Threads that tokenize off the event loop."""

    shutdown_timeout_s: float | None = 30.0
    """On SIGTERM, how long in-flight requests may take to finish before the server exits
    anyway. None waits for ever."""

    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the server from a browser (CORS); empty: no CORS headers. `*`
    allows any origin."""

    tracing: bool = False
    """OpenTelemetry: one server span per request, sent to the configured tracer provider
    (needs the `opentelemetry-api` package; `bei serve --tracing`)."""

    fast_lane: bool = True
    """Common embedding requests skip the framework (`fast_lane.FastLane`, same replies); off
    only to compare both paths."""

    access_log: bool = False
    """The HTTP server's per-request access log (off by default: it costs throughput)."""

    log_level: str = "info"
    """Log level: debug, info, warning, error."""

    workers: int | None = None
    """Front-end processes sharing host:port (SO_REUSEPORT). None: `default_workers()` for a
    factory, 1 for an app object (an in-process engine cannot be shared)."""

    header_read_timeout_s: float = 10.0
    """A client must send a request's whole header block within this long, and an idle
    keep-alive connection is closed after it (hyper starts the timer when it waits for the
    next request): slowloris connections are closed."""

    body_read_timeout_s: float = 30.0
    """Longest pause between two pieces of a request body; a stalled upload is answered 408
    and its connection closed, and what it had sent is freed."""

    max_header_bytes: int = 64 * 1024
    """Largest request header block (HTTP/1.1: the connection's read buffer; HTTP/2: the
    header list). Larger: 431. hyper also caps an HTTP/1.1 request at 100 headers."""

    http2: bool = True
    """Also serve HTTP/2 cleartext with prior knowledge (h2c) on the same port."""

    def __post_init__(self) -> None:
        if self.max_queue_wait_s is not None and not self.max_queue_wait_s > 0:
            raise ConfigError(
                f"max_queue_wait_s must be a positive number of seconds, got "
                f"{self.max_queue_wait_s!r}.",
                hint="Leave it unset (None) for no bound.",
                param="max_queue_wait_s",
            )
        if self.max_tokenization_queue < 0:
            raise ConfigError(
                f"max_tokenization_queue must be 0 or more, got {self.max_tokenization_queue}.",
                param="max_tokenization_queue",
            )
