"""Jina-BERT v2 qk-post-norm (jina-embeddings-v2-base-code, remote code
`jinaai/jina-bert-v2-qk-post-norm`), built from jina_bert's parts.

What differs from jina-bert-implementation's layer (jina_bert.Layer), per block:
- the projected query and key each go through a LayerNorm over the whole hidden width
  (`attention.self.layer_norm_q` / `layer_norm_k`) before the heads are split; values do not;
- the attention output is BERT's (LayerNorm(dense(context) + x)), and then `layer_norm_1` adds
  the block's input once more: h = layer_norm_1(x + attention_output);
- the feed-forward has no norm of its own: `mlp.up_gated_layer` (no bias) to 2 * intermediate,
  first half * act(second half) -- the gate is the *second* half here, the first in jina_bert --
  then `mlp.down_layer` (bias), and layer_norm_2(h + mlp(h)).
act is GELU (exact, erf) for geglu and ReLU for reglu. Embeddings, ALiBi and the exact load are
jina_bert's; the checkpoint's weights are bare (`embeddings.`, `encoder.`) or `bert.`-prefixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bei_cli.engine.families.jina_bert import (
    GATE_ACTIVATIONS,
    Attention,
    JinaBertSettings,
    SelfAttention,
    load_jina,
)

MODEL_TYPE = "jina_bert_qk_post_norm"
REMOTE_CODE = "jinaai/jina-bert-v2-qk-post-norm"


class QkNormSelfAttention(SelfAttention):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__(s)
        self.layer_norm_q = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)
        self.layer_norm_k = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def project(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        query = self.layer_norm_q(self.query(hidden))
        return query, self.layer_norm_k(self.key(hidden)), self.value(hidden)


class UpGatedMLP(nn.Module):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.intermediate = s.intermediate_size
        self.act = GATE_ACTIVATIONS[s.feed_forward_type]
        self.up_gated_layer = nn.Linear(s.hidden_size, 2 * s.intermediate_size, bias=False)
        self.down_layer = nn.Linear(s.intermediate_size, s.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        projected = self.up_gated_layer(hidden)
        up, gate = projected[..., : self.intermediate], projected[..., self.intermediate :]
        return self.down_layer(up * self.act(gate))


class QkPostNormLayer(nn.Module):
    def __init__(self, s: JinaBertSettings) -> None:
        super().__init__()
        self.attention = Attention(s, QkNormSelfAttention)
        self.layer_norm_1 = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)
        self.mlp = UpGatedMLP(s)
        self.layer_norm_2 = nn.LayerNorm(s.hidden_size, eps=s.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        attended = self.layer_norm_1(hidden + self.attention(hidden, bias))
        return self.layer_norm_2(attended + self.mlp(attended))


def load_jina_code(model_dir: Path, dtype: torch.dtype, **_: Any) -> torch.nn.Module:
    """The checkpoint in model_dir as a qk-post-norm JinaBertModel; refused unless every weight
    is placed."""
    return load_jina(model_dir, dtype, QkPostNormLayer, REMOTE_CODE)
