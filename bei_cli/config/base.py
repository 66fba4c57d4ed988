"""What every config model shares: strictness, the "ignored by bei" marker, and how validators
report warnings and cross-field problems.

Validators never print or log. A warning is appended to the list the loader passes in the
validation context (`context={"warnings": [...]}`); a problem is raised as a pydantic
ValidationError whose location is the dotted path the user should edit, so the loader turns
both kinds of failure (type errors and rule violations) into one ConfigError the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

# Marker in a field's json_schema_extra: Truss accepts the key, bei has no use for it. The loader
# lists such keys once ("ignored: ..."), the reference docs show them in their own column.
BEI_USAGE_KEY = "x-bei"
IGNORED = "ignored"

RULE_ERROR_TYPE = "bei_rule"


class ConfigModel(BaseModel):
    """Base of every config block: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        protected_namespaces=(),
    )


def ignored(description: str, default: Any = None, **kwargs: Any) -> Any:
    """A Truss field bei accepts and reports as ignored."""
    return Field(
        default,
        description=f"{description} Ignored by bei.",
        json_schema_extra={BEI_USAGE_KEY: IGNORED},
        **kwargs,
    )


def ignored_factory(description: str, factory: Any) -> Any:
    return Field(
        default_factory=factory,
        description=f"{description} Ignored by bei.",
        json_schema_extra={BEI_USAGE_KEY: IGNORED},
    )


def is_ignored(info: Any) -> bool:
    extra = getattr(info, "json_schema_extra", None)
    return isinstance(extra, dict) and extra.get(BEI_USAGE_KEY) == IGNORED


@dataclass(frozen=True)
class Problem:
    """One cross-field rule violation, located at the key the user should change."""

    path: tuple[str | int, ...]
    message: str
    value: Any = None
    hint: str | None = None
    allowed: Sequence[str] = field(default_factory=tuple)


def raise_problems(title: str, problems: Iterable[Problem]) -> None:
    """Raise all problems as one ValidationError; pydantic prefixes the caller's location."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError(
                RULE_ERROR_TYPE,
                "{message}",
                {"message": p.message, "hint": p.hint, "allowed": list(p.allowed)},
            ),
            loc=p.path,
            input=p.value,
        )
        for p in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


def warn(info: ValidationInfo, message: str) -> None:
    """Record a warning for the loader; silently dropped when validating without a context."""
    context = info.context
    if isinstance(context, dict):
        sink = context.get("warnings")
        if isinstance(sink, list) and message not in sink:
            sink.append(message)


def base_dir(info: ValidationInfo) -> Path | None:
    """The directory relative paths in the config are resolved against (the config's folder)."""
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("base_dir"), Path):
        return context["base_dir"]
    return None
