"""Never silently wrong: one test per refusal rule, through `bei inspect` / `bei build` as a user
runs them. Each checkpoint asks for behaviour bei does not compute, and must exit 4 naming the
config.json field and its value (or the weights that would have been random)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bei_cli.cli import main
from tests.fixtures.configs import config_yaml
from tests.fixtures.families import (
    make_jina_v2_shaped,
    make_native,
    to_hub_layout,
    write_sentence_transformers,
)
from tests.fixtures.models import make_tiny_bert
from tests.unit.inspect.checkpoint_files import BERT_CONFIG, write_checkpoint

UNSUPPORTED = 4


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    code = caught.value.code
    captured = capsys.readouterr()
    return (code if isinstance(code, int) else 1), " ".join((captured.out + captured.err).split())


def inspect(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    return run(["inspect", str(model_dir)], capsys)


def build(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    config = tmp_path / "config.yaml"
    config.write_text(
        config_yaml(
            source="LOCAL",
            repo=str(model_dir),
            revision=None,
            accelerator=None,
            bei={"engine": "torch", "dtype": "float32"},
        )
    )
    return run(["build", str(config), "-o", str(tmp_path / "out"), "--no-image", "--quiet"], capsys)


def bert_with(tmp_path: Path, **keys: Any) -> Path:
    return write_checkpoint(tmp_path / "ckpt", {"config.json": {**BERT_CONFIG, **keys}})


@pytest.fixture(scope="module")
def jina_v2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_jina_v2_shaped(tmp_path_factory.mktemp("jina") / "jina-v2")


def test_jina_v2_shaped_checkpoint_is_refused_by_inspect(
    jina_v2: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Jina's layout is implemented (tests/unit/engine/test_jina_bert.py), but this config also
    # carries BertConfig keys the Jina remote code does not have: each unknown key refuses it.
    code, out = inspect(jina_v2, capsys)
    assert code == UNSUPPORTED, out
    assert "Jina-BERT v2" in out and "key bei does not know" in out


def test_jina_v2_shaped_checkpoint_is_refused_by_build(
    jina_v2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = build(jina_v2, tmp_path, capsys)
    assert code == UNSUPPORTED, out
    assert "Jina-BERT v2" in out
    assert not (tmp_path / "out").exists()


def test_remote_code_without_a_native_class_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A remote-code class bei has no module for: only auto_map says it is not a BERT.
    model = make_jina_v2_shaped(
        tmp_path / "jina",
        architectures=["JinaBertForMaskedLM"],
        auto_map={"AutoModel": "someone/other-bert--modeling.OtherBertModel"},
        position_embedding_type=None,
        feed_forward_type=None,
    )
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert "auto_map" in out and "JinaBertForMaskedLM" in out


def test_jina_layout_without_its_feed_forward_type_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fixtures.jina_bert import make_jina_v2

    model = make_jina_v2(tmp_path / "jina")
    config = json.loads((model / "config.json").read_text())
    del config["feed_forward_type"]  # the remote code's default is a plain BERT MLP
    (model / "config.json").write_text(json.dumps(config))
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert "feed_forward_type" in out and "must be stated" in out


def test_remote_code_of_a_native_class_is_noted_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = bert_with(tmp_path, auto_map={"AutoModel": "someone/bert--modeling.BertModel"})
    write_sentence_transformers(model, "mean")
    code, out = inspect(model, capsys)
    assert code == 0, out
    assert "auto_map ignored: bei runs transformers' own BertModel" in out


@pytest.mark.parametrize("value", ["alibi", "relative_key", "rotary"])
def test_unknown_position_embedding_type_is_refused(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = inspect(bert_with(tmp_path, position_embedding_type=value), capsys)
    assert code == UNSUPPORTED, out
    assert f"position_embedding_type: '{value}'" in out


def test_absolute_position_embedding_type_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = bert_with(tmp_path, position_embedding_type="absolute")
    write_sentence_transformers(model, "mean")
    code, out = inspect(model, capsys)
    assert code == 0, out


@pytest.mark.parametrize(
    ("key", "value"), [("feed_forward_type", "geglu"), ("feed_forward_type", "reglu")]
)
def test_gated_mlp_flags_are_refused(
    key: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = inspect(bert_with(tmp_path, **{key: value}), capsys)
    assert code == UNSUPPORTED, out
    assert f"{key}: '{value}'" in out


@pytest.mark.parametrize(
    ("model_type", "key", "value"),
    [
        ("bert", "rotary_emb_base", 10000),
        ("bert", "rope_theta", 10000.0),
        ("qwen3", "rotary_emb_fraction", 0.5),  # a rotary family, but a key it never reads
    ],
)
def test_rotary_settings_the_family_ignores_are_refused(
    model_type: str, key: str, value: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    architecture = {"bert": "BertModel", "qwen3": "Qwen3Model"}[model_type]
    model = bert_with(tmp_path, model_type=model_type, architectures=[architecture], **{key: value})
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert f"{key}: {value!r}" in out


def test_alibi_flag_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = inspect(bert_with(tmp_path, use_alibi=True), capsys)
    assert code == UNSUPPORTED, out
    assert "use_alibi: True" in out


@pytest.fixture(scope="module")
def nomic_hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nomic")
    return to_hub_layout(make_native(root / "native", "nomic_bert"), root / "hub")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("rotary_emb_fraction", 0.5),
        ("rotary_emb_interleaved", True),
        ("rotary_scaling_factor", 2.0),
        ("moe_every_n_layers", 2),  # MoE blocks without experts (v2-moe: test_nomic_moe)
        ("prenorm", True),
        ("brand_new_switch", 1),  # a hub key bei does not know
    ],
)
def test_hub_layout_settings_bei_does_not_compute_are_refused(
    key: str, value: Any, nomic_hub: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "ckpt"
    model.mkdir()
    config = json.loads((nomic_hub / "config.json").read_text())
    write_checkpoint(model, {"config.json": {**config, key: value}})
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert f"{key}: {value!r}" in out


def test_gte_rope_scaling_other_than_ntk_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    native = make_native(tmp_path / "native", "gte")
    hub = to_hub_layout(native, tmp_path / "hub")
    config = json.loads((hub / "config.json").read_text())
    config["rope_scaling"] = {"type": "dynamic", "factor": 2.0}
    (hub / "config.json").write_text(json.dumps(config))
    code, out = inspect(hub, capsys)
    assert code == UNSUPPORTED, out
    assert "rope_scaling" in out and "dynamic" in out


def _edit_weights(model_dir: Path, edit: Any) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(model_dir / "model.safetensors")
    edit(weights)
    save_file(weights, str(model_dir / "model.safetensors"), metadata={"format": "pt"})


def test_missing_weights_refuse_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_native(tmp_path / "nomic", "nomic_bert")
    _edit_weights(model, lambda w: w.pop("encoder.layers.1.mlp.fc2.weight"))
    code, out = build(model, tmp_path, capsys)
    assert code == UNSUPPORTED, out
    assert "missing weights (would be random)" in out and "layers.1" in out


def test_unexpected_weights_refuse_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    model = make_tiny_bert(tmp_path / "bert")
    write_sentence_transformers(model, "mean")

    def add_glu(weights: dict[str, Any]) -> None:
        # A Jina-v2-style gated layer the BERT class has no place for: it would be dropped.
        weights["encoder.layer.0.mlp.gated_layers.weight"] = torch.zeros(128, 32)

    _edit_weights(model, add_glu)
    code, out = build(model, tmp_path, capsys)
    assert code == UNSUPPORTED, out
    assert "no place for" in out and "gated_layers" in out


def test_jina_v3_lora_task_adapters_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = bert_with(
        tmp_path,
        architectures=["XLMRobertaModel"],
        model_type="xlm-roberta",
        auto_map={
            "AutoModel": "jinaai/xlm-roberta-flash-implementation--modeling_lora.XLMRobertaLoRA"
        },
        position_embedding_type="rotary",
        rotary_emb_base=20000.0,
        lora_adaptations=["retrieval.query", "retrieval.passage", "text-matching"],
        lora_rank=4,
    )
    code, out = inspect(model, capsys)
    assert code == UNSUPPORTED, out
    assert "lora_adaptations" in out and "LoRA adapters are not implemented" in out


def test_arctic_embed_v2_gte_config_reads_as_the_gte_hub_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # snowflake-arctic-embed-m-v2.0: model_type gte, but Alibaba's NewConfig keys and auto_map.
    native = make_native(tmp_path / "native", "gte")
    hub = to_hub_layout(native, tmp_path / "hub")
    config = json.loads((hub / "config.json").read_text())
    config.update(model_type="gte", architectures=["GteModel"])
    (hub / "config.json").write_text(json.dumps(config))
    code, out = inspect(hub, capsys)
    assert code == 0, out
    assert "GTE (Alibaba NewModel), hub layout read as transformers gte" in out
    assert "rope_theta=160000.0" in out
