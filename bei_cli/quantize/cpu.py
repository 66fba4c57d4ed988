"""Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), read from /proc/cpuinfo.

Without those units torch emulates bf16 matmuls through fp32 conversions, which is slower than
fp32 itself, so `dtype: auto` picks bfloat16 only where a flag says the hardware has it.
"""

from __future__ import annotations

from pathlib import Path

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
