"""Reading a config file: YAML with line numbers, ${VARIABLE} expansion, problems that point at file:line."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from gateway.config.camera import ConfigPathError
from gateway.config.gateway import GatewayConfig
from gateway.config.service import AuditConfig
from gateway.errors import ConfigError, ConfigProblem


class _LineLoader(yaml.SafeLoader):
    """Safe loader that also records the line of every key path."""


def _load_with_lines(text: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigProblem(source, line, "", f"invalid YAML: {exc}")]) from exc
    if node is None:
        return {}, lines

    def walk(current: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                child = (*path, str(key.value))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index))

    walk(node, ())
    return yaml.load(text, Loader=_LineLoader), lines


def _format_path(location: Sequence[str | int]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problems(
    error: ValidationError, source: str, lines: Mapping[tuple[str | int, ...], int]
) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors():
        # pydantic inserts the union member's name into the location; it is not a key of the file.
        location = tuple(part for part in detail["loc"] if not (isinstance(part, str) and "[" in part))
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, ConfigPathError):
            location += cause.path
        line = None
        for end in range(len(location), -1, -1):
            if location[:end] in lines:
                line = lines[location[:end]]
                break
        message = detail["msg"].removeprefix("Value error, ")
        problems.append(ConfigProblem(source, line, _format_path(location), message))
    return problems


EXPANDABLE = ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY", "RUNTIME_DIRECTORY")
"""Variables systemd sets for a service; ``${NAME}`` in a string value is replaced by its value, so a
unit's ``LoadCredential=`` secrets are referenced as ``${CREDENTIALS_DIRECTORY}/mqtt-password``."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_variables(
    value: Any,
    path: tuple[str | int, ...],
    source: str,
    lines: Mapping[tuple[str | int, ...], int],
    problems: list[ConfigProblem],
    *,
    environment: Mapping[str, str],
) -> Any:
    if isinstance(value, dict):
        return {
            key: _expand_variables(item, (*path, str(key)), source, lines, problems, environment=environment)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _expand_variables(item, (*path, index), source, lines, problems, environment=environment)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        resolved = environment.get(name) if name in EXPANDABLE else None
        if resolved is None:
            reason = "is not set" if name in EXPANDABLE else f"is not one of {', '.join(EXPANDABLE)}"
            problems.append(
                ConfigProblem(source, lines.get(path), _format_path(path), f"${{{name}}} {reason}")
            )
            return match.group(0)
        return resolved

    return _VARIABLE.sub(substitute, value)


def parse_config(
    text: str,
    source: str = "<config>",
    model: type[BaseModel] = GatewayConfig,
    environment: Mapping[str, str] | None = None,
) -> Any:
    """Validate YAML text against ``model``; raise ConfigError listing every problem with its line.
    ``${NAME}`` is expanded from ``environment`` (default: the process environment)."""
    data, lines = _load_with_lines(text, source)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(source, 1, "", "the top level must be a mapping of keys")])
    problems: list[ConfigProblem] = []
    environment = os.environ if environment is None else environment
    data = _expand_variables(data, (), source, lines, problems, environment=environment)
    if problems:
        raise ConfigError(problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, source, lines)) from exc


def load_config(path: Path, environment: Mapping[str, str] | None = None) -> GatewayConfig:
    config: GatewayConfig = parse_config(read_config_text(path), str(path), GatewayConfig, environment)
    return config


def load_audit_config(path: Path) -> AuditConfig:
    config: AuditConfig = parse_config(read_config_text(path), str(path), AuditConfig)
    return config


def read_config_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), None, "", f"cannot read: {exc}")]) from exc
