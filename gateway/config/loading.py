"""Reading a config file: YAML with line numbers, ${VARIABLE} expansion (``expansion``), problems that
point at file:line (``locations``)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_core import ErrorDetails
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from gateway.config.camera import ConfigPathError
from gateway.config.document_checks import MAX_DEPTH, refuse_runaway_aliases, refuse_tags
from gateway.config.expansion import expand_variables
from gateway.config.gateway import GatewayConfig
from gateway.config.locations import ConfigSource
from gateway.config.service import AuditConfig
from gateway.config.text_file import read_named_text, read_text_stream, text_problem
from gateway.config.text_values import unwritable_texts
from gateway.config.unknown_keys import error_message
from gateway.errors import ConfigError, ConfigProblem

_MERGE = "tag:yaml.org,2002:merge"


class _LineConstruction(yaml.constructor.SafeConstructor):
    """Construction that refuses repeated keys and values it cannot construct, each as a YAML error
    marked with its line; it reads ``1e-3`` as a number (below)."""

    _checked: set[yaml.MappingNode]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. "!!int abc": the standard constructors fail with the bare Python error.
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise ConstructorError(None, None, f"cannot read {tag}: {exc}", node.start_mark) from exc

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Checked here, before the first flattening: merged ("<<") keys may be overridden, written ones not.
        # A mapping merged into another is flattened then, possibly before its own construction.
        if node not in self._checked:
            self._checked.add(node)
            self._refuse_repeated_keys(node)
        super().flatten_mapping(node)

    def _refuse_repeated_keys(self, node: yaml.MappingNode) -> None:
        seen: dict[Hashable, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the mapping's constructor refuses it, with its line
            first = seen.setdefault(key, key_node)
            if first is not key_node:
                raise ConstructorError(
                    None,
                    None,
                    f"key {key!r} is repeated (first on line {first.start_mark.line + 1}); "
                    "only one of them would be used",
                    key_node.start_mark,
                )


class _LineLoader(_LineConstruction, yaml.SafeLoader):
    """PyYAML's safe loader written in Python, its nesting bounded to MAX_DEPTH as it composes: the
    loader where PyYAML was built without libyaml."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._checked = set()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # PyYAML composes recursively: a few thousand '[' exhaust the interpreter's stack.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH and self.check_event():
                raise ComposerError(
                    None, None, f"values are nested more than {MAX_DEPTH} deep", self.current_event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_LIBYAML = getattr(yaml, "CSafeLoader", None)


def _nested_within_bound(text: str) -> bool:
    """Whether libyaml may compose ``text``: it composes recursively in C, where a deep enough
    document overflows the stack (libyaml bounds nesting itself only from 0.2.5 on), and the alias
    check and construction after it recurse in Python. Its parser is a state machine, so the
    document's events are safe to read at any depth. False too for a document it cannot parse."""
    assert _LIBYAML is not None
    parser = _LIBYAML(text)
    try:
        open_collections = 0
        while (event := parser.get_event()) is not None:
            if isinstance(event, yaml.CollectionStartEvent):
                open_collections += 1
                if open_collections >= MAX_DEPTH:
                    return False
            elif isinstance(event, yaml.CollectionEndEvent):
                open_collections -= 1
        return True
    except yaml.YAMLError:
        return False
    finally:
        parser.dispose()


if _LIBYAML is not None:

    class _FastLineLoader(_LineConstruction, _LIBYAML):  # type: ignore[misc, valid-type]
        """libyaml's parser and composer: most of a large config's load is parsing, which libyaml does
        some ten times faster than PyYAML's Python."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)  # type: ignore[call-arg]  # CSafeLoader's, which mypy does not see
            self._checked = set()


# YAML 1.1 (PyYAML) takes a number with an exponent for a float only with a dot and a signed exponent:
# ``1e-3``, ``1e10`` and ``1.5e3`` are strings to it, which a number field refuses (a quoted number is a
# slip the file is told of). They are read as YAML 1.2 and JSON read them.
_EXPONENT_FLOAT = (
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
_LineLoader.add_implicit_resolver(*_EXPONENT_FLOAT)
if _LIBYAML is not None:
    _FastLineLoader.add_implicit_resolver(*_EXPONENT_FLOAT)


def _yaml_problem(error: yaml.YAMLError, text: str, source: str) -> ConfigProblem:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        message = ", ".join(part for part in (error.context, error.problem) if part) or str(error)
        line = mark.line + 1 if mark is not None else None
        if mark is not None:
            message += f" (column {mark.column + 1})"
        if mark is not None and _character_at(text, mark.line, mark.column) == "\t":
            # An editor's tab where YAML wants spaces: its own words do not say what to do.
            message += "; YAML indents with spaces, never tabs"
        return ConfigProblem(source, line, "", f"invalid YAML: {message}")
    position = getattr(error, "position", None)  # a ReaderError: a character YAML does not allow
    line = text.count("\n", 0, position) + 1 if isinstance(position, int) else None
    return ConfigProblem(source, line, "", f"invalid YAML: {str(error).splitlines()[0]}")


def _character_at(text: str, line: int, column: int) -> str | None:
    lines = text.splitlines()
    if line >= len(lines) or column >= len(lines[line]):
        return None
    return lines[line][column]


class _Loader(Protocol):
    def get_single_node(self) -> yaml.Node | None: ...
    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str: ...
    def construct_document(self, node: yaml.Node) -> Any: ...
    def dispose(self) -> None: ...


def _read(loader: _Loader, source: str) -> tuple[yaml.Node | None, Any]:
    """The document's root node and its data; yaml.YAMLError for what the loader refuses."""
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        refuse_runaway_aliases(node, source)
        refuse_tags(loader, node, source)
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def holds_no_document(text: str) -> bool:
    """Whether ``text`` is no YAML document at all: nothing, or only blank lines and comments, which
    loads as a config of defaults. False for text the parser refuses: loading it names the problem."""
    loader = (_LIBYAML or yaml.SafeLoader)(text)
    try:
        loader.get_event()  # the stream's start
        return bool(loader.check_event(yaml.StreamEndEvent))
    except yaml.YAMLError:
        return False
    finally:
        loader.dispose()


EMPTY = "is empty (no YAML document): only blank lines and comments (cut short, or still being written?)"


class EmptyConfigError(ConfigError):
    """The config holds no YAML document (``holds_no_document``)."""

    def __init__(self, source: str) -> None:
        super().__init__([ConfigProblem(source, None, "", EMPTY)])


def refuse_empty(text: str, source: str) -> None:
    """EmptyConfigError naming ``source`` when ``text``, a config file's whole text, holds no YAML
    document. It would load as a config of every default (``device_id`` the hostname, ``state_dir``
    /var/lib/edge-gateway, no cameras): what a file cut short or still being written holds, not a
    config anybody meant. A config of defaults on purpose is written ``{}``."""
    if holds_no_document(text):
        raise EmptyConfigError(source)


def load_with_lines(text: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """The YAML document in ``text`` as plain data, and the line of each key path; ConfigError
    (file:line) for any document the loader refuses (tags, repeated keys, nesting, alias bombs)."""
    lines: dict[tuple[str | int, ...], int] = {}
    read: tuple[yaml.Node | None, Any] | None = None
    if _LIBYAML is not None and _nested_within_bound(text):
        # A document libyaml refuses is read again by PyYAML's own loader, which names the problem
        # in more detail (and as it always has). libyaml also takes a tab where PyYAML refuses it.
        with contextlib.suppress(yaml.YAMLError):
            read = _read(_FastLineLoader(text), source)
    if read is None:
        try:
            # The reader checks the characters as the loader is made.
            read = _read(_LineLoader(text), source)
        except yaml.YAMLError as exc:
            raise ConfigError([_yaml_problem(exc, text, source)]) from exc
    node, data = read
    if node is None:
        return data, lines

    walked: set[yaml.Node] = set()

    def walk(current: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines.setdefault(path, current.start_mark.line + 1)
        # A value reached again through an alias keeps the lines of its first path; a problem below a
        # later path points at that path's nearest recorded key.
        if current in walked:
            return
        walked.add(current)
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                child = (*path, str(key.value) if isinstance(key, yaml.ScalarNode) else key.id)
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index))

    walk(node, ())
    return data, lines


def error_location(detail: ErrorDetails) -> tuple[str | int, ...]:
    """Where one of pydantic's errors lies in the validated model: the key a ``ConfigPathError`` names
    below the one its validator checks included."""
    # pydantic inserts the union member's name into the location; it is not a key of the file.
    location = tuple(part for part in detail["loc"] if not (isinstance(part, str) and "[" in part))
    cause = detail.get("ctx", {}).get("error")
    if isinstance(cause, ConfigPathError):
        location += cause.path
    return location


def _problems(error: ValidationError, source: ConfigSource, model: type[BaseModel]) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors():
        if _miscounted(detail):
            continue
        location = error_location(detail)
        problems.append(source.problem(location, error_message(detail, model, location)))
    # In the file's order, as an editor shows it: pydantic's is the models' (http before inference,
    # whatever the file's), so fixing them top to bottom jumped about the file.
    return sorted(problems, key=lambda problem: (problem.line is None, problem.line or 0))


def _miscounted(detail: ErrorDetails) -> bool:
    """Whether ``detail`` says a list is too short that is not: pydantic counts only the entries that
    validated, so a model's one input with a wrong datatype was also said to be missing ("inputs:
    needs at least 1 entry, got 0"), beside that entry's own problem."""
    given, least = detail.get("input"), detail.get("ctx", {}).get("min_length")
    return (
        detail["type"] == "too_short"
        and isinstance(given, list | tuple)
        and isinstance(least, int)
        and len(given) >= least
    )


def parse_config(
    text: str,
    source: str = "<config>",
    model: type[BaseModel] = GatewayConfig,
    environment: Mapping[str, str] | None = None,
) -> Any:
    """Validate YAML text against ``model``; raise ConfigError listing every problem with its line.
    ``${NAME}`` is expanded from ``environment`` (default: the process environment)."""
    return parse_config_source(text, source, model, environment)[0]


def parse_config_source(
    text: str,
    source: str = "<config>",
    model: type[BaseModel] = GatewayConfig,
    environment: Mapping[str, str] | None = None,
) -> tuple[Any, ConfigSource]:
    """``parse_config``, with the lines of the file's keys, for the checks made after it."""
    data, lines = load_with_lines(text, source)
    where = ConfigSource(source, lines)
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(source, 1, "", "the top level must be a mapping of keys")])
    problems: list[ConfigProblem] = []
    environment = os.environ if environment is None else environment
    data = expand_variables(data, (), where, problems, environment=environment)
    problems.extend(unwritable_texts(data, (), where))
    if problems:
        raise ConfigError(problems)
    try:
        return model.model_validate(data), where
    except ValidationError as exc:
        raise ConfigError(_problems(exc, where, model)) from exc


def load_config(path: Path, environment: Mapping[str, str] | None = None) -> GatewayConfig:
    return load_config_source(path, environment)[0]


def load_config_source(
    path: Path, environment: Mapping[str, str] | None = None
) -> tuple[GatewayConfig, ConfigSource]:
    """``load_config``, with the lines of the file's keys; EmptyConfigError for a file that holds no
    YAML document."""
    text = read_config_text(path)
    refuse_empty(text, str(path))
    config, source = parse_config_source(text, str(path), GatewayConfig, environment)
    return config, source


def load_audit_config(path: Path, environment: Mapping[str, str] | None = None) -> AuditConfig:
    text = read_config_text(path)
    refuse_empty(text, str(path))
    config: AuditConfig = parse_config(text, str(path), AuditConfig, environment)
    return config


def read_config_text(path: Path) -> str:
    return read_named_text(path)


def read_config_stream(stream: BinaryIO, source: str) -> str:
    """The text of a config read from ``stream`` to its end (``check-config -``: standard input)."""
    try:
        return read_text_stream(stream, source)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([text_problem(exc, source)]) from exc
