"""In-process engine throughput on this CPU: TorchEngine fp32/bf16, ONNX fp32/int8, next to
SentenceTransformer.encode fp32, on all-MiniLM-L6-v2 (issue 5's engine table).

Method: the same texts as bench_http.py (`make_texts`), 500-token inputs in batches of 32 and
5-token inputs in batches of 128; each engine runs pre-tokenized batches (tokenization is not
engine time), sentence-transformers runs `encode` on the texts (its tokenization included, as a
user sees it). tokens/s counts tokens as sent (500 per input, the BEI table's convention; MiniLM
truncates to 256). Median of `--runs` timed runs after one warm-up. The machine is shared: compare
ratios within one run, not absolutes across runs.

    python benchmarks/bench_engines.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_http import environment, make_texts  # noqa: E402

from bei_cli.engine.base import Batch, Engine  # noqa: E402
from bei_cli.engine.onnx_engine import load_onnx_engine  # noqa: E402
from bei_cli.engine.onnx_export import write_onnx_model  # noqa: E402
from bei_cli.engine.torch_engine import load_torch_engine  # noqa: E402
from bei_cli.inspect import inspect_checkpoint  # noqa: E402
from tests.fixtures.models import minilm_dir  # noqa: E402

# What bei itself reads from the checkpoint, as a build would.
PROFILE = inspect_checkpoint(minilm_dir(), base_model="encoder_bert")
# (name, tokens per input, batch size, inputs per timed run)
SHAPES = [("500 tokens", 500, 32, 64), ("5 tokens", 5, 128, 1024)]


def batches(tokenizer: Any, texts: list[str], batch_size: int) -> list[Batch]:
    out = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[start : start + batch_size], truncation=True, max_length=PROFILE.max_seq_len
        )
        out.append(Batch.from_sequences(enc["input_ids"], enc["token_type_ids"]))
    return out


def timed(work: Callable[[], object], runs: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def engines(onnx_dir: Path) -> dict[str, Callable[[], Engine]]:
    model = minilm_dir()
    return {
        "torch fp32": lambda: load_torch_engine(model, PROFILE, dtype="float32"),
        "torch bf16": lambda: load_torch_engine(model, PROFILE, dtype="bfloat16"),
        "onnx fp32": lambda: load_onnx_engine(onnx_dir, PROFILE, onnx_file="model.onnx"),
        "onnx int8": lambda: load_onnx_engine(
            onnx_dir, PROFILE, onnx_file="model_int8.onnx", dtype="int8"
        ),
    }


def measure(runs: int, onnx_dir: Path) -> dict[str, dict[str, float]]:
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
    data = {
        shape: make_texts(tokenizer.backend_tokenizer, count, tokens, seed=7)
        for shape, tokens, _, count in SHAPES
    }
    results: dict[str, dict[str, float]] = {}
    st = SentenceTransformer(str(minilm_dir()), device="cpu")
    results["sentence-transformers fp32"] = {
        shape: count
        * tokens
        / timed(lambda t=data[shape], n=size: st.encode(t, batch_size=n), runs)
        for shape, tokens, size, count in SHAPES
    }
    for name, load in engines(onnx_dir).items():
        engine, row = load(), {}
        for shape, tokens, size, count in SHAPES:
            work = batches(tokenizer, data[shape], size)
            seconds = timed(lambda e=engine, w=work: [e.run(b) for b in w], runs)
            row[shape] = count * tokens / seconds
        results[name] = row
        print(f"measured {name}", file=sys.stderr, flush=True)
    return results


def print_table(results: dict[str, dict[str, float]]) -> None:
    base = results["sentence-transformers fp32"]
    shapes = [shape for shape, *_ in SHAPES]
    print("| engine | " + " | ".join(f"{s}: tokens/s (x ST)" for s in shapes) + " |")
    print("|---|" + "---|" * len(shapes))
    for name, row in results.items():
        cells = [f"{row[s]:,.0f} ({row[s] / base[s]:.2f}x)" for s in shapes]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engines.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_dir = Path(tmp)
        (onnx_dir / "config.json").write_bytes((minilm_dir() / "config.json").read_bytes())
        write_onnx_model(minilm_dir(), PROFILE, onnx_dir / "model.onnx")
        write_onnx_model(minilm_dir(), PROFILE, onnx_dir / "model_int8.onnx", int8=True)
        results = measure(args.runs, onnx_dir)
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"environment": environment(), "runs": args.runs, "tokens_per_s": results}
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
