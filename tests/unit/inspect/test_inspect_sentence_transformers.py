"""Pooling, Dense, Normalize and prompts from checkpoints written by sentence-transformers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect import DenseLayer, inspect_checkpoint
from tests.fixtures.models import minilm_dir
from tests.unit.inspect.checkpoint_files import BERT_CONFIG, POOLING_MODES, write_checkpoint


def test_real_minilm() -> None:
    profile = inspect_checkpoint(minilm_dir(), base_model="encoder_bert")
    assert profile.architecture == "BertModel"
    assert profile.model_type == "bert"
    assert profile.task == "embed"
    assert profile.attention == "bidirectional"
    assert profile.pooling == "mean"  # old-format boolean config
    assert profile.normalize is True
    assert profile.hidden_size == profile.embedding_dim == 384
    assert profile.max_seq_len == 256  # sentence_bert_config.json, not the 512 positions
    assert profile.dense == ()
    assert profile.id2label == ()
    assert profile.padding_side == "right"
    assert profile.fallbacks == ()


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_every_st6_pooling_mode(tiny_st: dict[str, Path], mode: str) -> None:
    profile = inspect_checkpoint(tiny_st[mode], base_model="encoder")
    assert profile.pooling == mode
    assert profile.pooling_include_prompt is True
    assert profile.normalize is (mode == "mean")
    assert profile.max_seq_len == 128  # ST 6 keeps max_seq_length in tokenizer_config.json
    assert profile.fallbacks == ()


def test_dense_and_prompts(tiny_st_dense_prompts: Path) -> None:
    profile = inspect_checkpoint(tiny_st_dense_prompts, base_model="encoder_bert")
    assert profile.dense == (
        DenseLayer(
            path="2_Dense",
            in_features=32,
            out_features=16,
            bias=True,
            activation="torch.nn.modules.activation.Tanh",
        ),
    )
    assert profile.embedding_dim == 16
    assert profile.hidden_size == 32
    assert profile.prompt("query") == "query: "
    assert profile.prompt("passage") == "passage: "
    assert profile.default_prompt_name == "query"
    assert profile.max_seq_len == 64


def old_st(target: Path, pooling: dict[str, object], **extra: object) -> Path:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    files = {"config.json": BERT_CONFIG, "modules.json": modules, "1_Pooling/config.json": pooling}
    return write_checkpoint(target, {**files, **extra})


OLD_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@pytest.mark.parametrize(("key", "mode"), OLD_KEYS.items())
def test_old_boolean_pooling_configs(tmp_path: Path, key: str, mode: str) -> None:
    config = {"word_embedding_dimension": 32, **{k: k == key for k in OLD_KEYS}}
    profile = inspect_checkpoint(old_st(tmp_path, config), base_model="encoder")
    assert profile.pooling == mode


def test_include_prompt_false(tmp_path: Path) -> None:
    config = {"pooling_mode_lasttoken": True, "include_prompt": False}
    profile = inspect_checkpoint(old_st(tmp_path, config), base_model="encoder")
    assert (profile.pooling, profile.pooling_include_prompt) == ("lasttoken", False)


def test_st6_single_element_list(tmp_path: Path) -> None:
    profile = inspect_checkpoint(old_st(tmp_path, {"pooling_mode": ["max"]}), base_model="encoder")
    assert profile.pooling == "max"


@pytest.mark.parametrize(
    "config",
    [
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True},
        {"pooling_mode": ["cls", "mean"]},
        {"pooling_mode_cls_token": False},
        {"pooling_mode": "median"},
    ],
)
def test_pooling_bei_cannot_run_is_refused(tmp_path: Path, config: dict[str, object]) -> None:
    with pytest.raises(UnsupportedModelError, match="pooling"):
        inspect_checkpoint(old_st(tmp_path, config), base_model="encoder")


def test_no_modules_json_falls_back_to_cls_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_checkpoint(tmp_path, {"config.json": BERT_CONFIG})
    profile = inspect_checkpoint(tmp_path, base_model="encoder_bert")
    assert profile.pooling == "cls"
    assert profile.normalize is False
    assert len(profile.fallbacks) == 1
    assert "assumed cls pooling" in profile.fallbacks[0]
    assert profile.fallbacks[0] in caplog.text


def test_modules_without_pooling_keep_normalize_and_record_the_fallback(tmp_path: Path) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "2_Normalize", "type": "sentence_transformers.Normalize"},
    ]
    write_checkpoint(tmp_path, {"config.json": BERT_CONFIG, "modules.json": modules})
    profile = inspect_checkpoint(tmp_path, base_model="encoder")
    assert (profile.pooling, profile.normalize) == ("cls", True)
    assert "no Pooling module" in profile.fallbacks[0]


def test_unknown_module_is_refused_not_skipped(tmp_path: Path) -> None:
    old_st(tmp_path, {"pooling_mode": "mean"})
    modules = json.loads((tmp_path / "modules.json").read_text())
    modules.append({"idx": 2, "name": "2", "path": "2_LayerNorm", "type": "x.LayerNorm"})
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UnsupportedModelError, match=r"x\.LayerNorm") as err:
        inspect_checkpoint(tmp_path, base_model="encoder")
    assert err.value.hint is not None
    assert "Dense" in err.value.hint


def test_normalize_before_dense_is_refused(tmp_path: Path) -> None:
    modules = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        {"path": "3_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    old_st(tmp_path, {"pooling_mode": "mean"}, **{"modules.json": modules})
    with pytest.raises(UnsupportedModelError, match="order"):
        inspect_checkpoint(tmp_path, base_model="encoder")


def test_transformer_in_a_subdirectory_is_refused(tmp_path: Path) -> None:
    modules = [
        {"path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    old_st(tmp_path, {"pooling_mode": "mean"}, **{"modules.json": modules})
    with pytest.raises(UnsupportedModelError, match="0_Transformer"):
        inspect_checkpoint(tmp_path, base_model="encoder")


def test_dense_that_does_not_chain_is_refused(tmp_path: Path) -> None:
    modules = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    dense = {"in_features": 768, "out_features": 16, "bias": True}
    old_st(
        tmp_path,
        {"pooling_mode": "mean"},
        **{"modules.json": modules, "2_Dense/config.json": dense},
    )
    with pytest.raises(UnsupportedModelError, match="expects 768 inputs but gets 32"):
        inspect_checkpoint(tmp_path, base_model="encoder")


def test_default_prompt_must_be_a_prompt(tmp_path: Path) -> None:
    st_config = {"prompts": {"query": "q: "}, "default_prompt_name": "passage"}
    old_st(tmp_path, {"pooling_mode": "mean"}, **{"config_sentence_transformers.json": st_config})
    with pytest.raises(UnsupportedModelError, match="default_prompt_name 'passage'"):
        inspect_checkpoint(tmp_path, base_model="encoder")


def test_broken_json_names_the_file(tmp_path: Path) -> None:
    old_st(tmp_path, {"pooling_mode": "mean"})
    (tmp_path / "1_Pooling" / "config.json").write_text("{not json")
    with pytest.raises(UnsupportedModelError, match=r"1_Pooling/config\.json"):
        inspect_checkpoint(tmp_path, base_model="encoder")


def test_missing_pooling_config_names_the_file(tmp_path: Path) -> None:
    old_st(tmp_path, {"pooling_mode": "mean"})
    (tmp_path / "1_Pooling" / "config.json").unlink()
    with pytest.raises(UnsupportedModelError, match=r"1_Pooling/config\.json"):
        inspect_checkpoint(tmp_path, base_model="encoder")
