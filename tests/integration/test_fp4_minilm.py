"""NVFP4 from the real all-MiniLM-L6-v2 for a B200, built and gated on this CPU: the gate's
emulated FP4 GEMMs measured against fp32 (min / mean cosine on the bundled held-out texts)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bei_cli.engine.build import build_artifact
from bei_cli.engine.fp4_checkpoint import read_fp4_checkpoint
from bei_cli.hardware import Hardware
from bei_cli.quantize.gate import default_floor
from bei_cli.quantize.plan import plan_quantization
from tests.fixtures.models import minilm_dir
from tests.unit.engine.helpers import MINILM_PROFILE
from tests.unit.engine.test_onnx_build import SPEC

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Measured on this CPU (docs/quantization.md): fp4 min 0.8767 / mean 0.9547, fp4_mlp_only
# min 0.9051 / mean 0.9727 -- below the default 4-bit floor of 0.98 on this small model, so the
# build states a lower floor; the bounds sit a little under the measured values.
FLOORS = {"fp4": (0.86, 0.945), "fp4_mlp_only": (0.89, 0.965)}


@pytest.mark.parametrize("quantization", sorted(FLOORS))
def test_b200_fp4_build_gates_the_emulated_fp4_arithmetic(
    quantization: str, tmp_path: Path
) -> None:
    plan = plan_quantization(
        quantization,
        base_model="encoder_bert",
        task="embed",
        hardware=Hardware.from_accelerator("B200"),
    )
    low, mean_floor = FLOORS[quantization]
    spec = dataclasses.replace(
        SPEC,
        engine="torch",
        quantization=quantization,
        device_kind="cuda",
        quant_plan=plan,
        accuracy_floor=low,
        limits=dataclasses.replace(SPEC.limits, max_seq_len=256),
    )
    lines: list[str] = []
    out = tmp_path / quantization
    manifest = build_artifact(minilm_dir(), MINILM_PROFILE, out, spec=spec, progress=lines.append)
    accuracy = manifest.accuracy
    assert accuracy is not None and accuracy.texts == 64
    linears = len(read_fp4_checkpoint(out / "model").layout.linears)
    assert any(f"{linears} of {linears} Linears as emulated NVFP4" in line for line in lines)
    mean, default = accuracy.extra["mean cosine"], default_floor("bfloat16", quantization)
    print(
        f"MiniLM {quantization} for B200 (emulated NVFP4 GEMMs) vs fp32: min cosine "
        f"{accuracy.value:.4f} mean {mean:.4f}; default floor {default}"
    )
    assert accuracy.value >= low and mean >= mean_floor
