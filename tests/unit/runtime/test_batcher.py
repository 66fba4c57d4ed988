"""The in-process EngineClient (Batcher) with a real engine thread and FakeEngine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import pytest

from bei_cli.engine.base import Batch, Output
from bei_cli.engine.fake import fake_embedding
from bei_cli.errors import DeadlineExceededError, EngineError, NotReadyError, OverloadedError
from bei_cli.runtime.batcher import Batcher
from tests.unit.server.support import DIM, RecordingEngine, make_engine

T = TypeVar("T")


@dataclass
class Observer:
    batches: list[tuple[int, int, int]] = field(default_factory=list)
    dropped: int = 0

    def observe_batch(self, size: int, tokens: int, padded_tokens: int, seconds: float) -> None:
        self.batches.append((size, tokens, padded_tokens))

    def observe_dropped(self, count: int) -> None:
        self.dropped += count


def run_with(batcher: Batcher, work: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        batcher.start()
        try:
            return await work()
        finally:
            await asyncio.to_thread(batcher.close, 10)

    return asyncio.run(main())


def make_batcher(engine: Any, **kwargs: Any) -> Batcher:
    limits: dict[str, Any] = {"max_batch_tokens": 4096, "max_batch_size": 64, "max_queued": 1000}
    return Batcher(engine, **(limits | kwargs))


def sequence(i: int) -> list[int]:
    return [101, 1000 + i, 2000 + i % 7, 102][: 2 + i % 3]


def test_every_item_gets_the_row_of_its_own_sequence() -> None:
    engine = make_engine(delay_s=0.01)
    batcher = make_batcher(engine)

    async def work() -> list[list[Any]]:
        requests = [[sequence(r * 10 + i) for i in range(r % 5 + 1)] for r in range(40)]
        results = await asyncio.gather(*(batcher.run(seqs) for seqs in requests))
        pairs = zip(requests, results, strict=True)
        return [list(zip(seqs, res, strict=True)) for seqs, res in pairs]

    for pairs in run_with(batcher, work):
        for ids, result in pairs:
            np.testing.assert_allclose(result.values, fake_embedding(ids, DIM), rtol=1e-6)
            assert result.queue_s >= 0 and result.inference_s > 0
    assert max(engine.batch_sizes) > 1


def test_work_arriving_while_the_engine_runs_forms_one_batch() -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    observer = Observer()
    batcher = make_batcher(engine, observer=observer)

    async def work() -> None:
        first = asyncio.ensure_future(batcher.run([sequence(0)]))
        await asyncio.to_thread(engine.started.wait, 5)
        rest = [asyncio.ensure_future(batcher.run([sequence(i)])) for i in range(1, 21)]
        await asyncio.sleep(0)
        engine.release.set()
        await asyncio.gather(first, *rest)

    run_with(batcher, work)
    assert engine.inner.batch_sizes == [1, 20]
    assert observer.batches[1] == (20, sum(len(sequence(i)) for i in range(1, 21)), 20 * 4)


def test_a_failing_batch_fails_its_items_and_the_next_succeeds() -> None:
    engine = make_engine(fail_on_token=666)
    batcher = make_batcher(engine)

    async def work() -> None:
        with pytest.raises(EngineError) as caught:
            await batcher.run([[101, 666, 102], [101, 5, 102]])
        assert caught.value.http_status == 500
        assert "666" not in caught.value.message  # no internals in the reply
        (result,) = await batcher.run([[101, 7, 102]])
        np.testing.assert_allclose(result.values, fake_embedding([101, 7, 102], DIM), rtol=1e-6)

    run_with(batcher, work)


def test_a_cancelled_item_is_dropped_before_compute() -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    observer = Observer()
    batcher = make_batcher(engine, observer=observer)

    async def work() -> None:
        first = asyncio.ensure_future(batcher.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        doomed = asyncio.ensure_future(batcher.run([[101, 999, 102]]))
        await asyncio.sleep(0)
        assert batcher.queued == 1
        doomed.cancel()
        await asyncio.sleep(0)
        engine.release.set()
        await first
        await batcher.run([[101, 2, 102]])

    run_with(batcher, work)
    assert [101, 999, 102] not in engine.sequences
    assert engine.sequences == [[101, 1, 102], [101, 2, 102]]
    assert observer.dropped == 1


def test_overload_is_refused_with_429() -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    batcher = make_batcher(engine, max_queued=4)

    async def work() -> None:
        first = asyncio.ensure_future(batcher.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        queued = batcher.submit([[101, 2, 102]] * 4)
        with pytest.raises(OverloadedError) as caught:
            batcher.submit([[101, 3, 102]])
        assert caught.value.http_status == 429
        engine.release.set()
        await asyncio.gather(first, *queued)

    run_with(batcher, work)


def test_close_drains_queued_work_then_refuses_new_work() -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    batcher = make_batcher(engine)

    async def work() -> None:
        first = asyncio.ensure_future(batcher.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        queued = asyncio.ensure_future(batcher.run([[101, 2, 102]]))
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(asyncio.to_thread(batcher.close, 10))
        await asyncio.sleep(0.05)
        assert not batcher.alive
        with pytest.raises(NotReadyError):
            batcher.submit([[101, 3, 102]])
        engine.release.set()
        await asyncio.gather(first, queued, closing)

    run_with(batcher, work)
    assert engine.sequences == [[101, 1, 102], [101, 2, 102]]


@dataclass
class BrokenEngine:
    """Returns fewer rows than sequences: the batcher must fail the batch, not crash."""

    info: Any = field(default_factory=lambda: make_engine().info)

    def run(self, batch: Batch) -> Output:
        return Output(embeddings=np.zeros((0, DIM), np.float32))


def test_malformed_engine_output_fails_the_batch() -> None:
    batcher = make_batcher(BrokenEngine())

    async def work() -> None:
        for _ in range(2):
            with pytest.raises(EngineError):
                await batcher.run([[101, 1, 102]])
            assert batcher.alive

    run_with(batcher, work)


@dataclass
class TypeRecordingEngine:
    info: Any = field(default_factory=lambda: make_engine().info)
    seen: list[Any] = field(default_factory=list)

    def run(self, batch: Batch) -> Output:
        self.seen.append(None if batch.token_type_ids is None else batch.token_type_ids.tolist())
        return make_engine().run(batch)


def test_token_type_ids_reach_the_engine() -> None:
    engine = TypeRecordingEngine()
    batcher = make_batcher(engine)

    async def work() -> None:
        await batcher.run([[101, 5, 102, 6, 102]], token_types=[[0, 0, 0, 1, 1]])
        await batcher.run([[101, 5, 102]])

    run_with(batcher, work)
    assert engine.seen == [[0, 0, 0, 1, 1], None]


def test_an_item_whose_deadline_passed_is_dropped_before_compute() -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    observer = Observer()
    batcher = make_batcher(engine, observer=observer)

    async def work() -> None:
        first = asyncio.ensure_future(batcher.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        late = asyncio.ensure_future(
            batcher.run([[101, 998, 102]], deadline=time.monotonic() + 0.05)
        )
        in_time = asyncio.ensure_future(
            batcher.run([[101, 3, 102]], deadline=time.monotonic() + 60)
        )
        await asyncio.sleep(0.1)  # the deadline passes while the engine is busy
        engine.release.set()
        await first
        with pytest.raises(DeadlineExceededError) as caught:
            await late
        assert caught.value.http_status == 504
        await in_time

    run_with(batcher, work)
    assert [101, 998, 102] not in engine.sequences
    assert [101, 3, 102] in engine.sequences
    assert observer.dropped == 1


def test_queued_tokens_follow_the_engines_cost_model() -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    batcher = make_batcher(engine)

    async def work() -> None:
        first = asyncio.ensure_future(batcher.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        waiting = batcher.submit([[1] * 5, [1] * 3])
        assert batcher.queued == 2
        # the fake engine pads (as torch does): 5 -> 8, 3 -> 4 (length rounded up to 2^k)
        assert batcher.queued_tokens == 8 + 4
        engine.release.set()
        await asyncio.gather(first, *waiting)
        assert batcher.queued == 0 and batcher.queued_tokens == 0

    run_with(batcher, work)


def test_a_padding_free_engine_is_budgeted_by_its_real_tokens() -> None:
    inner = make_engine()
    inner.info = replace(inner.info, padded=False)
    engine = RecordingEngine(inner, hold=True)
    observer = Observer()
    batcher = make_batcher(engine, observer=observer, max_batch_tokens=12)

    async def work() -> None:
        first = asyncio.ensure_future(batcher.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        waiting = batcher.submit([[1] * 10, [2], [3], [4]])
        assert batcher.queued_tokens == 13
        engine.release.set()
        await asyncio.gather(first, *waiting)

    run_with(batcher, work)
    # 10 + 1 + 1 = 12 real tokens fit (padded they would cost 3 x 10); the last waits
    assert observer.batches[1:] == [(3, 12, 12), (1, 1, 1)]
