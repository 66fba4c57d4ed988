"""A config that names a GPU builds for that GPU: BEI's 16-bit rule, the cuda artifact plan,
`--target` overriding the config, and every hardware rule judging the target built."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from bei_cli import pipeline
from bei_cli.config import load_config_text
from bei_cli.config.load import load_config
from bei_cli.engine.selection import Candidate
from bei_cli.engine.spec import ArtifactSpec
from bei_cli.errors import ConfigError, UnsupportedHardwareError
from bei_cli.hardware import GPUS, Hardware
from bei_cli.inspect.profile import ModelProfile
from bei_cli.quantize.plan import cuda_precisions, needs_bf16, plan_quantization
from tests.fixtures.configs import config_yaml
from tests.fixtures.models import MINILM_PROFILE

FP16, BF16, FP32 = (Candidate("torch", d) for d in ("float16", "bfloat16", "float32"))


@pytest.mark.parametrize(
    ("base_model", "gpu", "needs", "want"),
    [
        ("encoder_bert", "L4", False, ("fp16", "bf16")),  # BEI-Bert: fp16, bf16 as the fallback
        ("encoder_bert", "H100", True, ("bf16",)),  # the checkpoint needs bf16's range
        ("encoder_bert", "T4", False, ("fp16", "fp32")),  # no bf16 tensor cores
        ("encoder_bert", "T4", True, ("fp32",)),  # needs bf16's range, has no bf16: fp32
        ("encoder", "H100", False, ("bf16",)),  # BEI: bf16
        ("encoder", "A10G", True, ("bf16",)),
        ("encoder", "V100", False, ("fp16", "fp32")),
    ],
)
def test_beis_sixteen_bit_rule(base_model: str, gpu: str, needs: bool, want: tuple[str]) -> None:
    capability = GPUS[gpu].compute_capability
    assert cuda_precisions(base_model, capability, needs_bf16=needs) == want


def test_which_checkpoints_need_bf16() -> None:
    assert needs_bf16("bert", "bfloat16") and needs_bf16("gemma3_text", "float32")
    assert not needs_bf16("bert", "float32") and not needs_bf16("qwen3", None)


def test_the_plan_prints_the_precision_the_artifact_gets() -> None:
    l4 = Hardware.from_accelerator("L4")
    plan = plan_quantization("no_quant", base_model="encoder_bert", task="embed", hardware=l4)
    assert (plan.weights, plan.activations, plan.compute) == ("fp16", "fp16", ("fp16", "bf16"))
    assert any("keeps bf16 instead" in note for note in plan.notes)
    fp8 = plan_quantization(
        "fp8", base_model="encoder_bert", task="embed", hardware=Hardware.from_accelerator("H100")
    )
    assert (fp8.weights, fp8.activations, fp8.compute) == ("fp8", "fp8", ("bf16",))
    cpu = plan_quantization("no_quant", base_model="encoder", task="embed", hardware=Hardware.cpu())
    assert cpu.compute == ()  # a CPU's engines are measured, not ruled


def spec_for(
    tmp_path: Path, accelerator: str | None, profile: ModelProfile = MINILM_PROFILE, **kw: Any
) -> ArtifactSpec:
    text = config_yaml(accelerator=accelerator, **kw)
    return pipeline.plan_artifact(load_config_text(text, base_dir=tmp_path).config, profile)


def test_a_gpu_config_plans_a_cuda_artifact(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, "L4")
    assert (spec.device_kind, spec.accelerator, spec.engine, spec.dtype) == (
        "cuda",
        "L4",
        "torch",
        "float16",
    )
    assert spec.candidates == (FP16, BF16) and spec.timed is False
    bf16_checkpoint = dataclasses.replace(MINILM_PROFILE, checkpoint_dtype="bfloat16")
    assert spec_for(tmp_path, "H100", bf16_checkpoint).dtype == "bfloat16"
    encoder = spec_for(tmp_path, "H100", base_model="encoder")
    assert (encoder.dtype, encoder.candidates) == ("bfloat16", ())
    fp8 = spec_for(tmp_path, "H100", build={"quantization_type": "fp8"})
    assert (fp8.device_kind, fp8.dtype, fp8.quantization) == ("cuda", "bfloat16", "fp8")
    pinned = spec_for(tmp_path, "L4", bei={"dtype": "bfloat16"})
    assert (pinned.dtype, pinned.candidates) == ("bfloat16", ())


def test_a_cpu_config_keeps_the_measured_cpu_plan(tmp_path: Path) -> None:
    spec = spec_for(tmp_path, None)
    assert (spec.device_kind, spec.accelerator, spec.timed) == ("cpu", None, True)
    assert spec.dtype == "float32" and Candidate("onnx", "float32") in spec.candidates


def test_the_onnx_engine_is_refused_for_a_gpu(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedHardwareError) as caught:
        spec_for(tmp_path, "L4", bei={"engine": "onnx"})
    assert caught.value.param == "bei.engine" and "--target cpu" in (caught.value.hint or "")


def write(tmp_path: Path, **kw: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(**kw))
    return path


def test_target_overrides_the_configs_accelerator(tmp_path: Path) -> None:
    path = write(tmp_path, accelerator="L4")
    cpu = load_config(path, target="cpu")
    assert cpu.config.resources.accelerator is None
    assert any("--target cpu replaces resources.accelerator (L4)" in w for w in cpu.warnings)
    assert pipeline.plan_artifact(cpu.config, MINILM_PROFILE).device_kind == "cpu"
    h100 = load_config(path, target="H100")
    spec = pipeline.plan_artifact(h100.config, MINILM_PROFILE)
    assert (spec.device_kind, spec.accelerator) == ("cuda", "H100")
    gpu = load_config(write(tmp_path, accelerator=None), target="B200")
    assert str(gpu.config.resources.accelerator) == "B200"


def test_a_bad_target_names_the_flag_and_the_closest_gpu(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path), target="h100")
    error = caught.value
    assert error.param == "--target" and "'H100'" in error.message and error.exit_code == 2
    assert "cpu, B10, T4" in (error.hint or "")


def test_the_configs_hardware_rules_judge_the_target(tmp_path: Path) -> None:
    path = write(tmp_path, accelerator="H100", build={"quantization_type": "fp8"})
    assert load_config(path).config.resources.accelerator is not None
    with pytest.raises(ConfigError) as caught:
        load_config(path, target="T4")  # FP8 needs compute capability >= 8.9
    assert "FP8 quantization needs compute capability >= 8.9" in str(caught.value.details)
