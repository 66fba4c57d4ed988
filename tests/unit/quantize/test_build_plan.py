"""The plan inside the build: plan_artifact builds no_quant and refuses the rest with the plan's
reason (exit 4); `bei build --dry-run` prints the plan first. A local tiny checkpoint, no
network."""

from __future__ import annotations

from pathlib import Path

import pytest

from bei_cli import pipeline
from bei_cli.cli import main
from bei_cli.config import LoadedConfig, load_config_text
from bei_cli.errors import UnsupportedHardwareError
from bei_cli.inspect.profile import ModelProfile
from tests.fixtures.configs import config_yaml
from tests.fixtures.models import make_tiny_sentence_transformer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sentence_transformer(tmp_path_factory.mktemp("quant") / "tiny-st")


@pytest.fixture(scope="module")
def profile(model_dir: Path) -> ModelProfile:
    return pipeline.inspect(loaded(model_dir, "no_quant", None), model_dir)


def yaml_for(model_dir: Path, quant: str, accelerator: str | None) -> str:
    return config_yaml(
        source="LOCAL",
        repo=str(model_dir),
        revision=None,
        accelerator=accelerator,
        build={"quantization_type": quant},
    )


def loaded(model_dir: Path, quant: str, accelerator: str | None) -> LoadedConfig:
    return load_config_text(yaml_for(model_dir, quant, accelerator), base_dir=model_dir.parent)


@pytest.mark.parametrize("accelerator", [None, "T4", "H100"])
def test_no_quant_still_builds(model_dir: Path, profile: ModelProfile, accelerator: str) -> None:
    spec = pipeline.plan_artifact(loaded(model_dir, "no_quant", accelerator).config, profile)
    assert (spec.quantization, spec.engine) == ("no_quant", "torch")


@pytest.mark.parametrize(
    ("quant", "accelerator", "words"),
    [
        ("fp8", None, ("planned, but not implemented", "calibration runs on the CPU")),
        ("fp8_kv", "H100", ("planned, but not implemented", "H100 (CUDA compute capability 9.0")),
        ("fp8_mlp_only", "L4", ("planned, but not implemented", "MLP layers only")),
        ("fp4", "B200", ("planned, but not implemented", "NVFP4")),
        ("weights_int8", None, ("planned, but not implemented", "ONNX Runtime")),
        ("fp4", None, ("needs CUDA compute capability >= 10.0", "Blackwell")),
        ("weights_int4", "H100", ("legacy TensorRT-LLM decoder format",)),
        ("smooth_quant", None, ("legacy TensorRT-LLM decoder format",)),
    ],
)
def test_the_rest_is_refused_with_the_plans_reason(
    model_dir: Path, profile: ModelProfile, quant: str, accelerator: str | None, words: tuple[str]
) -> None:
    config = loaded(model_dir, quant, accelerator).config
    plan = pipeline.quantization_plan(config, profile)
    with pytest.raises(UnsupportedHardwareError) as caught:
        pipeline.plan_artifact(config, profile)
    error = caught.value
    assert plan.reason in error.message and quant in error.message
    for word in words:
        assert word in error.message
    assert error.exit_code == 4 and error.param == "trt_llm.build.quantization_type"
    assert error.details == plan.notes
    assert ("planned, but not implemented" in error.message) == plan.supported


def test_dry_run_prints_the_fp8_plan_then_refuses(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml_for(model_dir, "fp8", None))
    out_dir = tmp_path / "out"
    argv = ["build", str(config_path), "--dry-run", "-o", str(out_dir), "--quiet"]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 4
    for line in (
        f"quantization plan for {config_path}:",
        "  quantization: fp8",
        "  weights: fp8",
        "  activations: fp32",
        "  kv: none",
        "  layers: all",
        "  engine: torch",
        "  supported: True",
        "  implemented: False",
        "  accuracy_floor: 0.99",
        "  note: A CPU has no FP8 matrix units",
        "  note: BEI-Bert does not quantize",
    ):
        assert line in err, line
    assert "planned, but not implemented in this bei release" in err
    assert not out_dir.exists()


def test_dry_run_prints_both_plans_for_no_quant(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml_for(model_dir, "no_quant", "H100"))
    argv = ["build", str(config_path), "--dry-run", "-o", str(tmp_path / "out"), "--quiet"]
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert caught.value.code == 0
    assert "  weights: bf16" in err and "  implemented: True" in err
    assert f"plan for {config_path}: would write {tmp_path / 'out'}" in err
