"""ModelProfile: what later steps need to know about a checkpoint, decided once.

Produced by `bei_cli.inspect.inspect_checkpoint`, stored in the artifact's manifest.json,
read by the engine and the server. Frozen and JSON-round-trippable (`to_dict` / `from_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Task = Literal["embed", "rerank", "classify", "ner", "sparse_embed"]
Attention = Literal["bidirectional", "causal"]
PoolingMode = Literal["cls", "mean", "max", "lasttoken", "weightedmean", "mean_sqrt_len_tokens"]
PaddingSide = Literal["left", "right"]


@dataclass(frozen=True)
class DenseLayer:
    """A sentence-transformers `Dense` module applied after pooling."""

    path: str  # directory relative to the checkpoint root, e.g. "2_Dense"
    in_features: int
    out_features: int
    bias: bool
    activation: str  # e.g. "torch.nn.modules.linear.Identity", "torch.nn.modules.activation.Tanh"


@dataclass(frozen=True)
class ModelProfile:
    architecture: str  # config.json architectures[0], e.g. "BertModel"
    model_type: str  # config.json model_type, e.g. "bert"
    task: Task
    attention: Attention
    hidden_size: int
    max_seq_len: int  # the longest input the model accepts, in tokens (incl. special tokens)
    embedding_dim: int  # output dimension after Dense layers (== hidden_size without Dense)
    pooling: PoolingMode | None  # None for classify/rerank/ner
    pooling_include_prompt: bool = True
    normalize: bool = False  # the checkpoint has a sentence-transformers Normalize module
    dense: tuple[DenseLayer, ...] = ()
    prompts: tuple[tuple[str, str], ...] = ()  # (name, prompt) from config_sentence_transformers
    default_prompt_name: str | None = None
    id2label: tuple[tuple[int, str], ...] = ()  # classifiers/rerankers/NER, sorted by id
    problem_type: str | None = None  # config.json problem_type, if any
    padding_side: PaddingSide = "right"
    # config.json torch_dtype / dtype: what the checkpoint was saved in. A bfloat16 checkpoint may
    # hold activations beyond float16's range, so a GPU build keeps it in bfloat16.
    checkpoint_dtype: str | None = None
    # The family bei runs (e.g. "bert", "NomicBERT (hub layout)") and the config.json settings
    # that define its arithmetic, as bei honours them (inspect shows both).
    family: str = ""
    settings: tuple[tuple[str, str], ...] = ()
    # sparse_embed (sentence-transformers SparseEncoder: MLM head + SpladePooling): how the MLM
    # logits are pooled ("max" / "sum") and activated ("relu" / "log1p_relu"), as SpladePooling.
    splade_pooling: str | None = None
    splade_activation: str | None = None
    # Things inspection could not read and had to assume; each is also logged once.
    fallbacks: tuple[str, ...] = field(default=())

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for _, label in self.id2label)

    def prompt(self, name: str) -> str | None:
        return dict(self.prompts).get(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelProfile:
        values = dict(data)
        values["dense"] = tuple(DenseLayer(**d) for d in values.get("dense", ()))
        values["prompts"] = tuple(tuple(p) for p in values.get("prompts", ()))
        values["id2label"] = tuple((int(i), str(lbl)) for i, lbl in values.get("id2label", ()))
        values["fallbacks"] = tuple(values.get("fallbacks", ()))
        values["settings"] = tuple(tuple(s) for s in values.get("settings", ()))
        return cls(**values)
