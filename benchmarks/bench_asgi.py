"""The fake-engine ceiling: requests/s of the HTTP path alone, under each candidate ASGI server.

The app is bei's own (`create_app` on `bei_cli.engine.fake.FakeEngine` with the real MiniLM
tokenizer), so every request pays for routing, middleware, validation, tokenization, the
batcher and response encoding -- everything but the model. Each server runs as its own
process on 127.0.0.1; `wrk` (one thread, keep-alive, 64 connections) POSTs one 5-token input
to /v1/embeddings. The load generator shares the machine's cores with the server: on a
2-core machine the figures are a floor, compare them within one run.

    python benchmarks/bench_asgi.py --duration 10 --servers uvicorn granian bei
    python benchmarks/bench_asgi.py --servers bei --workers 1 2

Writes benchmarks/results/asgi.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "asgi.json"
BODY = '{"input": "hello big world"}'  # [CLS] hello big world [SEP]: 5 tokens
JSON = {"content-type": "application/json"}
LUA = f"""wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""


def make_app() -> Any:
    """The fake-engine app every server runs (an ASGI factory, imported by each server)."""
    from bei_cli.engine.fake import FakeEngine, fake_info
    from bei_cli.server.app import create_app
    from bei_cli.server.settings import ServerSettings
    from bei_cli.server.tokenizer import TextTokenizer
    from tests.fixtures.models import minilm_dir
    from tests.unit.server.support import DIM, MAX_SEQ_LEN, make_profile

    settings = ServerSettings(port=int(os.environ.get("BENCH_PORT", "7997")))
    engine = FakeEngine(fake_info(dim=DIM, max_seq_len=MAX_SEQ_LEN))
    tokenizer = TextTokenizer.from_dir(minilm_dir(), MAX_SEQ_LEN)
    return create_app(engine, tokenizer, make_profile(), settings)


def serve_bei(port: int, workers: int) -> None:
    """`bei_cli.server.run.serve` on the fake app: what `bei serve` runs."""
    from bei_cli.server.run import serve
    from bei_cli.server.settings import ServerSettings

    serve(make_app, ServerSettings(port=port, workers=workers, log_level="warning"))


def server_command(name: str, port: int, workers: int) -> list[str]:
    py, app, n = sys.executable, "benchmarks.bench_asgi:make_app", str(workers)
    host = ["--host", "127.0.0.1", "--port", str(port)]
    quiet = ["--no-access-log", "--log-level", "warning"]
    uvicorn = [py, "-m", "uvicorn", "--factory", app, *host, *quiet, "--workers", n]
    granian = [py, "-m", "granian", "--interface", "asgi", "--factory", *host, *quiet]
    hypercorn = [py, "-m", "hypercorn", "--bind", f"127.0.0.1:{port}", "--workers", n]
    commands = {
        "uvicorn-h11": [*uvicorn, "--http", "h11", "--loop", "asyncio"],
        "uvicorn": [*uvicorn, "--http", "httptools", "--loop", "uvloop"],
        "granian": [*granian, "--loop", "uvloop", "--workers", n, app],
        "hypercorn": [*hypercorn, "--worker-class", "uvloop", f"{app}()"],
        "bei": [py, "-m", "benchmarks.bench_asgi", "--serve-bei", str(port), n],
    }
    return commands[name]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if (
                httpx.post(
                    f"{url}/v1/embeddings", content=BODY, headers=JSON, timeout=2
                ).status_code
                == 200
            ):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not answer in 90 s")


@dataclass
class Row:
    server: str
    workers: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_us_per_request: float


def parse_wrk(out: str) -> tuple[float, float, float, int]:
    def latency(pct: str) -> float:
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not found:
            return float("nan")
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[found.group(2)]
        return float(found.group(1)) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, latency("50"), latency("99"), errors + (int(non2xx.group(1)) if non2xx else 0)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the front-end workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    pids += [int(p) for p in found.split()]
    total = 0.0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure(name: str, workers: int, args: argparse.Namespace, lua: Path) -> Row:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BENCH_PORT": str(port), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        server_command(name, port, workers),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, process)
        wrk = ["wrk", "-t1", f"-c{args.connections}", "--latency", "-s", str(lua)]
        subprocess.run([*wrk, "-d2s", f"{url}/v1/embeddings"], capture_output=True, check=True)
        cpu_before = tree_cpu_s(process.pid)
        out = subprocess.run(
            [*wrk, f"-d{args.duration}s", f"{url}/v1/embeddings"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu_s = tree_cpu_s(process.pid) - cpu_before
        rps, p50, p99, errors = parse_wrk(out)
        return Row(name, workers, rps, p50, p99, errors, cpu_s / (rps * args.duration) * 1e6)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["uvicorn-h11", "uvicorn", "granian", "hypercorn", "bei"],
        choices=["uvicorn-h11", "uvicorn", "granian", "hypercorn", "bei"],
    )
    parser.add_argument("--workers", nargs="+", type=int, default=[1])
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--serve-bei", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bei:
        serve_bei(*args.serve_bei)
        return
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(LUA)
    rows = [measure(s, w, args, Path(handle.name)) for w in args.workers for s in args.servers]
    print(
        f"{'server':<12} {'workers':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'CPU us/req':>10}"
    )
    for r in rows:
        print(
            f"{r.server:<12} {r.workers:>7} {r.requests_per_s:>8.0f} {r.p50_ms:>7.1f} "
            f"{r.p99_ms:>7.1f} {r.errors:>6} {r.server_cpu_us_per_request:>10.0f}"
        )
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "load": {"tool": "wrk -t1", "connections": args.connections, "duration_s": args.duration},
        "body": BODY,
        "note": "wrk shares the cores with the server; server_cpu_us_per_request is the "
        "server's own CPU time (all its processes) per answered request",
        "rows": [asdict(r) for r in rows],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
