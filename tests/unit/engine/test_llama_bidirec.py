"""llama-embed-nemotron (`model_type: llama_bidirec`, LlamaBidirectionalModel): a tiny checkpoint in
the hub's layout (tests/fixtures/llama_bidirec.py), built with the real `bei build` (torch, fp32,
CPU) and served by the torch engine, against transformers' own LlamaModel run bidirectionally on
the native equivalent: an explicit (n, 1, T, T) mask that hides only padding (transformers uses a
4D mask as given), left padding as the model card's usage, the query prompt, the mean over
non-pad tokens, L2 normalisation. One padded batch of texts of different lengths, so masking or
padding mistakes show; a causal run of the same weights must differ, so the test can fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bei_cli.engine.artifact import MODEL_DIR, load_engine
from bei_cli.engine.base import Batch
from bei_cli.engine.torch_engine import TorchEngine
from bei_cli.inspect import inspect_checkpoint
from bei_cli.server.tokenizer import TextTokenizer
from tests.fixtures.configs import config_yaml
from tests.fixtures.llama_bidirec import (
    MAX_SEQ_LENGTH,
    PROMPTS,
    hub_config,
    make_native,
    to_hub_layout,
    write_hub_config,
    write_sentence_transformers,
)
from tests.unit.engine.helpers import PARITY_TEXTS, unit_rows
from tests.unit.inspect.test_refusals import UNSUPPORTED, inspect, run

COSINE_FLOOR = 0.9999  # fp32, per docs/models.md
LAYOUTS = ("hub", "hub-model-prefix")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("llama-bidirec")
    native = make_native(root / "native")
    return {
        "native": native,
        "hub": to_hub_layout(native, root / "hub"),
        "hub-model-prefix": to_hub_layout(native, root / "hub-prefixed", prefixed=True),
    }


def build(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], base_model: str
) -> tuple[int, str]:
    """`bei build` as test_refusals.build runs it, for either Truss base model."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text(
        config_yaml(
            base_model=base_model,
            source="LOCAL",
            repo=str(model_dir),
            revision=None,
            accelerator=None,
            bei={"engine": "torch", "dtype": "float32"},
        )
    )
    return run(["build", str(config), "-o", str(tmp_path / "out"), "--no-image", "--quiet"], capsys)


def served(
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    texts: list[str],
    prompt_name: str | None,
    base_model: str = "encoder_bert",
) -> np.ndarray:
    code, out = build(model_dir, tmp_path, capsys, base_model)
    assert code == 0, out
    engine, manifest = load_engine(tmp_path / "out", device="cpu")
    profile = manifest.profile
    prompt = profile.prompt(prompt_name) if prompt_name else None
    tokenizer = TextTokenizer.from_dir(tmp_path / "out" / MODEL_DIR, profile.max_seq_len)
    ids = tokenizer.encode(texts, truncate=True, prompt=prompt)
    assert len({len(row) for row in ids}) > 1  # one padded batch of different lengths
    output = engine.run(Batch.from_sequences(ids))
    assert output.embeddings is not None and profile.normalize
    return unit_rows(output.embeddings)


def reference(
    native_dir: Path, texts: list[str], prompt: str, *, causal: bool = False
) -> np.ndarray:
    """transformers' LlamaModel on the native checkpoint, mean-pooled over non-pad tokens."""
    import torch
    from transformers import AutoTokenizer, LlamaModel

    tokenizer = AutoTokenizer.from_pretrained(native_dir, padding_side="left")
    encoded = tokenizer(
        [prompt + text for text in texts], padding=True, truncation=True,
        max_length=MAX_SEQ_LENGTH, return_tensors="pt",
    )  # fmt: skip
    mask = encoded["attention_mask"]
    width = mask.shape[1]
    keys = mask[:, None, None, :].expand(-1, 1, width, width).float()
    padding_only = (1.0 - keys) * torch.finfo(torch.float32).min
    model = LlamaModel.from_pretrained(native_dir, attn_implementation="eager").eval()
    with torch.inference_mode():
        states = model(
            input_ids=encoded["input_ids"], attention_mask=mask if causal else padding_only
        ).last_hidden_state
    pooled = (states * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)
    return unit_rows(pooled.numpy())


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(unit_rows(a) * unit_rows(b), axis=1)


def test_inspect_names_the_family_and_what_it_honours(
    checkpoints: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = inspect(checkpoints["hub"], capsys)
    assert code == 0, out
    assert "llama-embed-nemotron (LlamaBidirectionalModel), hub layout read as transformers" in out
    assert "is_causal: False" in out and "rope_type=llama3" in out and "rope_theta=500000.0" in out
    assert "auto_map ignored: bei reads LlamaBidirectionalModel as transformers' own" in out
    for base_model in ("encoder_bert", "encoder"):  # config.json says bidirectional under BEI too
        profile = inspect_checkpoint(checkpoints["hub"], base_model=base_model)
        assert (profile.architecture, profile.model_type) == ("LlamaModel", "llama")
        assert profile.attention == "bidirectional"
        assert (profile.pooling, profile.normalize, profile.dense) == ("mean", True, ())
        assert dict(profile.prompts) == PROMPTS


@pytest.mark.parametrize("prompt_name", ["query", "document"])
@pytest.mark.parametrize("base_model", ["encoder_bert", "encoder"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_served_vectors_match_llama_run_bidirectionally(
    checkpoints: dict[str, Path],
    layout: str,
    base_model: str,
    prompt_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = list(PARITY_TEXTS)
    got = served(checkpoints[layout], tmp_path, capsys, texts, prompt_name, base_model)
    expected = reference(checkpoints["native"], texts, PROMPTS[prompt_name])
    worst = float(row_cosines(got, expected).min())
    print(f"llama_bidirec {layout} {base_model} {prompt_name}: min cosine {worst:.8f}")
    assert worst >= COSINE_FLOOR


def test_a_causal_run_of_the_same_weights_differs(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The parity test can fail: Llama's own causal attention on the same weights (what bei
    would serve if it read the checkpoint as plain `llama`) gives other vectors."""
    texts = list(PARITY_TEXTS)
    got = served(checkpoints["hub"], tmp_path, capsys, texts, "query")
    causal = reference(checkpoints["native"], texts, PROMPTS["query"], causal=True)
    assert np.isfinite(causal).all()
    assert row_cosines(got, causal).min() < 0.999


def test_the_prompt_is_applied(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = list(PARITY_TEXTS)
    got = served(checkpoints["hub"], tmp_path, capsys, texts, "query")
    assert row_cosines(got, reference(checkpoints["native"], texts, "")).min() < 0.999


def test_served_rotary_frequencies_are_llama3s(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hub's `rope_theta` + `rope_scaling: {rope_type: llama3}` reach the served model: its
    inv_freq equals Llama 3.1's formula, written out here from the hub config (random tiny
    weights are too insensitive to rotary frequencies for the parity test to show a miss)."""
    import math

    import torch

    code, out = build(checkpoints["hub"], tmp_path, capsys, "encoder_bert")
    assert code == 0, out
    engine, _ = load_engine(tmp_path / "out", device="cpu")
    hub = json.loads((checkpoints["hub"] / "config.json").read_text())
    scaling, dim = hub["rope_scaling"], hub["head_dim"]
    base = 1.0 / hub["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    original = scaling["original_max_position_embeddings"]
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    expected = []
    for freq in base.tolist():
        wavelength = 2 * math.pi / freq
        if wavelength < original / high:
            expected.append(freq)
        elif wavelength > original / low:
            expected.append(freq / scaling["factor"])
        else:
            smooth = (original / wavelength - low) / (high - low)
            expected.append((1 - smooth) * freq / scaling["factor"] + smooth * freq)
    kinds = {e == f for e, f in zip(expected, base.tolist(), strict=True)}
    assert kinds == {True, False}  # some frequencies kept, some rescaled
    assert isinstance(engine, TorchEngine)
    model: Any = engine.model
    got = model.rotary_emb.inv_freq.double() * model.rotary_emb.attention_scaling
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-6, atol=0)


def test_both_weight_layouts_serve_the_same_vectors(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = PARITY_TEXTS[:6]
    bare = served(checkpoints["hub"], tmp_path / "bare", capsys, texts, "query")
    prefixed = served(checkpoints["hub-model-prefix"], tmp_path / "pre", capsys, texts, "query")
    np.testing.assert_array_equal(bare, prefixed)


def test_the_artifact_holds_the_native_config_and_no_remote_code(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = build(checkpoints["hub"], tmp_path, capsys, "encoder_bert")
    assert code == 0, out
    artifact = tmp_path / "out" / MODEL_DIR
    config = json.loads((artifact / "config.json").read_text())
    assert (config["model_type"], config["architectures"]) == ("llama", ["LlamaModel"])
    assert config["is_causal"] is False and "auto_map" not in config
    assert not (artifact / "llama_bidirectional_model.py").exists()


# --- refusals ----------------------------------------------------------------------------------


def hub_copy(checkpoints: dict[str, Path], tmp_path: Path, **config: Any) -> Path:
    model = tmp_path / "edited"
    shutil.copytree(checkpoints["hub"], model)
    native = json.loads((checkpoints["native"] / "config.json").read_text())
    write_hub_config(model, {**hub_config(native), **config})
    return model


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ({"bidirectional_start_layer": 16}, "bidirectional_start_layer"),  # unknown key
        ({"pooling": "last"}, "pooling"),
        ({"pooling": "weighted_avg"}, "pooling"),
        ({"is_causal": True}, "is_causal"),
        ({"pretraining_tp": 2}, "pretraining_tp"),
        ({"architectures": ["LlamaBidirectionalForSequenceClassification"]}, "architectures"),
        ({"rope_scaling": "llama3"}, "rope_scaling"),
    ],
)
def test_settings_bei_does_not_compute_are_refused(
    checkpoints: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: dict[str, Any],
    named: str,
) -> None:
    code, out = inspect(hub_copy(checkpoints, tmp_path, **edit), capsys)
    assert code == UNSUPPORTED, out
    assert f"config.json {named}" in out


def test_a_pooling_module_that_contradicts_config_json_is_refused(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = hub_copy(checkpoints, tmp_path)
    write_sentence_transformers(model, 32, pooling="cls")
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert "config.json pooling" in out and "cls" in out


def test_without_sentence_transformers_files_the_config_pooling_is_used(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """Not the Llama family's last-token default: the remote code pools as `pooling: avg` says."""
    model = hub_copy(checkpoints, tmp_path)
    (model / "modules.json").unlink()
    profile = inspect_checkpoint(model, base_model="encoder_bert")
    assert profile.pooling == "mean"
    assert any("config.json pooling" in note for note in profile.fallbacks)


def _edit_weights(model_dir: Path, edit: Any) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(model_dir / "model.safetensors")
    edit(weights)
    save_file(weights, str(model_dir / "model.safetensors"), metadata={"format": "pt"})


def test_a_missing_weight_refuses_the_build(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = hub_copy(checkpoints, tmp_path)
    _edit_weights(model, lambda w: w.pop("layers.1.mlp.down_proj.weight"))
    code, out = build(model, tmp_path, capsys, "encoder_bert")
    assert code == UNSUPPORTED, out
    assert "missing weights (would be random)" in out and "layers.1.mlp.down_proj" in out


def test_an_extra_weight_refuses_the_build(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    model = hub_copy(checkpoints, tmp_path)

    def add_q_norm(weights: dict[str, Any]) -> None:
        # A Qwen3-style query norm LlamaModel has no place for: it would be dropped.
        weights["layers.0.self_attn.q_norm.weight"] = torch.ones(8)

    _edit_weights(model, add_q_norm)
    code, out = build(model, tmp_path, capsys, "encoder_bert")
    assert code == UNSUPPORTED, out
    assert "no place for" in out and "q_norm" in out
