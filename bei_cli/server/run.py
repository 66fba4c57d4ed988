"""serve: bei's HTTP front-ends, granian (Rust/hyper: HTTP/1.1 and h2c on one port) on uvloop.

Why granian: see docs/benchmarks.md ("HTTP server"): the fastest of the three measured, and
the only one with a header read timeout, HTTP/1.1 and HTTP/2 on one port and header caps.

`settings.workers` front-end processes share host:port through SO_REUSEPORT (the kernel
spreads connections); each calls the factory once, so each has its own engine client. One
front-end runs in the calling process, which is also how an app object is served (its engine
lives in this process and cannot be shared).

SIGTERM/SIGINT drain each front-end (`drain.DrainGate`): /health and new requests answer 503
while in-flight requests finish (up to `settings.shutdown_timeout_s`), then the server stops,
the app's lifespan closes its engine client, and `serve` returns. A second signal closes the
listener at once (granian still lets the requests in flight finish).
An engine that stops on its own while serving (killed by the OOM killer, a crashed engine
thread) stops its front-ends the same way, and `serve` raises `EngineError`: the server exits
non-zero, so whatever supervises it (Kubernetes, `docker run --restart`, systemd) restarts it,
rather than a replica that answers 503 for ever (vLLM's API server does the same).
With several front-ends the parent relays the first signal as SIGUSR1 (drain), so a front-end
that also got the signal itself (a process-group kill, Ctrl-C) drains rather than stopping.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable
from functools import partial
from multiprocessing.process import BaseProcess

import uvloop
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings, HTTP2Settings
from granian.log import LogLevels
from granian.server.embed import Server
from starlette.applications import Starlette

from bei_cli.errors import BeiError, ConfigError, EngineError, FrontEndError
from bei_cli.server.drain import DrainGate
from bei_cli.server.settings import ServerSettings, default_workers
from bei_cli.server.state import ServerState

log = logging.getLogger(__name__)

AppFactory = Callable[[], object]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
DRAIN_SIGNAL = signal.SIGUSR1  # parent -> front-end: drain (never "stop now")
# hyper's HTTP/1.1 header timeout is whole milliseconds in 1..60000.
MAX_HEADER_TIMEOUT_MS = 60_000
# How long the parent waits for a front-end beyond its own drain budget.
JOIN_MARGIN_S = 10.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# How often a front-end checks that its engine still runs (the engine client notices a dead
# engine process within its own poll, 0.5 s, and fails what waits on it).
ENGINE_WATCH_S = 0.5


def workers_for(settings: ServerSettings, factory: bool) -> int:
    if settings.workers is None:
        return default_workers() if factory else 1
    if settings.workers < 1:
        raise ConfigError(f"workers must be at least 1 (got {settings.workers})", param="--workers")
    if settings.workers > 1 and not factory:
        raise ConfigError(
            f"{settings.workers} front-end workers need an app factory; this app holds its "
            "engine in the process.",
            param="--workers",
            hint="Serve with --workers 1, or with the engine in its own process.",
        )
    return settings.workers


def granian_server(app: object, settings: ServerSettings) -> Server:
    header_ms = max(1, min(MAX_HEADER_TIMEOUT_MS, round(settings.header_read_timeout_s * 1000)))
    return Server(
        app,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto if settings.http2 else HTTPModes.http1,
        websockets=False,
        backlog=2048,
        # Above the app's own concurrency cap, so the app answers 429 rather than the
        # server holding connections unread.
        backpressure=settings.max_concurrent_requests + 64,
        http1_settings=HTTP1Settings(
            header_read_timeout=header_ms,
            keep_alive=True,
            max_buffer_size=max(8192, settings.max_header_bytes),
        ),
        http2_settings=HTTP2Settings(max_headers_size=settings.max_header_bytes),
        log_enabled=True,
        log_level=LogLevels(settings.log_level.lower()),
        log_access=settings.access_log,
    )


async def _serve_one(app: object, settings: ServerSettings) -> None:
    state = getattr(getattr(app, "state", None), "server", None)
    gate = DrainGate(app, state)  # type: ignore[arg-type]
    server = granian_server(gate, settings)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def stop_when_idle() -> None:
        if not await gate.wait_idle(settings.shutdown_timeout_s):
            log.warning("requests still in flight after %ss: stopping", settings.shutdown_timeout_s)
        server.stop()

    def drain() -> None:
        if not gate.draining:
            gate.begin_drain()  # here, not in the task: a second signal must see it at once
            tasks.append(loop.create_task(stop_when_idle()))

    def on_signal() -> None:
        if gate.draining:
            server.stop()
        else:
            drain()

    engine_lost: list[bool] = []

    def watch_engine(watched: ServerState) -> None:
        if gate.draining:
            return
        if watched.ready and not watched.batcher.alive:
            log.error("the engine stopped while serving: stopping this front-end")
            engine_lost.append(True)
            drain()
            return
        loop.call_later(ENGINE_WATCH_S, watch_engine, watched)

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    loop.add_signal_handler(DRAIN_SIGNAL, drain)
    if state is not None:  # an app of bei's (one without a ServerState has no engine to watch)
        loop.call_later(ENGINE_WATCH_S, watch_engine, state)
    try:
        await server.serve()
    finally:
        for sig in (*STOP_SIGNALS, DRAIN_SIGNAL):
            loop.remove_signal_handler(sig)
    if engine_lost:
        raise EngineError(
            "The engine stopped while serving; the server stopped with it.",
            hint="Its log above says why (a process killed with SIGKILL is most often the "
            "kernel's out-of-memory killer); a supervisor restarts the server.",
        )


def serve_front_end(app: object, settings: ServerSettings) -> None:
    """One front-end in this process, until a signal has drained it."""
    uvloop.run(_serve_one(app, settings))


def _front_end_process(factory: AppFactory, settings: ServerSettings) -> None:
    _die_with_parent()
    logging.basicConfig(level=settings.log_level.upper())
    try:
        serve_front_end(factory(), settings)
    except BeiError as exc:  # the parent reports the front-end's exit; no traceback here
        log.error("%s", exc.message)
        sys.exit(exc.exit_code)


def _die_with_parent() -> None:
    """A front-end whose parent was killed (SIGKILL: no drain) must not hold the port."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _serve_many(factory: AppFactory, settings: ServerSettings, count: int) -> None:
    try:
        pickle.dumps(factory)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ConfigError(
            f"{count} front-end workers need a picklable app factory: {exc}",
            param="--workers",
            hint="Pass a module-level function (or a functools.partial of one), or workers=1.",
        ) from exc
    # spawn, not fork: a forked child would inherit torch/CUDA state it must not touch.
    context = multiprocessing.get_context("spawn")
    children: list[BaseProcess] = [
        context.Process(
            target=partial(_front_end_process, factory, settings), name=f"bei-front-end-{i + 1}"
        )
        for i in range(count)
    ]
    forward = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    stopping: list[int] = []

    def relay(sig: int, _frame: object) -> None:
        # The first signal relays as DRAIN_SIGNAL: a front-end that got the same signal itself
        # (a process-group or cgroup kill, Ctrl-C) must not take the relay for a second one.
        relayed = DRAIN_SIGNAL if not stopping else sig
        stopping.append(sig)
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, relayed)

    for sig in STOP_SIGNALS:
        signal.signal(sig, relay)
    try:
        for child in children:
            child.start()
        _wait_children(children, settings, stopping)
    finally:
        for sig, handler in forward.items():
            signal.signal(sig, handler)


def _wait_children(
    children: list[BaseProcess], settings: ServerSettings, stopping: list[int]
) -> None:
    """Until every front-end has exited; one that dies on its own stops the others (one that
    a relayed signal ends before it could drain -- still starting -- is no failure)."""
    while any(child.is_alive() for child in children):
        for child in children:
            child.join(0.2)
            if child.exitcode not in (None, 0) and not stopping:
                log.error("front-end %s exited with %s: stopping", child.name, child.exitcode)
                for other in children:
                    if other.is_alive():
                        other.terminate()
                timeout = (settings.shutdown_timeout_s or 0) + JOIN_MARGIN_S
                for other in children:
                    other.join(timeout)
                raise FrontEndError(f"front-end {child.name} exited with code {child.exitcode}")


def serve(app_or_factory: object | AppFactory, settings: ServerSettings) -> None:
    """Serve until SIGTERM/SIGINT, drain, return. An app object is served in this process; a
    factory (picklable for more than one worker) is called once in each front-end process."""
    factory = not _is_asgi_app(app_or_factory)
    count = workers_for(settings, factory)
    if count == 1:
        app = app_or_factory() if factory else app_or_factory  # type: ignore[operator]
        serve_front_end(app, settings)
    else:
        _serve_many(app_or_factory, settings, count)  # type: ignore[arg-type]


def _is_asgi_app(candidate: object) -> bool:
    """bei's apps are Starlette apps; anything else callable is a factory of one."""
    return isinstance(candidate, Starlette) or not callable(candidate)
