"""`resources`: CPU, memory and GPU per replica, in Truss's string forms.

bei uses them for the Kubernetes manifests (requests/limits, GPU type) and to decide whether a
build targets a GPU. `cpu` and `memory` must be YAML strings, as in Truss (`cpu: 1` is an error).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import Field, StrictStr, ValidationInfo, WithJsonSchema, field_validator

from bei_cli.config.accelerators import ACCELERATOR_JSON_SCHEMA, AcceleratorSpec, parse_accelerator
from bei_cli.config.base import ConfigModel, ignored, warn

MEMORY_UNITS: dict[str, int] = {
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_CPU = re.compile(rf"^{_NUMBER}m?$")
_MEMORY = re.compile(rf"^({_NUMBER})([a-zA-Z]*)$")


class FabricRequirement(ConfigModel):
    """Network fabric for multi-node deployments (Truss platform feature)."""

    use_rdma: bool | None = Field(default=None, description="Use RDMA with any supported fabric.")
    preferences: list[str] | None = Field(
        default=None, description="Acceptable network fabrics, in preference order."
    )


class Resources(ConfigModel):
    """Compute resources of one replica."""

    cpu: StrictStr = Field(
        default="1",
        description="CPU cores as a string: a number ('1', '1.5') or millicores ('500m').",
        examples=["1", "500m", "4"],
    )
    memory: StrictStr = Field(
        default="2Gi",
        description="Memory as a string: bytes ('1000000') or a number with a unit "
        f"({', '.join(MEMORY_UNITS)}), e.g. '10Gi'.",
        examples=["2Gi", "10Gi", "512Mi"],
    )
    accelerator: Annotated[AcceleratorSpec | None, WithJsonSchema(ACCELERATOR_JSON_SCHEMA)] = Field(
        default=None,
        json_schema_extra={"x-bei-type": "string `TYPE` or `TYPE:COUNT`, mapping, or null"},
        description="GPU type and count: TYPE or TYPE:COUNT (case-sensitive, e.g. L4, "
        "H100:2), a mapping {accelerator, count}, or null for CPU only. bei serves encoders "
        "on one GPU per replica (scale out with replicas).",
        examples=["L4", "H100", "H100:2"],
    )
    use_gpu: bool | None = Field(
        default=None,
        description="Accepted for Truss compatibility; bei derives it from `accelerator`.",
    )
    instance_type: str | None = ignored(
        "Baseten instance SKU; on Baseten it overrides cpu, memory and accelerator."
    )
    node_count: int | None = ignored(
        "Number of nodes for multi-node deployments.", strict=True, ge=1
    )
    fabric: FabricRequirement | None = ignored("Network fabric requirements.")

    @field_validator("cpu")
    @classmethod
    def _check_cpu(cls, value: str) -> str:
        if not _CPU.match(value) or float(value.rstrip("m")) <= 0:
            raise ValueError(
                f"invalid cpu specification {value!r}: use a positive number ('1', '1.5') "
                "or millicores ('500m')"
            )
        return value

    @field_validator("memory")
    @classmethod
    def _check_memory(cls, value: str) -> str:
        match = _MEMORY.match(value)
        if not match:
            raise ValueError(
                f"invalid memory specification {value!r}: use a number with a unit, e.g. '10Gi'"
            )
        unit = match.group(2)
        if unit and unit not in MEMORY_UNITS:
            raise ValueError(
                f"invalid memory unit {unit!r} in {value!r}: use one of "
                f"{', '.join(MEMORY_UNITS)} (Mi/Gi are binary, M/G decimal; 'm' is not a unit)"
            )
        return value

    @field_validator("accelerator", mode="before")
    @classmethod
    def _parse_accelerator(cls, value: Any) -> AcceleratorSpec | None:
        return parse_accelerator(value)

    @field_validator("use_gpu")
    @classmethod
    def _check_use_gpu(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value and info.data.get("accelerator") is None and "accelerator" in info.data:
            warn(
                info,
                "resources.use_gpu is true but no resources.accelerator is set: "
                "no GPU is requested, bei builds and serves on CPU.",
            )
        return value

    @property
    def uses_gpu(self) -> bool:
        return self.accelerator is not None

    @property
    def memory_bytes(self) -> int:
        match = _MEMORY.match(self.memory)
        assert match is not None  # validated
        return math.ceil(float(match.group(1)) * MEMORY_UNITS.get(match.group(2), 1))

    @property
    def cpu_cores(self) -> float:
        if self.cpu.endswith("m"):
            return float(self.cpu[:-1]) / 1000
        return float(self.cpu)
