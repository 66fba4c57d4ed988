"""The engine process: it owns the device, the engine and the batching loop; front-end processes
reach it over ZeroMQ (`wire`). Started by `engine_process.start_engine_process` as
`python -m bei_cli.runtime.engine_server SPEC_JSON`.

- It calls `load_engine` itself (CUDA graphs and pinned memory belong to the process that uses
  them) and reports the outcome once on `status_fd`: the EngineInfo, or the error a user reads.
- Threads: the main thread runs batches (`WorkQueue.take` -> `compute.run_batch`); one I/O
  thread owns the ROUTER socket (submits and cancels in, results out through an inproc PUSH/PULL
  pair, since ZeroMQ sockets are not shared between threads). The engine releases the GIL while
  it computes, so receiving the next work overlaps the batch.
- Each batch's token budget follows its measured cost (`WorkQueue.batch_tokens`); a torch engine
  on the CPU runs each batch on the thread count measured cheapest under the current load
  (`thread_tuner`).
- It dies with its parent (PR_SET_PDEATHSIG, plus a getppid watch); SIGTERM finishes what is
  queued, then exits 0; SIGINT is ignored (the launcher decides when it stops).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import zmq

from bei_cli.engine.artifact import load_engine
from bei_cli.engine.base import Engine, IntArray
from bei_cli.errors import BeiError
from bei_cli.runtime import wire
from bei_cli.runtime.compute import BatchRun, BatchStats, calibrate, run_batch
from bei_cli.runtime.thread_tuner import thread_tuner_for
from bei_cli.runtime.work_queue import QueuedItem, Taken, WorkQueue, capped

log = logging.getLogger("bei.engine")

PARENT_WATCH_S = 0.5
IO_POLL_MS = 100
OUTBOX = "inproc://bei-engine-outbox"
PR_SET_PDEATHSIG = 1
LOG_FORMAT = "%(levelname)s:     engine: %(message)s"  # "INFO:     engine: ..." in the server log


@dataclass(frozen=True)
class EngineSpec:
    """Everything the engine process needs, passed as JSON on its command line."""

    artifact_dir: str
    device: str
    address: str  # where the ROUTER binds: ipc://<private dir>/engine
    max_batch_tokens: int | None  # requested; capped by the engine's own limits
    max_batch_size: int | None
    max_queued: int
    parent_pid: int
    status_fd: int
    log_level: str = "info"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EngineSpec:
        return cls(**json.loads(text))


class _Remote:
    """The Ticket of an item a front-end sent: who to answer, and whether it cancelled."""

    __slots__ = ("cancelled", "item", "peer")

    def __init__(self, peer: bytes, item: int) -> None:
        self.peer, self.item, self.cancelled = peer, item, False

    def abandoned(self) -> bool:
        return self.cancelled


_Item = QueuedItem[_Remote]


class EngineServer:
    def __init__(self, engine: Engine, spec: EngineSpec, context: zmq.Context[Any]) -> None:
        info = engine.info
        self._engine = engine
        self._queue: WorkQueue[_Remote] = WorkQueue(
            max_batch_tokens=capped(spec.max_batch_tokens, info.max_batch_tokens),
            max_batch_size=capped(spec.max_batch_size, info.max_batch_size),
            max_queued=spec.max_queued,
            padded=info.padded,
        )
        self._threads = thread_tuner_for(engine)
        self._tickets: dict[tuple[bytes, int], _Remote] = {}
        self._peers: set[bytes] = set()
        self._router = context.socket(zmq.ROUTER)
        self._router.setsockopt(zmq.LINGER, 0)
        self._router.bind(spec.address)
        self._inbox = context.socket(zmq.PULL)
        self._inbox.bind(OUTBOX)
        self._outbox = context.socket(zmq.PUSH)
        self._outbox.connect(OUTBOX)
        self._stopped = threading.Event()

    def seed(self, calibration: list[BatchStats]) -> None:
        """The engine's calibration batches, as if it had run them: the first batch budget."""
        for stats in calibration:
            self._queue.observe_batch(*stats)

    def stop(self) -> None:
        """Refuse new work, finish what is queued (`serve` then returns)."""
        self._queue.close()

    def serve(self) -> None:
        io = threading.Thread(target=self._io_loop, name="bei-engine-io", daemon=True)
        io.start()
        try:
            while (taken := self._queue.take()) is not None:
                self._answer_drops(taken)
                if taken.batch:
                    self._answer_batch(taken.batch, self._run(taken.batch))
                self._broadcast_state(taken)
        finally:
            self._stopped.set()
            io.join(2)
            for sock in (self._outbox, self._inbox, self._router):
                sock.close(linger=0)

    # --- engine thread ---------------------------------------------------------------------

    def _run(self, items: list[_Item]) -> BatchRun:
        """One batch, on the thread count the tuner picks; its cost feeds the tuner and the
        queue's batch budget."""
        threads = None if self._threads is None else self._threads.choose()
        run = run_batch(self._engine, items)
        self._queue.observe_batch(*run.stats)
        if self._threads is not None:
            tokens = run.padded_tokens if run.rows is not None else 0
            self._threads.observe(threads, tokens, run.seconds)
        return run

    def _snapshot(self) -> list[int]:
        return [self._queue.queued, self._queue.queued_tokens, self._queue.batch_tokens]

    def _send(self, peer: bytes, frames: wire.Frames) -> None:
        self._outbox.send_multipart([peer, *frames], copy=False)

    def _answer_drops(self, taken: Taken[_Remote]) -> None:
        for item in taken.abandoned:
            self._tickets.pop((item.ticket.peer, item.ticket.item), None)
        for peer, items in _by_peer(taken.expired).items():
            ids = self._forget(items)
            self._send(peer, wire.pack(wire.FAILED, {"ids": ids, "error": "deadline"}))

    def _answer_batch(self, items: list[_Item], run: BatchRun) -> None:
        stats = list(run.stats)
        rows = dict(zip(map(id, items), run.rows or [], strict=False))
        for peer, mine in _by_peer(items).items():
            ids = self._forget(mine)
            header: dict[str, Any] = {"ids": ids, "stats": stats, "q": self._snapshot()}
            if run.rows is None:
                self._send(peer, wire.pack(wire.FAILED, header | {"error": "engine"}))
                continue
            shapes, flat = wire.encode_rows([rows[id(item)] for item in mine])
            header.update(shapes=shapes, started=run.started)
            self._send(peer, wire.pack(wire.RESULT, header, flat))

    def _broadcast_state(self, taken: Taken[_Remote]) -> None:
        dropped = Counter(item.ticket.peer for item in taken.abandoned + taken.expired)
        state = self._snapshot()
        for peer in list(self._peers):
            self._send(peer, wire.pack(wire.STATE, {"q": state, "dropped": dropped[peer]}))

    def _forget(self, items: list[_Item]) -> list[int]:
        for item in items:
            self._tickets.pop((item.ticket.peer, item.ticket.item), None)
        return [item.ticket.item for item in items]

    # --- I/O thread ------------------------------------------------------------------------

    def _io_loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._inbox, zmq.POLLIN)
        while not self._stopped.is_set():
            ready = dict(poller.poll(IO_POLL_MS))
            while self._inbox in ready and self._inbox.poll(0):
                self._router.send_multipart(self._inbox.recv_multipart(copy=False), copy=False)
            while self._router in ready and self._router.poll(0):
                self._receive(self._router.recv_multipart(copy=False))

    def _receive(self, frames: list[Any]) -> None:
        peer, kind = frames[0].bytes, frames[1].bytes
        self._peers.add(peer)
        try:
            if kind == wire.SUBMIT:
                self._submit(peer, wire.decode_submit(frames[1:]))
            elif kind == wire.CANCEL:
                for item in wire.unpack(frames[2])["ids"]:
                    ticket = self._tickets.get((peer, item))
                    if ticket is not None:
                        ticket.cancelled = True
            else:
                log.warning("ignoring a message of unknown kind %r", kind)
        except (ValueError, KeyError, IndexError):
            log.exception("ignoring a malformed message from a front-end")

    def _submit(self, peer: bytes, submit: wire.Submit) -> None:
        types: list[IntArray | None] = [None] * len(submit.sequences)
        if submit.token_types is not None:
            types = list(submit.token_types)
        items = [
            QueuedItem(
                ids,
                type_ids,
                _Remote(peer, submit.first + i),
                submit.submitted,
                submit.deadline,
                submit.per_token,
            )
            for i, (ids, type_ids) in enumerate(zip(submit.sequences, types, strict=True))
        ]
        for item in items:
            self._tickets[(peer, item.ticket.item)] = item.ticket
        try:
            self._queue.put(items)
        except BeiError as err:
            ids = self._forget(items)
            error = "overloaded" if err.http_status == 429 else "not_ready"
            header = {"ids": ids, "error": error, "q": self._snapshot()}
            self._router.send_multipart([peer, *wire.pack(wire.FAILED, header)])


def _by_peer(items: list[_Item]) -> dict[bytes, list[_Item]]:
    grouped: dict[bytes, list[_Item]] = defaultdict(list)
    for item in items:
        grouped[item.ticket.peer].append(item)
    return grouped


def _die_with_parent(parent_pid: int) -> None:
    """No orphans: the kernel signals us when the parent exits, and a watch thread covers the
    race before prctl and platforms without it."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: the watch alone
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_WATCH_S)
        log.error("the parent process exited; the engine process stops")
        os._exit(1)

    threading.Thread(target=watch, name="bei-parent-watch", daemon=True).start()


def _report(status_fd: int, message: dict[str, Any]) -> None:
    with os.fdopen(status_fd, "w", encoding="utf-8") as status:
        status.write(json.dumps(message) + "\n")


def _failure(err: BaseException) -> dict[str, Any]:
    if isinstance(err, BeiError):
        return {
            "ok": False,
            "error": type(err).__name__,
            "message": err.message,
            "hint": err.hint,
            "exit_code": err.exit_code,
        }
    return {"ok": False, "error": type(err).__name__, "message": str(err), "exit_code": 1}


def main(argv: list[str]) -> int:
    spec = EngineSpec.from_json(argv[0])
    _die_with_parent(spec.parent_pid)
    logging.basicConfig(level=spec.log_level.upper(), format=LOG_FORMAT)
    context: zmq.Context[Any] = zmq.Context()
    try:
        engine, _ = load_engine(Path(spec.artifact_dir), device=spec.device)
        server = EngineServer(engine, spec, context)
        calibration = calibrate(engine)
        server.seed(calibration)
    except Exception as err:  # reported to `bei serve`, which renders it once
        log.debug("engine start failed", exc_info=True)
        _report(spec.status_fd, _failure(err))
        return 1
    ready = {"ok": True, "info": asdict(engine.info), "pid": os.getpid()}
    _report(spec.status_fd, ready | {"calibration": calibration})
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    # Ctrl-C reaches the whole process group: the front-ends drain on it while this process
    # keeps serving them; the launcher stops it (SIGTERM) once they are done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log.info("engine %s on %s serving at %s", engine.info.name, engine.info.device, spec.address)
    server.serve()
    context.term()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
