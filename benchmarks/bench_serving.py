"""Issue 11's acceptance, measured from outside the server (CLI + HTTP only), all in one run:

  a. served inputs/s of the MiniLM CPU artifact (64 connections, one input per request, 256- and
     5-token inputs) vs the same engine in-process (batch 32 / 128), sentence-transformers fp32
     in-process (batch 32 / 128) and Infinity served (torch engine, its own venv);
  b. a batch's engine time inside the server (/metrics, bei_inference_duration_seconds, during
     a's load) vs a batch of the same size in-process;
  c. fake-engine ceiling, --workers 1 and 2 (where the flag exists);
  d. /health and 5-token p99 and RSS while one 8 MB punctuation-only / CJK request runs;
  e. 256 clients x 256-token inputs: status codes (only 200/429 wanted), p99 of the 200s;
  f. 100 slowloris connections + 60 stalled 8 MB - 1 byte uploads: closed? RSS? others' p99?

The load generator (wrk, else the baseten-performance-client; python asyncio clients for d-f)
runs on the same cores as the server. Every target is printed PASS or FAIL (N/A with a reason).
Setup: `bash scripts/bench_setup.sh` (wrk + Infinity venv). Examples:

    python benchmarks/bench_serving.py --artifact build/all-minilm-l6-v2
    python benchmarks/bench_serving.py --only c,d --duration 3 --overload-s 5 --hold-s 15  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

# Model hubs are unreachable here and every figure must be of the cached weights: set before
# huggingface_hub is imported (it reads the variable once).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_http import environment, make_texts  # noqa: E402
from serving_load import wrk_available  # noqa: E402
from serving_parts import MB, PARTS, SHAPES, Context  # noqa: E402

DEFAULT_VENV = Path.home() / ".cache" / "bei" / "bench" / "infinity-venv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python benchmarks/bench_serving.py --artifact build/all-minilm-l6-v2"
        " --only a,b  (smoke: --duration 3 --runs 1 --overload-s 5 --hold-s 15)",
    )
    p.add_argument(
        "--artifact",
        type=Path,
        default=ROOT / "build" / "all-minilm-l6-v2",
        help="MiniLM CPU artifact: bei build examples/all-minilm-l6-v2/config.yaml"
        " --target cpu -o DIR --no-image",
    )
    p.add_argument("--only", default="a,b,c,d,e,f", help="parts to run, comma-separated")
    p.add_argument("--infinity-venv", type=Path, default=DEFAULT_VENV)
    p.add_argument(
        "--infinity-batch",
        type=int,
        default=None,
        help="Infinity --batch-size (its default if unset)",
    )
    p.add_argument("--connections", type=int, default=64)
    p.add_argument(
        "--throughput-flags",
        default="--max-queue-wait 0",
        help="extra `bei serve` flags for the throughput parts a, b, c (default: no admission "
        "bound, so they measure the engine behind the server, not 429s)",
    )
    p.add_argument(
        "--admission-flags",
        default="--max-queue-wait 1",
        help="extra `bei serve` flags for part e, which measures admission against its "
        "p99 < 2 s target (the server's default bound is 10 s)",
    )
    p.add_argument(
        "--duration", type=float, default=20.0, help="seconds per served load run (a, b, c)"
    )
    p.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of load before each timed run"
    )
    p.add_argument("--runs", type=int, default=3, help="timed in-process runs (median)")
    p.add_argument("--texts", type=int, default=1024, help="distinct texts per shape")
    p.add_argument(
        "--big-bytes", type=int, default=8 * MB, help="body size of d's requests and f's uploads"
    )
    p.add_argument("--big-timeout", type=float, default=300.0)
    p.add_argument(
        "--settle-s", type=float, default=5.0, help="wait before the 'released' RSS reading"
    )
    p.add_argument("--overload-clients", type=int, default=256)
    p.add_argument("--overload-s", type=float, default=20.0)
    p.add_argument("--client-timeout", type=float, default=30.0, help="e's per-request timeout")
    p.add_argument("--no-retry-after", action="store_true", help="e: retry a 429 at once")
    p.add_argument("--slowloris", type=int, default=100)
    p.add_argument("--stalled", type=int, default=60)
    p.add_argument(
        "--hold-s",
        type=float,
        default=120.0,
        help="f: how long to wait for the server to close them",
    )
    p.add_argument("--probe-s", type=float, default=5.0, help="f: latency probe before the attack")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serving.json")
    args = p.parse_args(argv)
    args.parts = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        p.error(f"--only: unknown part(s) {sorted(unknown)}; choose from {','.join(PARTS)}")
    if not (args.artifact / "manifest.json").exists():
        p.error(f"--artifact {args.artifact}: not an artifact (no manifest.json); build it first")
    return args


def native_bf16() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def python_loop_s(iterations: int = 10_000_000) -> float:
    """Seconds of a plain Python loop: this core's speed for the front-end's kind of work, so
    that runs on different machines (or one machine on a slow day) can be told apart. The
    fake-engine ceiling (part c) scales with its inverse."""
    start = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i
    return round(time.perf_counter() - start, 3)


def build_context(args: argparse.Namespace, work: Path) -> Context:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(args.artifact / "model" / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = {
        shape: make_texts(tokenizer, args.texts, tokens, seed=3 + tokens)
        for shape, tokens, _ in SHAPES
    }
    bodies = {shape: [json.dumps({"input": t}) for t in items] for shape, items in texts.items()}
    return Context(args, args.artifact, texts, bodies, native_bf16(), work)


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def print_table(checks: list[tuple[str, float | None, str, str]]) -> None:
    width = max([len(c[0]) for c in checks] + [10])
    print(f"\n{'measure':<{width}}  {'value':>10}  {'target':<26} verdict")
    for label, value, target, result in checks:
        print(f"{label:<{width}}  {fmt(value):>10}  {target:<26} {result}")
    failed = sum(c[3].startswith("FAIL") for c in checks)
    passed = sum(c[3] == "PASS" for c in checks)
    skipped = sum(c[3].startswith("N/A") for c in checks)
    print(f"\n{len(checks)} checks: {failed} FAIL, {passed} PASS, {skipped} N/A")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loop_before = python_loop_s()
    print(
        f"load generator: {'wrk' if wrk_available() else 'baseten-performance-client (no wrk)'}; "
        f"native bf16: {native_bf16()}; parts {','.join(args.parts)}; "
        f"python loop (10M iterations) {loop_before} s",
        flush=True,
    )
    results: dict[str, Any] = {}
    checks: list[tuple[str, float | None, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bei-bench-serving-") as tmp:
        ctx = build_context(args, Path(tmp))
        for part in args.parts:
            print(f"\n== part {part}", flush=True)
            start = time.monotonic()
            try:
                figures, part_checks = PARTS[part](ctx)
            except Exception as exc:  # report the failure, keep measuring the other parts
                traceback.print_exc()
                figures, part_checks = (
                    {"error": repr(exc)},
                    [(f"{part} ran", None, "no error", f"FAIL ({exc})")],
                )
            results[part] = {**figures, "seconds": time.monotonic() - start}
            checks += part_checks
        logs = {p.name: p.read_text(errors="replace")[-4000:] for p in Path(tmp).glob("*.log")}
    print_table(checks)
    env = {
        **environment(),
        "native_bf16": native_bf16(),
        "python_loop_10m_s": {"before": loop_before, "after": python_loop_s()},
        "kernel": platform.release(),
        "load_generator": "wrk" if wrk_available() else "baseten-performance-client",
    }
    report = {
        "environment": env,
        "args": {k: str(v) for k, v in vars(args).items()},
        "checks": [
            dict(zip(("measure", "value", "target", "verdict"), c, strict=True)) for c in checks
        ],
        "results": results,
        "server_log_tails": logs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if any(c[3].startswith("FAIL") for c in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
