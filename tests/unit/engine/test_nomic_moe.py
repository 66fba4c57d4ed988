"""nomic-embed-text-v2-moe (NomicBERT with mixture-of-experts blocks, remote code
nomic-ai/nomic-bert-2048): a tiny checkpoint in the layout the hub publishes, built with
`bei build` and served by the torch engine, against the remote code's math written out below in
plain float64 torch ops, one unpadded sequence and one token at a time (not bei's module).

Per block, with h = norm1(x + out_proj(attend(Wqkv(x)))):
    dense block (i % every_n != 1): x' = norm2(h + fc2(gelu(fc1(h))))
    MoE block: p = softmax(router(h_t)) per token t; for each of the top-k experts e of p,
        y_t += p_e * gelu(h_t @ W1_e^T) @ W2_e  (W_e: rows e*F .. (e+1)*F of experts.mlp.w*);
        x' = norm2(h + y + experts.bias)
attend: per head softmax(rot(q) rot(k)^T / sqrt(d)) v, rot the rotary by halves over the head.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.engine.base import Batch
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.configs import config_yaml
from tests.fixtures.nomic_moe import make_nomic_moe, nomic_moe_config
from tests.unit.engine.helpers import PARITY_TEXTS
from tests.unit.engine.jina_reference import MAX_SEQ_LENGTH, cosines
from tests.unit.inspect.test_refusals import UNSUPPORTED, build, inspect, run

COSINE_FLOOR = 0.9999  # fp32 against a float64 reference, per docs/models.md
EPS = 1e-5  # the fixture's layer_norm_epsilon


class Reference:
    """The remote code's forward from the checkpoint's tensors, in float64."""

    def __init__(self, model_dir: Path, *, renormalise: bool = False, top_k: int = 2) -> None:
        self.model_dir = model_dir
        self.w = {k: v.double() for k, v in load_file(model_dir / "model.safetensors").items()}
        config = nomic_moe_config()
        self.heads, self.theta = config["n_head"], float(config["rotary_emb_base"])
        self.every_n, self.experts = config["moe_every_n_layers"], config["num_experts"]
        self.renormalise, self.top_k = renormalise, top_k

    def norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        normed = (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + EPS)
        return normed * self.w[name + ".weight"] + self.w[name + ".bias"]

    def linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        out = x @ self.w[name + ".weight"].T
        return out + self.w[name + ".bias"] if name + ".bias" in self.w else out

    def rotary(self, x: torch.Tensor) -> torch.Tensor:
        """x: (length, head_dim); pairs dimension j with j + d/2, angle position * theta^(-2j/d)."""
        n, d = x.shape
        half = d // 2
        angle = torch.arange(n, dtype=torch.float64)[:, None] * self.theta ** (
            -2 * torch.arange(half, dtype=torch.float64) / d
        )
        a, b = x[:, :half], x[:, half:]
        cos, sin = angle.cos(), angle.sin()
        return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)

    def attend(self, x: torch.Tensor, p: str) -> torch.Tensor:
        width = x.shape[-1]
        q, k, v = self.linear(x, f"{p}.attn.Wqkv").split(width, dim=-1)
        d = width // self.heads
        context = torch.empty_like(q)
        for h in range(self.heads):
            cols = slice(h * d, (h + 1) * d)
            scores = self.rotary(q[:, cols]) @ self.rotary(k[:, cols]).T / math.sqrt(d)
            context[:, cols] = torch.softmax(scores, dim=-1) @ v[:, cols]
        return self.linear(context, f"{p}.attn.out_proj")

    def moe(self, h: torch.Tensor, p: str) -> torch.Tensor:
        w1, w2 = self.w[f"{p}.mlp.experts.mlp.w1"], self.w[f"{p}.mlp.experts.mlp.w2"]
        inner = w1.shape[0] // self.experts
        out = torch.zeros_like(h)
        for t in range(h.shape[0]):
            probabilities = torch.softmax(h[t] @ self.w[f"{p}.mlp.router.layer.weight"].T, dim=-1)
            chosen = sorted(range(self.experts), key=lambda e: -float(probabilities[e]))
            chosen = chosen[: self.top_k]
            total = sum(float(probabilities[e]) for e in chosen) if self.renormalise else 1.0
            for e in chosen:
                rows = slice(e * inner, (e + 1) * inner)
                expert = torch.nn.functional.gelu(h[t] @ w1[rows].T) @ w2[rows]
                out[t] += float(probabilities[e]) / total * expert
        return out + self.w[f"{p}.mlp.experts.bias"]

    def states(self, ids: list[int]) -> torch.Tensor:
        x = self.w["embeddings.word_embeddings.weight"][torch.tensor(ids)]
        x = self.norm(x + self.w["embeddings.token_type_embeddings.weight"][0], "emb_ln")
        layer = 0
        while f"encoder.layers.{layer}.attn.Wqkv.weight" in self.w:
            p = f"encoder.layers.{layer}"
            h = self.norm(x + self.attend(x, p), f"{p}.norm1")
            if layer % self.every_n == 1:
                mlp = self.moe(h, p)
            else:
                mlp = self.linear(
                    torch.nn.functional.gelu(self.linear(h, f"{p}.mlp.fc1")), f"{p}.mlp.fc2"
                )
            x = self.norm(h + mlp, f"{p}.norm2")
            layer += 1
        return x

    def embeddings(self, texts: list[str]) -> np.ndarray:
        """Mean pooling then L2 normalization (the fixture's sentence-transformers modules)."""
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        rows = []
        for text in texts:
            ids = tokenizer(text, truncation=True, max_length=MAX_SEQ_LENGTH).input_ids
            pooled = self.states(ids).mean(0)
            rows.append((pooled / pooled.norm()).numpy())
        return np.stack(rows)


def served(tmp_path: Path, texts: list[str]) -> np.ndarray:
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH)
    output = engine.run(Batch.from_sequences(tokenizer.encode(texts, truncate=True)))
    assert output.embeddings is not None
    return output.embeddings


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_nomic_moe(tmp_path_factory.mktemp("nomic-moe") / "model")


def test_v2_moe_matches_the_reference_math(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = inspect(checkpoint, capsys)
    assert code == 0, out
    assert "NomicBERT mixture-of-experts" in out and "nomic_bert_moe" in out
    for setting in ("num_experts: 4", "moe_top_k: 2", "moe_every_n_layers: 2", "hidden_act: gelu"):
        assert setting in out
    code, out = build(checkpoint, tmp_path, capsys)
    assert code == 0, out
    texts = list(PARITY_TEXTS)  # one padded batch of different lengths: the mask is exercised
    worst = cosines(served(tmp_path, texts), Reference(checkpoint).embeddings(texts)).min()
    print(f"nomic-embed-text-v2-moe (tiny, fp32 torch): min cosine {worst:.8f}")
    assert worst >= COSINE_FLOOR, worst


def test_plausible_mistakes_give_other_vectors(checkpoint: Path) -> None:
    """The parity test can fail: renormalising the top-k weights (Mixtral's router) or routing
    to one expert is far from the remote code's vectors."""
    texts = list(PARITY_TEXTS)
    right = Reference(checkpoint).embeddings(texts)
    for wrong in (Reference(checkpoint, renormalise=True), Reference(checkpoint, top_k=1)):
        worst = cosines(right, wrong.embeddings(texts)).min()
        print(f"renormalise={wrong.renormalise} top_k={wrong.top_k}: min cosine {worst:.4f}")
        assert worst < COSINE_FLOOR


def test_extra_or_missing_weights_refuse_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import save_file

    extra = {"encoder.layers.1.mlp.fc1.weight": torch.ones(64, 48)}  # a dense MLP in a MoE block
    model = make_nomic_moe(tmp_path / "extra", extra_weights=extra)
    (tmp_path / "a").mkdir()
    code, out = build(model, tmp_path / "a", capsys)
    assert code == UNSUPPORTED, out
    assert "no place for" in out and "layers.1.mlp.fc1" in out

    model = make_nomic_moe(tmp_path / "missing")
    weights = load_file(model / "model.safetensors")
    del weights["encoder.layers.3.mlp.experts.bias"]
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "b").mkdir()
    code, out = build(model, tmp_path / "b", capsys)
    assert code == UNSUPPORTED, out
    assert "missing weights" in out and "experts.bias" in out


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"moe_capacity_factor": 1.0}, "moe_capacity_factor"),  # a key bei does not know
        ({"expert_choice_router": True}, "expert_choice_router: True"),
        ({"moe_normalize_expert_weights": 1.0}, "moe_normalize_expert_weights: 1.0"),
        ({"moe_impl": "standard"}, "moe_impl: 'standard'"),
        ({"num_shared_experts": 1}, "num_shared_experts: 1"),
        ({"ffn_div": 2}, "ffn_div: 2"),
        ({"activation_function": "swiglu"}, "activation_function: 'swiglu'"),
        ({"prenorm": True}, "prenorm: True"),
        ({"rotary_emb_interleaved": True}, "rotary_emb_interleaved: True"),
        ({"rotary_emb_fraction": 0.5}, "rotary_emb_fraction: 0.5"),
        ({"qkv_proj_bias": False}, "qkv_proj_bias: False"),
        ({"moe_every_n_layers": 1}, "moe_every_n_layers: 1"),
        ({"moe_top_k": 5}, "moe_top_k: 5"),
        ({"architectures": ["NomicBertForPreTraining"]}, "architectures"),
    ],
)
def test_settings_it_does_not_implement_are_refused(
    overrides: dict[str, object], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = inspect(make_nomic_moe(tmp_path / "model", **overrides), capsys)
    assert code == UNSUPPORTED, out
    assert named in out


def test_onnx_engine_matches_the_reference(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fixed-shape expert sums export: the onnx engine serves the same vectors."""
    config = tmp_path / "config.yaml"
    bei = {"engine": "onnx", "dtype": "float32"}
    config.write_text(
        config_yaml(source="LOCAL", repo=str(checkpoint), revision=None, accelerator=None, bei=bei)
    )
    code, out = run(["build", str(config), "-o", str(tmp_path / "out"), "--no-image"], capsys)
    assert code == 0, out
    for texts in (list(PARITY_TEXTS), ["a"]):  # lengths other than the export's sample
        worst = cosines(served(tmp_path, texts), Reference(checkpoint).embeddings(texts)).min()
        print(f"nomic-embed-text-v2-moe (tiny, fp32 onnx): min cosine {worst:.8f}")
        assert worst >= COSINE_FLOOR, worst


@pytest.mark.parametrize("quantization", ["fp8", "fp4"])
def test_quantized_build_is_refused(
    quantization: str, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        config_yaml(
            source="LOCAL",
            repo=str(checkpoint),
            revision=None,
            accelerator="H100" if quantization == "fp8" else "B200",
            build={"quantization_type": quantization},
        )
    )
    code, out = run(["build", str(config), "-o", str(tmp_path / "out"), "--no-image"], capsys)
    assert code == UNSUPPORTED, out
    assert f"{quantization} is not available for nomic_bert_moe" in out


def test_a_swiglu_nomic_config_with_experts_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """num_experts selects the MoE layout; v1's SwiGLU, bias-free blocks are not what it runs
    (megablocks' GLU experts would hold a third packed matrix)."""
    overrides = {"activation_function": "swiglu", "qkv_proj_bias": False, "mlp_fc1_bias": False}
    code, out = inspect(make_nomic_moe(tmp_path / "model", **overrides), capsys)
    assert code == UNSUPPORTED, out
    assert "activation_function: 'swiglu'" in out and "qkv_proj_bias: False" in out


def test_graph_path_additive_mask_gives_the_plain_vectors(checkpoint: Path, tmp_path: Path) -> None:
    """CUDA graphs call the model with a 4-D additive mask (cuda_graphs.MaskedForward); on the
    CPU the same call must give the 0/1-mask forward's hidden states."""
    import shutil

    from bei_cli.engine.cuda_graphs import MaskedForward
    from bei_cli.engine.families.native_config import write_native_config
    from bei_cli.engine.families.nomic_moe import load_nomic_moe

    native = shutil.copytree(checkpoint, tmp_path / "native")
    write_native_config(checkpoint, native, lambda line: None)  # what the artifact holds
    model = load_nomic_moe(native, torch.float32)
    ids = torch.tensor([[101, 2000, 2001, 2002, 102], [101, 2003, 102, 0, 0]])
    mask = (ids != 0).long()
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    with torch.inference_mode():
        plain = model(**inputs).last_hidden_state
        graphed = MaskedForward(model, False, torch.float32)(inputs).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(graphed[real], plain[real], rtol=1e-5, atol=1e-5)
