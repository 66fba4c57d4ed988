"""Admission: 429 + Retry-After when the estimated wait is over the bound, the client's deadline
headers (dropped before compute), the bounded tokenization pool, and /health while a huge
request is tokenized. Fake engines only; no timing is asserted beyond generous bounds."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bei_cli.engine.fake import FakeEngine, fake_info
from bei_cli.errors import DeadlineExceededError, MalformedRequestError, OverloadedError
from bei_cli.server.admission import (
    AdmissionGate,
    BatchCost,
    BatchShape,
    deadline_from_headers,
)
from bei_cli.server.tokenize_pool import TokenizationPool
from tests.unit.server.support import (
    DIM,
    MAX_SEQ_LEN,
    AppFactory,
    RecordingEngine,
    make_engine,
)


async def with_app(app: FastAPI, work: Any) -> Any:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await work(client)


def test_timeout_header_is_relative_and_deadline_header_is_epoch_milliseconds() -> None:
    # What the Baseten performance client sends with timeout_s=12.5 at wall time 1000 s.
    wall, mono = 1_000.0, 50.0
    both = deadline_from_headers("12500", "1012500", wall_now=wall, monotonic_now=mono)
    assert both == pytest.approx(62.5)
    assert deadline_from_headers("1000", None, wall_now=wall, monotonic_now=mono) == 51.0
    earlier = deadline_from_headers("9000", "1002000", wall_now=wall, monotonic_now=mono)
    assert earlier == pytest.approx(52.0)
    assert deadline_from_headers(None, None, wall_now=wall, monotonic_now=mono) is None
    for bad in ("soon", "-5", "nan", "inf"):
        with pytest.raises(MalformedRequestError, match="Request-Timeout-Ms"):
            deadline_from_headers(bad, None, wall_now=wall, monotonic_now=mono)


class _Queue:
    queued = 0
    queued_tokens = 0
    batch_tokens = 1 << 30  # no budget below the engine's limit


def test_wait_over_the_bound_is_refused_with_when_to_retry() -> None:
    queue, cost = _Queue(), BatchCost()
    shape = BatchShape(max_tokens=1_000, max_size=64)
    gate = AdmissionGate(10, max_wait_s=1.0, queue=queue, cost=cost, shape=shape)
    queue.queued, queue.queued_tokens = 100, 10_000
    with gate.queued([[1, 2, 3]]):  # nothing measured yet: admitted
        pass
    cost.observe_batch(size=4, tokens=1_000, padded_tokens=1_000, seconds=30.0)
    with gate.queued([[1, 2, 3]]):  # the first batch is warm-up, not counted
        pass
    cost.observe_batch(size=4, tokens=1_000, padded_tokens=1_000, seconds=1.0)
    # 10,000 padded tokens ahead are 10 full batches of 1 s each.
    with pytest.raises(OverloadedError) as caught, gate.queued([[1, 2, 3]]):
        pass
    assert caught.value.retry_after_s == pytest.approx(9.0)
    queue.queued, queue.queued_tokens = 5, 500
    with gate.queued([[1, 2, 3]]) as deadline:
        assert deadline is None and gate.admitted_tokens == 3 and gate.admitted_items == 1
    assert gate.admitted_tokens == 0 and gate.admitted_items == 0


def test_batch_cost_separates_fixed_from_per_token_seconds() -> None:
    cost = BatchCost()
    cost.observe_batch(size=1, tokens=8, padded_tokens=8, seconds=5.0)  # warm-up
    for _ in range(5):
        cost.observe_batch(size=1, tokens=8, padded_tokens=8, seconds=0.010)
        cost.observe_batch(size=64, tokens=512, padded_tokens=512, seconds=0.020)
    fixed, per_token = cost.coefficients()
    assert fixed == pytest.approx(0.010 - 8 * 0.010 / 504, rel=1e-6)
    assert per_token == pytest.approx(0.010 / 504, rel=1e-6)
    assert cost.seconds(2, 1_000) == pytest.approx(2 * fixed + 1_000 * per_token)


def test_batches_of_one_shape_keep_the_per_token_cost_learned_before() -> None:
    """The engine's calibration (two shapes) teaches the slope; a warm-up of same-size small
    batches must not turn it back into all-fixed cost, or 240 queued long inputs look like 24
    cheap batches (0.8 s) instead of the ~3.5 s of work they are."""
    cost = BatchCost()
    for stats in [(1, 8, 8, 0.01), (1, 256, 256, 0.016), (2, 512, 512, 0.030)]:
        cost.observe_batch(*stats)  # the first is warm-up, not counted
    _, learned = cost.coefficients()
    assert learned == pytest.approx(0.014 / 256)
    for _ in range(40):
        cost.observe_batch(size=2, tokens=512, padded_tokens=512, seconds=0.033)
    fixed, per_token = cost.coefficients()
    # the slope of the last fit that could tell (the 256-token batch still weighing in)
    assert learned <= per_token <= 0.033 / 512
    assert fixed + 512 * per_token == pytest.approx(0.033, rel=1e-4)  # their own mean time
    assert cost.seconds(24, 240 * 256) > 3.4


def test_short_inputs_are_not_refused_for_what_small_batches_cost() -> None:
    """Only batches of one short input measured so far: 64 more such inputs are one more batch
    (about the same time), not 64 times a tokens/s rate measured on batches of one."""
    queue, cost = _Queue(), BatchCost()
    shape = BatchShape(max_tokens=16_384, max_size=256)
    gate = AdmissionGate(1_000, max_wait_s=0.5, queue=queue, cost=cost, shape=shape)
    for _ in range(6):
        cost.observe_batch(size=1, tokens=8, padded_tokens=8, seconds=0.05)
    queue.queued, queue.queued_tokens = 64, 64 * 8
    assert gate.estimated_wait_s() == pytest.approx(0.05)
    with gate.queued([[1] * 8]):
        pass


def test_the_wait_counts_batches_of_the_engines_current_budget() -> None:
    """An engine whose batches were cut to its time budget (1,024 of its 16,384 tokens) takes
    16 batches for 16,384 queued tokens, not one: with one batch shape measured (all of its
    time per batch) the estimate must count them, or admission lets in 16 times its bound."""
    queue, cost = _Queue(), BatchCost()
    shape = BatchShape(max_tokens=16_384, max_size=256)
    gate = AdmissionGate(1_000, max_wait_s=1.0, queue=queue, cost=cost, shape=shape)
    for _ in range(6):
        cost.observe_batch(size=4, tokens=1_024, padded_tokens=1_024, seconds=0.2)
    queue.queued, queue.queued_tokens, queue.batch_tokens = 64, 16_384, 1_024
    assert gate.estimated_wait_s() == pytest.approx(16 * 0.2)
    with pytest.raises(OverloadedError), gate.queued([[1] * 256]):
        pass
    queue.batch_tokens = 1 << 30
    assert gate.estimated_wait_s() == pytest.approx(0.2)


def test_slow_engine_answers_only_200_and_429_with_retry_after(make_app: AppFactory) -> None:
    # Two inputs per batch: 24 requests are 12 batches of 0.1 s, far over the 0.2 s bound.
    info = replace(fake_info(dim=DIM, max_seq_len=MAX_SEQ_LEN), max_batch_size=2)
    engine = FakeEngine(info, delay_s=0.1)
    app = make_app(engine=engine, max_queue_wait_s=0.2)
    text = "admission " * 30

    async def work(client: httpx.AsyncClient) -> list[httpx.Response]:
        for _ in range(2):  # warm-up (not counted), then the batch cost is measured
            warm = await client.post("/embed", json={"inputs": text})
            assert warm.status_code == 200
        return list(
            await asyncio.gather(*(client.post("/embed", json={"inputs": text}) for _ in range(24)))
        )

    replies = asyncio.run(with_app(app, work))
    statuses = [r.status_code for r in replies]
    assert set(statuses) == {200, 429}, statuses
    for reply in replies:
        if reply.status_code == 429:
            assert int(reply.headers["retry-after"]) >= 1
            assert reply.json()["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    "headers",
    [
        {"Request-Timeout-Ms": "0"},
        {"Request-Deadline-Ms": str(int(time.time() * 1000) - 5_000)},
    ],
)
def test_an_expired_deadline_is_refused_before_compute(
    make_app: AppFactory, headers: dict[str, str]
) -> None:
    engine = RecordingEngine(make_engine())
    app = make_app(engine=engine)

    async def work(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/embed", json={"inputs": "too late"}, headers=headers)

    reply = asyncio.run(with_app(app, work))
    assert reply.status_code == 504, reply.text
    assert reply.json()["error"]["type"] == DeadlineExceededError.error_type
    assert engine.sequences == []


def test_queued_work_whose_deadline_passes_is_dropped_before_compute(
    make_app: AppFactory, tokenizer: Any
) -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    app = make_app(engine=engine)

    async def work(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        first = asyncio.create_task(client.post("/embed", json={"inputs": "holds the engine"}))
        await asyncio.to_thread(engine.started.wait, 10)
        late = asyncio.create_task(
            client.post(
                "/embed",
                json={"inputs": "waits in the queue"},
                headers={"Request-Timeout-Ms": "200"},
            )
        )
        await asyncio.sleep(0.5)  # its deadline passes while the engine is held
        engine.release.set()
        return await first, await late

    first, late = asyncio.run(with_app(app, work))
    assert first.status_code == 200
    assert late.status_code == 504, late.text
    assert engine.sequences == tokenizer.encode(["holds the engine"], truncate=True)


def test_malformed_deadline_header_is_a_400(make_app: AppFactory) -> None:
    async def work(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(
            "/embed", json={"inputs": "x"}, headers={"Request-Timeout-Ms": "x"}
        )

    reply = asyncio.run(with_app(make_app(), work))
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "Request-Timeout-Ms"


def test_tokenization_pool_refuses_over_its_bound() -> None:
    pool = TokenizationPool(1, max_pending=2)
    gate = threading.Event()
    try:
        running = [pool.submit(gate.wait, 10), pool.submit(gate.wait, 10)]
        with pytest.raises(OverloadedError, match="waiting for tokenization"):
            pool.submit(gate.wait, 10)
        gate.set()
        assert all(f.result(10) for f in running)
        assert pool.submit(len, "ok").result(10) == 2 and pool.pending == 0
    finally:
        gate.set()
        pool.shutdown()


def test_a_full_tokenization_queue_is_a_429(make_app: AppFactory) -> None:
    app = make_app(max_tokenization_queue=0)

    async def work(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        large = await client.post("/embed", json={"inputs": "large " * 1_000})
        small = await client.post("/embed", json={"inputs": "small"})  # tokenized inline
        return large, small

    large, small = asyncio.run(with_app(app, work))
    assert large.status_code == 429 and int(large.headers["retry-after"]) >= 1
    assert small.status_code == 200


def test_health_answers_while_an_8_mb_cjk_body_is_tokenized(make_app: AppFactory) -> None:
    app = make_app()
    huge = "中文" * 1_350_000  # 8.1 MB of UTF-8

    async def work(client: httpx.AsyncClient) -> tuple[httpx.Response, float]:
        big = asyncio.create_task(client.post("/embed", json={"inputs": huge}))
        slowest = 0.0
        while not big.done():
            started = time.perf_counter()
            assert (await client.get("/health")).status_code == 200
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.01)
        return await big, slowest

    reply, slowest = asyncio.run(with_app(app, work))
    assert reply.status_code == 200, reply.text[:200]
    assert slowest < 1.0  # generous: not a speed test, a "never stalls for seconds" test


@pytest.mark.parametrize(
    ("knob", "value"),
    [("max_queue_wait_s", 0.0), ("max_queue_wait_s", float("nan")), ("max_tokenization_queue", -1)],
)
def test_admission_knobs_are_checked_once(knob: str, value: float) -> None:
    from bei_cli.errors import ConfigError
    from bei_cli.server.settings import ServerSettings

    with pytest.raises(ConfigError) as caught:
        ServerSettings(**{knob: value})  # type: ignore[arg-type]
    assert caught.value.param == knob
