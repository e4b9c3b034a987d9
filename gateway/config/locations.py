"""Where a key of a config file is: the line the loader read it on, and the key path as problems
name it (``cameras[0].rules[1].min_score``), so every problem found in a loaded config, by the
loader, by validation or by the checks made before a start, points at ``file:line``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gateway.errors import ConfigProblem
from gateway.printable import printable

KeyPath = tuple[str | int, ...]
"""A key's place in the document: mapping keys and list indexes, from the top."""


def format_path(location: Sequence[str | int]) -> str:
    """``location`` as problems name it; a key's invisible characters shown as escapes (a byte order
    mark left mid-file by joining two files made ``\\ufeffhttp``, which read as ``http``)."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{printable(part)}" if text else printable(part))
    return text


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """A loaded config's name in problems (its path, ``<stdin>``, the embedded default) and the line
    of each key path written in it (none for the embedded default)."""

    name: str
    lines: Mapping[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest written parent (the document's own first line at
        the top): a key left to its default is found where its section is written."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def problem(self, path: KeyPath, message: str) -> ConfigProblem:
        return ConfigProblem(self.name, self.line_of(path), format_path(path), message)
