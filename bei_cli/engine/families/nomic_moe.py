"""NomicBERT with mixture-of-experts blocks (nomic-embed-text-v2-moe, remote code
`nomic-ai/nomic-bert-2048`), which transformers has no class for.

What the module computes (layout: inspect.nomic_moe_layout):
- embeddings: word + token-type (when type_vocab_size > 0), then `emb_ln`; no position table;
- each block is post-norm: h = norm1(x + out_proj(attention(x))), norm2(h + mlp(h)); attention
  projects with one biased `attn.Wqkv` (q | k | v, each head contiguous), rotates q and k by
  halves over the whole head (base rope_theta), scaled dot product 1/sqrt(head_dim);
- block i is a MoE block when i % moe_every_n_layers == 1, else a biased fc1 -> GELU -> fc2 MLP;
- a MoE block: probabilities = softmax(router.layer(h)) in fp32, the top moe_top_k experts kept
  with their probabilities as weights (not renormalised); expert e is GELU(h @ W1_e^T) @ W2_e,
  where W1_e and W2_e are rows e*F .. (e+1)*F of megablocks' packed `experts.mlp.w1` / `w2`
  (both stored [num_experts * F, hidden]); the weighted sum of the experts gets one shared
  `experts.bias`.
GELU is exact (erf). Every expert runs on every token, weighted by zero where it was not chosen:
the same sums as running only the chosen ones, at fixed shapes, so the forward captures in a
CUDA graph and exports to ONNX, at num_experts / moe_top_k times the routed FLOPs in MoE blocks.
The load is exact: every checkpoint tensor must find its place and every parameter must come
from the checkpoint (weights bare, as published: `embeddings.`, `emb_ln.`, `encoder.layers.`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from bei_cli.engine.families.encoder_parts import EncoderSettings, padding_bias, refuse_quantized
from bei_cli.engine.families.loading import load_exactly, read_safetensors

MODEL_TYPE = "nomic_bert_moe"
REMOTE_CODE = "nomic-ai/nomic-bert-2048"


@dataclass(frozen=True)
class NomicMoeSettings(EncoderSettings):
    rope_theta: float
    num_experts: int
    moe_top_k: int
    moe_every_n_layers: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NomicMoeSettings:
        return cls(
            **EncoderSettings.fields(config, layer_norm_eps=1e-5),
            rope_theta=float(config["rope_parameters"]["rope_theta"]),
            num_experts=int(config["num_experts"]),
            moe_top_k=int(config["moe_top_k"]),
            moe_every_n_layers=int(config["moe_every_n_layers"]),
        )

    def is_moe_block(self, index: int) -> bool:
        return index % self.moe_every_n_layers == 1


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary by halves (GPT-NeoX): (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.heads = s.num_attention_heads
        self.Wqkv = nn.Linear(s.hidden_size, 3 * s.hidden_size)
        self.out_proj = nn.Linear(s.hidden_size, s.hidden_size)

    def forward(
        self, hidden: torch.Tensor, bias: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> torch.Tensor:
        batch, length, width = hidden.shape
        qkv = self.Wqkv(hidden).view(batch, length, 3, self.heads, width // self.heads)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        context = F.scaled_dot_product_attention(rotate(q, cos, sin), rotate(k, cos, sin), v, bias)
        return self.out_proj(context.transpose(1, 2).reshape(batch, length, width))


class DenseMLP(nn.Module):
    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.fc1 = nn.Linear(s.hidden_size, s.intermediate_size)
        self.fc2 = nn.Linear(s.intermediate_size, s.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(hidden)))


class Router(nn.Module):
    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.top_k = s.moe_top_k
        self.layer = nn.Linear(s.hidden_size, s.num_experts, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """(tokens, num_experts) weights: the softmax probability of each token's top-k
        experts, zero for the others."""
        probabilities = self.layer(tokens).float().softmax(dim=-1)
        top, chosen = probabilities.topk(self.top_k, dim=-1)
        return torch.zeros_like(probabilities).scatter(1, chosen, top)


class PackedExperts(nn.Module):
    """megablocks' expert MLP: w1 and w2 both [num_experts * F, hidden], expert axis outer."""

    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.shape = (s.num_experts, s.intermediate_size, s.hidden_size)
        self.w1 = nn.Parameter(torch.empty(s.num_experts * s.intermediate_size, s.hidden_size))
        self.w2 = nn.Parameter(torch.empty(s.num_experts * s.intermediate_size, s.hidden_size))


class Experts(nn.Module):
    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.mlp = PackedExperts(s)
        self.bias = nn.Parameter(torch.empty(s.hidden_size))

    def forward(self, tokens: torch.Tensor, gates: torch.Tensor) -> torch.Tensor:
        w1 = self.mlp.w1.view(self.mlp.shape)  # (E, F, H)
        w2 = self.mlp.w2.view(self.mlp.shape)
        inner = F.gelu(torch.matmul(tokens, w1.transpose(1, 2)))  # (E, T, F)
        per_expert = torch.matmul(inner, w2)  # (E, T, H)
        combined = (per_expert * gates.t().unsqueeze(-1).to(per_expert.dtype)).sum(dim=0)
        return combined + self.bias


class MoeMLP(nn.Module):
    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.router = Router(s)
        self.experts = Experts(s)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        tokens = hidden.reshape(-1, hidden.shape[-1])
        return self.experts(tokens, self.router(tokens)).view(hidden.shape)


class Block(nn.Module):
    def __init__(self, s: NomicMoeSettings, moe: bool) -> None:
        super().__init__()
        self.attn = Attention(s)
        self.mlp: nn.Module = MoeMLP(s) if moe else DenseMLP(s)
        self.norm1 = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)
        self.norm2 = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def forward(
        self, hidden: torch.Tensor, bias: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> torch.Tensor:
        attended = self.norm1(hidden + self.attn(hidden, bias, cos, sin))
        return self.norm2(attended + self.mlp(attended))


class Embeddings(nn.Module):
    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(s.vocab_size, s.hidden_size)
        self.token_type_embeddings = (
            nn.Embedding(s.type_vocab_size, s.hidden_size) if s.type_vocab_size > 0 else None
        )

    def forward(self, ids: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        words = self.word_embeddings(ids)
        if self.token_type_embeddings is None:
            return words
        return words + self.token_type_embeddings(types)


class Encoder(nn.Module):
    def __init__(self, s: NomicMoeSettings) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(s, s.is_moe_block(i)) for i in range(s.num_hidden_layers))


class NomicBertMoeModel(nn.Module):
    def __init__(self, settings: NomicMoeSettings) -> None:
        super().__init__()
        # What the engine reads off a transformers model's config.
        self.config = SimpleNamespace(pad_token_id=settings.pad_token_id, num_labels=None)
        self.settings = settings
        self.embeddings = Embeddings(settings)
        self.emb_ln = nn.LayerNorm(settings.hidden_size, eps=settings.layer_norm_eps)
        self.encoder = Encoder(settings)

    def set_attn_implementation(self, name: str) -> None:
        """transformers' switch (the ONNX export asks for eager); one attention path here: an
        additive-bias SDPA, which exports as MatMul/Softmax."""

    def rotary(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for positions 0 .. length-1, (length, head_dim), computed in fp32."""
        head_dim = self.settings.hidden_size // self.settings.num_attention_heads
        exponents = torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim
        inv_freq = 1.0 / (self.settings.rope_theta**exponents)
        angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos(), angles.sin()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> BaseModelOutput:
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        hidden = self.emb_ln(self.embeddings(input_ids, types))
        bias = padding_bias(mask, hidden.dtype)
        cos, sin = (t.to(hidden.dtype) for t in self.rotary(input_ids.shape[1], hidden.device))
        states = [hidden]
        for layer in self.encoder.layers:
            hidden = layer(hidden, bias, cos, sin)
            states.append(hidden)
        return BaseModelOutput(
            last_hidden_state=hidden, hidden_states=tuple(states) if output_hidden_states else None
        )


def load_nomic_moe(model_dir: Path, dtype: torch.dtype, **_: Any) -> torch.nn.Module:
    """The checkpoint in model_dir as a NomicBertMoeModel; refused unless every weight is
    placed."""
    refuse_quantized(model_dir, "NomicBERT MoE", "NomicBertMoeModel", "nomic-embed-text-v2-moe")
    config = json.loads((model_dir / "config.json").read_text())
    model = NomicBertMoeModel(NomicMoeSettings.from_config(config))
    weights = read_safetensors(model_dir, "NomicBertMoeModel")
    hint = (
        f"bei reads the layout {REMOTE_CODE}'s remote code publishes for "
        "nomic-embed-text-v2-moe (docs/models.md); a checkpoint with other weights is not served."
    )
    load_exactly(model, weights, model_dir, hint)
    return model.to(dtype).eval()
