"""jina-embeddings-v2-base-code (remote code jinaai/jina-bert-v2-qk-post-norm): a tiny checkpoint
in the layout the hub publishes, built with `bei build` and served by the torch (and onnx)
engine, against the qk-post-norm math written out in plain float64 torch ops from the
checkpoint's tensors (tests/unit/engine/jina_reference.py, not bei's module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.engine.base import Batch
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.jina_bert import make_jina_code
from tests.unit.engine.helpers import PARITY_TEXTS
from tests.unit.engine.jina_reference import MAX_SEQ_LENGTH, Reference, cosines
from tests.unit.inspect.test_refusals import UNSUPPORTED, build, inspect, run

COSINE_FLOOR = 0.9999  # fp32 against a float64 reference, per docs/models.md


def served(model: Path, tmp_path: Path, texts: list[str]) -> np.ndarray:
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH)
    output = engine.run(Batch.from_sequences(tokenizer.encode(texts, truncate=True)))
    assert output.embeddings is not None
    return output.embeddings


def reference(model: Path, texts: list[str], heads: int = 6, ffn: str = "geglu") -> np.ndarray:
    return Reference(model, heads=heads, ffn=ffn, qk_post_norm=True).embeddings(texts)


@pytest.mark.parametrize(("heads", "ffn", "prefix"), [(6, "geglu", ""), (4, "reglu", "bert.")])
def test_base_code_matches_the_reference_math(
    heads: int, ffn: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_jina_code(
        tmp_path / "code", prefix=prefix, num_attention_heads=heads, feed_forward_type=ffn
    )
    code, out = inspect(model, capsys)
    assert code == 0, out
    assert "Jina-BERT v2 qk-post-norm" in out and "jina_bert_qk_post_norm" in out
    assert f"feed_forward_type: {ffn}" in out and "position_embedding_type: alibi" in out
    code, out = build(model, tmp_path, capsys)
    assert code == 0, out
    texts = list(PARITY_TEXTS)  # one padded batch of different lengths: the mask is exercised
    worst = cosines(served(model, tmp_path, texts), reference(model, texts, heads, ffn)).min()
    assert worst >= COSINE_FLOOR, worst


class SingleResidual(Reference):
    """A plausible misreading: layer_norm_1 over the attention output alone, as if BERT's
    attention output were the whole residual (the remote code adds the block input again)."""

    def code_block(self, x: torch.Tensor, p: str) -> torch.Tensor:
        s = f"{p}.attention.self"
        q = self.norm(self.linear(x, f"{s}.query"), f"{s}.layer_norm_q")
        k = self.norm(self.linear(x, f"{s}.key"), f"{s}.layer_norm_k")
        a = self.linear(
            self.attend(q, k, self.linear(x, f"{s}.value")), f"{p}.attention.output.dense"
        )
        h = self.norm(self.norm(a + x, f"{p}.attention.output.LayerNorm"), f"{p}.layer_norm_1")
        inner = self.w[f"{p}.mlp.down_layer.weight"].shape[1]
        u = self.linear(h, f"{p}.mlp.up_gated_layer")
        mlp = self.linear(u[:, :inner] * self.act(u[:, inner:]), f"{p}.mlp.down_layer")
        return self.norm(h + mlp, f"{p}.layer_norm_2")


def test_plausible_mistakes_give_other_vectors(tmp_path: Path) -> None:
    """The parity test can fail: base-en's gate order (act on the first half) or a single
    residual into layer_norm_1 is far from the remote code's vectors."""
    model = make_jina_code(tmp_path / "code")
    texts = list(PARITY_TEXTS)
    right = reference(model, texts)
    swapped = Reference(model, heads=6, ffn="geglu", qk_post_norm=True)
    for key in [k for k in swapped.w if k.endswith("up_gated_layer.weight")]:
        swapped.w[key] = torch.cat(swapped.w[key].chunk(2)[::-1])
    single = SingleResidual(model, heads=6, ffn="geglu", qk_post_norm=True)
    assert cosines(right, swapped.embeddings(texts)).min() < COSINE_FLOOR
    assert cosines(right, single.embeddings(texts)).min() < COSINE_FLOOR


def test_extra_or_missing_weights_refuse_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file, save_file

    extra = {"encoder.layer.0.mlp.layernorm.weight": torch.ones(48)}  # base-en's MLP norm
    model = make_jina_code(tmp_path / "extra", extra_weights=extra)
    (tmp_path / "a").mkdir()
    code, out = build(model, tmp_path / "a", capsys)
    assert code == UNSUPPORTED, out
    assert "no place for" in out and "mlp.layernorm" in out

    model = make_jina_code(tmp_path / "missing")
    weights = load_file(model / "model.safetensors")
    del weights["encoder.layer.1.attention.self.layer_norm_k.bias"]
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    (tmp_path / "b").mkdir()
    code, out = build(model, tmp_path / "b", capsys)
    assert code == UNSUPPORTED, out
    assert "missing weights" in out and "layer_norm_k.bias" in out


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"layer_norm_type": "rms_norm"}, "layer_norm_type"),  # a key bei does not know
        ({"feed_forward_type": "original"}, "feed_forward_type: 'original'"),  # up_layer, no gate
        ({"hidden_act": "relu"}, "hidden_act: 'relu'"),
        ({"position_embedding_type": "absolute"}, "position_embedding_type: 'absolute'"),
        ({"architectures": ["JinaBertForSequenceClassification"]}, "architectures"),
    ],
)
def test_settings_it_does_not_implement_are_refused(
    overrides: dict[str, object], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = inspect(make_jina_code(tmp_path / "code", **overrides), capsys)
    assert code == UNSUPPORTED, out
    assert named in out


def test_an_auto_map_naming_both_jina_remote_codes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = {
        "AutoModel": "jinaai/jina-bert-v2-qk-post-norm--modeling_bert.JinaBertModel",
        "AutoModelForMaskedLM": "jinaai/jina-bert-implementation--modeling_bert.JinaBertModel",
    }
    code, out = inspect(make_jina_code(tmp_path / "code", auto_map=both), capsys)
    assert code == UNSUPPORTED, out
    assert "auto_map" in out and "both Jina remote codes" in out


def test_base_code_onnx_engine_matches_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.configs import config_yaml

    model = make_jina_code(tmp_path / "code")
    config = tmp_path / "config.yaml"
    bei = {"engine": "onnx", "dtype": "float32"}
    config.write_text(
        config_yaml(source="LOCAL", repo=str(model), revision=None, accelerator=None, bei=bei)
    )
    code, out = run(["build", str(config), "-o", str(tmp_path / "out"), "--no-image"], capsys)
    assert code == 0, out
    for texts in (list(PARITY_TEXTS), ["a"]):  # lengths other than the export's sample
        worst = cosines(served(model, tmp_path, texts), reference(model, texts)).min()
        assert worst >= COSINE_FLOOR, worst


def test_graph_path_additive_mask_gives_the_plain_vectors(tmp_path: Path) -> None:
    """CUDA graphs call the model with a 4-D additive mask (cuda_graphs.MaskedForward); on the
    CPU the same call must give the 0/1-mask forward's hidden states."""
    from bei_cli.engine.cuda_graphs import MaskedForward
    from bei_cli.engine.families.jina_code import load_jina_code

    model = load_jina_code(make_jina_code(tmp_path / "code"), torch.float32)
    ids = torch.tensor([[101, 2000, 2001, 2002, 102], [101, 2003, 102, 0, 0]])
    mask = (ids != 0).long()
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    with torch.inference_mode():
        plain = model(**inputs).last_hidden_state
        graphed = MaskedForward(model, False, torch.float32)(inputs).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(graphed[real], plain[real], rtol=1e-5, atol=1e-5)
