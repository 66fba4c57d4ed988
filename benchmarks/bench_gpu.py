"""The GPU benchmark of scripts/gpu_check.sh: bei's CUDA engine in-process and served, bf16 vs FP8.

Models are generated (no hub here): a BERT-base-sized encoder (hidden 768, 12 layers, mean
pooling) and a Qwen3-0.6B-shaped decoder embedder (hidden 1024, 28 layers, 16 query / 8 KV heads
of 128, MLP 3072, last-token pooling), random weights, MiniLM's tokenizer -- so the vocabulary is
MiniLM's 30,522 (Qwen3's 151,936-row table is a lookup: it adds memory, not FLOPs). Each is built
by bei's own path (`bei build --target <this GPU>`, quantization_type no_quant -> bf16, fp8 ->
FP8 weights + `_scaled_mm`), then measured:
  - in-process (`engine.run` on pre-tokenized batches): 500-token inputs in batches of 32 and
    5-token inputs in batches of 128 (tokens/s, MFU), and one input per batch (latency, p50);
    5-token inputs also with CUDA graphs off (the eager path), to show what the graphs give;
  - served (`bei serve --device cuda`): one input per HTTP request to /v1/embeddings, 64 in
    flight (the BEI table's method), tokens/s at 500 tokens and requests/s at 5 tokens.
MFU = achieved FLOP/s / the chip's dense 16-bit peak (bei_cli.hardware.GPUS). FLOPs per token
are counted from the config (`flops_per_token`): 2 x every Linear's multiply-adds plus attention's
QK^T and PV (2 x 2 x context x heads x head_dim; context = the sequence for bidirectional
attention, half of it on average for causal), padding excluded; FP8 rows use the same
16-bit peak (the FP8 peak is twice that), so FP8 MFU can exceed what bf16 could reach.

Without CUDA the same script rehearses on the CPU with tiny models (every step runs, the
figures are not GPU figures and are labelled so).

    python benchmarks/bench_gpu.py --out benchmarks/results/gpu
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_gpu_report import write_report  # noqa: E402
from bench_gpu_serving import ServedResult, serve_and_measure  # noqa: E402

VOCAB = 30522
LONG, SHORT = 500, 5  # tokens per input, special tokens included
BATCH = {LONG: 32, SHORT: 128}  # rows per in-process batch (32 x 500 = 16,000 <= 16,384)
REHEARSAL_BATCH = {LONG: 4, SHORT: 16}  # the CPU rehearsal: the same steps, smaller
QUANTIZATIONS = ("no_quant", "fp8")
LOG = "build-serve.log"  # every bei build and bei serve log, appended (few files come back)

# (name, family, dims at full size, dims for the CPU rehearsal)
BERT_BASE = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
QWEN3_06B = {
    "hidden_size": 1024,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "intermediate_size": 3072,
}
TINY_BERT = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
}
TINY_QWEN3 = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 128,
}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "bert" | "qwen3"
    dims: dict[str, int]


def model_specs(full: bool) -> tuple[ModelSpec, ...]:
    return (
        ModelSpec("bert-base" if full else "tiny-bert", "bert", BERT_BASE if full else TINY_BERT),
        ModelSpec(
            "qwen3-0.6b-shaped" if full else "tiny-qwen3",
            "qwen3",
            QWEN3_06B if full else TINY_QWEN3,
        ),
    )


# --- models ------------------------------------------------------------------------------------


def generate(spec: ModelSpec, target: Path) -> Path:
    """A sentence-transformers checkpoint of `spec` with random weights, saved in bf16 (as
    Qwen3 ships), with MiniLM's tokenizer (Qwen3: EOS appended, left padding)."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    from tests.fixtures.causal import left_padding_eos_tokenizer
    from tests.fixtures.models import copy_tokenizer

    torch.manual_seed(0)
    base = target.parent / f"{target.name}-base"
    if spec.family == "bert":
        config: Any = transformers.BertConfig(
            vocab_size=VOCAB, max_position_embeddings=512, **spec.dims
        )
        model: Any = transformers.BertModel(config)
    else:
        config = transformers.Qwen3Config(
            vocab_size=VOCAB,
            max_position_embeddings=8192,
            pad_token_id=0,
            bos_token_id=101,
            eos_token_id=102,
            tie_word_embeddings=True,
            **spec.dims,
        )
        model = transformers.Qwen3Model(config)
    model.to(torch.bfloat16).eval().save_pretrained(base)
    copy_tokenizer(base)
    if spec.family == "qwen3":
        left_padding_eos_tokenizer(base)
    transformer = Transformer(str(base), max_seq_length=512)
    pooling = Pooling(
        transformer.get_embedding_dimension(),
        pooling_mode="mean" if spec.family == "bert" else "lasttoken",
    )
    SentenceTransformer(modules=[transformer, pooling, Normalize()]).save(str(target))
    shutil.rmtree(base)
    return target


def flops_per_token(config: dict[str, Any], context: int, causal: bool) -> float:
    """Forward FLOPs per real token: 2 x Linear multiply-adds + attention scores and values."""
    hidden, layers = config["hidden_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or hidden // heads
    kv_heads = config.get("num_key_value_heads") or heads
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    gated = config.get("model_type") != "bert"  # SwiGLU: gate, up and down projections
    mlp = (3 if gated else 2) * hidden * config["intermediate_size"]
    projections = hidden * (q_dim + 2 * kv_dim) + q_dim * hidden
    attended = (context + 1) / 2 if causal else context
    return layers * (2 * (projections + mlp) + 4 * attended * q_dim)


# --- building ----------------------------------------------------------------------------------


def write_config(checkpoint: Path, quantization: str, path: Path, name: str) -> Path:
    path.write_text(
        f"""model_name: {name}
resources:
  accelerator: H100
  use_gpu: true
trt_llm:
  build:
    base_model: encoder
    checkpoint_repository:
      source: LOCAL
      repo: {checkpoint}
    max_num_tokens: 16384
    quantization_type: {quantization}
    quantization_config:
      calib_size: 64
      calib_max_seq_length: 256
""",
        encoding="utf-8",
    )
    return path


def build(config: Path, out: Path, target: str, log: Path) -> float:
    start = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "bei_cli",
        "build",
        str(config),
        "-o",
        str(out),
        "--no-image",
        "--target",
        target,
    ]
    with log.open("ab") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bei build failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - start


# --- in-process --------------------------------------------------------------------------------


def token_batch(rows: int, tokens: int, eos_only: bool, seed: int) -> Any:
    from bei_cli.engine.base import Batch

    rng = np.random.default_rng(seed)
    body = rng.integers(1000, VOCAB, size=(rows, tokens - (1 if eos_only else 2))).tolist()
    start = [] if eos_only else [101]
    return Batch.from_sequences([[*start, *row, 102] for row in body])


def timed(run: Any, seconds: float) -> list[float]:
    """Per-call seconds of `run()` (each call ends with its outputs on the host), after two
    warm-up calls; at least 3 calls, then until `seconds` have passed."""
    run(), run()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < deadline:
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def in_process(artifact: Path, ctx: dict[str, Any], seconds: float) -> list[dict]:
    """The served engine (graphs where captured) on every workload; on CUDA also the same
    engine with graphs off on the 5-token workloads (the only ones graphs cover)."""
    from bei_cli.engine.artifact import MODEL_DIR, load_engine

    engine, manifest = load_engine(artifact, device=ctx["device"], verify=False)
    config = json.loads((artifact / MODEL_DIR / "config.json").read_text())
    causal = manifest.profile.attention == "causal"
    runners = [("graphs" if ctx["device"] == "cuda" else "cpu", engine, (LONG, SHORT))]
    if ctx["device"] == "cuda":
        runners.append(("eager", eager_twin(artifact, engine, manifest), (SHORT,)))
    rows: list[dict] = []
    for label, runner, lengths in runners:
        for tokens in lengths:
            for batch_rows in (ctx["batch"][tokens], 1):
                batch = token_batch(batch_rows, tokens, causal, seed=tokens)
                times = timed(lambda b=batch, r=runner: r.run(b), seconds)
                rows.append(
                    figures(
                        label,
                        tokens,
                        batch_rows,
                        float(np.median(times)),
                        config,
                        causal,
                        ctx["peak"],
                    )
                )
    graphs = getattr(engine, "graphs", None)
    rows.append({"cuda_graph_shapes": len(getattr(graphs, "graphs", {}) or {})})
    return rows


def eager_twin(artifact: Path, engine: Any, manifest: Any) -> Any:
    """The engine as loaded for serving, with CUDA graphs off."""
    from bei_cli.engine.artifact import MODEL_DIR
    from bei_cli.engine.torch_engine import load_torch_engine

    return load_torch_engine(
        artifact / MODEL_DIR,
        manifest.profile,
        dtype=engine.info.dtype,
        device=engine.info.device,
        max_batch_tokens=manifest.limits.max_num_tokens,
        max_batch_size=manifest.limits.max_batch_size,
        max_seq_len=manifest.limits.max_seq_len,
        cuda_graphs=False,
    )


def figures(
    path: str,
    tokens: int,
    rows: int,
    seconds: float,
    config: dict,
    causal: bool,
    peak: float | None,
) -> dict[str, Any]:
    tokens_per_s = rows * tokens / seconds
    flops = flops_per_token(config, tokens, causal) * tokens_per_s
    return {
        "path": path,
        "tokens": tokens,
        "batch": rows,
        "p50_ms": round(seconds * 1e3, 3),
        "tokens_per_s": round(tokens_per_s, 1),
        "inputs_per_s": round(rows / seconds, 1),
        "tflops": round(flops / 1e12, 3),
        "mfu": None if peak is None else round(flops / (peak * 1e12), 4),
    }


# --- the run -----------------------------------------------------------------------------------


def gpu_name() -> tuple[str | None, str]:
    """(the bei_cli.hardware.GPUS key of this machine's GPU or None, its own name)."""
    import torch

    from bei_cli.hardware import GPUS

    if not torch.cuda.is_available():
        return None, "no CUDA GPU"
    name = torch.cuda.get_device_name()
    known = [key for key in GPUS if key.replace("_", " ") in name.replace("-", " ")]
    return (max(known, key=len) if known else None), name


def environment(device_name: str) -> dict[str, Any]:
    import torch
    import transformers

    import bei_cli

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": device_name,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "bei": getattr(bei_cli, "__version__", "?"),
    }


def measure_model(spec: ModelSpec, args: argparse.Namespace, ctx: dict[str, Any]) -> None:
    """Build, measure and record each precision of `spec`; the report is rewritten after every
    row, so a run cut short by its timeout keeps what it measured."""
    work: Path = args.work
    checkpoint = generate(spec, work / spec.name)
    for quantization in QUANTIZATIONS:
        row: dict[str, Any] = {"model": spec.name, "quantization": quantization}
        # None starts that would, at the pace of the slowest so far, end past the deadline.
        if time.monotonic() + ctx["slowest_s"] > ctx["deadline"]:
            row["skipped"] = "time budget spent"
        else:
            started = time.monotonic()
            measure_artifact(checkpoint, row, args, ctx)
            ctx["slowest_s"] = max(ctx["slowest_s"], time.monotonic() - started)
        print(json.dumps(row)[:400], flush=True)
        ctx["report"]["results"].append(row)
        write_report(ctx["report"], args.out, echo=False)


def measure_artifact(
    checkpoint: Path, row: dict[str, Any], args: argparse.Namespace, ctx: dict[str, Any]
) -> None:
    name = f"{row['model']}-{row['quantization']}"
    config = write_config(checkpoint, row["quantization"], args.work / f"{name}.yaml", name)
    artifact = args.work / "build" / name
    log = args.out / LOG
    try:
        row["build_s"] = round(build(config, artifact, ctx["target"], log), 1)
        manifest = json.loads((artifact / "manifest.json").read_text())
        row["dtype"], row["accuracy"] = manifest["dtype"], manifest.get("accuracy")
        started = time.perf_counter()
        row["in_process"] = in_process(artifact, ctx, args.seconds)
        row["in_process_s"] = round(time.perf_counter() - started, 1)
        if ctx["device"] != "cuda" and row["quantization"] != "no_quant":
            row["served"] = None  # rehearsal: the served path runs once per model
            return
        started = time.perf_counter()
        texts = 64 if ctx["device"] == "cuda" else 16
        served: ServedResult = serve_and_measure(
            artifact, ctx["device"], log, args.seconds, texts=texts
        )
        row["served"] = served.to_dict()
        row["served_s"] = round(time.perf_counter() - started, 1)
    except Exception as exc:  # one failed artifact must not lose the others' figures
        row["error"] = f"{type(exc).__name__}: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bei-bench-gpu"))
    parser.add_argument(
        "--seconds", type=float, help="timed seconds per figure (default: 1.5 on CUDA, 0.3 on CPU)"
    )
    parser.add_argument(
        "--budget-s", type=float, default=400, help="end by then: skip what would finish later"
    )
    args = parser.parse_args()
    from bei_cli.hardware import GPUS

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / LOG).unlink(missing_ok=True)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    key, device_name = gpu_name()
    cuda = device_name != "no CUDA GPU"
    args.seconds = args.seconds or (1.5 if cuda else 0.3)
    ctx: dict[str, Any] = {
        "device": "cuda" if cuda else "cpu",
        "target": key or "H100",  # rehearsal: an H100 artifact built (and served) on the CPU
        "peak": GPUS[key].dense_16bit_tflops if key else None,
        "batch": BATCH if cuda else REHEARSAL_BATCH,
        "deadline": time.monotonic() + args.budget_s,
        "slowest_s": 0.0,  # the longest build + measurement so far
    }
    ctx["report"] = report = {
        "environment": environment(device_name),
        "gpu": key,
        "rehearsal": not cuda,
        "peak_tflops": ctx["peak"],
        "results": [],
    }
    for spec in model_specs(full=cuda):
        measure_model(spec, args, ctx)
    write_report(report, args.out)
    failed = [r for r in report["results"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
