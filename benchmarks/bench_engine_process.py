"""Engine time of one batch inside the served engine process vs the same batch in-process.

Issue 11's figure: a batch of 32 x 5 tokens took 57 ms inside the old single-process server vs
18.7 ms in-process (3x); the engine process must bring it to <= 1.3x. Both sides run the same
artifact and batch shape:
- in-process: `load_engine` here, `engine.run(batch)` back to back;
- engine process: `start_engine_process` (max batch size = the batch size), a ProcessEngineClient
  keeping `--concurrency` requests of one full batch each in flight, so the queue never runs dry
  and every batch is exactly that shape; the engine time is what the engine process measured
  around `engine.run` (`ItemResult.inference_s`).
Medians over `--batches` batches after `--warmup`. The two sides run one after the other, not
at once; on a shared machine, run it several times and quote the medians.

Example:
  bei build examples/all-minilm-l6-v2/config.yaml --target cpu -o /tmp/minilm --no-image
  python benchmarks/bench_engine_process.py /tmp/minilm --batch 32 --tokens 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # run from a checkout: `python benchmarks/bench_engine_process.py`

from bei_cli.engine.artifact import load_engine  # noqa: E402
from bei_cli.engine.base import Batch  # noqa: E402
from bei_cli.runtime.engine_process import start_engine_process  # noqa: E402
from bei_cli.runtime.process_client import ProcessEngineClient  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def sequences(batch: int, tokens: int) -> list[list[int]]:
    """`batch` distinct inputs of `tokens` text tokens each, between [CLS] and [SEP] (BERT's
    vocabulary), as a tokenizer hands them to the engine."""
    return [[101, *(2000 + (i * 7 + j) % 5000 for j in range(tokens)), 102] for i in range(batch)]


def in_process(artifact: Path, device: str, seqs: list[list[int]], warmup: int, n: int) -> float:
    engine, _ = load_engine(artifact, device=device)
    batch = Batch.from_sequences(seqs)
    times = []
    for i in range(warmup + n):
        started = time.perf_counter()
        engine.run(batch)
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def engine_process(
    artifact: Path, device: str, seqs: list[list[int]], warmup: int, n: int, concurrency: int
) -> float:
    engine = start_engine_process(artifact, device=device, max_batch_size=len(seqs))

    async def drive() -> list[float]:
        client = ProcessEngineClient(engine.connection)
        client.start()
        times: list[float] = []

        async def worker() -> None:
            while len(times) < warmup + n:
                results = await client.run(seqs)
                times.append(results[0].inference_s)

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            client.close()
        return times[warmup : warmup + n]

    try:
        return statistics.median(asyncio.run(drive()))
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("artifact", type=Path, help="an engine artifact from `bei build`")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32, help="sequences per batch")
    parser.add_argument(
        "--tokens", type=int, default=5, help="text tokens per sequence (+ [CLS] and [SEP])"
    )
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batches", type=int, default=100, help="measured batches per side")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight")
    parser.add_argument("--out", type=Path, default=RESULTS / "engine_process.json")
    args = parser.parse_args()

    seqs = sequences(args.batch, args.tokens)
    here = in_process(args.artifact, args.device, seqs, args.warmup, args.batches)
    served = engine_process(
        args.artifact, args.device, seqs, args.warmup, args.batches, args.concurrency
    )
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "artifact": str(args.artifact),
        "batch": args.batch,
        "tokens": args.tokens,
        "batches": args.batches,
        "concurrency": args.concurrency,
        "in_process_ms": round(here * 1e3, 3),
        "engine_process_ms": round(served * 1e3, 3),
        "ratio": round(served / here, 3),
    }
    print(f"batch of {args.batch} x {args.tokens} tokens, median engine time:")
    print(f"  in-process      {result['in_process_ms']:8.2f} ms")
    print(f"  engine process  {result['engine_process_ms']:8.2f} ms")
    print(f"  ratio           {result['ratio']:8.3f}  (issue 11: <= 1.3)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
