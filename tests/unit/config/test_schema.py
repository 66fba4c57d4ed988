"""The schema on hand-made, realistic configs: accessors, defaults, bei's policy, strictness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bei_cli.config import AcceleratorSpec, BeiConfig, BeiOptions, LoadedConfig, load_config_text
from bei_cli.errors import ConfigError
from tests.fixtures.configs import config_dict


def load(document: dict[str, Any], base_dir: Path = Path("/srv/models")) -> LoadedConfig:
    return load_config_text(yaml.safe_dump(document, sort_keys=False), base_dir=base_dir)


def rejected(document: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(document)
    return caught.value


def paths(error: ConfigError) -> list[str]:
    return [line.split(": ", 1)[0] for line in error.details]


REALISTIC: dict[str, dict[str, Any]] = {
    "bert-embedding": config_dict(),
    "qwen3-embedding-fp8": config_dict(
        base_model="encoder",
        repo="michaelfeil/Qwen3-Embedding-8B-auto",
        accelerator="H100",
        build={"quantization_type": "fp8", "num_builder_gpus": 2, "max_num_tokens": 40960},
    ),
    "bert-reranker": config_dict(repo="BAAI/bge-reranker-large", route="/rerank"),
    "causal-reranker-fp4": config_dict(
        base_model="encoder",
        repo="michaelfeil/Qwen3-Reranker-8B-seq",
        accelerator="B200",
        route="/predict",
        build={"quantization_type": "fp4"},
    ),
    "classifier-a10g": config_dict(
        repo="SamLowe/roberta-base-go_emotions", accelerator="A10G", route="/predict"
    ),
    "ner-t4": config_dict(repo="dslim/bert-base-NER", accelerator="T4", route="/predict_tokens"),
    "fp4-mlp-only-b200": config_dict(
        base_model="encoder", accelerator="B200", build={"quantization_type": "fp4_mlp_only"}
    ),
    "bert-fp8-h100-bei-only": config_dict(accelerator="H100", build={"quantization_type": "fp8"}),
    "cpu-only": config_dict(accelerator=None, route=None),
    "s3": config_dict(source="S3", repo="s3://bucket/models/minilm", revision=None),
    "gcs": config_dict(source="GCS", repo="gs://bucket/models/minilm", revision=None),
    "azure": config_dict(source="AZURE", repo="azure://account/container/minilm", revision=None),
    "remote-url": config_dict(source="REMOTE_URL", repo="https://example.com/minilm.tar.gz"),
    "training": config_dict(
        source="BASETEN_TRAINING", repo="q3k8z2", revision="checkpoint-final", accelerator="L4:1"
    ),
    "local": config_dict(source="LOCAL", repo="./minilm", revision=None),
    "gated-hf": config_dict(
        repo="google/embeddinggemma-300m",
        secrets={"hf_access_token": None},
        build={"quantization_type": "no_quant"},
    ),
    "with-truss-runtime": config_dict(
        runtime={
            "health_checks": {"restart_threshold_seconds": 30, "startup_threshold_seconds": 1800},
            "transport": {"kind": "http"},
            "is_websocket_endpoint": False,
        },
        environment_variables={"AUTO_TRUNCATE": True, "DTYPE": "bfloat16", "WORKERS": 2},
        build_commands=[],
        system_packages=[],
        requirements=[],
        external_package_dirs=[],
    ),
}


@pytest.mark.parametrize("name", sorted(REALISTIC))
def test_realistic_configs_are_accepted(name: str) -> None:
    config = load(REALISTIC[name]).config
    assert config.trt_llm.build.checkpoint_repository.source in (
        "HF",
        "S3",
        "GCS",
        "AZURE",
        "REMOTE_URL",
        "BASETEN_TRAINING",
        "LOCAL",
    )


def test_accessors_the_rest_of_bei_uses() -> None:
    config: BeiConfig = load(REALISTIC["qwen3-embedding-fp8"]).config
    assert config.model_name == "test-model"
    assert config.resources.accelerator == AcceleratorSpec(type="H100", count=1)
    build = config.trt_llm.build
    assert build.base_model == "encoder" and str(build.base_model) == "encoder"
    repo = build.checkpoint_repository
    assert (repo.source, repo.repo, repo.revision, repo.runtime_secret_name) == (
        "HF",
        "michaelfeil/Qwen3-Embedding-8B-auto",
        "main",
        "hf_access_token",
    )
    assert (build.max_num_tokens, build.max_batch_size, build.max_seq_len) == (40960, 256, None)
    assert build.quantization_type == "fp8"
    assert config.trt_llm.runtime.webserver_default_route == "/v1/embeddings"
    assert isinstance(config.bei, BeiOptions)
    assert config.secrets == {}


@pytest.mark.parametrize(("base_model", "tokens"), [("encoder", 16384), ("encoder_bert", 8192)])
def test_max_num_tokens_default_depends_on_the_base_model(base_model: str, tokens: int) -> None:
    config = load(config_dict(base_model=base_model, accelerator="L4")).config
    assert config.trt_llm.build.max_num_tokens == tokens


def test_local_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "minilm").mkdir()
    loaded = load(REALISTIC["local"], base_dir=tmp_path)
    assert loaded.config.trt_llm.build.checkpoint_repository.repo == str(tmp_path / "minilm")
    assert loaded.warnings == ()
    absolute = config_dict(source="LOCAL", repo="/opt/models/x", revision=None)
    assert load(absolute).config.trt_llm.build.checkpoint_repository.repo == "/opt/models/x"


def test_local_paths_warn_when_missing_and_reject_home_shorthand(tmp_path: Path) -> None:
    assert "does not exist" in load(REALISTIC["local"], base_dir=tmp_path).warnings[0]
    error = rejected(config_dict(source="LOCAL", repo="~/models/x", revision=None))
    assert paths(error) == ["trt_llm.build.checkpoint_repository.repo"]


def test_training_source_is_valid_with_a_warning_that_bei_cannot_fetch_it() -> None:
    loaded = load(REALISTIC["training"])
    assert any("BASETEN_TRAINING" in w and "LOCAL" in w for w in loaded.warnings)


def test_environment_variables_become_strings_like_truss() -> None:
    config = load(REALISTIC["with-truss-runtime"]).config
    assert config.environment_variables == {
        "AUTO_TRUNCATE": "true",
        "DTYPE": "bfloat16",
        "WORKERS": "2",
    }


def test_decoder_is_valid_truss_but_not_served() -> None:
    error = rejected(config_dict(base_model="decoder", accelerator="H100"))
    assert paths(error) == ["trt_llm.build.base_model"]
    assert error.hint is not None and "encoder_bert" in error.hint


def test_a_config_without_trt_llm_is_not_a_bei_config() -> None:
    document = config_dict()
    del document["trt_llm"]
    error = rejected(document)
    assert error.param == "trt_llm"
    assert error.hint is not None and "trt_llm.build" in error.hint


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_num_tokens", "16384"),
        ("max_num_tokens", 16384.0),
        ("max_num_tokens", True),
        ("max_batch_size", "32"),
        ("tensor_parallel_count", 1.0),
        ("num_builder_gpus", "2"),
    ],
)
def test_integers_are_strict(field: str, value: object) -> None:
    error = rejected(config_dict(build={field: value}))
    assert paths(error) == [f"trt_llm.build.{field}"]
    assert "whole number" in error.details[0]


def test_encoder_parallelism_is_forced_to_one_with_a_warning() -> None:
    loaded = load(
        config_dict(
            base_model="encoder", build={"tensor_parallel_count": 4, "pipeline_parallel_count": 2}
        )
    )
    build = loaded.config.trt_llm.build
    assert (build.tensor_parallel_count, build.pipeline_parallel_count) == (1, 1)
    assert len([w for w in loaded.warnings if "one GPU per replica" in w]) == 2


@pytest.mark.parametrize(
    ("accelerator", "expected"),
    [
        ("L4", ("L4", 1)),
        ("L4:1", ("L4", 1)),
        ({"accelerator": "A100", "count": 1}, ("A100", 1)),
        (None, None),
    ],
)
def test_accelerator_forms(accelerator: object, expected: tuple[str, int] | None) -> None:
    document = config_dict()
    document["resources"]["accelerator"] = accelerator
    spec = load(document).config.resources.accelerator
    assert (spec.type, spec.count) == expected if spec else expected is None


def test_multi_gpu_request_for_an_encoder_becomes_one_gpu() -> None:
    loaded = load(config_dict(accelerator="H100:4"))
    assert str(loaded.config.resources.accelerator) == "H100"
    assert any("H100:4" in w for w in loaded.warnings)


def test_accelerator_capabilities() -> None:
    assert AcceleratorSpec(type="L4").supports_fp8 and not AcceleratorSpec(type="L4").supports_fp4
    assert AcceleratorSpec(type="B200").supports_fp4
    assert not AcceleratorSpec(type="A100").supports_fp8
    assert AcceleratorSpec(type="T4").compute_capability == (7, 5)


@pytest.mark.parametrize(
    ("accelerator", "quantization", "ok"),
    [
        ("L4", "fp8", True),
        ("H100", "fp8_mlp_only", True),
        ("A100", "fp8", False),
        ("T4", "fp8", False),
        ("H200", "fp4", False),
        ("B200", "fp4_kv", True),
        ("RTX_PRO_6000", "fp4", True),
        ("A10G", "no_quant", True),
    ],
)
def test_quantization_needs_capable_hardware(accelerator: str, quantization: str, ok: bool) -> None:
    document = config_dict(
        base_model="encoder", accelerator=accelerator, build={"quantization_type": quantization}
    )
    if ok:
        load(document)
    else:
        assert "trt_llm.build.quantization_type" in paths(rejected(document))


def test_quantization_without_a_gpu_is_valid_with_a_warning() -> None:
    loaded = load(config_dict(accelerator=None, build={"quantization_type": "fp8"}))
    assert any("no GPU is requested" in w for w in loaded.warnings)


def test_resources_strings() -> None:
    config = load(config_dict(accelerator=None)).config
    assert (config.resources.cpu_cores, config.resources.memory_bytes) == (1.0, 2 * 2**30)
    document = config_dict()
    document["resources"].update(cpu="500m", memory="1.5G")
    resources = load(document).config.resources
    assert (resources.cpu_cores, resources.memory_bytes) == (0.5, 1_500_000_000)


def test_the_bei_block_defaults_and_resolution() -> None:
    bert = load(config_dict()).config
    assert bert.bei == BeiOptions()
    assert (bert.bei.engine, bert.auto_truncate) == ("auto", True)
    assert bert.bei.resolved_dtype() == "float32"
    assert bert.bei.resolved_dtype(cpu_bf16=True) == "bfloat16"
    causal = load(config_dict(base_model="encoder")).config
    assert causal.auto_truncate is False
    assert causal.served_model_name == "test-model"


def test_the_bei_block_is_validated() -> None:
    options = {
        "engine": "fake",
        "dtype": "bfloat16",
        "max_client_batch_size": 64,
        "max_concurrent_requests": 10,
        "auto_truncate": False,
        "served_model_name": "minilm",
        "api_key_secret": "bei_api_key",
    }
    config = load(config_dict(bei=options, secrets={"bei_api_key": None})).config
    assert config.bei.engine == "fake" and config.auto_truncate is False
    assert config.served_model_name == "minilm"
    error = rejected(config_dict(bei={"engine": "tensorrt", "max_client_batch_size": 0}))
    assert paths(error) == ["bei.engine", "bei.max_client_batch_size"]


def test_api_key_secret_should_be_declared() -> None:
    loaded = load(config_dict(bei={"api_key_secret": "bei_api_key"}))
    assert any("bei_api_key" in w and "secrets" in w for w in loaded.warnings)


def test_lora_adapters_and_speculators_are_rejected_for_encoders() -> None:
    adapters = {"a1": {"source": "HF", "repo": "org/adapter"}}
    assert paths(rejected(config_dict(build={"lora_adapters": adapters}))) == [
        "trt_llm.build.lora_adapters"
    ]


def test_schema_round_trip_keeps_accelerator_as_truss_string() -> None:
    config = load(config_dict(accelerator="H200")).config
    dumped = config.model_dump(mode="json")
    assert dumped["resources"]["accelerator"] == "H200"
    assert dumped["trt_llm"]["build"]["max_num_tokens"] == 8192
    again = BeiConfig.model_validate(dumped)
    assert again == config
