"""The torch engine: transformers models on CPU or CUDA, the reference runtime.

A Batch is padded to its own longest sequence (never to max_seq_len), run once under
`torch.inference_mode`, and turned into an Output by the task's head. Heads live in one table
keyed by task (the classify/rerank/NER heads in heads.py), so a task joins by adding a row.

Not handled yet (noted for later releases): `pooling_include_prompt: false` (prompt tokens are
pooled like any other). Causal families forced bidirectional: see `engine.attention`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from bei_cli.engine.attention import apply_attention
from bei_cli.engine.base import Batch, BoolArray, EngineInfo, FloatArray, IntArray, Output
from bei_cli.engine.bucketing import PaddedShape, ShapePolicy, pad_to, trim_output
from bei_cli.engine.cuda_graphs import (
    CudaGraphs,
    GraphRunner,
    MaskedForward,
    probe_inputs,
    try_capture,
)
from bei_cli.engine.families.loading import checked_from_pretrained
from bei_cli.engine.families.own import own_family_loader
from bei_cli.engine.heads import SequenceScoresHead, TokenScoresHead
from bei_cli.engine.pinned import HostStaging
from bei_cli.engine.quant_formats import quantized_from_pretrained, use_quantized_compute
from bei_cli.engine.sparse_head import SpladeHead
from bei_cli.engine.torch_layers import load_dense, pool_tensor
from bei_cli.errors import EngineError, UnsupportedHardwareError, UnsupportedModelError
from bei_cli.inspect.profile import Attention, ModelProfile, PoolingMode, Task

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


class OutputHead(Protocol):
    """Turns the transformer's output for one padded batch into the engine's Output."""

    def __call__(self, model_output: Any, mask: torch.Tensor) -> Output: ...

    def empty(self) -> Output: ...


@dataclass(frozen=True)
class EmbeddingHead:
    pooling: PoolingMode
    dense: tuple[torch.nn.Module, ...]
    dim: int

    @classmethod
    def load(cls, model_dir: Path, profile: ModelProfile, device: torch.device) -> EmbeddingHead:
        if profile.pooling is None:
            raise UnsupportedModelError(
                f"{profile.architecture} is an embedding model without a pooling mode.",
                hint="Add a sentence-transformers 1_Pooling/config.json to the checkpoint.",
            )
        dense = tuple(load_dense(model_dir, layer).to(device) for layer in profile.dense)
        return cls(pooling=profile.pooling, dense=dense, dim=profile.embedding_dim)

    def __call__(self, model_output: Any, mask: torch.Tensor) -> Output:
        pooled = pool_tensor(model_output.last_hidden_state, mask, self.pooling)
        for layer in self.dense:
            pooled = layer(pooled)
        return Output(embeddings=pooled.float().cpu().numpy())

    def empty(self) -> Output:
        return Output(embeddings=np.zeros((0, self.dim), dtype=np.float32))


@dataclass(frozen=True)
class TaskSupport:
    auto_class: str  # the transformers Auto* class that loads this task's checkpoints
    head: Callable[[Path, ModelProfile, torch.device], OutputHead]


TASKS: dict[Task, TaskSupport] = {
    "embed": TaskSupport(auto_class="AutoModel", head=EmbeddingHead.load),
    "rerank": TaskSupport(
        auto_class="AutoModelForSequenceClassification", head=SequenceScoresHead.load
    ),
    "classify": TaskSupport(
        auto_class="AutoModelForSequenceClassification", head=SequenceScoresHead.load
    ),
    "ner": TaskSupport(auto_class="AutoModelForTokenClassification", head=TokenScoresHead.load),
    "sparse_embed": TaskSupport(auto_class="AutoModelForMaskedLM", head=SpladeHead.load),
}


@dataclass
class TorchEngine:
    info: EngineInfo
    model: torch.nn.Module
    head: OutputHead
    device: torch.device
    pad_id: int
    padding_side: str
    accepts_token_types: bool
    # Sequence classifiers without a pad_token_id (many Llama-family checkpoints) find each
    # sequence's last token through pad_token_id, and transformers refuses batches without one.
    # For them the pad id is chosen per batch among ids absent from it: padding is then never
    # mistaken for a real token, and scores equal transformers' own one-text-at-a-time run.
    pad_per_batch: bool = False
    # The device path (`use_device_path`): the CPU runs every batch at its own shape with plain
    # copies; CUDA buckets shapes, stages through pinned memory and replays graphs.
    shapes: ShapePolicy = field(default_factory=ShapePolicy.exact)
    staging: HostStaging | None = None  # None: plain copies
    graphs: GraphRunner | None = None  # None: every shape runs eagerly
    forward_options: dict[str, Any] = field(default_factory=dict)  # e.g. use_cache=False

    def run(self, batch: Batch) -> Output:
        if len(batch) == 0:
            return self.head.empty()
        longest = int(batch.lengths.max())
        if longest > self.info.max_seq_len:
            raise EngineError(
                f"a sequence of {longest} tokens exceeds max_seq_len {self.info.max_seq_len}."
            )
        pad_id = self.pad_id
        if self.pad_per_batch:
            pad_id = absent_token_id(batch)
            config: Any = self.model.config
            config.pad_token_id = pad_id  # one engine thread: no concurrent runs
        ids, mask, types = batch.padded(pad_id, self.padding_side)
        shape = self.shapes.shape_for(len(batch), longest)
        ids, mask, types = pad_to(shape, ids, mask, types, pad_id=pad_id, side=self.padding_side)
        wanted = batch.per_token
        per_token = wanted if wanted is not None and wanted.any() else None
        if per_token is not None and not self.info.token_embeddings:
            raise EngineError(f"a {self.info.task} engine has no per-token embeddings to return.")
        with torch.inference_mode():
            return trim_output(self.forward(shape, ids, mask, types, per_token), len(batch))

    def forward(
        self,
        shape: PaddedShape,
        ids: IntArray,
        mask: IntArray,
        types: IntArray,
        per_token: BoolArray | None = None,
    ) -> Output:
        """One padded batch through the model (a captured graph where one fits) and the head;
        with `per_token`, the flagged sequences' token states as well (`token_states`)."""
        names = ("input_ids", "attention_mask", "token_type_ids")[
            : 3 if self.accepts_token_types else 2
        ]
        staging = self.staging or HostStaging(self.device, pin=False)
        inputs = dict(zip(names, staging.to_device((ids, mask, types)[: len(names)]), strict=True))
        output = None if self.graphs is None else self.graphs.run(shape, inputs)
        if output is None:
            output = self.model(**inputs, **self.forward_options)
        result = self.head(output, inputs["attention_mask"])
        if per_token is None:
            return result
        states = token_states(output.last_hidden_state, inputs["attention_mask"], per_token)
        return replace(result, token_embeddings=states)

    def drop_graphs(self) -> None:
        """Forget captured graphs (they replay the modules they were captured with): for callers
        that swap the model's modules after loading, as the FP8 accuracy gate does."""
        self.graphs = None
        self.shapes = self.shapes.without_graphs()


def token_states(
    hidden: torch.Tensor, mask: torch.Tensor, per_token: BoolArray
) -> tuple[FloatArray | None, ...]:
    """Each flagged sequence's last hidden state over its real tokens, in float32 -- what
    sentence-transformers' `output_value="token_embeddings"` returns; padding (either side) is
    dropped. None for unflagged sequences and for bucketing's filler rows."""
    real = mask.bool()
    return tuple(
        hidden[i][real[i]].float().cpu().numpy() if i < len(per_token) and per_token[i] else None
        for i in range(hidden.shape[0])
    )


def use_device_path(
    engine: TorchEngine, dtype: torch.dtype, attention: Attention, *, cuda_graphs: bool = True
) -> None:
    """Set how batches reach the device. CUDA: widths bucketed, inputs staged through pinned
    memory, short batches replayed from CUDA graphs (not for per-batch pad ids, which a graph
    would freeze; eager where capture is not faithful). The CPU keeps exact shapes."""
    if accepts_argument(engine.model, "use_cache"):
        engine.forward_options = {"use_cache": False}  # no KV cache: one forward pass
    if engine.device.type != "cuda":
        return
    info = engine.info
    engine.staging = HostStaging(engine.device)
    use_graphs = cuda_graphs and not engine.pad_per_batch
    policy = ShapePolicy.cuda(info.max_batch_size, info.max_seq_len, graphs=use_graphs)
    if use_graphs:
        forward = MaskedForward(
            engine.model, attention == "causal", dtype, dict(engine.forward_options)
        )
        probe = probe_inputs(
            engine.device, engine.pad_id, engine.padding_side, engine.accepts_token_types
        )
        with torch.inference_mode():
            engine.graphs = try_capture(forward, policy.graph_shapes(), probe)
    captured = engine.graphs.graphs if isinstance(engine.graphs, CudaGraphs) else {}
    engine.shapes = policy.with_captured(set(captured))
    engine.graphs = engine.graphs if captured else None


def absent_token_id(batch: Batch) -> int:
    """The smallest token id that does not occur in the batch."""
    present = np.unique(batch.input_ids)
    gaps = np.nonzero(present != np.arange(len(present)))[0]
    return int(gaps[0]) if len(gaps) else len(present)


def resolve_device(device: str) -> torch.device:
    kind = device.split(":", 1)[0]
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "cuda" and torch.cuda.is_available():
        return torch.device(device)
    raise UnsupportedHardwareError(
        f"device {device!r} is not available here.",
        hint="Use --device cpu, or run on a machine with a CUDA GPU and a CUDA build of torch.",
    )


def resolve_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise UnsupportedHardwareError(
            f"the torch engine does not run dtype {dtype!r}.",
            hint=f"Use one of: {', '.join(DTYPES)}.",
        )
    return DTYPES[dtype]


def task_support(task: Task) -> TaskSupport:
    if task not in TASKS:
        raise UnsupportedModelError(
            f"the torch engine does not serve {task} models.",
            hint=f"It serves the tasks {', '.join(TASKS)}.",
        )
    return TASKS[task]


def load_transformer(
    model_dir: Path, auto_class: str, dtype: torch.dtype, attention: Attention | None = None
) -> torch.nn.Module:
    """Load with SDPA attention where the architecture supports it, else its default.

    `attention` "bidirectional" runs causal families with full attention (see engine.attention);
    None or "causal" keep the architecture's own. A *ForCausalLM checkpoint loaded with AutoModel
    yields its base model (transformers drops the `model.` prefix and the unused lm_head). A
    quantized checkpoint (bei_quant.json: FP8 or NVFP4) loads with its weights dequantized to
    `dtype`.
    """
    import transformers

    loader = getattr(transformers, auto_class)
    # A quantized checkpoint's loader (FP8, NVFP4) loads its state dict strictly; any other load
    # is refused when a weight is missing or unplaced (engine.families.loading): a random tensor
    # never reaches serving. Families transformers has no class for load bei's own module.
    load = (
        own_family_loader(model_dir)
        or quantized_from_pretrained(loader, model_dir)
        or checked_from_pretrained(loader, base_model_load=auto_class == "AutoModel")
    )
    try:
        model = load(model_dir, dtype=dtype, attn_implementation="sdpa")
    except (ValueError, ImportError) as exc:
        log.info("SDPA attention unavailable for %s (%s); using the default.", model_dir, exc)
        model = load(model_dir, dtype=dtype)
    model.eval()
    apply_attention(model, attention)
    return model


def check_label_count(model: torch.nn.Module, labels: tuple[str, ...]) -> None:
    """A classifier's outputs must match the profile's labels, or scores get the wrong names."""
    num_labels = getattr(model.config, "num_labels", None) if labels else None
    if num_labels is not None and num_labels != len(labels):
        raise UnsupportedModelError(
            f"the model has {num_labels} outputs but its profile names {len(labels)} labels.",
            hint="Make config.json's id2label list one label per classifier output, then rebuild.",
        )


def accepts_argument(model: torch.nn.Module, name: str) -> bool:
    return name in inspect.signature(model.forward).parameters


def load_torch_engine(
    model_dir: Path,
    profile: ModelProfile,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    max_batch_tokens: int = 16384,
    max_batch_size: int = 128,
    max_seq_len: int | None = None,
    cuda_graphs: bool = True,
) -> TorchEngine:
    """Load the checkpoint in `model_dir` (weights of any float dtype, cast to `dtype`).
    `cuda_graphs=False` runs every CUDA batch eagerly (benchmarks compare the two)."""
    support = task_support(profile.task)
    torch_device, torch_dtype = resolve_device(device), resolve_dtype(dtype)
    head = support.head(model_dir, profile, torch_device)  # a profile without labels fails first
    model = load_transformer(
        model_dir, support.auto_class, torch_dtype, attention=profile.attention
    ).to(torch_device)
    use_quantized_compute(model, model_dir, torch_device)
    labels = profile.labels
    check_label_count(model, labels)
    info = EngineInfo(
        name="torch",
        task=profile.task,
        dtype=dtype,
        device=str(torch_device),
        embedding_dim=profile.embedding_dim
        if profile.task in ("embed", "sparse_embed")
        else len(labels),
        labels=labels,
        max_seq_len=max_seq_len or profile.max_seq_len,
        max_batch_tokens=max_batch_tokens,
        max_batch_size=max_batch_size,
        token_embeddings=profile.task == "embed",
    )
    pad_id = getattr(model.config, "pad_token_id", None)
    engine = TorchEngine(
        info=info,
        model=model,
        head=head,
        device=torch_device,
        pad_id=0 if pad_id is None else int(pad_id),
        padding_side=profile.padding_side,
        accepts_token_types=accepts_argument(model, "token_type_ids"),
        pad_per_batch=pad_id is None and profile.task in ("classify", "rerank"),
    )
    use_device_path(engine, torch_dtype, profile.attention, cuda_graphs=cuda_graphs)
    return engine
