"""Served throughput and latency of `bei serve`, with sentence-transformers in-process as the
baseline measured in the same run (this machine is shared and noisy: compare ratios, not absolutes).

Method (DESIGN.md section 9, the BEI table's): the unmodified baseten-performance-client sends
one input per HTTP request to /v1/embeddings with 64 requests in flight;
  - tokens/s at 500 tokens/request (tokens counted as sent, 500 per input, as the BEI table does;
    a model with a shorter max_seq_len truncates, and so does the baseline),
  - requests/s at 5 tokens/request,
  - p50/p90/p99 latency at concurrency 1, both sizes.
Baseline: SentenceTransformer.encode on the same weights, batch 32 (500 tokens) and 128 (5 tokens).

    python benchmarks/bench_http.py --artifact build/all-minilm-l6-v2 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "his",
    "her",
    "it",
    "an",
    "are",
    "were",
    "which",
    "this",
    "be",
    "or",
    "has",
    "had",
    "not",
    "but",
    "what",
    "all",
    "when",
    "we",
    "there",
    "can",
    "one",
    "more",
    "out",
    "so",
    "up",
    "if",
    "about",
    "who",
    "its",
    "them",
    "than",
    "time",
    "people",
    "year",
    "way",
    "day",
    "man",
    "thing",
    "woman",
    "life",
    "child",
    "world",
    "school",
    "state",
    "family",
    "student",
    "group",
    "country",
    "problem",
    "hand",
    "part",
    "place",
    "case",
    "week",
    "company",
    "system",
    "program",
    "question",
    "work",
    "government",
    "number",
    "night",
    "point",
    "home",
    "water",
    "room",
    "mother",
    "area",
    "money",
    "story",
    "fact",
    "month",
    "lot",
    "right",
    "study",
    "book",
    "eye",
    "job",
    "word",
    "business",
    "issue",
    "side",
    "kind",
    "head",
    "house",
    "service",
    "friend",
    "father",
    "power",
    "hour",
    "game",
    "line",
]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(artifact: Path, log_path: Path) -> Server:
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bei_cli", "serve", str(artifact), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bei serve exited early; see {log_path}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return Server(process, url)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"bei serve did not become healthy; see {log_path}")


def make_texts(tokenizer: Any, count: int, tokens: int, seed: int) -> list[str]:
    """`count` distinct texts of exactly `tokens` tokens each (special tokens included)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(tokens)]
        while len(words) > 1:
            text = " ".join(words)
            length = len(tokenizer.encode(text).ids)
            if length <= tokens:
                break
            del words[max(1, len(words) - (length - tokens)) :]
        texts.append(" ".join(words))
    return texts


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def served(client: Any, texts: list[str], concurrency: int) -> tuple[float, list[float]]:
    from baseten_performance_client import RequestProcessingPreference

    payloads = [{"input": text, "model": "bench"} for text in texts]
    preference = RequestProcessingPreference(max_concurrent_requests=concurrency, max_retries=0)
    response = client.batch_post("/v1/embeddings", payloads, preference=preference)
    assert len(response.data) == len(texts)
    return float(response.total_time), list(response.individual_request_times)


def client_batched(client: Any, texts: list[str]) -> float:
    """The performance client's own `embed`: its default client-side batching (8 inputs per
    request) and concurrency -- how real users send many short texts."""
    start = time.perf_counter()
    response = client.embed(input=texts, model="bench")
    assert len(response.data) == len(texts)
    return time.perf_counter() - start


def in_process(model: Any, texts: list[str], batch_size: int) -> float:
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
    return time.perf_counter() - start


def one_run(client: Any, model: Any, data: dict[str, list[str]], args: argparse.Namespace) -> dict:
    long_time, _ = served(client, data["long"], 64)
    short_time, _ = served(client, data["short"], 64)
    _, long_latency = served(client, data["long"][: args.latency_requests], 1)
    _, short_latency = served(client, data["short"][: args.latency_requests], 1)
    short_batched = client_batched(client, data["short"])
    st_long = in_process(model, data["long"], 32)
    st_short = in_process(model, data["short"], 128)
    return {
        "bei_tokens_per_s_500": len(data["long"]) * 500 / long_time,
        "bei_requests_per_s_5": len(data["short"]) / short_time,
        "bei_client_batched_inputs_per_s_5": len(data["short"]) / short_batched,
        "bei_latency_ms_500": {f"p{q}": 1000 * percentile(long_latency, q) for q in (50, 90, 99)},
        "bei_latency_ms_5": {f"p{q}": 1000 * percentile(short_latency, q) for q in (50, 90, 99)},
        "st_tokens_per_s_500": len(data["long"]) * 500 / st_long,
        "st_inputs_per_s_5": len(data["short"]) / st_short,
    }


def median_of(runs: list[dict], key: str, sub: str | None = None) -> float:
    return statistics.median(r[key][sub] if sub else r[key] for r in runs)


def summarize(runs: list[dict]) -> dict:
    summary: dict[str, Any] = {
        key: median_of(runs, key)
        for key in (
            "bei_tokens_per_s_500",
            "bei_requests_per_s_5",
            "bei_client_batched_inputs_per_s_5",
            "st_tokens_per_s_500",
            "st_inputs_per_s_5",
        )
    }
    for key in ("bei_latency_ms_500", "bei_latency_ms_5"):
        summary[key] = {q: median_of(runs, key, q) for q in ("p50", "p90", "p99")}
    summary["ratio_tokens_500"] = summary["bei_tokens_per_s_500"] / summary["st_tokens_per_s_500"]
    summary["ratio_requests_5"] = summary["bei_requests_per_s_5"] / summary["st_inputs_per_s_5"]
    summary["ratio_client_batched_5"] = (
        summary["bei_client_batched_inputs_per_s_5"] / summary["st_inputs_per_s_5"]
    )
    return summary


def print_table(summary: dict, runs: int) -> None:
    rows = [
        ("tokens/s, 500 tok/req, 64 clients", "bei_tokens_per_s_500", "st_tokens_per_s_500"),
        ("inputs/s, 5 tok/req, 64 clients", "bei_requests_per_s_5", "st_inputs_per_s_5"),
        (
            "inputs/s, 5 tok, client embed() 8/req",
            "bei_client_batched_inputs_per_s_5",
            "st_inputs_per_s_5",
        ),
    ]
    print(f"\nmedian of {runs} runs")
    print(f"{'measure':<38}{'bei (HTTP)':>12}{'ST in-proc':>12}{'ratio':>8}")
    for label, ours, theirs in rows:
        ratio = summary[ours] / summary[theirs]
        print(f"{label:<38}{summary[ours]:>12.0f}{summary[theirs]:>12.0f}{ratio:>8.2f}")
    for size in ("500", "5"):
        lat = summary[f"bei_latency_ms_{size}"]
        print(
            f"latency c=1, {size} tok (ms)".ljust(38)
            + f"p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}"
        )


def environment() -> dict:
    import sentence_transformers
    import torch
    import transformers

    from bei_cli import __version__

    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "bei": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, default=ROOT / "build" / "all-minilm-l6-v2")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--long-requests", type=int, default=128)
    parser.add_argument("--short-requests", type=int, default=2048)
    parser.add_argument("--latency-requests", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "http.json")
    args = parser.parse_args()

    from baseten_performance_client import PerformanceClient
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    model_dir = args.artifact / "model"
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_truncation()  # saved tokenizer.json files often force padding/truncation
    tokenizer.no_padding()
    data = {
        "long": make_texts(tokenizer, args.long_requests, 500, seed=1),
        "short": make_texts(tokenizer, args.short_requests, 5, seed=2),
    }
    model = SentenceTransformer(str(model_dir), device="cpu")
    server = start_server(args.artifact, args.out.with_suffix(".server.log"))
    try:
        client = PerformanceClient(base_url=server.url, api_key="unused")
        served(client, data["long"][:16], 16)  # warm-up: allocator, thread pools
        in_process(model, data["long"][:32], 32)
        runs = []
        for index in range(args.runs):
            runs.append(one_run(client, model, data, args))
            print(f"run {index + 1}/{args.runs}: {json.dumps(runs[-1])}", flush=True)
    finally:
        server.stop()
    summary = summarize(runs)
    print_table(summary, args.runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"environment": environment(), "summary": summary, "runs": runs, "args": vars(args)}
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
