"""A ZeroMQ socket driven by an asyncio loop's reader callback, without zmq.asyncio.

zmq.asyncio wraps every send and receive in futures, poller registrations and enum flag
arithmetic: on a front-end answering 5-token requests that cost ~170 us of event-loop time
per message received, a quarter of the loop (docs/benchmarks.md, issue 11). Here the loop
watches the socket's notification descriptor (`zmq.FD`) once; when it fires, every waiting
message is received non-blocking and handed to `on_message` in that one callback; sends are
non-blocking and only wait (for `POLLOUT`) when the socket's high-water mark is reached.

libzmq's descriptor is edge-triggered: it signals that `zmq.EVENTS` may have changed, not that
a message waits, and a send can consume the signal of a message that arrived meanwhile. So
the callback drains until `EVENTS` has no `POLLIN`, and every send re-checks `EVENTS` (and
schedules the callback when a message waits) -- pyzmq's own asyncio layer does the same.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any, cast

import zmq

# Plain ints: zmq.POLLIN is an enum.Flag, whose `&` costs a Python call on the hot path.
POLLIN, POLLOUT = int(zmq.POLLIN), int(zmq.POLLOUT)
EVENTS, NOBLOCK = int(zmq.EVENTS), int(zmq.NOBLOCK)

log = logging.getLogger(__name__)

OnMessage = Callable[[list[Any]], None]


class LoopSocket:
    def __init__(
        self, socket: zmq.Socket[Any], loop: asyncio.AbstractEventLoop, on_message: OnMessage
    ) -> None:
        self._socket = socket
        self._loop = loop
        self._on_message = on_message
        self._writers: collections.deque[asyncio.Future[None]] = collections.deque()
        self._scheduled = False
        self._closed = False
        self._fd = cast(int, socket.get(zmq.FD))
        loop.add_reader(self._fd, self._on_events)
        self._schedule()  # messages may have arrived before the reader was added

    async def send(self, frames: list[Any]) -> None:
        """Queue one multipart message; waits only while the socket is at its high-water mark."""
        while True:
            if self._closed:
                raise zmq.ZMQError(zmq.ENOTSOCK, "the socket is closed")
            try:
                self._socket.send_multipart(frames, NOBLOCK, copy=False)
            except zmq.Again:
                waiter = self._loop.create_future()
                self._writers.append(waiter)
                self._schedule()
                await waiter
                continue
            self._after_send()
            return

    def send_now(self, frames: list[Any]) -> bool:
        """Queue one message unless the socket is full (False then: nothing was sent)."""
        if self._closed:
            return False
        try:
            self._socket.send_multipart(frames, NOBLOCK, copy=False)
        except zmq.Again:
            return False
        self._after_send()
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        for waiter in self._writers:
            if not waiter.done():
                waiter.set_exception(zmq.ZMQError(zmq.ENOTSOCK, "the socket is closed"))
        self._writers.clear()
        self._socket.close(linger=0)

    def _after_send(self) -> None:
        # A send may have swallowed the descriptor's edge of a message that arrived meanwhile.
        if cast(int, self._socket.get(EVENTS)) & POLLIN:
            self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled and not self._closed:
            self._scheduled = True
            self._loop.call_soon(self._on_events)

    def _on_events(self) -> None:
        self._scheduled = False
        socket = self._socket
        while not self._closed:
            events = cast(int, socket.get(EVENTS))
            if events & POLLOUT:
                while self._writers:
                    waiter = self._writers.popleft()
                    if not waiter.done():
                        waiter.set_result(None)
            if not events & POLLIN:
                return
            frames = socket.recv_multipart(NOBLOCK, copy=False)
            try:
                self._on_message(frames)
            except Exception:  # one bad message must not stop the others being received
                log.exception("ignoring a message its handler failed on")
