"""Jina-BERT v2 written out in plain float64 torch ops from a checkpoint's tensors (not bei's
modules): what the Jina tests hold the served vectors and scores to. One unpadded sequence at a
time, so no mask is involved.

Per block, jina-bert-implementation (base-en, reranker), g = gated_layers(h):
    h = LN(dense(attend(q, k, v)) + x);  x' = LN(wo(act(g[:, :I]) * g[:, I:]) + h)
jina-bert-v2-qk-post-norm (base-code), u = up_gated_layer(h):
    q = LN_q(query(x)), k = LN_k(key(x));  a = LN(dense(attend(q, k, v)) + x);  h = LN_1(x + a)
    x' = LN_2(h + down(u[:, :I] * act(u[:, I:])))
attend: per head softmax(q k^T / sqrt(d) - slope * |i - j|) v, slopes the ALiBi paper's
(literals below). The reranker: classifier(tanh(pooler.dense(x[0]))).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

# ALiBi slopes: 2^(-8k/n) for n a power of two; 6 heads take the 4-head slopes then every other
# slope of the 8-head set (1/2, 1/8).
SLOPES = {
    4: [2**-2, 2**-4, 2**-6, 2**-8],
    6: [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3],
    8: [2.0**-k for k in range(1, 9)],
    12: [2.0**-k for k in range(1, 9)] + [2**-0.5, 2**-1.5, 2**-2.5, 2**-3.5],
}
EPS = 1e-12  # the fixtures' layer_norm_eps
MAX_SEQ_LENGTH = 128


class Reference:
    def __init__(self, model_dir: Path, *, heads: int, ffn: str, qk_post_norm: bool) -> None:
        self.model_dir = model_dir
        self.w = {k: v.double() for k, v in load_file(model_dir / "model.safetensors").items()}
        self.prefix = "bert." if any(k.startswith("bert.") for k in self.w) else ""
        self.heads = heads
        self.act = torch.nn.functional.gelu if ffn == "geglu" else torch.relu
        self.block = self.code_block if qk_post_norm else self.implementation_block
        self.slopes = torch.tensor(SLOPES[heads], dtype=torch.float64)

    def norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        normed = (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + EPS)
        return normed * self.w[name + ".weight"] + self.w[name + ".bias"]

    def linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        out = x @ self.w[name + ".weight"].T
        return out + self.w[name + ".bias"] if name + ".bias" in self.w else out

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n, d = q.shape[0], q.shape[-1] // self.heads
        distance = (torch.arange(n)[None, :] - torch.arange(n)[:, None]).abs().double()
        context = torch.empty_like(q)
        for h in range(self.heads):
            cols = slice(h * d, (h + 1) * d)
            scores = q[:, cols] @ k[:, cols].T / math.sqrt(d) - self.slopes[h] * distance
            context[:, cols] = torch.softmax(scores, dim=-1) @ v[:, cols]
        return context

    def states(self, ids: list[int], types: list[int]) -> torch.Tensor:
        """The last layer's hidden states of one sequence."""
        p = self.prefix
        x = self.w[f"{p}embeddings.word_embeddings.weight"][torch.tensor(ids)]
        x = x + self.w[f"{p}embeddings.token_type_embeddings.weight"][torch.tensor(types)]
        x = self.norm(x, f"{p}embeddings.LayerNorm")
        layer = 0
        while f"{p}encoder.layer.{layer}.attention.self.query.weight" in self.w:
            x = self.block(x, f"{p}encoder.layer.{layer}")
            layer += 1
        return x

    def implementation_block(self, x: torch.Tensor, p: str) -> torch.Tensor:
        q, k, v = (self.linear(x, f"{p}.attention.self.{n}") for n in ("query", "key", "value"))
        a = self.linear(self.attend(q, k, v), f"{p}.attention.output.dense")
        h = self.norm(a + x, f"{p}.attention.output.LayerNorm")
        inner = self.w[f"{p}.mlp.wo.weight"].shape[1]
        g = self.linear(h, f"{p}.mlp.gated_layers")
        mlp = self.linear(self.act(g[:, :inner]) * g[:, inner:], f"{p}.mlp.wo")
        return self.norm(mlp + h, f"{p}.mlp.layernorm")

    def code_block(self, x: torch.Tensor, p: str) -> torch.Tensor:
        s = f"{p}.attention.self"
        q = self.norm(self.linear(x, f"{s}.query"), f"{s}.layer_norm_q")
        k = self.norm(self.linear(x, f"{s}.key"), f"{s}.layer_norm_k")
        v = self.linear(x, f"{s}.value")
        a = self.linear(self.attend(q, k, v), f"{p}.attention.output.dense")
        a = self.norm(a + x, f"{p}.attention.output.LayerNorm")
        h = self.norm(x + a, f"{p}.layer_norm_1")
        inner = self.w[f"{p}.mlp.down_layer.weight"].shape[1]
        u = self.linear(h, f"{p}.mlp.up_gated_layer")
        mlp = self.linear(u[:, :inner] * self.act(u[:, inner:]), f"{p}.mlp.down_layer")
        return self.norm(h + mlp, f"{p}.layer_norm_2")

    def embeddings(self, texts: list[str]) -> np.ndarray:
        """Mean pooling then L2 normalization (the fixtures' sentence-transformers modules)."""
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        rows = []
        for text in texts:
            ids = tokenizer(text, truncation=True, max_length=MAX_SEQ_LENGTH).input_ids
            pooled = self.states(ids, [0] * len(ids)).mean(0)
            rows.append((pooled / pooled.norm()).numpy())
        return np.stack(rows)

    def scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The reranker's logits: classifier(tanh(pooler.dense(first token))), pair by pair."""
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        rows = []
        for query, document in pairs:
            encoded = tokenizer(query, document, truncation=True, max_length=MAX_SEQ_LENGTH)
            states = self.states(encoded.input_ids, encoded.token_type_ids)
            pooled = torch.tanh(self.linear(states[0], "bert.pooler.dense"))
            rows.append(self.linear(pooled, "classifier").numpy())
        return np.stack(rows)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
