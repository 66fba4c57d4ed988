"""Prometheus metrics of one app, in a registry of its own (never the process-global one, so
several apps -- tests, or two servers in one process -- do not collide)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# TEI's duration buckets: 35 geometric steps from 15 microseconds, ratio 1.5 (up to ~22 min).
DURATION_BUCKETS = tuple(1.5e-5 * 1.5**i for i in range(35))
SIZE_BUCKETS = tuple(float(2**i) for i in range(13))
TOKEN_BUCKETS = tuple(float(2**i) for i in range(21))
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "bei_requests", "HTTP requests answered", ["route", "status"], registry=r
        )
        self.request_duration = Histogram(
            "bei_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.inputs = Counter("bei_inputs", "Inputs (texts or token lists) embedded", registry=r)
        self.tokens = Counter("bei_tokens", "Tokens run through the engine", registry=r)
        self.tokenization_duration = Histogram(
            "bei_tokenization_duration_seconds",
            "Tokenization time of one request",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.queue_duration = Histogram(
            "bei_queue_duration_seconds",
            "Time an input waited for its batch",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "bei_inference_duration_seconds",
            "Engine time of one batch",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "bei_batch_size", "Sequences per engine batch", buckets=SIZE_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "bei_batch_tokens", "Real tokens per engine batch", buckets=TOKEN_BUCKETS, registry=r
        )
        self.batch_padded_tokens = Histogram(
            "bei_batch_padded_tokens",
            "Tokens per engine batch counting padding (size x longest)",
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.dropped = Counter(
            "bei_dropped_inputs", "Queued inputs dropped because the client went away", registry=r
        )
        self.queue_size = Gauge("bei_queue_size", "Inputs waiting for the engine", registry=r)

    def track_queue(self, size: Callable[[], float]) -> None:
        self.queue_size.set_function(size)

    # runtime.client.BatchObserver: the EngineClient reports every batch that held this
    # front-end's items -- from the engine thread (in-process) or from the event loop, with the
    # statistics the engine process sent back. prometheus_client is thread-safe.
    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.batch_tokens.observe(tokens)
        self.batch_padded_tokens.observe(padded_tokens)
        self.inference_duration.observe(seconds)

    def observe_dropped(self, count: int) -> None:
        self.dropped.inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
