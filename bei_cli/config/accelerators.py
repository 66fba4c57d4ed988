"""GPU types Truss knows, what each can run, and the `resources.accelerator` value forms.

Truss writes an accelerator as `TYPE`, `TYPE:COUNT`, a mapping `{accelerator: TYPE, count: N}`,
or null (no GPU). Names are case-sensitive. What a GPU can run follows from its CUDA compute
capability: FP8 needs >= 8.9 (Ada/Hopper), FP4 needs >= 10.0 (Blackwell), and TRT-LLM's BEI
engine needs >= 8.0 (BEI-Bert also runs on Turing/Volta).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, model_serializer
from pydantic_core import PydanticCustomError

from bei_cli.config.base import ConfigModel
from bei_cli.config.suggest import closest

AcceleratorType = Literal[
    "B10",
    "T4",
    "L4",
    "A10G",
    "V100",
    "A100",
    "A100_40GB",
    "H100",
    "H200",
    "H100_40GB",
    "B200",
    "L40S",
    "RTX_PRO_6000",
    "B300",
    "GB300",
]
ACCELERATOR_TYPES: tuple[str, ...] = get_args(AcceleratorType)

# CUDA compute capability per Truss accelerator type.
COMPUTE_CAPABILITY: dict[str, tuple[int, int]] = {
    "B10": (12, 1),
    "T4": (7, 5),
    "L4": (8, 9),
    "A10G": (8, 6),
    "V100": (7, 0),
    "A100": (8, 0),
    "A100_40GB": (8, 0),
    "H100": (9, 0),
    "H200": (9, 0),
    "H100_40GB": (9, 0),
    "B200": (10, 0),
    "L40S": (8, 9),
    "RTX_PRO_6000": (12, 0),
    "B300": (10, 3),
    "GB300": (10, 3),
}
FP8_MIN_CAPABILITY = (8, 9)
FP4_MIN_CAPABILITY = (10, 0)
TRT_LLM_MIN_CAPABILITY = (8, 0)


def gpus_with(min_capability: tuple[int, int]) -> tuple[str, ...]:
    return tuple(t for t in ACCELERATOR_TYPES if COMPUTE_CAPABILITY[t] >= min_capability)


class AcceleratorSpec(ConfigModel):
    """A GPU request: its type and how many per replica."""

    type: AcceleratorType = Field(description="Truss accelerator type, e.g. L4 or H100.")
    count: int = Field(default=1, ge=1, strict=True, description="GPUs per replica.")

    @property
    def compute_capability(self) -> tuple[int, int]:
        return COMPUTE_CAPABILITY[self.type]

    @property
    def supports_fp8(self) -> bool:
        return self.compute_capability >= FP8_MIN_CAPABILITY

    @property
    def supports_fp4(self) -> bool:
        return self.compute_capability >= FP4_MIN_CAPABILITY

    @model_serializer(mode="plain")
    def _as_truss_string(self) -> str:
        return self.type if self.count == 1 else f"{self.type}:{self.count}"

    def __str__(self) -> str:
        return self._as_truss_string()


ACCELERATOR_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "string",
            "pattern": f"^({'|'.join(ACCELERATOR_TYPES)})(:[1-9][0-9]*)?$",
            "description": "TYPE or TYPE:COUNT, e.g. L4, H100:2",
        },
        {
            "type": "object",
            "properties": {
                "accelerator": {"enum": [*ACCELERATOR_TYPES, None]},
                "count": {"type": "integer", "minimum": 0},
            },
            "additionalProperties": False,
        },
        {"type": "null"},
    ]
}


def parse_accelerator(value: Any) -> AcceleratorSpec | None:
    """Read any Truss accelerator form; errors name the bad part and the closest valid type."""
    if value is None or isinstance(value, AcceleratorSpec):
        return value
    if isinstance(value, str):
        return _from_string(value)
    if isinstance(value, dict):
        return _from_mapping(value)
    raise PydanticCustomError(
        "accelerator_form",
        "must be a string TYPE or TYPE:COUNT (e.g. H100:2), a mapping, or null",
        {"allowed": list(ACCELERATOR_TYPES)},
    )


def _from_string(value: str) -> AcceleratorSpec:
    type_name, sep, count_text = value.strip().partition(":")
    if not type_name:
        raise PydanticCustomError(
            "accelerator_empty",
            "accelerator type cannot be empty",
            {"allowed": list(ACCELERATOR_TYPES)},
        )
    _check_type(type_name)
    count = 1
    if sep:
        if not count_text.isdigit() or int(count_text) <= 0:
            raise PydanticCustomError(
                "accelerator_count",
                "invalid GPU count {count}: must be a positive integer, as in {example}",
                {"count": repr(count_text), "example": f"{type_name}:2"},
            )
        count = int(count_text)
    return AcceleratorSpec(type=type_name, count=count)  # type: ignore[arg-type]


def _from_mapping(value: dict[Any, Any]) -> AcceleratorSpec | None:
    unknown = sorted(str(k) for k in value if k not in ("accelerator", "count"))
    if unknown:
        raise PydanticCustomError(
            "accelerator_keys",
            "unknown key(s) {keys} in accelerator mapping: only `accelerator` and `count`",
            {"keys": ", ".join(unknown), "allowed": ["accelerator", "count"]},
        )
    type_name = value.get("accelerator")
    count = value.get("count", 1)
    if type(count) is not int or count < 0:
        raise PydanticCustomError(
            "accelerator_count",
            "invalid GPU count {count}: must be a positive integer",
            {"count": repr(count)},
        )
    if type_name is None or count == 0:
        return None  # Truss reads both as "no GPU"
    if not isinstance(type_name, str):
        raise PydanticCustomError("accelerator_form", "accelerator type must be a string", {})
    _check_type(type_name)
    return AcceleratorSpec(type=type_name, count=count)  # type: ignore[arg-type]


def _check_type(type_name: str) -> None:
    if type_name in ACCELERATOR_TYPES:
        return
    guess = closest(type_name, ACCELERATOR_TYPES)
    raise PydanticCustomError(
        "accelerator_type",
        "unsupported accelerator type (names are case-sensitive)",
        {
            "allowed": list(ACCELERATOR_TYPES),
            "hint": f"did you mean {guess!r}?" if guess else None,
        },
    )
