"""``${NAME}`` in a config's string values: the directories systemd sets for a service, so a unit's
``LoadCredential=`` secrets are referenced as ``${CREDENTIALS_DIRECTORY}/mqtt-password``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.config.locations import ConfigSource, KeyPath
from gateway.errors import ConfigProblem

EXPANDABLE = ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "CONFIGURATION_DIRECTORY", "RUNTIME_DIRECTORY")
"""Variables systemd sets for a service; ``${NAME}`` in a string value is replaced by its value."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UNBRACED = re.compile(rf"\$({'|'.join(EXPANDABLE)})(?![A-Za-z0-9_])")
_UNCLOSED = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")


def expand_variables(
    value: Any,
    path: KeyPath,
    source: ConfigSource,
    problems: list[ConfigProblem],
    *,
    environment: Mapping[str, str],
) -> Any:
    """``value`` (the document's data below ``path``) with every ``${NAME}`` in its strings replaced;
    a problem for each that cannot be, and for a variable written as a shell would but not expanded."""
    if isinstance(value, dict):
        return {
            key: expand_variables(item, (*path, str(key)), source, problems, environment=environment)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            expand_variables(item, (*path, index), source, problems, environment=environment)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str) or "$" not in value:
        return value

    def problem(message: str) -> None:
        problems.append(source.problem(path, message))

    # Written as a shell would take it, each of these would be kept as it is: a directory named
    # "$STATE_DIRECTORY" or "${STATE_DIRECTORY" made under the working directory, without a word.
    for match in _UNBRACED.finditer(value):
        problem(f"${match.group(1)} is not expanded: write ${{{match.group(1)}}}")
    if _UNCLOSED.search(value):
        problem(
            f"'${{' starts no variable: a variable is written ${{NAME}}, NAME one of {', '.join(EXPANDABLE)}"
        )

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        resolved = environment.get(name) if name in EXPANDABLE else None
        if resolved is None:
            reason = "is not set" if name in EXPANDABLE else f"is not one of {', '.join(EXPANDABLE)}"
            problem(f"${{{name}}} {reason}")
            return match.group(0)
        if not resolved:
            # An empty path is the working directory: never what a state or credentials directory is.
            problem(f"${{{name}}} is set but empty")
            return match.group(0)
        if ":" in resolved:
            # systemd joins the directories with ':' when a unit sets more than one (StateDirectory=a b).
            problem(
                f"${{{name}}} is {resolved!r}: several directories joined by ':' (the unit sets more than "
                "one); write the one meant"
            )
            return match.group(0)
        return resolved

    return _VARIABLE.sub(substitute, value)
