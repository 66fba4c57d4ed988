"""Where an artifact's engine runs when served, and in which dtype.

A cuda artifact (built for `resources.accelerator` or `--target GPU`) runs on the GPU in the
dtype its accuracy gate judged. On a machine without a GPU it still serves, on the CPU, with one
warning and the fastest CPU dtype that is known to be accurate: bfloat16 where the artifact is
bfloat16 (its gate judged that arithmetic) and the CPU computes bf16 natively, else float32 --
which is exact, because the artifact keeps the checkpoint's own weights and the engine casts at
load (float16 on a CPU is both slower than float32 and a different arithmetic from the GPU's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bei_cli.engine.manifest import Manifest
from bei_cli.hardware import host_has_native_bf16

log = logging.getLogger(__name__)

GPU_ENGINES = frozenset({"torch", "fake"})  # engines that run on CUDA; onnx runs on CPU only
AUTO = "auto"


@dataclass(frozen=True)
class Placement:
    device: str  # "cpu", "cuda", "cuda:N"
    dtype: str
    fallback: str | None = None  # why a cuda artifact runs on the CPU here (the warning)


def place(manifest: Manifest, device: str, *, cuda: bool, cpu_bf16: bool) -> Placement:
    """Pure: `device` as asked ("auto": the artifact's own kind where this machine has it),
    `cuda`: this machine has a usable CUDA device; `cpu_bf16`: its CPU has native bf16."""
    wants_gpu = manifest.device_kind == "cuda" and manifest.engine in GPU_ENGINES
    if device == AUTO:
        device = "cuda" if wants_gpu and cuda else "cpu"
    if not (manifest.device_kind == "cuda" and device == "cpu"):
        return Placement(device, manifest.dtype)
    dtype = "bfloat16" if manifest.dtype == "bfloat16" and cpu_bf16 else "float32"
    target = manifest.accelerator or "a GPU"
    why = "this machine has no CUDA GPU" if not cuda else "--device cpu was asked for"
    return Placement(
        "cpu",
        dtype,
        fallback=f"this artifact was built for {target} ({manifest.dtype}), but {why}: serving "
        f"it on the CPU in {dtype} (slower; vectors as fp32 computes them"
        f"{'' if dtype == 'float32' else ', within the bf16 accuracy gate'}).",
    )


def cuda_available() -> bool:
    """A usable CUDA device and a CUDA build of torch; False where torch is not installed."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def place_here(manifest: Manifest, device: str) -> Placement:
    """`place` on this machine, warning once when a cuda artifact falls back to the CPU."""
    wants_gpu = manifest.device_kind == "cuda" or device.startswith("cuda")
    placement = place(
        manifest,
        device,
        cuda=cuda_available() if wants_gpu else False,
        cpu_bf16=host_has_native_bf16(),
    )
    if placement.fallback:
        log.warning(placement.fallback)
    return placement
