"""The CUDA device path, held to the plain path: bucketed shapes, the graph-ready (4-D mask)
forward, pinned staging and CUDA graphs.

On the CPU the bucketed engine runs the very forward a CUDA graph captures (`EagerGraphShapes`
runs `MaskedForward` at the graph shapes), so its outputs must equal the plain engine's -- for
encoders (right padding) and causal models (left padding), every head. The capture itself and
pinned memory need CUDA: those tests carry the `gpu` marker and skip without it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from bei_cli.engine.base import Batch, Output
from bei_cli.engine.bucketing import ShapePolicy
from bei_cli.engine.cuda_graphs import (
    EagerGraphShapes,
    MaskedForward,
    additive_mask,
    check_masked_forward,
    probe_inputs,
    window_reason,
)
from bei_cli.engine.pinned import HostStaging
from bei_cli.engine.selection import tokenized_texts
from bei_cli.engine.torch_engine import TorchEngine, load_torch_engine
from bei_cli.inspect import inspect_checkpoint
from bei_cli.inspect.profile import ModelProfile
from tests.fixtures.causal import make_tiny_causal_embedder, make_tiny_encoder_embedder
from tests.fixtures.heads import BIO_LABELS, TOKENS, make_tiny_head_model
from tests.unit.engine.helpers import TinyFactory

CUDA_AVAILABLE = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not CUDA_AVAILABLE, reason="needs a CUDA GPU")
TOLERANCE = 1e-5  # fp32: only the order of additions may differ
# Short texts land on graph shapes, the long ones on eager width buckets.
SHORT = ["hi", "a", "short text", "the quick brown fox", "ünïcödé", "x y z", "1 2 3"]
LONG = ["A long paragraph about embeddings and retrieval. " * 6, "medium length text " * 4]


def bucketed(engine: TorchEngine, attention: str) -> TorchEngine:
    """The engine as CUDA runs it, on the CPU: graph buckets run by the graph-ready forward."""
    forward = MaskedForward(
        engine.model, attention == "causal", torch.float32, engine.forward_options
    )
    policy = ShapePolicy.cuda(engine.info.max_batch_size, engine.info.max_seq_len)
    return dataclasses.replace(engine, shapes=policy, graphs=EagerGraphShapes(forward))


def rows_of(output: Output) -> list[np.ndarray]:
    if output.token_scores is not None:
        return list(output.token_scores)
    dense = output.embeddings if output.embeddings is not None else output.scores
    assert dense is not None
    return list(dense)


def tokenize(model_dir: Path, texts: list[str], max_seq_len: int) -> Batch:
    """Token ids as the server makes them from the checkpoint's tokenizer.json."""
    return Batch.from_sequences(tokenized_texts(model_dir, texts, max_seq_len))


def assert_same_outputs(model_dir: Path, profile: ModelProfile) -> None:
    plain = load_torch_engine(model_dir, profile, max_batch_size=16)
    shaped = bucketed(plain, profile.attention)
    for texts in (SHORT[:1], SHORT[:3], SHORT, SHORT + LONG, LONG):
        batch = tokenize(model_dir, texts, profile.max_seq_len)
        want, got = rows_of(plain.run(batch)), rows_of(shaped.run(batch))
        assert len(got) == len(want) == len(texts)
        for w, g in zip(want, got, strict=True):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("pooling", ["cls", "mean", "weightedmean", "lasttoken"])
def test_bucketed_encoder_equals_the_plain_engine(
    tiny_checkpoint: TinyFactory, pooling: str
) -> None:
    model_dir, profile = tiny_checkpoint(pooling)
    assert_same_outputs(model_dir, profile)


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_causal_embedder(tmp_path_factory.mktemp("qwen3") / "qwen3", "qwen3")


@pytest.mark.parametrize("base_model", ["encoder", "encoder_bert"])
def test_bucketed_qwen3_equals_the_plain_engine(qwen3: Path, base_model: str) -> None:
    """Left padding; causal (encoder) and bidirectional (encoder_bert) attention."""
    profile = inspect_checkpoint(qwen3, base_model=base_model)
    assert profile.padding_side == "left"
    assert_same_outputs(qwen3, profile)


def test_bucketed_ner_keeps_one_row_per_real_token(tmp_path: Path) -> None:
    model_dir = make_tiny_head_model(tmp_path / "ner", architecture=TOKENS, labels=BIO_LABELS)
    assert_same_outputs(model_dir, inspect_checkpoint(model_dir, base_model="encoder_bert"))


def test_the_mask_probe_accepts_faithful_forwards_and_catches_a_wrong_mask(qwen3: Path) -> None:
    causal = load_torch_engine(qwen3, inspect_checkpoint(qwen3, base_model="encoder"))
    probe = probe_inputs(torch.device("cpu"), causal.pad_id, "left", token_types=False)
    with torch.inference_mode():
        right = MaskedForward(causal.model, True, torch.float32, causal.forward_options)
        assert check_masked_forward(right, probe) is None
        wrong = MaskedForward(causal.model, False, torch.float32, causal.forward_options)
        reason = check_masked_forward(wrong, probe)
    assert reason is not None and "differ" in reason


def test_the_probe_pads_on_the_engine_side_with_its_pad_id() -> None:
    probe = probe_inputs(torch.device("cpu"), pad_id=3, side="left", token_types=True)
    assert probe["attention_mask"].tolist() == [[1] * 6, [0, 0, 0, 1, 1, 1]]
    assert probe["input_ids"][1, :3].tolist() == [3, 3, 3]
    assert 3 not in probe["input_ids"][0].tolist()
    assert probe["token_type_ids"].shape == (2, 6)


def test_additive_mask_blocks_padding_and_later_tokens() -> None:
    mask = torch.tensor([[0, 1, 1]])
    bidirectional = additive_mask(mask, causal=False, dtype=torch.float32)
    causal = additive_mask(mask, causal=True, dtype=torch.float32)
    low = torch.finfo(torch.float32).min
    assert bidirectional.shape == (1, 1, 3, 3)
    # every row attends to itself (a pad query row is never all-masked: NaN in float16)
    assert bidirectional[0, 0].tolist() == [[0, 0, 0], [low, 0, 0], [low, 0, 0]]
    assert causal[0, 0].tolist() == [[0, low, low], [low, 0, low], [low, 0, 0]]


def test_windowed_attention_narrower_than_the_graph_widths_stays_eager(tmp_path: Path) -> None:
    model_dir = make_tiny_encoder_embedder(tmp_path / "modernbert", "modernbert")
    engine = load_torch_engine(model_dir, inspect_checkpoint(model_dir, base_model="encoder"))
    reason = window_reason(engine.model, widest=64)
    assert reason is not None and "narrower than the 64-token graph shapes" in reason
    assert window_reason(engine.model, widest=8) is None  # its window is 8 tokens each way


def test_the_cpu_engine_keeps_exact_shapes_and_no_kv_cache(qwen3: Path) -> None:
    engine = load_torch_engine(qwen3, inspect_checkpoint(qwen3, base_model="encoder"))
    assert engine.shapes == ShapePolicy.exact()
    assert engine.graphs is None and engine.staging is None
    assert engine.forward_options == {"use_cache": False}


def test_cpu_staging_copies_nothing_and_pinning_falls_back_without_cuda(
    caplog: pytest.LogCaptureFixture,
) -> None:
    arrays = (np.arange(6, dtype=np.int64).reshape(2, 3), np.ones((2, 3), dtype=np.int64))
    plain = HostStaging(torch.device("cpu"))
    assert not plain.pinned
    assert [t.tolist() for t in plain.to_device(arrays)] == [a.tolist() for a in arrays]
    if CUDA_AVAILABLE:
        return  # pinning works here; the gpu tests cover it
    forced = HostStaging(torch.device("cpu"), pin=True)
    assert [t.tolist() for t in forced.to_device(arrays)] == [a.tolist() for a in arrays]
    assert not forced.pinned
    assert "pinned host memory unavailable" in caplog.text


# --- CUDA only --------------------------------------------------------------------------------


@pytest.mark.gpu
@requires_cuda
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("model", ["bert", "qwen3"])
def test_cuda_graphs_equal_eager_cuda_and_the_cpu_reference(
    tiny_checkpoint: TinyFactory, qwen3: Path, model: str, dtype: str
) -> None:
    if model == "bert":
        model_dir, profile = tiny_checkpoint("mean")
    else:
        model_dir, profile = qwen3, inspect_checkpoint(qwen3, base_model="encoder")
    graphs = load_torch_engine(model_dir, profile, dtype=dtype, device="cuda")
    eager = load_torch_engine(model_dir, profile, dtype=dtype, device="cuda", cuda_graphs=False)
    reference = load_torch_engine(model_dir, profile)
    assert graphs.graphs is not None, "capture fell back to eager (see the log)"
    assert graphs.staging is not None and graphs.staging.pinned
    assert eager.graphs is None
    for texts in (SHORT[:1], SHORT, SHORT + LONG):
        batch = tokenize(model_dir, texts, profile.max_seq_len)
        want = np.stack(rows_of(reference.run(batch)))
        for engine in (graphs, eager):
            got = np.stack(rows_of(engine.run(batch)))
            cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
            assert cos.min() >= 0.999, (engine.graphs is not None, cos.min())


@pytest.mark.gpu
@requires_cuda
def test_pinned_staging_on_cuda_is_reused_and_exact() -> None:
    staging = HostStaging(torch.device("cuda"))
    first = staging.to_device([np.arange(12, dtype=np.int64).reshape(3, 4)])
    buffer = staging._buffer
    assert staging.pinned and buffer.is_pinned()
    second = staging.to_device([np.full((2, 2), 7, dtype=np.int64)])
    assert staging._buffer is buffer  # smaller batches reuse the buffer
    assert first[0].cpu().tolist() == np.arange(12).reshape(3, 4).tolist()
    assert second[0].device.type == "cuda" and second[0].cpu().tolist() == [[7, 7], [7, 7]]


@pytest.mark.gpu
@pytest.mark.skipif(
    not (CUDA_AVAILABLE and torch.cuda.get_device_capability() >= (8, 9)),
    reason="needs a CUDA GPU with compute capability >= 8.9",
)
def test_fp8_engine_on_cuda_runs_scaled_mm_inside_its_graphs(
    tiny_checkpoint: TinyFactory, tmp_path: Path
) -> None:
    """An FP8 artifact on an FP8 GPU: Fp8Linear (torch._scaled_mm) captured in the graphs, its
    vectors close to the CPU's dequantized run (the FP8 floor, 0.99)."""
    import shutil

    from bei_cli.engine.fp8_linear import Fp8Linear
    from bei_cli.engine.fp8_quantize import quantize_fp8
    from bei_cli.quantize.gate import calibration_texts
    from bei_cli.quantize.plan import Hardware, plan_quantization

    source, profile = tiny_checkpoint("mean")
    model_dir = tmp_path / "fp8"
    shutil.copytree(source, model_dir)
    plan = plan_quantization(
        "fp8", base_model="encoder", task="embed", hardware=Hardware.from_accelerator("H100")
    )
    quantize_fp8(model_dir, profile, plan, calibration_texts(), print)
    on_gpu = load_torch_engine(model_dir, profile, dtype="bfloat16", device="cuda")
    assert any(isinstance(m, Fp8Linear) for m in on_gpu.model.modules())
    assert on_gpu.graphs is not None, "capture fell back to eager (see the log)"
    reference = load_torch_engine(model_dir, profile)
    for texts in (SHORT[:2], SHORT + LONG):
        batch = tokenize(model_dir, texts, profile.max_seq_len)
        got, want = np.stack(rows_of(on_gpu.run(batch))), np.stack(rows_of(reference.run(batch)))
        cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert cos.min() >= 0.99, cos.min()


def test_graph_outputs_over_budget_drop_the_largest_shapes(
    tiny_checkpoint: TinyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bei_cli.engine import cuda_graphs

    model_dir, profile = tiny_checkpoint("mean")
    engine = load_torch_engine(model_dir, profile)
    forward = MaskedForward(engine.model, False, torch.float32, engine.forward_options)
    probe = probe_inputs(torch.device("cpu"), engine.pad_id, "right", token_types=True)
    shapes = ShapePolicy.cuda(128, 128).graph_shapes()
    with torch.inference_mode():
        assert cuda_graphs.affordable_shapes(forward, shapes, probe) == shapes  # KBs per token
        # last_hidden_state (32 floats) + pooler_output per sequence: ~170 bytes a token
        monkeypatch.setattr(cuda_graphs, "GRAPH_OUTPUT_BUDGET_BYTES", 1_000_000)
        kept = cuda_graphs.affordable_shapes(forward, shapes, probe)
    assert 0 < len(kept) < len(shapes) and kept == shapes[len(shapes) - len(kept) :]
    assert sum(s.rows * s.width for s in kept) * 128 <= 1_000_000
