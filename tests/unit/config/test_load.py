"""Loading: YAML pitfalls, file errors, and how problems are reported (paths, values, hints)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli.config import load_config, load_config_text
from bei_cli.errors import ConfigError
from tests.fixtures.configs import config_yaml

GOOD = config_yaml()


def error_for(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, base_dir=Path("/tmp"))
    return caught.value


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    text = GOOD.replace("    base_model: encoder_bert\n", "    base_model: encoder_bert\n" * 2)
    error = error_for(text)
    assert error.param == "trt_llm.build.base_model"
    line = text.splitlines().index("    base_model: encoder_bert") + 1
    assert error.details == (
        f"trt_llm.build.base_model: duplicate key at line {line + 1} (first at line {line})",
    )
    assert error.exit_code == 2


def test_duplicate_keys_in_lists_and_at_the_top() -> None:
    error = error_for(
        "model_name: a\nmodel_name: b\nmodel_cache:\n  - repo_id: x\n    repo_id: y\n"
    )
    assert [d.split(":")[0] for d in error.details] == ["model_name", "model_cache[0].repo_id"]


def test_anchors_and_merge_keys_are_not_duplicates() -> None:
    text = GOOD + "environment_variables: &env {A: '1'}\nmodel_metadata: {<<: *env, B: '2'}\n"
    assert load_config_text(text, base_dir=Path("/tmp")).config.environment_variables == {"A": "1"}


@pytest.mark.parametrize(
    ("typo", "correct", "path"),
    [
        ("    max_num_token: 512", "max_num_tokens", "trt_llm.build.max_num_token"),
        ("    quantisation_type: fp8", "quantization_type", "trt_llm.build.quantisation_type"),
        ("resource:\n  cpu: '1'", "resources", "resource"),
        ("bei:\n  engin: torch", "engine", "bei.engin"),
    ],
)
def test_unknown_keys_get_did_you_mean(typo: str, correct: str, path: str) -> None:
    anchor = "    base_model: encoder_bert\n"
    text = GOOD.replace(anchor, anchor + typo + "\n") if typo.startswith(" ") else GOOD + typo
    error = error_for(text)
    assert error.param == path
    assert error.hint == f"did you mean `{correct}`?"
    assert error.details[0].startswith(f"{path}: unknown key (value ")


def test_misplaced_keys_point_to_their_home() -> None:
    anchor = "    base_model: encoder_bert\n"
    error = error_for(GOOD.replace(anchor, anchor + "    webserver_default_route: /rerank\n"))
    assert error.param == "trt_llm.build.webserver_default_route"
    assert error.hint == "`webserver_default_route` belongs under `trt_llm.runtime`."


@pytest.mark.parametrize(
    ("old", "new", "path", "hint"),
    [
        ("source: HF", "source: hf", "trt_llm.build.checkpoint_repository.source", "'HF'"),
        (
            "base_model: encoder_bert",
            "base_model: bert",
            "trt_llm.build.base_model",
            "encoder_bert",
        ),
        ("/v1/embeddings", "/v1/embedding", "trt_llm.runtime.webserver_default_route", "/v1/"),
        ("accelerator: L4", "accelerator: h100", "resources.accelerator", "'H100'"),
    ],
)
def test_bad_enum_values_get_did_you_mean(old: str, new: str, path: str, hint: str) -> None:
    error = error_for(GOOD.replace(old, new))
    assert error.param == path
    assert error.hint is not None and error.hint.startswith("did you mean") and hint in error.hint
    assert "allowed: " in error.details[0]


def test_problem_lines_show_path_value_and_allowed_values() -> None:
    error = error_for(
        GOOD.replace("base_model: encoder_bert", "base_model: encoder\n    quantization_type: int4")
    )
    assert error.details == (
        "trt_llm.build.quantization_type: is not one of the allowed values (got 'int4'; allowed: "
        "no_quant, weights_int8, weights_kv_int8, weights_int4, weights_int4_kv_int8, "
        "smooth_quant, fp8, fp8_kv, fp8_mlp_only, fp4, fp4_kv, fp4_mlp_only)",
    )
    assert error.hint == "did you mean 'weights_int4'?"


def test_every_problem_is_listed_with_the_first_as_param() -> None:
    text = GOOD.replace("cpu: '1'", "cpu: 1").replace("memory: 10Gi", "memory: 10m")
    text = text.replace(
        "base_model: encoder_bert", "base_model: encoder_bert\n    max_batch_size: 0"
    )
    error = error_for(text)
    assert [d.split(":")[0] for d in error.details] == [
        "resources.cpu",
        "resources.memory",
        "trt_llm.build.max_batch_size",
    ]
    assert error.param == "resources.cpu"
    assert "(3 problems)" in error.message


def test_empty_and_non_mapping_documents() -> None:
    assert "is empty" in error_for("").message
    assert "is empty" in error_for("# only a comment\n").message
    assert "must be a mapping" in error_for("- a\n- b\n").message
    assert "not valid YAML at line 2" in error_for("a: [1, 2\nb: 3\n").message


def test_missing_file_and_yml_instead_of_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config file"):
        load_config(tmp_path / "config.yaml")
    (tmp_path / "config.yml").write_text(GOOD)
    with pytest.raises(ConfigError, match=r"found config\.yml") as caught:
        load_config(tmp_path / "config.yaml")
    assert caught.value.hint is not None and "mv" in caught.value.hint


def test_a_directory_means_its_config_yaml(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(GOOD)
    loaded = load_config(tmp_path)
    assert loaded.path == tmp_path / "config.yaml"
    assert loaded.config.model_name == "test-model"


def test_ignored_keys_are_reported_once_in_order() -> None:
    text = GOOD + "build_commands: []\nruntime:\n  predict_concurrency: 4\n  health_checks: {}\n"
    text = text.replace(
        "base_model: encoder_bert", "base_model: encoder_bert\n    strongly_typed: true"
    )
    loaded = load_config_text(text, base_dir=Path("/tmp"))
    # build_commands: [] changes nothing, in Truss or bei, so it is not worth a mention.
    assert loaded.ignored == (
        "python_version",
        "runtime.predict_concurrency",
        "trt_llm.build.strongly_typed",
    )


def test_truss_input_migrations() -> None:
    loaded = load_config_text(GOOD + "hf_cache:\n  - repo_id: org/x\n", base_dir=Path("/tmp"))
    assert loaded.config.model_cache[0].repo_id == "org/x"
    assert any("hf_cache" in w for w in loaded.warnings)
    error = error_for(GOOD + "build:\n  no_cache: true\n")
    assert error.param == "build.no_cache" and "--no-cache" in error.details[0]
