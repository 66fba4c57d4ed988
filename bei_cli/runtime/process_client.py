"""The EngineClient of a front-end process: items go to the engine process over a ZeroMQ DEALER
socket (`wire`), results come back on the same socket and resolve this event loop's futures.

The socket lives on the event loop (`loop_socket.LoopSocket`, not zmq.asyncio: its futures cost
more than the rest of a short request): sending a submit and receiving a batch's rows are
non-blocking and copy nothing large (rows arrive as views of the received frame). One
client per front-end process; `EngineConnection` is the picklable value that says where the
engine process is, so any process can build one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from bei_cli.engine.base import EngineInfo
from bei_cli.errors import BeiError, NotReadyError, OverloadedError
from bei_cli.runtime import wire
from bei_cli.runtime.batch_policy import queued_cost
from bei_cli.runtime.batcher import deadline_error
from bei_cli.runtime.client import BatchObserver, ItemResult
from bei_cli.runtime.compute import batch_failure
from bei_cli.runtime.loop_socket import LoopSocket

log = logging.getLogger(__name__)

# How often a client checks that the engine process still runs.
LIVENESS_POLL_S = 0.5


@dataclass(frozen=True)
class EngineConnection:
    """Where a running engine process listens, and what it runs (picklable)."""

    address: str
    pid: int
    info: EngineInfo
    max_queued: int
    # Batches the engine timed before serving (compute.calibrate): admission's first fit.
    calibration: tuple[tuple[int, int, int, float], ...] = ()


def pid_alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not count: it has exited, unreaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no procfs: signal 0 says whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _error_of(kind: str) -> BeiError:
    if kind == "deadline":
        return deadline_error()
    if kind == "overloaded":
        return OverloadedError(
            "Model is overloaded: too many inputs are queued.", hint="Retry with backoff."
        )
    if kind == "not_ready":
        return NotReadyError("The server is shutting down.")
    return batch_failure()


@dataclass(eq=False)
class _Waiting:
    future: asyncio.Future[ItemResult]
    submitted: float


class ProcessEngineClient:
    def __init__(self, connection: EngineConnection, observer: BatchObserver | None = None):
        self._connection = connection
        self._observer = observer
        self._pending: dict[int, _Waiting] = {}
        self._next_id = 0
        self._queued = 0
        self._queued_tokens = 0
        self._batch_tokens = connection.info.max_batch_tokens
        self._context: zmq.Context[Any] | None = None
        self._socket: LoopSocket | None = None
        self._liveness: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._engine_gone = False

    @property
    def info(self) -> EngineInfo:
        return self._connection.info

    @property
    def alive(self) -> bool:
        if self._socket is None or self._closed or self._engine_gone:
            return False
        return pid_alive(self._connection.pid)

    @property
    def queued(self) -> int:
        return self._queued

    @property
    def queued_tokens(self) -> int:
        return self._queued_tokens

    @property
    def batch_tokens(self) -> int:
        return self._batch_tokens

    def start(self) -> None:
        """Connect (from the event loop that will await the results)."""
        if not pid_alive(self._connection.pid):
            raise NotReadyError("The engine process is not running.")
        self._loop = asyncio.get_running_loop()
        self._context = zmq.Context()
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(self._connection.address)
        self._socket = LoopSocket(socket, self._loop, self._dispatch_safely)
        self._liveness = self._loop.call_later(LIVENESS_POLL_S, self._check_engine)

    def close(self, timeout_s: float | None = None) -> None:
        """Stop: waiting items fail with NotReadyError. The engine process itself is stopped by
        whoever started it (`engine_process.EngineProcess.close`)."""
        self._closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._shutdown()
        else:
            loop.call_soon_threadsafe(self._shutdown)

    async def run(
        self,
        sequences: Sequence[Sequence[int]],
        token_types: Sequence[Sequence[int]] | None = None,
        *,
        deadline: float | None = None,
        per_token: bool = False,
    ) -> list[ItemResult]:
        socket = self._socket
        if socket is None or self._closed or self._engine_gone:
            raise NotReadyError("The server is shutting down.")
        count = len(sequences)
        if self._queued + count > self._connection.max_queued:
            raise OverloadedError(
                "Model is overloaded: too many inputs are queued.", hint="Retry with backoff."
            )
        first, self._next_id = self._next_id, self._next_id + count
        loop = asyncio.get_running_loop()
        submitted = time.monotonic()
        futures: list[asyncio.Future[ItemResult]] = [loop.create_future() for _ in range(count)]
        for i, future in enumerate(futures):
            self._pending[first + i] = _Waiting(future, submitted)
        self._queued += count
        self._queued_tokens += sum(queued_cost(len(s), padded=self.info.padded) for s in sequences)
        frames = wire.encode_submit(
            first,
            sequences,
            token_types,
            deadline=deadline,
            submitted=submitted,
            per_token=per_token,
        )
        try:
            try:
                await socket.send(frames)
            except zmq.ZMQError:  # closed while it waited at the high-water mark
                raise NotReadyError("The server is shutting down.") from None
            return list(await asyncio.gather(*futures))
        finally:
            self._settle(first, futures)

    def _settle(self, first: int, futures: list[asyncio.Future[ItemResult]]) -> None:
        """After run(): forget its items; tell the engine to drop those not answered yet."""
        abandoned = []
        for i, future in enumerate(futures):
            self._pending.pop(first + i, None)
            if future.cancel() or future.cancelled():  # gather cancels them when we are
                abandoned.append(first + i)
            else:
                future.exception()  # retrieved: no "never retrieved" warnings
        if abandoned and self._socket is not None and not self._closed:
            # Best effort: a cancel the full socket cannot take only costs the engine the work.
            self._socket.send_now(wire.pack(wire.CANCEL, {"ids": abandoned}))

    def _check_engine(self) -> None:
        if self._closed or self._loop is None:
            return
        if not pid_alive(self._connection.pid):
            self._engine_died()
            return
        self._liveness = self._loop.call_later(LIVENESS_POLL_S, self._check_engine)

    def _dispatch_safely(self, frames: list[Any]) -> None:
        try:
            self._dispatch(frames)
        except (ValueError, KeyError, IndexError, TypeError):  # keep serving the others
            log.exception("ignoring a malformed message from the engine process")

    def _dispatch(self, frames: list[Any]) -> None:
        kind, header = frames[0].bytes, wire.unpack(frames[1])
        if "q" in header:
            self._queued, self._queued_tokens, self._batch_tokens = header["q"]
        if "stats" in header and self._observer is not None:
            self._observer.observe_batch(*header["stats"])
        if kind == wire.RESULT:
            rows = wire.decode_rows(header["shapes"], frames[2])
            seconds = header["stats"][3]
            for item, row in zip(header["ids"], rows, strict=True):
                waiting = self._pending.get(item)
                if waiting is not None and not waiting.future.done():
                    queue_s = header["started"] - waiting.submitted
                    waiting.future.set_result(ItemResult(row, queue_s, seconds))
        elif kind == wire.FAILED:
            for item in header["ids"]:
                waiting = self._pending.get(item)
                if waiting is not None and not waiting.future.done():
                    waiting.future.set_exception(_error_of(header["error"]))
        elif kind == wire.STATE and header.get("dropped") and self._observer is not None:
            self._observer.observe_dropped(header["dropped"])

    def _fail_pending(self, error: BeiError) -> None:
        for waiting in list(self._pending.values()):
            if not waiting.future.done():
                waiting.future.set_exception(error)
        self._pending.clear()

    def _engine_died(self) -> None:
        log.error("the engine process (pid %d) exited", self._connection.pid)
        self._engine_gone = True
        self._fail_pending(batch_failure())

    def _shutdown(self) -> None:
        if self._liveness is not None:
            self._liveness.cancel()
        self._fail_pending(NotReadyError("The server is shutting down."))
        if self._socket is not None:
            self._socket.close()
        if self._context is not None:
            self._context.term()
