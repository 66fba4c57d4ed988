"""Jina-BERT v2 (jina-bert-implementation): a tiny hub-layout checkpoint built with `bei build`
and served by the torch engine, against the Jina math written out in plain float64 torch ops
from the checkpoint's tensors (tests/unit/engine/jina_reference.py, not bei's module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.engine.base import Batch
from bei_cli.engine.families.jina_bert import alibi_slopes
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.jina_bert import make_jina_v2
from tests.unit.engine.helpers import PARITY_TEXTS
from tests.unit.engine.jina_reference import MAX_SEQ_LENGTH, SLOPES, Reference, cosines
from tests.unit.inspect.test_refusals import UNSUPPORTED, build, inspect

COSINE_FLOOR = 0.9999  # fp32 against a float64 reference, per docs/models.md


@pytest.mark.parametrize("heads", sorted(SLOPES))
def test_alibi_slopes_are_the_papers(heads: int) -> None:
    assert alibi_slopes(heads).tolist() == pytest.approx(SLOPES[heads], rel=1e-12)


def reference_embeddings(model_dir: Path, texts: list[str], heads: int, ffn: str) -> np.ndarray:
    return Reference(model_dir, heads=heads, ffn=ffn, qk_post_norm=False).embeddings(texts)


@pytest.mark.parametrize(("heads", "ffn"), [(6, "geglu"), (4, "reglu")])
def test_jina_v2_matches_the_reference_math(
    heads: int, ffn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_jina_v2(tmp_path / "jina", num_attention_heads=heads, feed_forward_type=ffn)
    code, out = inspect(model, capsys)
    assert code == 0, out
    assert "Jina-BERT v2" in out and "alibi" in out
    code, out = build(model, tmp_path, capsys)
    assert code == 0, out
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    texts = list(PARITY_TEXTS)
    ids = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH).encode(
        texts, truncate=True
    )
    output = engine.run(Batch.from_sequences(ids))  # one padded batch: the mask is exercised
    assert output.embeddings is not None
    served = output.embeddings
    reference = reference_embeddings(model, texts, heads, ffn)
    assert cosines(served, reference).min() >= COSINE_FLOOR, cosines(served, reference).min()


def test_swapped_gate_halves_would_fail(tmp_path: Path) -> None:
    """The parity test can fail: the same math with the halves swapped is far off."""
    import torch
    from safetensors.torch import load_file, save_file

    model = make_jina_v2(tmp_path / "jina")
    swapped = make_jina_v2(tmp_path / "swapped")
    weights = load_file(swapped / "model.safetensors")
    for key in [k for k in weights if k.endswith("gated_layers.weight")]:
        weights[key] = torch.cat(weights[key].chunk(2)[::-1]).contiguous()
    save_file(weights, str(swapped / "model.safetensors"))
    texts = list(PARITY_TEXTS)
    a = reference_embeddings(model, texts, 6, "geglu")
    b = reference_embeddings(swapped, texts, 6, "geglu")
    assert np.sum(a * b, axis=1).min() < COSINE_FLOOR


def test_unknown_jina_setting_stays_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_jina_v2(tmp_path / "jina", layer_norm_type="rms_norm")
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert "layer_norm_type" in out


def test_unimplemented_feed_forward_stays_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_jina_v2(tmp_path / "jina", feed_forward_type="swiglu")
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert "feed_forward_type: 'swiglu'" in out


def test_extra_jina_weights_refuse_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    # jina-bert-v2-qk-post-norm style query/key norms: weights bei's module has no place for.
    extra = {"bert.encoder.layer.0.attention.self.layer_norm_q.weight": torch.ones(48)}
    model = make_jina_v2(tmp_path / "jina", extra_weights=extra)
    code, out = build(model, tmp_path, capsys)
    assert code == UNSUPPORTED, out
    assert "layer_norm_q" in out


def test_base_en_weights_under_the_base_code_remote_code_refuse_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config names qk-post-norm, the weights are jina-bert-implementation's: refused."""
    remote = "jinaai/jina-bert-v2-qk-post-norm--modeling_bert.JinaBertModel"
    model = make_jina_v2(tmp_path / "jina", auto_map={"AutoModel": remote})
    code, out = build(model, tmp_path, capsys)
    assert code == UNSUPPORTED, out
    assert "missing weights" in out and "layer_norm_q" in out and "gated_layers" in out


def test_an_embedder_checkpoint_with_a_classifier_head_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reranker whose config names an embedder class: its head would be dropped."""
    import torch

    extra = {"classifier.weight": torch.zeros(1, 48), "classifier.bias": torch.zeros(1)}
    model = make_jina_v2(tmp_path / "jina", extra_weights=extra)
    code, out = build(model, tmp_path, capsys)
    assert code == UNSUPPORTED, out
    assert "classifier.weight" in out and "architectures" in out


def test_unprefixed_jina_bert_model_weights_serve_the_same_vectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetensors.torch import load_file, save_file

    model = make_jina_v2(tmp_path / "jina", architectures=["JinaBertModel"])
    weights = load_file(model / "model.safetensors")
    bare = {k.removeprefix("bert."): v for k, v in weights.items() if k.startswith("bert.")}
    save_file(bare, str(model / "model.safetensors"), metadata={"format": "pt"})
    code, out = build(model, tmp_path, capsys)
    assert code == 0, out
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    texts = list(PARITY_TEXTS)[:4]
    ids = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH).encode(
        texts, truncate=True
    )
    served = engine.run(Batch.from_sequences(ids)).embeddings
    assert served is not None
    reference = reference_embeddings(make_jina_v2(tmp_path / "prefixed"), texts, 6, "geglu")
    assert cosines(served, reference).min() >= COSINE_FLOOR, cosines(served, reference).min()


def test_quantized_jina_checkpoint_is_refused(tmp_path: Path) -> None:
    import torch

    from bei_cli.engine.families.jina_bert import load_jina_bert
    from bei_cli.errors import UnsupportedModelError

    model = make_jina_v2(tmp_path / "jina")
    (model / "bei_quant.json").write_text('{"format": "fp8"}')
    with pytest.raises(UnsupportedModelError, match="quantized"):
        load_jina_bert(model, torch.float32)


def test_jina_v2_onnx_engine_matches_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.configs import config_yaml
    from tests.unit.inspect.test_refusals import run

    model = make_jina_v2(tmp_path / "jina")
    config = tmp_path / "config.yaml"
    bei = {"engine": "onnx", "dtype": "float32"}
    config.write_text(
        config_yaml(source="LOCAL", repo=str(model), revision=None, accelerator=None, bei=bei)
    )
    code, out = run(["build", str(config), "-o", str(tmp_path / "out"), "--no-image"], capsys)
    assert code == 0, out
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, MAX_SEQ_LENGTH)
    for texts in (list(PARITY_TEXTS), ["a"]):  # lengths other than the export's sample
        served = engine.run(Batch.from_sequences(tokenizer.encode(texts, truncate=True)))
        assert served.embeddings is not None
        reference = reference_embeddings(model, texts, 6, "geglu")
        worst = cosines(served.embeddings, reference).min()
        assert worst >= COSINE_FLOOR, worst


def test_graph_path_additive_mask_gives_the_plain_vectors(tmp_path: Path) -> None:
    """CUDA graphs call the model with a 4-D additive mask (cuda_graphs.MaskedForward); on the
    CPU the same call must give the 0/1-mask forward's hidden states."""
    import torch

    from bei_cli.engine.cuda_graphs import MaskedForward
    from bei_cli.engine.families.jina_bert import load_jina_bert

    model = load_jina_bert(make_jina_v2(tmp_path / "jina"), torch.float32)
    ids = torch.tensor([[101, 2000, 2001, 2002, 102], [101, 2003, 102, 0, 0]])
    mask = (ids != 0).long()
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    with torch.inference_mode():
        plain = model(**inputs).last_hidden_state
        graphed = MaskedForward(model, False, torch.float32)(inputs).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(graphed[real], plain[real], rtol=1e-5, atol=1e-5)
