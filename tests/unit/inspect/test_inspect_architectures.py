"""The architecture table on hand-written config.json directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bei_cli.errors import UnsupportedModelError
from bei_cli.inspect import ModelProfile, inspect_checkpoint
from tests.unit.inspect.checkpoint_files import BERT_CONFIG, write_checkpoint

QWEN3: dict[str, Any] = {
    "architectures": ["Qwen3Model"],
    "model_type": "qwen3",
    "hidden_size": 64,
    "max_position_embeddings": 32768,
}
LLAMA: dict[str, Any] = {
    "architectures": ["LlamaModel"],
    "model_type": "llama",
    "hidden_size": 64,
    "max_position_embeddings": 8192,
}


def inspect(
    tmp_path: Path, config: dict[str, Any], base_model: str = "encoder", **files: Any
) -> ModelProfile:
    write_checkpoint(tmp_path, {"config.json": config, **files})
    return inspect_checkpoint(tmp_path, base_model=base_model)


def classifier(architecture: str, labels: list[str], **extra: Any) -> dict[str, Any]:
    return {
        **BERT_CONFIG,
        "architectures": [architecture],
        "id2label": {str(i): label for i, label in enumerate(labels)},
        **extra,
    }


def test_single_label_sequence_classifier_is_a_reranker(tmp_path: Path) -> None:
    profile = inspect(tmp_path, classifier("BertForSequenceClassification", ["LABEL_0"]))
    assert profile.task == "rerank"
    assert profile.pooling is None
    assert profile.id2label == ((0, "LABEL_0"),)
    assert profile.fallbacks == ()


def test_three_label_sequence_classifier(tmp_path: Path) -> None:
    config = classifier(
        "XLMRobertaForSequenceClassification",
        ["negative", "neutral", "positive"],
        model_type="xlm-roberta",
        max_position_embeddings=514,
        pad_token_id=1,
        problem_type="single_label_classification",
    )
    config["id2label"] = {"2": "positive", "0": "negative", "1": "neutral"}  # unsorted on disk
    profile = inspect(tmp_path, config)
    assert profile.task == "classify"
    assert profile.labels == ("negative", "neutral", "positive")
    assert profile.id2label[0] == (0, "negative")
    assert profile.problem_type == "single_label_classification"
    assert profile.max_seq_len == 512  # 514 positions minus RoBERTa's pad_token_id + 1


def test_token_classifier_is_ner(tmp_path: Path) -> None:
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    profile = inspect(tmp_path, classifier("BertForTokenClassification", labels))
    assert profile.task == "ner"
    assert profile.labels == tuple(labels)
    assert profile.pooling is None


def test_classifier_without_labels_is_refused_with_a_fix(tmp_path: Path) -> None:
    config = {**BERT_CONFIG, "architectures": ["BertForTokenClassification"]}
    del config["id2label"]
    with pytest.raises(UnsupportedModelError, match="no id2label") as err:
        inspect(tmp_path, config)
    assert err.value.hint is not None
    assert '"id2label"' in err.value.hint


def test_embedder_ignores_default_labels(tmp_path: Path) -> None:
    assert inspect(tmp_path, BERT_CONFIG).id2label == ()


@pytest.mark.parametrize("config", [QWEN3, LLAMA], ids=["Qwen3Model", "LlamaModel"])
def test_causal_family_under_encoder(tmp_path: Path, config: dict[str, Any]) -> None:
    profile = inspect(tmp_path, config, base_model="encoder")
    assert (profile.task, profile.attention, profile.padding_side) == ("embed", "causal", "left")
    assert profile.pooling == "lasttoken"
    assert "assumed lasttoken pooling" in profile.fallbacks[0]
    assert profile.max_seq_len == config["max_position_embeddings"]


@pytest.mark.parametrize("config", [QWEN3, LLAMA], ids=["Qwen3Model", "LlamaModel"])
def test_causal_family_under_encoder_bert_is_bidirectional(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    profile = inspect(tmp_path, config, base_model="encoder_bert")
    assert (profile.attention, profile.padding_side) == ("bidirectional", "right")
    assert profile.pooling == "lasttoken"  # still the family's pooling default


def test_checkpoint_that_declares_bidirectional_attention(tmp_path: Path) -> None:
    config = {
        "architectures": ["Gemma3TextModel"],
        "model_type": "gemma3_text",
        "hidden_size": 64,
        "max_position_embeddings": 2048,
        "use_bidirectional_attention": True,
    }
    assert inspect(tmp_path, config).attention == "bidirectional"


def test_causal_lm_used_as_embedder(tmp_path: Path) -> None:
    config = {**QWEN3, "architectures": ["Qwen3ForCausalLM"]}
    profile = inspect(tmp_path, config)
    assert (profile.task, profile.attention) == ("embed", "causal")


def test_masked_lm_used_as_embedder(tmp_path: Path) -> None:
    profile = inspect(tmp_path, {**BERT_CONFIG, "architectures": ["BertForMaskedLM"]})
    assert (profile.task, profile.attention, profile.pooling) == ("embed", "bidirectional", "cls")


def test_tokenizer_padding_side_is_honoured(tmp_path: Path) -> None:
    profile = inspect(
        tmp_path,
        QWEN3,
        base_model="encoder_bert",
        **{"tokenizer_config.json": {"padding_side": "left"}},
    )
    assert profile.padding_side == "left"


@pytest.mark.parametrize(
    ("architecture", "model_type"),
    [("T5EncoderModel", "t5"), ("BertForPreTraining", "bert"), ("", "bert")],
)
def test_unknown_architecture_lists_what_is_supported(
    tmp_path: Path, architecture: str, model_type: str
) -> None:
    config = {
        **BERT_CONFIG,
        "architectures": [architecture] if architecture else [],
        "model_type": model_type,
    }
    with pytest.raises(UnsupportedModelError, match="unsupported architecture") as err:
        inspect(tmp_path, config)
    assert err.value.hint is not None
    assert "qwen3" in err.value.hint
    assert "ForSequenceClassification" in err.value.hint
    assert err.value.exit_code == 4


def test_unknown_base_model_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="base_model"):
        inspect(tmp_path, BERT_CONFIG, base_model="TrtLlmBaseModel.encoder")


def test_distilbert_hidden_size_is_dim(tmp_path: Path) -> None:
    config = {"architectures": ["DistilBertModel"], "model_type": "distilbert", "dim": 768}
    profile = inspect(tmp_path, {**config, "max_position_embeddings": 512})
    assert profile.hidden_size == profile.embedding_dim == 768


@pytest.mark.parametrize(
    ("sbert", "tokenizer", "expected", "noted"),
    [
        ({}, {}, 512, False),  # the position embeddings
        ({}, {"model_max_length": 128}, 128, False),  # bounded by the tokenizer
        ({}, {"model_max_length": 1000000000000000019884624838656}, 512, False),  # "no limit"
        ({"max_seq_length": 256}, {"model_max_length": 128}, 256, False),  # ST's own wins
        ({"max_seq_length": 8192}, {}, 512, True),  # but not past the positions
    ],
)
def test_max_seq_len(
    tmp_path: Path, sbert: dict[str, Any], tokenizer: dict[str, Any], expected: int, noted: bool
) -> None:
    profile = inspect(
        tmp_path,
        BERT_CONFIG,
        **{"sentence_bert_config.json": sbert, "tokenizer_config.json": tokenizer},
    )
    assert profile.max_seq_len == expected
    assert any(note.startswith("max_seq_len") for note in profile.fallbacks) is noted


def test_no_length_anywhere_is_refused(tmp_path: Path) -> None:
    config = {**BERT_CONFIG}
    del config["max_position_embeddings"]
    with pytest.raises(UnsupportedModelError, match="maximum input length"):
        inspect(tmp_path, config)


def test_missing_config_json(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match=r"no config\.json"):
        inspect_checkpoint(tmp_path, base_model="encoder")


def test_profile_round_trips_through_json(tmp_path: Path) -> None:
    profile = inspect(tmp_path, classifier("BertForSequenceClassification", ["a", "b", "c"]))
    assert ModelProfile.from_dict(profile.to_dict()) == profile
