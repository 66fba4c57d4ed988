"""Read config.yaml once, at the edge: YAML (duplicate keys are errors), validation, warnings.

`load_config(path)` is the only place bei reads a config file. Every failure becomes one
ConfigError (exit code 2) that names the dotted path of each problem; a valid config comes
back with its warnings and the Truss keys bei accepts but ignores, so the caller can print
them once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from bei_cli.config.accelerators import ACCELERATOR_TYPES, parse_accelerator
from bei_cli.config.base import is_ignored
from bei_cli.config.diagnostics import config_error, dotted
from bei_cli.config.schema import BeiConfig
from bei_cli.errors import ConfigError

CONFIG_FILENAME = "config.yaml"
CPU_TARGET = "cpu"  # `--target cpu`: build for a CPU whatever resources.accelerator says
MINIMAL_CONFIG_HINT = (
    "A minimal BEI config:\n"
    "  trt_llm:\n"
    "    build:\n"
    "      base_model: encoder_bert\n"
    "      checkpoint_repository: {source: HF, repo: sentence-transformers/all-MiniLM-L6-v2}"
)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and what the user should hear about it (once)."""

    path: Path
    config: BeiConfig
    warnings: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class DuplicateKey:
    loc: tuple[int | str, ...]
    line: int
    first_line: int


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, duplicates: list[DuplicateKey]) -> None:
        super().__init__(f"{len(duplicates)} duplicate key(s)")
        self.duplicates = duplicates


class StrictSafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects duplicate mapping keys anywhere in the document.

    Truss warns and keeps the last value (an error from about 7/2026); bei refuses to guess
    which of two values the author meant.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        duplicates = list(_duplicate_keys(node, (), set()))
        if duplicates:
            raise DuplicateKeyError(duplicates)
        return super().construct_document(node)


def load_config(path: Path, *, target: str | None = None) -> LoadedConfig:
    """Load and validate a config.yaml (or the config.yaml inside a directory). `target`
    (`bei build --target`): `cpu` or a Truss accelerator (`H100`, `L4:2`) replacing
    `resources.accelerator` before validation, so every hardware rule judges the target built."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_FILENAME
    if not path.is_file():
        raise _missing_file_error(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return _validate(text, source=str(path), path=path, target=target)


def load_config_text(text: str, *, base_dir: Path, source: str = CONFIG_FILENAME) -> LoadedConfig:
    """Validate config text as if it were the file `base_dir/source` (for tests and tools)."""
    return _validate(text, source=source, path=Path(base_dir) / source)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=StrictSafeLoader)
    except DuplicateKeyError as exc:
        first = exc.duplicates[0]
        raise ConfigError(
            f"{source} has duplicate keys",
            param=dotted(first.loc),
            details=tuple(
                f"{dotted(d.loc)}: duplicate key at line {d.line} (first at line {d.first_line})"
                for d in exc.duplicates
            ),
            hint="Keep one of them. Truss silently uses the last one; bei will not guess.",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = "; ".join(filter(None, (exc.context, exc.problem)))
        raise ConfigError(
            f"{source} is not valid YAML{where}: {problem}",
            hint="Check the indentation and quoting on that line (tabs are not allowed).",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None


def _validate(text: str, *, source: str, path: Path, target: str | None = None) -> LoadedConfig:
    data = parse_yaml(text, source)
    if data is None:
        raise ConfigError(f"{source} is empty", hint=MINIMAL_CONFIG_HINT)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a mapping of keys (model_name, resources, trt_llm, ...), "
            f"not a {type(data).__name__}",
            hint=MINIMAL_CONFIG_HINT,
        )
    warnings: list[str] = []
    if target is not None:
        warnings.append(retarget(data, target))
    base_dir = path.parent.resolve()
    try:
        config = BeiConfig.model_validate(
            data, context={"warnings": warnings, "base_dir": base_dir}
        )
    except ValidationError as exc:
        raise config_error(exc, BeiConfig, source) from None
    warnings.extend(_local_checkpoint_warnings(config))
    return LoadedConfig(
        path=path,
        config=config,
        warnings=tuple(warnings),
        ignored=tuple(ignored_keys(config)),
    )


def ignored_keys(model: BaseModel, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Dotted paths of keys the config sets, to something that matters in Truss, that bei
    accepts but does not use (`build_commands: []` changes nothing, so it is not listed)."""
    fields = type(model).model_fields
    for name, field in fields.items():
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        if is_ignored(field):
            if _has_effect(value, field.get_default(call_default_factory=True)):
                yield dotted((*prefix, name))
        elif isinstance(value, BaseModel):
            yield from ignored_keys(value, (*prefix, name))


def _has_effect(value: Any, default: Any) -> bool:
    if value == default:
        return False
    empty = value is None or (isinstance(value, list | dict | str) and not value)
    return not (empty or (default is None and value is False))


def _local_checkpoint_warnings(config: BeiConfig) -> list[str]:
    repo = config.trt_llm.build.checkpoint_repository
    if repo.source != "LOCAL" or Path(repo.repo).is_dir():
        return []
    return [f"checkpoint directory {repo.repo} does not exist (yet); `bei build` needs it."]


def _missing_file_error(path: Path) -> ConfigError:
    alternative = path.with_suffix(".yml")
    if path.suffix == ".yaml" and alternative.is_file():
        return ConfigError(
            f"no {path.name} at {path.parent}, but found {alternative.name}",
            hint=f"Rename it: mv {alternative} {path} (Truss reads only .yaml).",
        )
    return ConfigError(
        f"no config file at {path}",
        hint="Pass the path of a Truss config.yaml (or the folder that contains it).",
    )


def _duplicate_keys(
    node: yaml.Node, loc: tuple[int | str, ...], visited: set[int]
) -> Iterator[DuplicateKey]:
    if id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in first_lines and key != "<<":
                yield DuplicateKey((*loc, key), line, first_lines[key])
            first_lines.setdefault(key, line)
            yield from _duplicate_keys(value_node, (*loc, key), visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*loc, index), visited)


def retarget(data: dict[str, Any], target: str) -> str:
    """Point the raw config at `target` (`cpu` or a Truss accelerator); returns the note the
    user sees. The override is checked like the config's own value, with `--target` named."""
    if target != CPU_TARGET:
        try:
            parse_accelerator(target)
        except PydanticCustomError as exc:
            allowed = (CPU_TARGET, *ACCELERATOR_TYPES)
            guess = (exc.context or {}).get("hint")
            raise ConfigError(
                f"--target {target!r}: {exc.message()}{f'; {guess}' if guess else ''}",
                param="--target",
                hint=f"Use one of: {', '.join(allowed)} (a GPU may carry a count, e.g. H100:2).",
            ) from None
    resources = data.get("resources")
    if not isinstance(resources, dict):
        resources = data["resources"] = {}
    was = resources.get("accelerator")
    resources["accelerator"] = None if target == CPU_TARGET else target
    if target == CPU_TARGET and resources.get("use_gpu"):
        resources["use_gpu"] = False
    return f"--target {target} replaces resources.accelerator ({was or 'none'}) for this build."
