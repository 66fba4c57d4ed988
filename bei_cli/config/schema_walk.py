"""Walking the config schema: which block, field type or allowed values sit at a location.

Shared by the error messages (did-you-mean, "belongs under") and the generated reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

Loc = tuple[int | str, ...]


def members(annotation: Any) -> Iterator[Any]:
    """The concrete types inside Optional / Union / Annotated (None excluded)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from members(get_args(annotation)[0])
    elif origin in (Union, UnionType):
        for arg in get_args(annotation):
            if arg is not NoneType:
                yield from members(arg)
    else:
        yield annotation


def accepts_none(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return accepts_none(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(arg is NoneType or accepts_none(arg) for arg in get_args(annotation))
    return annotation is NoneType


def _step(annotation: Any, part: int | str) -> Any:
    """The annotation one location part below `annotation`, or None."""
    for candidate in members(annotation):
        origin = get_origin(candidate)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            field = candidate.model_fields.get(str(part))
            if field is not None:
                return field.annotation
        elif origin is list and isinstance(part, int):
            return get_args(candidate)[0]
        elif origin is dict:
            return get_args(candidate)[1]
    return None


def field_annotation(root: type[BaseModel], loc: Loc) -> Any:
    annotation: Any = root
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    return annotation


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The config block an annotation holds (`Resources`, `TrtLlmRuntime | None`, ...)."""
    for candidate in members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    return model_in(field_annotation(root, loc))


def allowed_values(annotation: Any) -> tuple[str, ...]:
    values: list[str] = []
    for candidate in members(annotation):
        if get_origin(candidate) is Literal:
            values.extend(str(v) for v in get_args(candidate))
    return tuple(values)


def field_homes(root: type[BaseModel], key: str) -> list[Loc]:
    """Every location in the schema where a key named `key` is valid, shallowest first."""
    homes: list[Loc] = []

    def visit(model: type[BaseModel], loc: Loc, ancestors: frozenset[type[BaseModel]]) -> None:
        for name, field in model.model_fields.items():
            if name == key:
                homes.append((*loc, name))
            child = model_in(field.annotation)
            if child is not None and child not in ancestors:
                visit(child, (*loc, name), ancestors | {child})

    visit(root, (), frozenset({root}))
    return sorted(homes, key=len)
