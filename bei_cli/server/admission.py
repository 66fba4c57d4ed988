"""Admission control and client-disconnect handling for model routes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from fastapi import Request

from bei_cli.errors import OverloadedError
from bei_cli.server.errors import ClientDisconnectedError

T = TypeVar("T")


class AdmissionGate:
    """Counts model requests in flight (event-loop only, so a plain int); one over the limit is
    refused at once with 429 rather than queued, so clients back off and retry."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise OverloadedError(
                f"Model is overloaded: {self.limit} requests are in flight.",
                hint="Retry with backoff.",
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client goes away first, so its queued inputs are
    dropped before compute (vLLM's `with_cancellation`). The body must already be read."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        watcher.cancel()
        if watcher.done() and not watcher.cancelled():
            watcher.exception()  # a failing receive() counts as a disconnect
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.wait({task})
    raise ClientDisconnectedError
