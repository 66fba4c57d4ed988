"""The engine process and its front-end client (ProcessEngineClient), over real ZeroMQ sockets.

Most tests run the engine server loop (`EngineServer`) on a thread of the test process with an
engine the test controls (hold a batch, fail on a token), talking to real clients on their own
event loops; the rest start the real engine process (`python -m bei_cli.runtime.engine_server`)
on a fake-engine artifact: startup, its error report, shutdown, and no orphan.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import zmq

from bei_cli.engine.artifact import MODEL_DIR
from bei_cli.engine.base import Engine
from bei_cli.engine.fake import fake_embedding, token_vector
from bei_cli.errors import (
    ArtifactError,
    DeadlineExceededError,
    EngineError,
    NotReadyError,
    OverloadedError,
)
from bei_cli.runtime.engine_process import start_engine_process
from bei_cli.runtime.engine_server import EngineServer, EngineSpec
from bei_cli.runtime.process_client import EngineConnection, ProcessEngineClient, pid_alive
from tests.unit.runtime.artifacts import fake_artifact
from tests.unit.runtime.test_batcher import Observer, sequence
from tests.unit.server.support import DIM, RecordingEngine, make_engine, scoring_model

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def engine_server(engine: Engine, max_queued: int = 1000) -> Iterator[EngineConnection]:
    """The engine process's serving loop on a thread here, on a private ipc:// address."""
    workdir = tempfile.mkdtemp(prefix="bei-test-engine-")
    spec = EngineSpec(
        artifact_dir="unused",
        device="cpu",
        address=f"ipc://{workdir}/engine",
        max_batch_tokens=4096,
        max_batch_size=64,
        max_queued=max_queued,
        parent_pid=os.getppid(),
        status_fd=-1,
    )
    context: zmq.Context[Any] = zmq.Context()
    server = EngineServer(engine, spec, context)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        # the front-end's own overload check is generous here: the engine's is under test
        yield EngineConnection(spec.address, os.getpid(), engine.info, max_queued * 10)
    finally:
        server.stop()
        release = getattr(engine, "release", None)
        if release is not None:
            release.set()
        thread.join(10)
        context.term()


def with_client(
    connection: EngineConnection,
    work: Callable[[ProcessEngineClient], Awaitable[T]],
    observer: Observer | None = None,
) -> T:
    async def main() -> T:
        client = ProcessEngineClient(connection, observer=observer)
        client.start()
        try:
            return await work(client)
        finally:
            client.close()

    return asyncio.run(main())


def test_every_item_gets_the_row_of_its_own_sequence() -> None:
    engine = make_engine(delay_s=0.01)
    observer = Observer()

    async def work(client: ProcessEngineClient) -> None:
        requests = [[sequence(r * 10 + i) for i in range(r % 5 + 1)] for r in range(40)]
        results = await asyncio.gather(*(client.run(seqs) for seqs in requests))
        for seqs, res in zip(requests, results, strict=True):
            for ids, result in zip(seqs, res, strict=True):
                np.testing.assert_allclose(result.values, fake_embedding(ids, DIM), rtol=1e-6)
                assert result.queue_s >= 0 and result.inference_s > 0
        assert client.queued == 0

    with engine_server(engine) as connection:
        with_client(connection, work, observer)
    assert max(engine.batch_sizes) > 1
    assert sum(size for size, _, _ in observer.batches) == sum(r % 5 + 1 for r in range(40))


def test_a_cancelled_item_is_dropped_before_compute() -> None:
    engine = RecordingEngine(make_engine(), hold=True)
    observer = Observer()

    async def work(client: ProcessEngineClient) -> None:
        first = asyncio.ensure_future(client.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        doomed = asyncio.ensure_future(client.run([[101, 999, 102]]))
        await asyncio.sleep(0.2)  # submitted; the engine is still busy with the first
        doomed.cancel()
        await asyncio.sleep(0.2)  # the cancel reaches the engine process
        engine.release.set()
        await first
        await client.run([[101, 2, 102]])
        await asyncio.sleep(0.1)

    with engine_server(engine) as connection:
        with_client(connection, work, observer)
    assert engine.sequences == [[101, 1, 102], [101, 2, 102]]
    assert observer.dropped == 1


def test_an_item_past_its_deadline_is_dropped_before_compute() -> None:
    engine = RecordingEngine(make_engine(), hold=True)

    async def work(client: ProcessEngineClient) -> None:
        first = asyncio.ensure_future(client.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        late = asyncio.ensure_future(
            client.run([[101, 998, 102]], deadline=time.monotonic() + 0.05)
        )
        await asyncio.sleep(0.2)
        engine.release.set()
        await first
        with pytest.raises(DeadlineExceededError):
            await late

    with engine_server(engine) as connection:
        with_client(connection, work)
    assert [101, 998, 102] not in engine.sequences


def test_a_failing_batch_fails_its_items_and_the_next_succeeds() -> None:
    async def work(client: ProcessEngineClient) -> None:
        with pytest.raises(EngineError) as caught:
            await client.run([[101, 666, 102], [101, 5, 102]])
        assert "666" not in caught.value.message
        (result,) = await client.run([[101, 7, 102]])
        np.testing.assert_allclose(result.values, fake_embedding([101, 7, 102], DIM), rtol=1e-6)
        assert client.alive

    with engine_server(make_engine(fail_on_token=666)) as connection:
        with_client(connection, work)


def test_a_full_engine_queue_is_refused_with_429() -> None:
    engine = RecordingEngine(make_engine(), hold=True)

    async def work(client: ProcessEngineClient) -> None:
        first = asyncio.ensure_future(client.run([[101, 1, 102]]))
        await asyncio.to_thread(engine.started.wait, 5)
        queued = asyncio.ensure_future(client.run([[101, 2, 102]] * 4))
        await asyncio.sleep(0.1)
        with pytest.raises(OverloadedError):
            await client.run([[101, 3, 102]])
        engine.release.set()
        await asyncio.gather(first, queued)

    with engine_server(engine, max_queued=4) as connection:
        with_client(connection, work)


def test_two_front_ends_share_one_engine_and_get_their_own_rows() -> None:
    engine = make_engine(delay_s=0.005)
    results: dict[int, bool] = {}

    def front_end(index: int, connection: EngineConnection) -> None:
        async def work(client: ProcessEngineClient) -> bool:
            requests = [[[101, 1000 * index + r, 102]] for r in range(30)]
            replies = await asyncio.gather(*(client.run(seqs) for seqs in requests))
            return all(
                np.allclose(reply[0].values, fake_embedding(seqs[0], DIM), rtol=1e-6)
                for seqs, reply in zip(requests, replies, strict=True)
            )

        results[index] = with_client(connection, work)

    with engine_server(engine) as connection:
        threads = [threading.Thread(target=front_end, args=(i, connection)) for i in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert results == {1: True, 2: True}


def test_ragged_rows_travel_back_whole() -> None:
    engine, _ = scoring_model("ner")
    ids = [[101, 5, 6, 7, 102], [101, 8, 102]]

    async def work(client: ProcessEngineClient) -> None:
        results = await client.run(ids)
        for seq, result in zip(ids, results, strict=True):
            expected = np.stack([token_vector(t, engine.info.embedding_dim) for t in seq])
            np.testing.assert_allclose(result.values, expected, rtol=1e-6)

    with engine_server(engine) as connection:
        with_client(connection, work)


def test_per_token_states_and_token_types_reach_the_engine() -> None:
    engine = RecordingEngine(make_engine())

    async def work(client: ProcessEngineClient) -> None:
        (states,) = await client.run([[101, 5, 102]], per_token=True)
        assert states.values.shape == (3, DIM)
        await client.run([[101, 5, 102, 6, 102]], token_types=[[0, 0, 0, 1, 1]])

    with engine_server(engine) as connection:
        with_client(connection, work)
    assert engine.type_ids == [None, [0, 0, 0, 1, 1]]


# --- the real engine process -------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fake_artifact(tmp_path_factory.mktemp("fake-artifact"))


def test_the_engine_process_serves_and_stops_cleanly(artifact: Path) -> None:
    engine = start_engine_process(artifact, device="cpu")
    assert engine.connection.info.name == "fake" and engine.connection.info.embedding_dim == DIM

    async def work(client: ProcessEngineClient) -> None:
        results = await asyncio.gather(*(client.run([sequence(i)]) for i in range(64)))
        for i, (result,) in enumerate(results):
            np.testing.assert_allclose(result.values, fake_embedding(sequence(i), DIM), rtol=1e-6)

    try:
        with_client(engine.connection, work)
    finally:
        code = engine.close()
    assert code == 0
    assert not engine.workdir.exists()

    async def after(client: ProcessEngineClient) -> None:
        with pytest.raises(NotReadyError):
            await client.run([[101, 102]])

    with pytest.raises(NotReadyError):  # start() refuses: the engine process is gone
        with_client(engine.connection, after)


def test_the_engine_times_two_batch_shapes_before_it_serves(artifact: Path) -> None:
    """compute.calibrate: a warm-up batch, one long input, two of them -- what admission's
    batch-cost fit starts from -- and the front-end's fit can tell fixed from per-token cost."""
    from bei_cli.runtime.batch_cost import BatchCost
    from bei_cli.runtime.compute import CALIBRATION_TOKENS

    engine = start_engine_process(artifact, device="cpu")
    try:
        calibration = engine.connection.calibration
        length = min(engine.connection.info.max_seq_len, CALIBRATION_TOKENS)
    finally:
        engine.close()
    assert [(size, tokens) for size, tokens, _, _ in calibration] == [
        (1, min(8, length)),
        (1, length),
        (2, 2 * length),
    ]
    assert all(seconds > 0 and padded == tokens for _, tokens, padded, seconds in calibration)
    cost = BatchCost()
    for stats in calibration:
        cost.observe_batch(*stats)
    assert cost.measured


def test_a_load_failure_is_the_engines_own_error(tmp_path: Path) -> None:
    root = fake_artifact(tmp_path)
    (root / MODEL_DIR / "vocab.txt").write_text("tampered")
    started = time.monotonic()
    with pytest.raises(ArtifactError) as caught:
        start_engine_process(root, device="cpu")
    assert "vocab.txt" in caught.value.message and caught.value.hint
    assert time.monotonic() - started < 60


ORPHAN_PARENT = """
import sys, time
from pathlib import Path
from bei_cli.runtime.engine_process import start_engine_process
engine = start_engine_process(Path(sys.argv[1]), device="cpu")
print(engine.process.pid, flush=True)
time.sleep(600)
"""


def test_the_engine_process_dies_with_its_parent(artifact: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_PARENT, str(artifact)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    try:
        assert parent.stdout is not None
        engine_pid = int(parent.stdout.readline())
        assert pid_alive(engine_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while pid_alive(engine_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(engine_pid)
    finally:
        if parent.poll() is None:
            parent.kill()
