"""Jina-BERT v2 (jina-embeddings-v2-base-en / -small-en, jina-reranker-v1), which transformers
has no class for.

A BERT encoder without position embeddings: every attention head adds a symmetric ALiBi bias
-slope * |i - j| to its scores (slopes from the ALiBi paper, interpolated for a head count that
is not a power of two), and each post-LayerNorm block's feed-forward is gated: one bias-free
`gated_layers` projection to 2 * intermediate, act(first half) * second half, then `wo`
(act is GELU for geglu, ReLU for reglu). The reranker (JinaBertForSequenceClassification) adds
BERT's head: tanh(pooler.dense(first token)) -> classifier. Weight names are the hub's (`bert.`
prefix of JinaBertForMaskedLM stripped for embedders, kept for the classifier); the load is
exact: every checkpoint tensor must find its place and every parameter must come from the
checkpoint, or the load is refused. The qk-post-norm layer of jina-embeddings-v2-base-code is
`jina_code`, built from these parts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutput, SequenceClassifierOutput

from bei_cli.engine.families.encoder_parts import EncoderSettings, padding_bias, refuse_quantized
from bei_cli.engine.families.loading import load_exactly, read_safetensors
from bei_cli.errors import UnsupportedModelError

MODEL_TYPE = "jina_bert"
GATE_ACTIVATIONS: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "geglu": F.gelu,  # exact (erf) GELU, as the remote code's nn.GELU()
    "reglu": F.relu,
}
HUB_PREFIX = "bert."
CLASSIFIER = "JinaBertForSequenceClassification"


@dataclass(frozen=True)
class JinaBertSettings(EncoderSettings):
    feed_forward_type: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> JinaBertSettings:
        return cls(
            **EncoderSettings.fields(config, layer_norm_eps=1e-12),
            feed_forward_type=str(config["feed_forward_type"]),
        )


def alibi_slopes(heads: int) -> torch.Tensor:
    """Per-head slopes: 2^(-8i/n) for n a power of two; otherwise the nearest lower power's
    slopes followed by every other slope of twice that power (the ALiBi paper's recipe)."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    if math.log2(heads).is_integer():
        return torch.tensor(power_of_two(heads), dtype=torch.float64)
    closest = 2 ** math.floor(math.log2(heads))
    extra = power_of_two(2 * closest)[0::2][: heads - closest]
    return torch.tensor(power_of_two(closest) + extra, dtype=torch.float64)


class SelfAttention(nn.Module):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.heads = s.num_attention_heads
        self.query = nn.Linear(s.hidden_size, s.hidden_size)
        self.key = nn.Linear(s.hidden_size, s.hidden_size)
        self.value = nn.Linear(s.hidden_size, s.hidden_size)

    def project(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.query(hidden), self.key(hidden), self.value(hidden)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden.shape

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

        q, k, v = (split(x) for x in self.project(hidden))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return context.transpose(1, 2).reshape(batch, length, width)


class AttentionOutput(nn.Module):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(s.hidden_size, s.hidden_size)
        self.LayerNorm = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)


class Attention(nn.Module):
    """Self-attention, then LayerNorm(dense(context) + input) (BERT's attention output)."""

    def __init__(self, s: JinaBertSettings, self_attention: type[SelfAttention] = SelfAttention):
        super().__init__()
        self.self = self_attention(s)
        self.output = AttentionOutput(s)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        attended = self.output.dense(self.self(hidden, bias))
        return self.output.LayerNorm(attended + hidden)


class GatedMLP(nn.Module):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.intermediate = s.intermediate_size
        self.act = GATE_ACTIVATIONS[s.feed_forward_type]
        self.gated_layers = nn.Linear(s.hidden_size, 2 * s.intermediate_size, bias=False)
        self.wo = nn.Linear(s.intermediate_size, s.hidden_size)
        self.layernorm = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        projected = self.gated_layers(hidden)
        gate, value = projected[..., : self.intermediate], projected[..., self.intermediate :]
        return self.layernorm(self.wo(self.act(gate) * value) + hidden)


class Layer(nn.Module):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.attention = Attention(s)
        self.mlp = GatedMLP(s)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attention(hidden, bias))


class Embeddings(nn.Module):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(s.vocab_size, s.hidden_size)
        self.token_type_embeddings = nn.Embedding(s.type_vocab_size, s.hidden_size)
        self.LayerNorm = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def forward(self, ids: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.word_embeddings(ids) + self.token_type_embeddings(types))


LayerFactory = Callable[[JinaBertSettings], nn.Module]


class Encoder(nn.Module):
    def __init__(self, s: JinaBertSettings, layer: LayerFactory) -> None:
        super().__init__()
        self.layer = nn.ModuleList(layer(s) for _ in range(s.num_hidden_layers))


class Pooler(nn.Module):
    """BERT's pooler: its dense layer, read by the classifier as tanh(dense(first token))."""

    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.dense = nn.Linear(s.hidden_size, s.hidden_size)


class JinaBertModel(nn.Module):
    def __init__(
        self, settings: JinaBertSettings, layer: LayerFactory = Layer, *, pooler: bool = False
    ) -> None:
        super().__init__()
        # What the engine reads off a transformers model's config.
        self.config = SimpleNamespace(pad_token_id=settings.pad_token_id, num_labels=None)
        self.heads = settings.num_attention_heads
        self.embeddings = Embeddings(settings)
        self.encoder = Encoder(settings, layer)
        if pooler:
            self.pooler = Pooler(settings)
        self.slopes: torch.Tensor
        self.register_buffer("slopes", alibi_slopes(self.heads).float(), persistent=False)

    def set_attn_implementation(self, name: str) -> None:
        """transformers' switch (the ONNX export asks for eager); one attention path here: an
        additive-bias SDPA, which exports as MatMul/Softmax."""

    def attention_bias(self, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """ALiBi distances plus the padding mask: (batch, heads, length, length). `mask` is the
        (batch, length) 0/1 mask, or the CUDA-graph path's (batch, 1, length, length) additive
        one (cuda_graphs.additive_mask)."""
        width = mask.shape[-1]
        positions = torch.arange(width, device=mask.device)
        distance = (positions[None, :] - positions[:, None]).abs().float()
        alibi = -self.slopes.float()[:, None, None] * distance
        return (alibi[None] + padding_bias(mask, torch.float32)).to(dtype)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        hidden = self.embeddings(input_ids, types)
        bias = self.attention_bias(mask, hidden.dtype)
        states = [hidden]
        for layer in self.encoder.layer:
            hidden = layer(hidden, bias)
            states.append(hidden)
        return BaseModelOutput(
            last_hidden_state=hidden, hidden_states=tuple(states) if output_hidden_states else None
        )


class JinaBertForSequenceClassification(nn.Module):
    """jina-reranker-v1: the encoder, then classifier(tanh(pooler.dense(first token))) -- what
    the remote code's class (BERT's) computes; dropout does nothing at inference."""

    def __init__(self, settings: JinaBertSettings, layer: LayerFactory, num_labels: int) -> None:
        super().__init__()
        self.config = SimpleNamespace(pad_token_id=settings.pad_token_id, num_labels=num_labels)
        self.bert = JinaBertModel(settings, layer, pooler=True)
        self.classifier = nn.Linear(settings.hidden_size, num_labels)

    def set_attn_implementation(self, name: str) -> None:
        self.bert.set_attn_implementation(name)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> SequenceClassifierOutput:
        encoded = self.bert(input_ids, attention_mask, token_type_ids, output_hidden_states)
        pooled = torch.tanh(self.bert.pooler.dense(encoded.last_hidden_state[:, 0]))
        return SequenceClassifierOutput(
            logits=self.classifier(pooled), hidden_states=encoded.hidden_states
        )


def load_jina_bert(model_dir: Path, dtype: torch.dtype, **_: Any) -> torch.nn.Module:
    """The checkpoint in model_dir as a JinaBertModel (or the reranker); refused unless every
    weight is placed."""
    return load_jina(model_dir, dtype, Layer, "jinaai/jina-bert-implementation")


def load_jina(
    model_dir: Path, dtype: torch.dtype, layer: LayerFactory, remote_code: str
) -> torch.nn.Module:
    """A Jina-BERT v2 checkpoint built from `layer` blocks, its weights placed exactly."""
    refuse_quantized(model_dir, "Jina-BERT v2", "JinaBertModel", "Jina-BERT v2")
    config = json.loads((model_dir / "config.json").read_text())
    settings = JinaBertSettings.from_config(config)
    weights = read_weights(model_dir)
    model: nn.Module
    if (config.get("architectures") or [None])[0] == CLASSIFIER:
        model = JinaBertForSequenceClassification(settings, layer, len(config["id2label"]))
    else:
        _refuse_classifier_head(weights, model_dir)
        model = JinaBertModel(settings, layer)
        weights = {_native_name(k): v for k, v in weights.items()}
    hint = (
        f"bei reads the layout {remote_code} publishes (docs/models.md); a checkpoint "
        "with other weights is not served."
    )
    # An embedder may leave the masked-LM head and the pooler unused; the reranker uses all.
    load_exactly(model, weights, model_dir, hint, base_model_load=isinstance(model, JinaBertModel))
    model.to(dtype)
    for module in model.modules():
        if isinstance(module, JinaBertModel):
            # The slopes stay fp32 whatever the weights' dtype (bf16 would round 2^-0.5 ...).
            module.slopes = alibi_slopes(module.heads).float()
    return model.eval()


def _refuse_classifier_head(weights: Mapping[str, torch.Tensor], model_dir: Path) -> None:
    """A classifier in an embedder's checkpoint is a reranker whose config.json names an
    embedder class: serving its encoder as an embedder would silently drop the head."""
    head = sorted(k for k in weights if k.startswith("classifier."))
    if head:
        raise UnsupportedModelError(
            f"{model_dir} holds a sequence-classification head ({', '.join(head)}) but its "
            "config.json names an embedder class: served as an embedder, the head would be "
            "dropped.",
            param="config.json architectures",
            hint=f'A Jina reranker\'s config.json must say "architectures": ["{CLASSIFIER}"] '
            'and its one label ("id2label": {"0": "LABEL_0"}); see docs/models.md.',
        )


def _native_name(key: str) -> str:
    return key.removeprefix(HUB_PREFIX)


def read_weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return read_safetensors(model_dir, "JinaBertModel")
