"""Load generators and probes for bench_serving.py: wrk (with a Lua script that cycles through
pre-built JSON bodies and counts status codes), the baseten-performance-client fallback, asyncio
latency probes, slowloris / stalled-upload sockets, and RSS of a process tree from /proc.

Everything here talks to a server from outside (HTTP and sockets only) and runs on the same
cores as the server: the load generator's CPU is part of every figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")

# wrk: `request` cycles through the bodies (one input per request); `response` counts status
# codes per thread; `done` aggregates the threads and prints one JSON line.
WRK_LUA = """
local bodies = {%(bodies)s}
local threads = {}
local n, i = #bodies, 0
counts = {}  -- a global: done() reads it from each thread with thread:get
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function setup(thread) table.insert(threads, thread) end
function init(args) i = math.random(n) - 1 end
function request() i = i %% n + 1; return wrk.format(nil, "%(path)s", nil, bodies[i]) end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[tostring(k)] = (total[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format('"%%s":%%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%%d,"duration_s":%%f,"statuses":{%%s},"errors":{"connect":%%d,' ..
    '"read":%%d,"write":%%d,"timeout":%%d,"status":%%d},"p50_ms":%%f,"p99_ms":%%f}\\n',
    summary.requests, summary.duration / 1e6, table.concat(parts, ","), e.connect, e.read,
    e.write, e.timeout, e.status, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    ok: int
    seconds: float
    statuses: dict[str, int]
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def lua_string(text: str) -> str:
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    url: str, path: str, bodies: list[str], connections: int, seconds: float, threads: int = 2
) -> LoadResult:
    """`connections` keep-alive connections, each one request in flight, for `seconds`."""
    script = WRK_LUA % {"bodies": ",".join(lua_string(b) for b in bodies), "path": path}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = [
            "wrk",
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            handle.name,
            url,
        ]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(handle.name)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result (exit {proc.returncode}): {proc.stderr[-500:]}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    statuses = {str(k): int(v) for k, v in data["statuses"].items()}
    ok = sum(v for k, v in statuses.items() if k.startswith("2"))
    return LoadResult(
        "wrk",
        data["requests"],
        ok,
        data["duration_s"],
        statuses,
        data["errors"],
        data["p50_ms"],
        data["p99_ms"],
    )


def run_performance_client(
    url: str, path: str, bodies: list[str], connections: int, seconds: float
) -> LoadResult:
    """Fallback where there is no wrk: a fixed number of requests (the client has no duration
    mode), sized from a short calibration run to last about `seconds`."""
    from baseten_performance_client import PerformanceClient, RequestProcessingPreference

    client = PerformanceClient(base_url=url, api_key="unused")
    preference = RequestProcessingPreference(max_concurrent_requests=connections, max_retries=0)
    payloads = [json.loads(b) for b in bodies]
    probe = client.batch_post(path, payloads[: connections * 2], preference=preference)
    rate = connections * 2 / max(float(probe.total_time), 1e-3)
    count = max(connections * 2, int(rate * seconds))
    work = [payloads[i % len(payloads)] for i in range(count)]
    response = client.batch_post(path, work, preference=preference)
    times = np.asarray(response.individual_request_times) * 1000
    return LoadResult(
        "baseten-performance-client",
        count,
        len(response.data),
        float(response.total_time),
        {"200": len(response.data)},
        {},
        float(np.percentile(times, 50)),
        float(np.percentile(times, 99)),
    )


def run_load(
    url: str, path: str, bodies: list[str], connections: int, seconds: float
) -> LoadResult:
    if wrk_available():
        return run_wrk(url, path, bodies, connections, seconds)
    return run_performance_client(url, path, bodies, connections, seconds)


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    arr = np.asarray(values) * 1000
    return {
        "n": len(values),
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
    }


def latency_summary(latencies: list[tuple[str, float]]) -> dict[str, Any]:
    """Counts per status and the percentiles of the 200s, as Probe and RawProbe report them."""
    counts: dict[str, int] = {}
    for status, _ in latencies:
        counts[status] = counts.get(status, 0) + 1
    ok = [s for status, s in latencies if status == "200"]
    return {"statuses": counts, "ok": percentiles(ok)}


@dataclass
class Probe:
    """Closed-loop clients (each sends, waits for the answer, sends again) until `stop` is
    set; records every latency and status (or the exception name)."""

    url: str
    method: str
    path: str
    bodies: list[bytes] = field(default_factory=list)
    clients: int = 1
    pause_s: float = 0.0
    honor_retry_after: bool = False
    timeout_s: float = 30.0
    latencies: list[tuple[str, float]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(
            base_url=self.url, limits=limits, timeout=self.timeout_s
        ) as client:
            await asyncio.gather(*(self.one(client, k, stop) for k in range(self.clients)))

    async def one(self, client: httpx.AsyncClient, index: int, stop: asyncio.Event) -> None:
        count = 0
        headers = {"content-type": "application/json"}
        while not stop.is_set():
            body = self.bodies[(index + count * self.clients) % len(self.bodies)] or None
            count += 1
            start = time.perf_counter()
            wait = self.pause_s
            try:
                response = await client.request(
                    self.method, self.path, content=body, headers=headers
                )
                status = str(response.status_code)
                if status == "429" and self.honor_retry_after:
                    wait = max(wait, min(float(response.headers.get("retry-after", 1)), 5.0))
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            self.latencies.append((status, time.perf_counter() - start))
            if wait:
                await asyncio.sleep(wait)

    def summary(self) -> dict[str, Any]:
        return latency_summary(self.latencies)


@dataclass
class RawProbe:
    """Probe's closed-loop clients on bare asyncio streams (HTTP/1.1 keep-alive, Content-Length
    replies only): a few times less CPU per request than httpx, which matters where hundreds of
    clients share the server's cores (part e). Same `run` / `summary` as Probe."""

    host: str
    port: int
    path: str
    bodies: list[bytes] = field(default_factory=list)
    clients: int = 1
    honor_retry_after: bool = False
    timeout_s: float = 30.0
    latencies: list[tuple[str, float]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self.one(k, stop) for k in range(self.clients)))

    def _request(self, body: bytes) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def one(self, index: int, stop: asyncio.Event) -> None:
        count = 0
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while not stop.is_set():
            body = self.bodies[(index + count * self.clients) % len(self.bodies)]
            count += 1
            start = time.perf_counter()
            wait = 0.0
            try:
                if connection is None:
                    connection = await asyncio.open_connection(self.host, self.port)
                reader, writer = connection
                writer.write(self._request(body))
                status, headers = await asyncio.wait_for(self._reply(reader), self.timeout_s)
                if status == "429" and self.honor_retry_after:
                    wait = min(float(headers.get("retry-after", 1)), 5.0)
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    connection = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                status = type(exc).__name__
                if connection is not None:
                    connection[1].close()
                connection = None
            self.latencies.append((status, time.perf_counter() - start))
            if wait:
                await asyncio.sleep(wait)
        if connection is not None:
            connection[1].close()

    @staticmethod
    async def _reply(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)[1]
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers

    def summary(self) -> dict[str, Any]:
        return latency_summary(self.latencies)


def rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants (/proc; no psutil)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * PAGE
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class RssSampler:
    """Samples rss_bytes(pid) every `every_s` on a thread; `peak` and `samples` after stop()."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid, self.every_s = pid, every_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_bytes(self.pid)))
            self._stop.wait(self.every_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


def open_socket(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setblocking(False)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed (or reset) the connection; never blocks."""
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if data == b"":
        return True
    return closed_by_peer(sock)  # an answer (e.g. 408) was read; closed once the EOF follows


def send_all(sock: socket.socket, data: bytes, give_up_s: float = 30.0) -> bool:
    """Write `data` to a non-blocking socket; False if the peer closed or it stalled."""
    view, deadline = memoryview(data), time.monotonic() + give_up_s
    while view:
        try:
            sent = sock.send(view)
            view = view[sent:]
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        except OSError:
            return False
    return True


def big_text(kind: str, body_bytes: int) -> bytes:
    """A JSON body of `body_bytes` bytes whose one input is a punctuation run or CJK text."""
    head, tail = b'{"input": "', b'"}'
    room = body_bytes - len(head) - len(tail)
    if kind == "punctuation":
        text = ("!?.,;:-" * (room // 7 + 1))[:room]
    else:  # CJK: 3 UTF-8 bytes per character, no whitespace at all
        chars = [chr(0x4E00 + (i * 7919) % 20000) for i in range(room // 3)]
        text = "".join(chars) + "!" * (room % 3)
    return head + text.encode() + tail


def run_probes(probes: list[Probe] | list[RawProbe], until: threading.Event | float) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(p.run(stop)) for p in probes]
        if isinstance(until, float):
            await asyncio.sleep(until)
        else:
            while not until.is_set():
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
