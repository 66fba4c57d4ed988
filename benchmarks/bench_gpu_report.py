"""bench_gpu.py's output: gpu.json (everything measured) and gpu.md (the tables docs/benchmarks.md
quotes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PRECISION = {"no_quant": "bf16", "fp8": "FP8"}


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return str(value)


def in_process_rows(result: dict[str, Any]) -> list[str]:
    lines = []
    precision = PRECISION.get(result["quantization"], result["quantization"])
    for row in result.get("in_process", []):
        if "path" not in row:
            continue
        mfu = row["mfu"]
        lines.append(
            f"| {result['model']} | {precision} | {row['tokens']} | {row['batch']} | {row['path']} "
            f"| {fmt(row['tokens_per_s'])} | {fmt(row['inputs_per_s'])} | {fmt(row['p50_ms'], 2)} "
            f"| {fmt(row['tflops'], 1)} | {'—' if mfu is None else f'{100 * mfu:.1f} %'} |"
        )
    return lines


def served_row(result: dict[str, Any]) -> str:
    precision = PRECISION.get(result["quantization"], result["quantization"])
    served = result.get("served")
    if served is None:
        why = result.get("error") or result.get("skipped") or "not measured (rehearsal)"
        return f"| {result['model']} | {precision} | {why} | | | | |"
    return (
        f"| {result['model']} | {precision} | {fmt(served['long_tokens_per_s'])} "
        f"| {fmt(served['short_requests_per_s'])} | {fmt(served['long_p50_ms'], 1)} "
        f"| {fmt(served['short_p50_ms'], 1)} | {served['client']} |"
    )


def build_row(result: dict[str, Any]) -> str:
    accuracy = result.get("accuracy") or {}
    gate = f"{accuracy.get('metric', '')} {fmt(accuracy.get('value'), 5)}" if accuracy else "—"
    graphs = next(
        (r["cuda_graph_shapes"] for r in result.get("in_process", []) if "cuda_graph_shapes" in r),
        None,
    )
    problem = result.get("error") or result.get("skipped") or ""
    return (
        f"| {result['model']} | {PRECISION.get(result['quantization'], result['quantization'])} "
        f"| {result.get('dtype', '—')} | {fmt(result.get('build_s'), 1)} | {gate} "
        f"| {fmt(graphs)} | {problem} |"
    )


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    title = "CPU rehearsal (tiny models; NOT GPU figures)" if report["rehearsal"] else "GPU"
    peak = report["peak_tflops"]
    lines = [
        f"### {title}: {env['device']}",
        "",
        f"{env['date']} · Python {env['python']} · torch {env['torch']} · transformers "
        f"{env['transformers']} · bei {env['bei']} · MFU against "
        + (f"{peak:,.0f} TFLOP/s dense bf16 ({report['gpu']})" if peak else "no GPU peak (CPU)"),
        "",
        "| model | precision | artifact dtype | build s | accuracy gate | CUDA graph shapes "
        "| problem |",
        "|---|---|---|---:|---|---:|---|",
        *(build_row(r) for r in report["results"]),
        "",
        "In-process (`engine.run`, pre-tokenized):",
        "",
        "| model | precision | tokens/input | batch | path | tokens/s | inputs/s | p50 ms "
        "| TFLOP/s | MFU |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
        *(line for r in report["results"] for line in in_process_rows(r)),
        "",
        "Served (`bei serve`, one input per request, 64 in flight; latency at concurrency 1):",
        "",
        "| model | precision | tokens/s at 500 tokens | requests/s at 5 tokens | p50 ms 500 "
        "| p50 ms 5 | client |",
        "|---|---|---:|---:|---:|---:|---|",
        *(served_row(r) for r in report["results"]),
        "",
    ]
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path, *, echo: bool = True) -> None:
    (out / "gpu.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    table = markdown(report)
    (out / "gpu.md").write_text(table)
    if echo:
        print(table, flush=True)
