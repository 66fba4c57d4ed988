"""GPU types Truss knows, what each can run, and the `resources.accelerator` value forms.

Truss writes an accelerator as `TYPE`, `TYPE:COUNT`, a mapping `{accelerator: TYPE, count: N}`,
or null (no GPU). Names are case-sensitive. What each GPU can run lives in bei_cli.hardware.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, model_serializer
from pydantic_core import PydanticCustomError

from bei_cli.config.base import ConfigModel
from bei_cli.config.suggest import closest
from bei_cli.hardware import GPUS, supports_fp4, supports_fp8

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

# The names are a Literal for pydantic's schema; the table behind them is bei_cli.hardware (a
# test keeps the two equal).


class AcceleratorSpec(ConfigModel):
    """A GPU request: its type and how many per replica."""

    type: AcceleratorType = Field(description="Truss accelerator type, e.g. L4 or H100.")
    count: int = Field(default=1, ge=1, strict=True, description="GPUs per replica.")

    @property
    def compute_capability(self) -> tuple[int, int]:
        return GPUS[self.type].compute_capability

    @property
    def supports_fp8(self) -> bool:
        return supports_fp8(self.compute_capability)

    @property
    def supports_fp4(self) -> bool:
        return supports_fp4(self.compute_capability)

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
