"""The plan inside the build: plan_artifact builds no_quant and refuses the rest with the plan's
reason (exit 4); `bei build --dry-run` prints the plan first. A local tiny checkpoint, no
network."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bei_cli import pipeline
from bei_cli.cli import main
from bei_cli.config import LoadedConfig, load_config_text
from bei_cli.engine.selection import Candidate
from bei_cli.errors import BeiError, UnsupportedHardwareError, UnsupportedModelError
from bei_cli.inspect.profile import ModelProfile
from tests.fixtures.configs import config_yaml
from tests.fixtures.models import make_tiny_sentence_transformer


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_sentence_transformer(tmp_path_factory.mktemp("quant") / "tiny-st")


@pytest.fixture(scope="module")
def profile(model_dir: Path) -> ModelProfile:
    return pipeline.inspect(loaded(model_dir, "no_quant", None), model_dir)


def yaml_for(model_dir: Path, quant: str, accelerator: str | None, **bei: object) -> str:
    return config_yaml(
        source="LOCAL",
        repo=str(model_dir),
        revision=None,
        accelerator=accelerator,
        build={"quantization_type": quant},
        **({"bei": bei} if bei else {}),
    )


def loaded(model_dir: Path, quant: str, accelerator: str | None, **bei: object) -> LoadedConfig:
    text = yaml_for(model_dir, quant, accelerator, **bei)
    return load_config_text(text, base_dir=model_dir.parent)


@pytest.mark.parametrize("accelerator", [None, "T4", "H100"])
def test_no_quant_still_builds(model_dir: Path, profile: ModelProfile, accelerator: str) -> None:
    spec = pipeline.plan_artifact(loaded(model_dir, "no_quant", accelerator).config, profile)
    assert (spec.quantization, spec.engine) == ("no_quant", "torch")


@pytest.mark.parametrize(
    ("quant", "accelerator", "words"),
    [
        ("weights_int8", "A100", ("planned, but not implemented", "int8 weight-only")),
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


@pytest.mark.parametrize("quant", ["fp4", "fp4_kv", "fp4_mlp_only"])
def test_fp4_for_blackwell_plans_an_nvfp4_cuda_artifact(
    model_dir: Path, profile: ModelProfile, quant: str
) -> None:
    spec = pipeline.plan_artifact(loaded(model_dir, quant, "B200").config, profile)
    assert (spec.engine, spec.quantization, spec.device_kind) == ("torch", quant, "cuda")
    assert spec.quant_plan is not None
    assert (spec.quant_plan.weights, spec.quant_plan.activations) == ("fp4", "fp4")


def test_dry_run_prints_the_fp8_plan_and_builds_nothing(
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
    assert caught.value.code == 0
    for line in (
        f"quantization plan for {config_path}:",
        "  quantization: fp8",
        "  weights: fp8",
        "  activations: fp32",
        "  kv: none",
        "  layers: all",
        "  engine: torch",
        "  supported: True",
        "  implemented: True",
        "  accuracy_floor: 0.99",
        "  note: A CPU has no FP8 matrix units",
        "  note: BEI-Bert does not quantize",
    ):
        assert line in err, line
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
    # BEI-Bert on an H100: fp16 (bf16 as the fallback), and both plans say so.
    assert "  weights: fp16" in err and "  implemented: True" in err
    assert f"plan for {config_path}: would write {tmp_path / 'out'}" in err
    for line in ("  device_kind: cuda", "  accelerator: H100", "  dtype: float16"):
        assert line in err, line
    assert "  candidates: torch float16, torch bfloat16" in err


TORCH32, TORCH16, ONNX32 = (
    Candidate("torch", "float32"),
    Candidate("torch", "bfloat16"),
    Candidate("onnx", "float32"),
)


@pytest.mark.parametrize(
    ("quant", "accelerator", "bei", "cpu_bf16", "engine", "dtype", "candidates"),
    [
        # engine auto on a CPU target: every candidate that applies, torch fp32 first
        ("no_quant", None, {}, False, "torch", "float32", (TORCH32, ONNX32)),
        ("no_quant", None, {}, True, "torch", "float32", (TORCH32, TORCH16, ONNX32)),
        ("no_quant", None, {"dtype": "bfloat16"}, False, "torch", "bfloat16", ()),
        # an explicit engine is not measured; dtype auto follows the CPU's native bf16
        ("no_quant", None, {"engine": "torch"}, True, "torch", "bfloat16", ()),
        ("no_quant", None, {"engine": "onnx"}, True, "onnx", "float32", ()),
        # a GPU target is not this machine: BEI's dtype, its fallback next, nothing measured
        (
            "no_quant",
            "H100",
            {},
            True,
            "torch",
            "float16",
            (Candidate("torch", "float16"), TORCH16),
        ),
        # weights_int8: the onnx engine's int8 graph, whatever the CPU
        ("weights_int8", None, {}, True, "onnx", "float32", ()),
        ("weights_kv_int8", None, {"engine": "onnx"}, False, "onnx", "float32", ()),
    ],
)
def test_engine_candidates(
    model_dir: Path,
    profile: ModelProfile,
    quant: str,
    accelerator: str | None,
    bei: dict[str, str],
    cpu_bf16: bool,
    engine: str,
    dtype: str,
    candidates: tuple[Candidate, ...],
) -> None:
    config = loaded(model_dir, quant, accelerator, **bei).config
    spec = pipeline.plan_artifact(config, profile, cpu_bf16=cpu_bf16)
    assert (spec.engine, spec.dtype, spec.candidates) == (engine, dtype, candidates)
    assert spec.quantization == quant and spec.quant_plan is not None


def test_weights_int8_refuses_other_engines_and_tasks(
    model_dir: Path, profile: ModelProfile
) -> None:
    config = loaded(model_dir, "weights_int8", None, engine="torch").config
    with pytest.raises(UnsupportedModelError, match=r"bei\.engine torch cannot run it") as caught:
        pipeline.plan_artifact(config, profile)
    assert caught.value.param == "bei.engine"
    config = loaded(model_dir, "weights_int8", None, dtype="bfloat16").config
    with pytest.raises(UnsupportedModelError, match="onnx engine builds float32"):
        pipeline.plan_artifact(config, profile)
    reranker = dataclasses.replace(profile, task="rerank", pooling=None)
    with pytest.raises(UnsupportedHardwareError, match="planned, but not implemented") as refused:
        pipeline.plan_artifact(loaded(model_dir, "weights_int8", None).config, reranker)
    assert any("for embed models only, not rerank models" in note for note in refused.value.details)


def test_the_accuracy_floor_option_reaches_the_spec(model_dir: Path, profile: ModelProfile) -> None:
    config = loaded(model_dir, "weights_int8", None, accuracy_floor=0.98).config
    assert pipeline.plan_artifact(config, profile).accuracy_floor == 0.98
    assert (
        pipeline.plan_artifact(loaded(model_dir, "no_quant", None).config, profile).accuracy_floor
        is None
    )
    with pytest.raises(BeiError) as caught:
        loaded(model_dir, "no_quant", None, accuracy_floor=1.5)
    assert "bei.accuracy_floor" in str(caught.value.details)
