"""The six measurements of bench_serving.py (issue 11's acceptance), one function per part.
Each returns (figures, checks); a check is (measure, value, target text, verdict) where the
verdict is PASS, FAIL or a reason it is not judged (N/A ...)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from serving_load import (
    Probe,
    RawProbe,
    RssSampler,
    big_text,
    closed_by_peer,
    open_socket,
    rss_bytes,
    run_load,
    run_probes,
)
from serving_load import send_all as send_bytes
from serving_servers import (
    InProcess,
    Server,
    batch_stats,
    metric_sums,
    serve_flags,
    start_bei,
    start_infinity,
    write_fake_artifact,
)

MB = 1024 * 1024
Check = tuple[str, float | None, str, str]
# (label, tokens per input, in-process batch size): the two shapes.
SHAPES = (("256 tokens", 256, 32), ("5 tokens", 5, 128))


@dataclass
class Context:
    args: Any
    artifact: Path
    texts: dict[str, list[str]]
    bodies: dict[str, list[str]]
    native_bf16: bool
    work: Path
    in_process: InProcess | None = None
    served: dict[str, dict[str, Any]] = field(default_factory=dict)  # part a -> part b

    def engine(self) -> InProcess:
        if self.in_process is None:
            self.in_process = InProcess(self.artifact)
        return self.in_process


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratio_check(label: str, ours: float, theirs: float | None, floor: float) -> Check:
    if theirs is None:
        return (label, None, f">= {floor}", "N/A (not measured)")
    if not theirs:  # no answer completed inside the window: nothing to compare against
        return (label, None, f">= {floor}", "N/A (baseline answered 0 in the window)")
    value = ours / theirs
    return (label, value, f">= {floor}", verdict(value >= floor))


def served_load(ctx: Context, server: Server, shape: str) -> dict[str, Any]:
    a = ctx.args
    bodies = [json.dumps({"input": t, "model": server.model}) for t in ctx.texts[shape]]
    first = httpx.post(
        server.url + server.path,
        content=bodies[0],
        timeout=120,
        headers={"content-type": "application/json"},
    )
    if first.status_code != 200:  # a served figure of errors would be no figure
        raise RuntimeError(
            f"{server.name}: first request answered {first.status_code}: {first.text[:300]}"
        )
    run_load(server.url, server.path, bodies, a.connections, a.warmup)
    before = metric_sums(server.url) if server.name.startswith("bei") else {}
    load = run_load(server.url, server.path, bodies, a.connections, a.duration)
    out: dict[str, Any] = {"load": vars_of(load), "inputs_per_s": load.ok_per_s}
    if before:
        out["batches"] = batch_stats(before, metric_sums(server.url))
    print(f"  {server.name} {shape}: {load.ok_per_s:,.0f} inputs/s ({load.statuses})", flush=True)
    return out


def vars_of(load: Any) -> dict[str, Any]:
    return {**load.__dict__, "ok_per_s": load.ok_per_s}


def part_a(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    a, eng = ctx.args, ctx.engine()
    figures: dict[str, Any] = {"engine": f"{eng.manifest.engine} {eng.manifest.dtype}"}
    for shape, _, size in SHAPES:
        texts = ctx.texts[shape]
        figures[shape] = {
            "in_process": eng.engine_inputs_per_s(texts, size, a.runs),
            "st_fp32": eng.st_inputs_per_s(texts, size, a.runs),
        }
        print(f"  in-process {shape}: {figures[shape]}", flush=True)
    with start_bei(
        ctx.artifact, ctx.work / "bei.log", extra=ctx.args.throughput_flags.split()
    ) as server:
        for shape, *_ in SHAPES:
            ctx.served[shape] = served_load(ctx, server, shape)
            figures[shape]["bei_served"] = ctx.served[shape]
    if a.infinity_venv and (a.infinity_venv / "bin" / "infinity_emb").exists():
        with start_infinity(a.infinity_venv, ctx.work / "infinity.log", a.infinity_batch) as inf:
            for shape, *_ in SHAPES:
                figures[shape]["infinity_served"] = served_load(ctx, inf, shape)
    else:
        figures["infinity"] = (
            f"skipped: no Infinity venv at {a.infinity_venv} (scripts/bench_setup.sh)"
        )
    checks: list[Check] = []
    for (shape, _, _), floor_eng, floor_st in zip(SHAPES, (0.9, 0.65), (2.0, 1.0), strict=True):
        row = figures[shape]
        bei = row["bei_served"]["inputs_per_s"]
        checks.append(
            ratio_check(f"a served / in-process engine, {shape}", bei, row["in_process"], floor_eng)
        )
        st = ratio_check(
            f"a served / sentence-transformers fp32, {shape}", bei, row["st_fp32"], floor_st
        )
        if not ctx.native_bf16:
            st = (*st[:3], "N/A (no native bf16 on this CPU; figure reported)")
        checks.append(st)
        for name in ("bei_served", "infinity_served"):
            load = row.get(name, {}).get("load", {})
            refused = sum(v for k, v in load.get("statuses", {}).items() if not k.startswith("2"))
            if load:
                label = f"a non-2xx answers at {a.connections} connections, {name}, {shape}"
                checks.append((label, float(refused), "reported", "INFO"))
        inf = row.get("infinity_served", {}).get("inputs_per_s")
        checks.append(ratio_check(f"a served / Infinity served, {shape}", bei, inf, 2.0))
    return figures, checks


def part_b(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    a, eng = ctx.args, ctx.engine()
    if not ctx.served:
        with start_bei(
            ctx.artifact, ctx.work / "bei.log", extra=ctx.args.throughput_flags.split()
        ) as server:
            for shape, *_ in SHAPES:
                ctx.served[shape] = served_load(ctx, server, shape)
    figures: dict[str, Any] = {}
    checks: list[Check] = []
    for shape, *_ in SHAPES:
        stats = ctx.served[shape].get("batches", {})
        if not stats.get("batches"):
            checks.append(
                (
                    f"b engine time in server / in-process, {shape}",
                    None,
                    "<= 1.3",
                    "FAIL (no batches in /metrics)",
                )
            )
            continue
        size = max(1, round(stats["mean_size"]))
        texts = (ctx.texts[shape] * (size // len(ctx.texts[shape]) + 1))[:size]
        alone = eng.engine_batch_ms(texts, size, a.runs)
        figures[shape] = {**stats, "in_process_ms_same_size": alone, "size_run_in_process": size}
        value = stats["mean_engine_ms"] / alone
        checks.append(
            (
                f"b engine time in server / in-process, {shape} (batch ~{size})",
                value,
                "<= 1.3",
                verdict(value <= 1.3),
            )
        )
    return figures, checks


def part_c(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    fake = write_fake_artifact(ctx.artifact, ctx.work / "fake-artifact")
    has_workers = "--workers" in serve_flags()
    figures: dict[str, Any] = {}
    for workers in (1, 2) if has_workers else (None,):
        key = f"workers={workers}" if workers else "default (no --workers flag)"
        with start_bei(
            fake,
            ctx.work / "fake.log",
            workers,
            name="bei-fake",
            extra=ctx.args.throughput_flags.split(),
        ) as server:
            figures[key] = served_load(ctx, server, "5 tokens")
    one = figures.get("workers=1", figures.get("default (no --workers flag)", {}))
    rate = one.get("inputs_per_s", 0.0)
    checks: list[Check] = [
        ("c fake-engine req/s, one front-end", rate, ">= 3000", verdict(rate >= 3000))
    ]
    if has_workers:
        two = figures["workers=2"]["inputs_per_s"]
        checks.append(("c fake-engine req/s, 2 front-ends", two, "reported", "INFO"))
    else:
        figures["note"] = "bei serve has no --workers flag in this checkout: 1 vs 2 skipped"
        checks.append(("c fake-engine 2 workers", None, "reported", "N/A (no --workers flag)"))
    return figures, checks


def short_bodies(ctx: Context) -> list[bytes]:
    return [json.dumps({"input": t}).encode() for t in ctx.texts["5 tokens"]]


def part_d(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    a = ctx.args
    figures: dict[str, Any] = {}
    checks: list[Check] = []
    size = f"{a.big_bytes / MB:g} MiB"
    with start_bei(ctx.artifact, ctx.work / "bei.log") as server:
        run_probes([Probe(server.url, "POST", "/v1/embeddings", short_bodies(ctx), 4)], 2.0)
        for kind in ("punctuation", "cjk"):
            body = big_text(kind, a.big_bytes)
            base = rss_bytes(server.process.pid)
            done, result = threading.Event(), dict[str, Any]()

            def big(
                body: bytes = body, result: dict = result, done: threading.Event = done
            ) -> None:
                start = time.perf_counter()
                try:
                    r = httpx.post(
                        f"{server.url}/v1/embeddings",
                        content=body,
                        timeout=a.big_timeout,
                        headers={"content-type": "application/json"},
                    )
                    result["status"] = r.status_code
                except httpx.HTTPError as exc:
                    result["status"] = type(exc).__name__
                result["seconds"] = time.perf_counter() - start
                done.set()

            health = Probe(server.url, "GET", "/health", [b""], 1, pause_s=0.01)
            short = Probe(server.url, "POST", "/v1/embeddings", short_bodies(ctx), 4)
            with RssSampler(server.process.pid) as sampler:
                threading.Thread(target=big, daemon=True).start()
                run_probes([health, short], done)
            time.sleep(a.settle_s)
            after = rss_bytes(server.process.pid)
            growth, kept = (sampler.peak - base) / MB, (after - base) / MB
            hs, ss = health.summary(), short.summary()
            figures[kind] = {
                "big_request": result,
                "body_bytes": len(body),
                "health": hs,
                "short": ss,
                "rss_growth_mb": growth,
                "rss_kept_mb": kept,
            }
            print(
                f"  {kind}: big {result}, health {hs['ok']}, short {ss['ok']},"
                f" rss +{growth:.0f} MB, kept {kept:.0f} MB",
                flush=True,
            )
            hp, sp = hs["ok"].get("p99_ms"), ss["ok"].get("p99_ms")
            checks += [
                (
                    f"d /health p99 ms during {size} {kind}",
                    hp,
                    "< 100",
                    verdict(hp is not None and hp < 100 and set(hs["statuses"]) == {"200"}),
                ),
                (
                    f"d 5-token p99 ms during {size} {kind}",
                    sp,
                    "< 500",
                    verdict(sp is not None and sp < 500 and set(ss["statuses"]) == {"200"}),
                ),
                (f"d RSS growth MB, {size} {kind}", growth, "< 300", verdict(growth < 300)),
                (
                    f"d RSS kept MB {a.settle_s:g} s after, {kind}",
                    kept,
                    "< 50 (released)",
                    verdict(kept < 50),
                ),
            ]
    return figures, checks


def part_e(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    a = ctx.args
    bodies = [json.dumps({"input": t}).encode() for t in ctx.texts["256 tokens"]]
    extra = a.admission_flags.split()
    with start_bei(ctx.artifact, ctx.work / "bei.log", extra=extra) as server:
        warm = Probe(server.url, "POST", "/v1/embeddings", bodies, 4)
        run_probes([warm], 2.0)  # allocator, thread pools: not the overload's figures
        # Bare asyncio clients: 256 httpx clients took about half a core of the two the
        # server has, and the engine's batches ran 2-3x slower for it.
        probe = RawProbe(
            "127.0.0.1",
            server.port,
            "/v1/embeddings",
            bodies,
            a.overload_clients,
            honor_retry_after=not a.no_retry_after,
            timeout_s=a.client_timeout,
        )
        run_probes([probe], float(a.overload_s))
    summary = probe.summary()
    print(f"  {a.overload_clients} clients: {summary}", flush=True)
    others = {k: v for k, v in summary["statuses"].items() if k not in ("200", "429")}
    p99 = summary["ok"].get("p99_ms")
    return summary, [
        (
            "e status codes other than 200/429",
            float(sum(others.values())),
            "0",
            verdict(not others),
        ),
        ("e p99 ms of the 200s", p99, "< 2000", verdict(p99 is not None and p99 < 2000)),
    ]


def slow_attack(ctx: Context, server: Server) -> tuple[list[Any], list[float | None]]:
    """Open the slowloris and stalled-upload sockets; return them and their close times."""
    a = ctx.args
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    loris = [open_socket(server.port) for _ in range(a.slowloris)]
    for sock in loris:
        send_bytes(sock, head)
    stalled = [open_socket(server.port) for _ in range(a.stalled)]
    upload = head + f"Content-Length: {a.big_bytes}\r\n\r\n".encode() + b"x" * (a.big_bytes - 1)
    senders = [
        threading.Thread(target=send_bytes, args=(s, upload, a.hold_s), daemon=True)
        for s in stalled
    ]
    for t in senders:
        t.start()
    return loris + stalled, [None] * (len(loris) + len(stalled))


def part_f(ctx: Context) -> tuple[dict[str, Any], list[Check]]:
    a = ctx.args
    with start_bei(ctx.artifact, ctx.work / "bei.log") as server:
        before = Probe(server.url, "POST", "/v1/embeddings", short_bodies(ctx), 2)
        run_probes([before], float(a.probe_s))
        base = rss_bytes(server.process.pid)
        during = Probe(server.url, "POST", "/v1/embeddings", short_bodies(ctx), 2)
        stop = threading.Event()
        with RssSampler(server.process.pid, 0.5) as sampler:
            start = time.monotonic()
            socks, closed = slow_attack(ctx, server)
            prober = threading.Thread(target=run_probes, args=([during], stop), daemon=True)
            prober.start()
            tick = 0
            while time.monotonic() - start < a.hold_s and None in closed:
                for i, sock in enumerate(socks):
                    if closed[i] is None and closed_by_peer(sock):
                        closed[i] = time.monotonic() - start
                if tick % 4 == 0:  # slowloris: one more header line every ~2 s
                    for i, sock in enumerate(socks[: a.slowloris]):
                        if closed[i] is None:
                            send_bytes(sock, f"X-Slow-{tick}: y\r\n".encode(), 1.0)
                tick += 1
                time.sleep(0.5)
            stop.set()
            prober.join()
            for sock in socks:
                sock.close()
        time.sleep(a.settle_s)
        after = rss_bytes(server.process.pid)
    n_loris = a.slowloris
    times = [t for t in closed if t is not None]
    fig: dict[str, Any] = {
        "slowloris_closed": sum(t is not None for t in closed[:n_loris]),
        "stalled_closed": sum(t is not None for t in closed[n_loris:]),
        "last_close_s": max(times) if times else None,
        "rss_peak_growth_mb": (sampler.peak - base) / MB,
        "rss_after_mb": (after - base) / MB,
        "latency_before": before.summary(),
        "latency_during": during.summary(),
    }
    print(f"  {fig}", flush=True)
    p_before = fig["latency_before"]["ok"].get("p99_ms") or 0.0
    p_during = fig["latency_during"]["ok"].get("p99_ms")
    unaffected = p_during is not None and p_during <= 2 * p_before + 10
    unaffected = unaffected and set(fig["latency_during"]["statuses"]) == {"200"}
    every = len(closed) == len(times)
    return fig, [
        (
            f"f sockets closed by the server within {a.hold_s:g} s",
            float(len(times)),
            f"= {len(closed)}",
            verdict(every),
        ),
        (
            "f RSS after MB (vs before the attack)",
            fig["rss_after_mb"],
            "< 50",
            verdict(fig["rss_after_mb"] < 50),
        ),
        (
            "f other clients' 5-token p99 ms during",
            p_during,
            f"<= 2 x before ({p_before:.0f}) + 10",
            verdict(unaffected),
        ),
    ]


PARTS = {"a": part_a, "b": part_b, "c": part_c, "d": part_d, "e": part_e, "f": part_f}
