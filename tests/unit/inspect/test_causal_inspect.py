"""Inspection of causal families, their bidirectional variants and BERT-family encoders, on
config.json files written by transformers' own config classes (no weights needed: inspection
reads files only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bei_cli.inspect import ModelProfile, inspect_checkpoint
from tests.fixtures.causal import CAUSAL_FAMILIES, ENCODER_FAMILIES, left_padding_eos_tokenizer
from tests.fixtures.models import copy_tokenizer

ARCHITECTURE_PREFIX = {
    "llama": "Llama",
    "mistral": "Mistral",
    "qwen2": "Qwen2",
    "qwen3": "Qwen3",
    "gemma2": "Gemma2",
    "roberta": "Roberta",
    "xlm-roberta": "XLMRoberta",
    "mpnet": "MPNet",
    "modernbert": "ModernBert",
    "distilbert": "DistilBert",
    "electra": "Electra",
}


def saved_config(target: Path, model_type: str, head: str = "Model", **options: Any) -> Path:
    """config.json exactly as transformers writes it for this family."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(model_type, **options)
    config.architectures = [ARCHITECTURE_PREFIX[model_type] + head]
    config.save_pretrained(target)
    return target


def inspect(target: Path, base_model: str = "encoder") -> ModelProfile:
    return inspect_checkpoint(target, base_model=base_model)


@pytest.mark.parametrize("family", CAUSAL_FAMILIES)
@pytest.mark.parametrize("head", ["Model", "ForCausalLM"])
def test_causal_family_embeds_causally_with_last_token(
    tmp_path: Path, family: str, head: str
) -> None:
    profile = inspect(saved_config(tmp_path, family, head))
    assert profile.architecture == ARCHITECTURE_PREFIX[family] + head
    assert (profile.task, profile.attention, profile.pooling) == ("embed", "causal", "lasttoken")
    assert profile.padding_side == "left"  # no tokenizer_config: left, so the last token is last
    assert any("assumed lasttoken pooling" in note for note in profile.fallbacks)


@pytest.mark.parametrize("family", CAUSAL_FAMILIES)
def test_encoder_bert_runs_causal_families_bidirectionally(tmp_path: Path, family: str) -> None:
    profile = inspect(saved_config(tmp_path, family), base_model="encoder_bert")
    assert (profile.attention, profile.padding_side, profile.pooling) == (
        "bidirectional",
        "right",
        "lasttoken",
    )


def test_tokenizer_config_padding_side_wins(tmp_path: Path) -> None:
    saved_config(tmp_path, "qwen3")
    copy_tokenizer(tmp_path)
    left_padding_eos_tokenizer(tmp_path)
    assert inspect(tmp_path, base_model="encoder_bert").padding_side == "left"
    config_path = tmp_path / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "padding_side": "right"}))
    assert inspect(tmp_path).padding_side == "right"


@pytest.mark.parametrize(
    ("family", "options"),
    [("qwen2", {"is_causal": False}), ("gemma2", {"use_bidirectional_attention": True})],
    ids=["gte-qwen2-is_causal-false", "gemma2-use_bidirectional_attention"],
)
def test_checkpoint_declared_bidirectional(
    tmp_path: Path, family: str, options: dict[str, Any]
) -> None:
    assert inspect(saved_config(tmp_path, family, **options)).attention == "bidirectional"
    other = saved_config(tmp_path / "plain", family)
    assert inspect(other).attention == "causal"


@pytest.mark.parametrize("family", ENCODER_FAMILIES)
def test_bert_family_encoders(tmp_path: Path, family: str) -> None:
    for base_model in ("encoder", "encoder_bert"):
        profile = inspect(saved_config(tmp_path, family), base_model=base_model)
        assert (profile.task, profile.attention, profile.padding_side) == (
            "embed",
            "bidirectional",
            "right",
        )
        assert profile.pooling == "cls"


@pytest.mark.parametrize(
    ("family", "limit"),
    [("roberta", 512), ("xlm-roberta", 512), ("mpnet", 512), ("electra", 514)],
)
def test_roberta_style_positions_lose_the_padding_offset(
    tmp_path: Path, family: str, limit: int
) -> None:
    """RoBERTa, XLM-R and MPNet number positions from pad_token_id + 1 (pad 1: 514 -> 512)."""
    profile = inspect(saved_config(tmp_path, family, max_position_embeddings=514, pad_token_id=1))
    assert profile.max_seq_len == limit
