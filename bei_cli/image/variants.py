"""bei's base image variants, and which one an artifact needs.

Every base declares what it runs in two labels: `io.bei.base.engines` (the engines its venv can
load) and `io.bei.base.devices` (cpu, or cuda,cpu for a CUDA build of torch, which also runs on a
CPU). `variant_for` is the choice `bei build` makes without --base; `check_fits` refuses a base
that lacks an engine the plan may pick or the device the artifact was built for.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from bei_cli.errors import BuildError

ENGINES_LABEL = "io.bei.base.engines"
DEVICES_LABEL = "io.bei.base.devices"
VARIANT_LABEL = "io.bei.base.variant"


@dataclass(frozen=True)
class BaseVariant:
    name: str
    requirements: str  # file name in bei_cli/templates/
    engines: tuple[str, ...]  # the io.bei.base.engines label
    devices: tuple[str, ...]  # the io.bei.base.devices label
    # torch must be the CPU wheel from a local wheel directory (PIP_FIND_LINKS); PyPI's default
    # torch wheel is the CUDA build.
    uses_find_links: bool
    torch_build: str | None  # "cpu" / "cuda": what the build checks torch.version.cuda against
    summary: str
    # Extra image Env: the NVIDIA container toolkit exposes the GPUs and driver libraries to a
    # container whose image asks for them (as the nvidia/cuda images do).
    env: tuple[str, ...] = ()


VARIANTS: dict[str, BaseVariant] = {
    "cpu-slim": BaseVariant(
        "cpu-slim",
        "requirements-cpu-slim.txt",
        ("onnx", "fake"),
        ("cpu",),
        uses_find_links=False,
        torch_build=None,
        summary="ONNX Runtime, no torch: onnx (and fake) artifacts on a CPU",
    ),
    "cpu": BaseVariant(
        "cpu",
        "requirements-cpu.txt",
        ("torch", "onnx", "fake"),
        ("cpu",),
        uses_find_links=True,
        torch_build="cpu",
        summary="torch (CPU wheel) and ONNX Runtime: every engine on a CPU",
    ),
    "cuda": BaseVariant(
        "cuda",
        "requirements-cuda.txt",
        ("torch", "onnx", "fake"),
        ("cuda", "cpu"),
        uses_find_links=False,
        torch_build="cuda",
        summary="torch (CUDA build, PyPI's default wheel) and ONNX Runtime: GPU artifacts",
        env=("NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility"),
    ),
}
SLIM_ENGINES = frozenset(VARIANTS["cpu-slim"].engines)


def variants_for(engines: Collection[str], device_kind: str) -> tuple[str, ...]:
    """Pure: the variants that run every engine in `engines` on `device_kind`, the smallest
    first. A cuda artifact needs the cuda base; a CPU artifact whose engines are all in cpu-slim
    also runs on cpu (which holds ONNX Runtime too)."""
    if device_kind == "cuda":
        return ("cuda",)
    if set(engines) <= SLIM_ENGINES:
        return ("cpu-slim", "cpu")
    return ("cpu",)


def variant_for(engines: Collection[str], device_kind: str) -> str:
    """Pure: the base variant `bei build` uses for an artifact with these engines and device."""
    return variants_for(engines, device_kind)[0]


def base_command(variant: str) -> str:
    """The command that builds a variant into the per-user base cache (it needs root)."""
    return f"bei image base --variant {variant}"


def declared(labels: Mapping[str, str], key: str) -> frozenset[str] | None:
    """A comma-separated label as a set; None when the base does not carry it."""
    value = labels.get(key)
    if value is None:
        return None
    return frozenset(item.strip() for item in value.split(",") if item.strip())


def declared_devices(labels: Mapping[str, str]) -> frozenset[str] | None:
    """The devices a base runs on: its devices label, else what its variant label implies (bases
    built before the label existed), else None (a foreign base: nothing to check against)."""
    devices = declared(labels, DEVICES_LABEL)
    if devices is not None:
        return devices
    known = VARIANTS.get(labels.get(VARIANT_LABEL, ""))
    return frozenset(known.devices) if known else None


def check_fits(
    reference: str, labels: Mapping[str, str], engines: Collection[str], device_kind: str
) -> None:
    """Refuse a base whose labels lack an engine in `engines` or the artifact's device."""
    wanted = variant_for(engines, device_kind)
    hint = f"Use the {wanted} base: `{base_command(wanted)}` (as root), or --base REF of one."
    have = declared(labels, ENGINES_LABEL)
    missing = sorted(set(engines) - have) if have is not None else []
    if have is not None and missing:
        raise BuildError(
            f"the base image {reference} runs the engines {', '.join(sorted(have))}, "
            f"not {', '.join(missing)}, which this artifact needs.",
            param="--base",
            hint=hint,
        )
    devices = declared_devices(labels)
    if devices is not None and device_kind not in devices:
        raise BuildError(
            f"the base image {reference} runs on {', '.join(sorted(devices))}, and this is a "
            f"{device_kind} artifact.",
            param="--base",
            hint=hint.rstrip(".") + ", or build a CPU artifact with `bei build --target cpu`.",
        )
