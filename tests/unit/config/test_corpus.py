"""The validator against real configs: 193 that Truss accepts, 66 it rejects, 19 edge cases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bei_cli.config import load_config
from bei_cli.errors import ConfigError

# A copy of ../shared/truss-configs, kept in the repo so CI can never skip it.
CORPUS = Path(__file__).resolve().parents[2] / "data" / "truss-configs"
VALID = sorted(
    path for folder in ("", "history", "newer", "docs") for path in (CORPUS / folder).glob("*.yaml")
)
INVALID = CORPUS / "invalid"
EDGE = CORPUS / "edge"


# Truss reports these at the whole config (or at a parent); bei names the key to change.
PATH_OVERRIDES: dict[str, str] = {
    "bei-encoder-on-T4.yaml": "resources.accelerator",
    "suite-decoder-no-quant-T4.yaml": "resources.accelerator",
    "suite-decoder-no-quant-V100.yaml": "resources.accelerator",
    "bei-fp4-on-H100.yaml": "trt_llm.build.quantization_type",
    "bei-fp4_kv-on-L4.yaml": "trt_llm.build.quantization_type",
    "bei-fp8-on-A100_40GB.yaml": "trt_llm.build.quantization_type",
    "bei-fp8-on-A10G.yaml": "trt_llm.build.quantization_type",
    "suite-fp8-on-A100.yaml": "trt_llm.build.quantization_type",
    "suite-fp8_kv-on-A100.yaml": "trt_llm.build.quantization_type",
    "bei-legacy-base-model-qwen.yaml": "trt_llm.build.base_model",
    "bei-whisper-base-model.yaml": "trt_llm.build.base_model",
    "bei-bad-inference-stack.yaml": "trt_llm.inference_stack",
    "bei-v2-with-encoder.yaml": "trt_llm.build.base_model",
    "suite-v2-no-checkpoint-repository.yaml": "trt_llm.build.checkpoint_repository",
    "suite-v1-no-checkpoint-repository.yaml": "trt_llm.build.checkpoint_repository",
    "suite-extra-top-level-field.yaml": "what_is_this_field",
    "suite-requirements-and-requirements-file.yaml": "requirements_file",
    "suite-build-no-cache-in-yaml.yaml": "build.no_cache",
    "bei-extra-runtime-field.yaml": "trt_llm.runtime.normalize",
    "bei-runtime-num-workers.yaml": "runtime.num_workers",
    "bei-paged-context-without-paged-kv-encoder.yaml": "trt_llm.build.plugin_configuration",
    "suite-paged-context-fmha-without-paged-kv.yaml": "trt_llm.build.plugin_configuration",
    "suite-fp8-fmha-no-paged.yaml": "trt_llm.build.plugin_configuration",
    "suite-fp8-fmha-no-paged-context.yaml": "trt_llm.build.plugin_configuration",
    "bei-speculator-on-encoder.yaml": "trt_llm.build.speculator",
    "bei-version-override-not-numeric.yaml": "trt_llm.version_overrides.bei_version",
}
# A fragment of bei's message that shows it understood the problem, where the path alone
# would not (same path, several possible complaints).
MESSAGE_FRAGMENTS: dict[str, str] = {
    "bei-accelerator-count-nonint.yaml": "GPU count",
    "bei-accelerator-count-zero.yaml": "GPU count",
    "bei-accelerator-lowercase.yaml": "case-sensitive",
    "bei-calib-size-not-multiple-of-64.yaml": "multiple of 64",
    "bei-calib-max-seq-len-too-small.yaml": "between 64 and 16384",
    "bei-cpu-int.yaml": "must be a string",
    "bei-max-num-tokens-string.yaml": "whole number",
    "bei-max-num-tokens-64.yaml": "greater than 64",
    "bei-max-num-tokens-too-big.yaml": "at most 1048576",
    "bei-fp4-on-H100.yaml": "FP4",
    "bei-fp8-on-A10G.yaml": "FP8",
    "suite-memory-1m.yaml": "memory unit",
    "suite-cpu-1M.yaml": "cpu specification",
    "suite-lookahead-missing-sizes.yaml": "lookahead_windows_size",
    "suite-lookahead-too-many-draft-tokens.yaml": "2048",
    "suite-v2-no-checkpoint-repository.yaml": "skip_build_result",
    "suite-invalid-hf-repo-4.yaml": ".git",
    "bei-v2-with-encoder.yaml": "inference_stack v2",
    "bei-legacy-base-model-qwen.yaml": "renamed to `decoder`",
}


def truss_expectations() -> dict[str, str]:
    """file -> the dotted path Truss's error implies, without Truss's union tags."""
    with (INVALID / "EXPECTED.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    expected: dict[str, str] = {}
    for row in rows:
        parts = [part.strip() for part in row["truss_0.18.35_error"].split(" / ")]
        loc = parts[1] if len(parts) > 2 and not parts[1].startswith("Value error") else ""
        loc = ".".join(p for p in loc.split(".") if p not in ("v1", "v2", "[key]"))
        expected[row["file"]] = PATH_OVERRIDES.get(row["file"], loc)
    return expected


EXPECTED = truss_expectations() if CORPUS.is_dir() else {}


def problem_paths(error: ConfigError) -> list[str]:
    return [line.split(": ", 1)[0] for line in error.details]


@pytest.mark.parametrize("path", VALID, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_truss_config_validates(path: Path) -> None:
    loaded = load_config(path)
    assert loaded.config.trt_llm.build.base_model in ("encoder", "encoder_bert")


def test_the_corpus_is_complete() -> None:
    assert len(VALID) == 193
    assert len(EXPECTED) == len(list(INVALID.glob("*.yaml"))) == 66


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_config_truss_rejects_is_rejected_at_the_implied_path(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(INVALID / name)
    error = caught.value
    expected = EXPECTED[name]
    assert expected, f"no expected path for {name}; add it to PATH_OVERRIDES"
    paths = problem_paths(error)
    assert any(p == expected or p.startswith(expected + ".") for p in paths), paths
    assert error.exit_code == 2
    for path in paths:
        assert ".v1." not in path and "function-" not in path and "[key]" not in path
    fragment = MESSAGE_FRAGMENTS.get(name)
    if fragment:
        assert fragment in " ".join(error.details), error.details


EDGE_REJECTED: dict[str, str] = {
    "edge-duplicate-yaml-key.yaml": "trt_llm.build.max_num_tokens",
    "edge-encoder_bert-fp8-on-T4.yaml": "trt_llm.build.quantization_type",
    "edge-extra-build-field.yaml": "trt_llm.build.pooling",
    "edge-extra-checkpoint-field.yaml": "trt_llm.build.checkpoint_repository.branch",
}
EDGE_WARNINGS: dict[str, str] = {
    "edge-encoder-fp8_kv.yaml": "KV cache",
    "edge-encoder-on-H100x2.yaml": "one GPU per replica",
    "edge-encoder-tp2-on-1-gpu.yaml": "tensor_parallel_count is 2",
    "edge-encoder-predict_tokens-route.yaml": "NER only on encoder_bert",
    "edge-encoder_bert-fp8-on-L4.yaml": "BEI-Bert does not quantize",
    "edge-max-num-tokens-262144.yaml": "documented range",
    "edge-max-num-tokens-not-multiple-of-64.yaml": "multiple of 64",
    "edge-weights-int8-legacy.yaml": "legacy",
    "edge-source-LOCAL.yaml": "does not exist",
}


@pytest.mark.parametrize("name", sorted(EDGE_REJECTED))
def test_edge_cases_bei_rejects_on_purpose(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(EDGE / name)
    assert (
        EDGE_REJECTED[name] in problem_paths(caught.value)
        or caught.value.param == (EDGE_REJECTED[name])
    )


@pytest.mark.parametrize(
    "name", sorted(p.name for p in EDGE.glob("*.yaml") if p.name not in EDGE_REJECTED)
)
def test_edge_cases_bei_accepts(name: str) -> None:
    loaded = load_config(EDGE / name)
    fragment = EDGE_WARNINGS.get(name)
    if fragment:
        assert any(fragment in w for w in loaded.warnings), loaded.warnings
    else:
        assert loaded.warnings == ()


def test_edge_values_after_bei_policy() -> None:
    h100x2 = load_config(EDGE / "edge-encoder-on-H100x2.yaml").config
    assert h100x2.resources.accelerator is not None
    assert (h100x2.resources.accelerator.type, h100x2.resources.accelerator.count) == ("H100", 1)
    tp2 = load_config(EDGE / "edge-encoder-tp2-on-1-gpu.yaml").config
    assert tp2.trt_llm.build.tensor_parallel_count == 1
    explicit = load_config(EDGE / "edge-encoder-max-num-tokens-8192.yaml").config
    assert explicit.trt_llm.build.max_num_tokens == 8192
    local = load_config(EDGE / "edge-source-LOCAL.yaml").config.trt_llm.build
    assert local.checkpoint_repository.repo == str(EDGE / "sentence-transformers/all-MiniLM-L6-v2")
    seq_len = load_config(EDGE / "edge-encoder-max-seq-len-set.yaml")
    assert "trt_llm.build.max_seq_len" in seq_len.ignored
