"""The one hardware table: every GPU type Truss names, what it can compute, and this host's CPU.

Config rules, the quantization plan, the engine, the deploy renderer and the benchmarks all read
this module; it imports nothing from bei, so any layer may. What a GPU can run follows from its
CUDA compute capability: bf16 tensor cores from 8.0 (Ampere), FP8 from 8.9 (Ada/Hopper), NVFP4
from 10.0 (Blackwell); TensorRT-LLM's BEI engine needs 8.0 (BEI-Bert also runs on Turing/Volta).

The CPU side answers one question a build and a server both ask: does this CPU compute bf16
natively (AVX512-BF16 or AMX)? Without those units torch emulates bf16 matmuls through fp32
conversions, which is slower than fp32 itself, so bf16 is only a candidate where a flag says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BF16_MIN_CAPABILITY = (8, 0)
FP8_MIN_CAPABILITY = (8, 9)
FP4_MIN_CAPABILITY = (10, 0)
TRT_LLM_MIN_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class GpuSpec:
    compute_capability: tuple[int, int]
    product_label: str  # NVIDIA GPU feature discovery's `nvidia.com/gpu.product` on Baseten's SKU
    # Dense 16-bit tensor-core peak (bf16, or fp16 where the GPU has no bf16), TFLOP/s, from the
    # vendor's datasheet: the denominator of MFU in benchmarks. A lead, not a measurement.
    dense_16bit_tflops: float


# Truss accelerator type -> what bei knows of it. Product labels: clusters name some SKUs
# differently (PCIe vs SXM, MIG slices); `bei deploy --gpu-product` overrides them.
GPUS: dict[str, GpuSpec] = {
    "B10": GpuSpec((12, 1), "NVIDIA-GB10", 62.0),
    "T4": GpuSpec((7, 5), "Tesla-T4", 65.0),
    "L4": GpuSpec((8, 9), "NVIDIA-L4", 121.0),
    "A10G": GpuSpec((8, 6), "NVIDIA-A10G", 70.0),
    "V100": GpuSpec((7, 0), "Tesla-V100-SXM2-16GB", 125.0),
    "A100": GpuSpec((8, 0), "NVIDIA-A100-SXM4-80GB", 312.0),
    "A100_40GB": GpuSpec((8, 0), "NVIDIA-A100-SXM4-40GB", 312.0),
    "H100": GpuSpec((9, 0), "NVIDIA-H100-80GB-HBM3", 989.0),
    "H200": GpuSpec((9, 0), "NVIDIA-H200", 989.0),
    "H100_40GB": GpuSpec((9, 0), "NVIDIA-H100-80GB-HBM3-MIG-3g.40gb", 424.0),
    "B200": GpuSpec((10, 0), "NVIDIA-B200", 2250.0),
    "L40S": GpuSpec((8, 9), "NVIDIA-L40S", 362.0),
    "RTX_PRO_6000": GpuSpec((12, 0), "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition", 500.0),
    "B300": GpuSpec((10, 3), "NVIDIA-B300-SXM6-AC", 2250.0),
    "GB300": GpuSpec((10, 3), "NVIDIA-GB300", 2500.0),
}
COMPUTE_CAPABILITY: dict[str, tuple[int, int]] = {
    name: spec.compute_capability for name, spec in GPUS.items()
}


def supports_bf16(capability: tuple[int, int]) -> bool:
    return capability >= BF16_MIN_CAPABILITY


def supports_fp8(capability: tuple[int, int]) -> bool:
    return capability >= FP8_MIN_CAPABILITY


def supports_fp4(capability: tuple[int, int]) -> bool:
    return capability >= FP4_MIN_CAPABILITY


def gpus_with(min_capability: tuple[int, int]) -> tuple[str, ...]:
    """The Truss accelerator types of at least `min_capability`, in the table's order."""
    return tuple(name for name, spec in GPUS.items() if spec.compute_capability >= min_capability)


def capability_text(capability: tuple[int, int]) -> str:
    return f"{capability[0]}.{capability[1]}"


@dataclass(frozen=True)
class Hardware:
    """A build/serve target: a CPU (with or without native bf16) or one CUDA GPU."""

    kind: Literal["cpu", "cuda"]
    name: str  # "CPU" or the Truss accelerator type, e.g. "H100"
    compute_capability: tuple[int, int] | None = None  # CUDA only
    cpu_bf16: bool = False  # the CPU has native bf16 (AVX512-BF16 / AMX)

    @classmethod
    def cpu(cls, *, bf16: bool = False) -> Hardware:
        return cls(kind="cpu", name="CPU", cpu_bf16=bf16)

    @classmethod
    def cuda(cls, name: str, compute_capability: tuple[int, int]) -> Hardware:
        return cls(kind="cuda", name=name, compute_capability=compute_capability)

    @classmethod
    def from_accelerator(cls, name: str | None, *, cpu_bf16: bool = False) -> Hardware:
        """A Truss `resources.accelerator` type (None: the CPU)."""
        if name is None:
            return cls.cpu(bf16=cpu_bf16)
        if name not in GPUS:
            raise ValueError(f"unknown accelerator type {name!r}")
        return cls.cuda(name, GPUS[name].compute_capability)

    def __str__(self) -> str:
        if self.compute_capability is None:
            return f"CPU ({'native bf16' if self.cpu_bf16 else 'no native bf16'})"
        return f"{self.name} (CUDA compute capability {capability_text(self.compute_capability)})"


# --- this host's CPU ---------------------------------------------------------------------------

BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The union of every processor's `flags` line (x86) or `Features` line (arm64)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def has_native_bf16(cpuinfo: str) -> bool:
    return bool(cpu_flags(cpuinfo) & BF16_FLAGS)


def host_has_native_bf16(cpuinfo_path: Path = CPUINFO) -> bool:
    """This machine's answer; False where /proc/cpuinfo cannot be read (macOS, containers)."""
    try:
        return has_native_bf16(cpuinfo_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False
