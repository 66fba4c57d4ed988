"""Slow clients against one front-end (`run.serve` on the fake-engine app): N uploads that each
declare the payload limit (8 MiB) and send all but its last byte, plus M slowloris connections
that send half a header block and stop. Reports the server's RSS before, while they stall and
after the header/body timeouts closed them, and whether another client was served meanwhile.

    python benchmarks/bench_slow_clients.py --uploads 60 --slowloris 100 --timeout 5

Writes benchmarks/results/slow_clients.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 8 * 1024 * 1024
EMBED = {"input": "hello"}


def rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) // 1024


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def stalled_upload(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(120)
    head = (
        b"POST /v1/embeddings HTTP/1.1\r\nHost: bei\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % LIMIT
    )
    sock.sendall(head + (b'{"input": "' + b"a" * LIMIT)[: LIMIT - 1])
    return sock


def slowloris(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(120)
    sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: bei\r\nX-Slow: ")
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        while sock.recv(65536):
            pass
        return True
    except OSError:
        return False
    finally:
        sock.close()


def run(args: argparse.Namespace) -> dict[str, object]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    timeouts = ["--header-timeout", str(args.timeout), "--body-timeout", str(args.timeout)]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.server.front_end_server", str(port), *timeouts],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(url)
        before = rss_mb(server.pid)
        socks = [stalled_upload(port) for _ in range(args.uploads)]
        socks += [slowloris(port) for _ in range(args.slowloris)]
        started = time.monotonic()
        stalled = rss_mb(server.pid)
        other = httpx.post(f"{url}/v1/embeddings", json=EMBED, timeout=60)
        other_s = time.monotonic() - started
        closed = sum(closed_by_server(sock) for sock in socks)
        closed_s = time.monotonic() - started
        time.sleep(2)
        after = rss_mb(server.pid)
        return {
            "uploads": args.uploads,
            "slowloris": args.slowloris,
            "timeout_s": args.timeout,
            "rss_before_mb": before,
            "rss_stalled_mb": stalled,
            "rss_after_mb": after,
            "rss_growth_after_mb": after - before,
            "closed": closed,
            "closed_within_s": round(closed_s, 1),
            "other_client_status": other.status_code,
            "other_client_s": round(other_s, 2),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--slowloris", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=5.0, help="header and body timeouts")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks/results/slow_clients.json"
    )
    args = parser.parse_args()
    report = run(args)
    for key, value in report.items():
        print(f"{key:<22} {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
