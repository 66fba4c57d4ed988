"""Many clients at once over ASGI: each gets its own vector, batches form, disconnects drop work."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from bei_cli.server.tokenizer import TextTokenizer
from tests.unit.server.support import AppFactory, RecordingEngine, expected_vector, make_engine

CLIENTS = 64


async def with_app(app: FastAPI, work: Any) -> Any:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await work(client)


def test_64_concurrent_clients_each_get_their_own_vector(
    make_app: AppFactory, tokenizer: TextTokenizer
) -> None:
    engine = make_engine(delay_s=0.005)
    app = make_app(engine=engine)
    texts = [f"client {i} says {'hello ' * (i % 9)}" for i in range(CLIENTS)]

    async def one(client: httpx.AsyncClient, i: int) -> tuple[int, list[float]]:
        route, body = (
            ("/embed", {"inputs": texts[i]})
            if i % 2
            else (
                "/v1/embeddings",
                {"input": [texts[i]]},
            )
        )
        reply = await client.post(route, json=body)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        return i, data[0] if i % 2 else data["data"][0]["embedding"]

    async def work(client: httpx.AsyncClient) -> list[tuple[int, list[float]]]:
        return list(await asyncio.gather(*(one(client, i) for i in range(CLIENTS))))

    for i, vector in asyncio.run(with_app(app, work)):
        ids = tokenizer.encode([texts[i]], truncate=True)[0]
        np.testing.assert_allclose(vector, expected_vector(ids), atol=1e-6)
    assert sum(engine.batch_sizes) == CLIENTS
    assert max(engine.batch_sizes) > 1


@pytest.mark.parametrize("path", ["fast lane", "full app"])
def test_a_client_that_disconnects_is_dropped_before_compute(
    make_app: AppFactory, path: str
) -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    app = make_app(engine=engine, fast_lane=path == "fast lane")

    async def abandoned_request(disconnect: asyncio.Event) -> list[dict[str, Any]]:
        """A raw ASGI call whose client goes away after sending its body."""
        sent: list[dict[str, Any]] = []
        body = b'{"input": [[101, 999, 102]]}'
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/embeddings",
            "raw_path": b"/v1/embeddings",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"host", b"test"),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        await app(scope, receive, send)
        return sent

    async def work(client: httpx.AsyncClient) -> int:
        first = asyncio.ensure_future(client.post("/v1/embeddings", json={"input": [[101, 1]]}))
        await asyncio.to_thread(engine.started.wait, 5)
        disconnect = asyncio.Event()
        abandoned = asyncio.ensure_future(abandoned_request(disconnect))
        while app.state.server.batcher.queued == 0:
            await asyncio.sleep(0.001)
        disconnect.set()
        sent = await abandoned
        engine.release.set()
        assert (await first).status_code == 200
        assert (await client.post("/v1/embeddings", json={"input": [[101, 2]]})).status_code == 200
        assert sent[0]["status"] == 499
        registry = app.state.server.metrics.registry
        return int(registry.get_sample_value("bei_dropped_inputs_total"))

    dropped = asyncio.run(with_app(app, work))
    if path == "fast lane":
        assert app.state.fast_lane.served == 3
    assert [101, 999, 102] not in engine.sequences
    assert engine.sequences == [[101, 1], [101, 2]]
    assert dropped == 1
