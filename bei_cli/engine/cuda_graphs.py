"""CUDA graphs for short batches: the transformer captured once per small bucketed shape.

A 5-token request on a BERT-base model is a few hundred tiny kernels; on a GPU their launches,
not their arithmetic, set the latency. Replaying a captured CUDA graph launches them all at
once. Graphs replay one exact shape, so the engine pads short batches to the buckets of
`bucketing.ShapePolicy` and captures each bucket at load (the largest first, all sharing one
memory pool); longer batches, where arithmetic dominates, run eagerly.

A graph must not contain host synchronisation. transformers' mask builders read the 2-D
attention mask on the host (`mask.all()`: "is there padding at all?"), so the captured forward
passes a ready 4-D additive mask instead (`additive_mask`), which transformers uses as it is.
Before capturing, `check_masked_forward` runs a padded probe both ways and requires the outputs
to agree (a family that ignores or misreads a 4-D mask runs eagerly, with a warning), and the
warm-up runs under `torch.cuda.set_sync_debug_mode("error")` so a forward that still
synchronises is found before capture, not during it. Any failure leaves the engine eager.

torch.compile is not used: compiling each bucket costs tens of seconds per shape at start-up,
while graphs capture in milliseconds and remove the same launch overhead.

The engine process of the serving runtime (issue 11) must load the engine itself: CUDA state --
graphs, the pool, pinned buffers -- belongs to the process that created it and does not survive
a fork.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from bei_cli.engine.bucketing import PaddedShape

log = logging.getLogger(__name__)

# The probe's outputs with a 4-D mask must match the 2-D path this closely (relative to the
# largest magnitude); rounding differs between attention kernels, a misread mask far more.
MASK_PROBE_TOLERANCE = 1e-2
WARMUP_RUNS = 2  # eager runs on a side stream before capture (cuBLAS/allocator warm-up)
# Each graph keeps its output tensors; per-token outputs of a vocabulary's width (SPLADE's
# masked-LM logits) would hold gigabytes over all shapes, so the largest shapes are dropped
# until the kept outputs fit this.
GRAPH_OUTPUT_BUDGET_BYTES = 1 << 30

Inputs = Mapping[str, torch.Tensor]


def additive_mask(mask: torch.Tensor, *, causal: bool, dtype: torch.dtype) -> torch.Tensor:
    """(n, w) 0/1 padding mask -> (n, 1, w, w) additive mask: 0 where attended, the dtype's
    minimum elsewhere. Causal: a query also ignores every later key.

    Every position also attends to itself: a left-padded pad query would otherwise see no key
    at all, and in float16 its all-masked softmax row turns into NaN, which the next layer's
    attention would multiply (by zero weights: still NaN) into every real token. Pad positions'
    outputs are never read; real tokens' rows are unchanged."""
    width = mask.shape[1]
    keys = mask.bool()[:, None, None, :].expand(-1, 1, width, width)
    if causal:
        keys = keys & torch.ones(width, width, dtype=torch.bool, device=mask.device).tril()
    keys = keys | torch.eye(width, dtype=torch.bool, device=mask.device)
    zero = torch.zeros((), dtype=dtype, device=mask.device)
    return torch.where(keys, zero, torch.finfo(dtype).min)


@dataclass(frozen=True)
class MaskedForward:
    """The graph-ready forward: the model called with a 4-D additive mask built on the device
    (no host reads), so the same call can be captured. Run eagerly it is what a graph replays."""

    model: torch.nn.Module
    causal: bool
    dtype: torch.dtype
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. use_cache=False

    def __call__(self, inputs: Inputs) -> Any:
        mask4d = additive_mask(inputs["attention_mask"], causal=self.causal, dtype=self.dtype)
        return self.model(**{**inputs, "attention_mask": mask4d}, **self.extra)


class GraphRunner(Protocol):
    """Runs a bucketed graph shape; None means "not captured here, run eagerly"."""

    def run(self, shape: PaddedShape, inputs: Inputs) -> Any | None: ...


@dataclass(frozen=True)
class EagerGraphShapes:
    """Graph shapes run through `MaskedForward` without capture: the CPU stand-in for
    `CudaGraphs` (tests compare it with the plain path) and the fallback's arithmetic."""

    forward: MaskedForward

    def run(self, shape: PaddedShape, inputs: Inputs) -> Any | None:
        return self.forward(inputs) if shape.graph else None


def output_tensors(output: Any) -> list[torch.Tensor]:
    values = output.values() if hasattr(output, "values") else [output]
    return [v for v in values if isinstance(v, torch.Tensor)]


def check_masked_forward(forward: MaskedForward, inputs: Inputs) -> str | None:
    """None if the 4-D mask forward agrees with the model's own 2-D path on `inputs` (a padded
    probe batch); otherwise why it does not."""
    try:
        plain = forward.model(**inputs, **forward.extra)
        masked = forward(inputs)
    except Exception as exc:  # any family-specific refusal: the engine stays eager
        return f"{type(exc).__name__}: {exc}"
    keep = inputs["attention_mask"].bool()
    for want, got in zip(output_tensors(plain), output_tensors(masked), strict=False):
        if want.shape != got.shape:
            return f"output shapes differ ({tuple(want.shape)} vs {tuple(got.shape)})"
        if want.dim() == 3 and want.shape[:2] == keep.shape:  # per-token: pad rows are junk
            want, got = want[keep], got[keep]
        scale = want.float().abs().max().clamp(min=1e-6)
        error = float(((want.float() - got.float()).abs().max() / scale).item())
        if error > MASK_PROBE_TOLERANCE:
            return f"outputs differ by {error:.3g} (relative) with a 4-D mask"
    return None


def probe_inputs(
    device: torch.device, pad_id: int, side: str, token_types: bool
) -> dict[str, torch.Tensor]:
    """Two sequences of 6 and 3 tokens, padded on `side`: the padding the probe must honour."""
    a, b, c, d, e, f = [i for i in range(1, 9) if i != pad_id][:6]
    ids = torch.tensor([[a, b, c, d, e, f], [a, e, f, pad_id, pad_id, pad_id]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    if side == "left":
        ids[1], mask[1] = ids[1].roll(3), mask[1].roll(3)
    inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if token_types:
        inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    return inputs


@dataclass
class CapturedGraph:
    graph: torch.cuda.CUDAGraph
    inputs: dict[str, torch.Tensor]  # static input buffers, written before each replay
    output: Any  # the model output whose tensors each replay overwrites


@dataclass
class CudaGraphs:
    """Captured graphs by (rows, width); `run` copies the batch into a graph's static inputs
    and replays it. The returned output's tensors are overwritten by the next replay: the
    engine's head copies what it needs off the device before that."""

    graphs: dict[tuple[int, int], CapturedGraph] = field(default_factory=dict)

    def run(self, shape: PaddedShape, inputs: Inputs) -> Any | None:
        captured = self.graphs.get((shape.rows, shape.width)) if shape.graph else None
        if captured is None:
            return None
        for name, static in captured.inputs.items():
            static.copy_(inputs[name], non_blocking=True)
        captured.graph.replay()
        return captured.output

    def clear(self) -> None:
        self.graphs.clear()


def capture_graphs(
    forward: MaskedForward, shapes: tuple[PaddedShape, ...], input_names: tuple[str, ...]
) -> CudaGraphs:
    """Capture `forward` at every shape (largest first, one shared pool). Raises on failure;
    `try_capture` is the forgiving entry point."""
    device = next(forward.model.parameters()).device
    pool = torch.cuda.graph_pool_handle()
    graphs = CudaGraphs()
    for shape in shapes:
        static = {
            name: torch.ones(shape.rows, shape.width, dtype=torch.int64, device=device)
            for name in input_names
        }
        if "token_type_ids" in static:
            static["token_type_ids"].zero_()
        warm_up(forward, static)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=pool):
            output = forward(static)
        graphs.graphs[(shape.rows, shape.width)] = CapturedGraph(graph, static, output)
    torch.cuda.synchronize(device)
    return graphs


def warm_up(forward: MaskedForward, static: Inputs) -> None:
    """Eager runs on a side stream (as capture requires), refusing host synchronisation."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        with torch.cuda.stream(stream):
            for _ in range(WARMUP_RUNS):
                forward(static)
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    torch.cuda.current_stream().wait_stream(stream)


# Config fields of local (windowed) attention: a 4-D mask replaces the window transformers
# would build, so graphs are only faithful for widths inside the window.
WINDOW_FIELDS = ("sliding_window", "local_attention")


def window_reason(model: torch.nn.Module, widest: int) -> str | None:
    config = getattr(model, "config", None)
    for name in WINDOW_FIELDS:
        window = getattr(config, name, None)
        if isinstance(window, int) and window < widest:
            return f"{name} {window} is narrower than the {widest}-token graph shapes"
    return None


def affordable_shapes(
    forward: MaskedForward, shapes: tuple[PaddedShape, ...], probe: Inputs
) -> tuple[PaddedShape, ...]:
    """`shapes` (largest first) without the largest ones whose retained outputs would exceed
    GRAPH_OUTPUT_BUDGET_BYTES, measured from the probe's output size per token."""
    tokens = probe["input_ids"].numel()
    per_token = sum(t.numel() * t.element_size() for t in output_tensors(forward(probe))) / tokens
    kept = list(shapes)
    while kept and per_token * sum(s.rows * s.width for s in kept) > GRAPH_OUTPUT_BUDGET_BYTES:
        kept.pop(0)
    return tuple(kept)


def try_capture(
    forward: MaskedForward,
    shapes: tuple[PaddedShape, ...],
    probe: dict[str, torch.Tensor],
) -> CudaGraphs | None:
    """Graphs for `shapes`, or None (logged once, with the reason) where the model cannot be
    captured faithfully: the engine then runs every batch eagerly."""
    if not shapes:
        return None
    widest = max(shape.width for shape in shapes)
    reason = window_reason(forward.model, widest) or check_masked_forward(forward, probe)
    if reason is None:
        shapes = affordable_shapes(forward, shapes, probe)
        try:
            graphs = capture_graphs(forward, shapes, tuple(probe))
        except Exception as exc:  # capture is an optimisation: any failure means eager
            reason = f"capture failed: {type(exc).__name__}: {exc}"
        else:
            log.info("CUDA graphs: captured %d batch shapes", len(graphs.graphs))
            return graphs
    log.warning("CUDA graphs off for this model (%s); short batches run eagerly.", reason)
    return None
