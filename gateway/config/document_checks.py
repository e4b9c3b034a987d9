"""Checks of a composed YAML document before anything is constructed from it: aliases that would
expand a small file into a huge one or never end, and tags beyond plain data."""

from __future__ import annotations

from typing import Any, Protocol

import yaml

from gateway.errors import ConfigError, ConfigProblem

MAX_DEPTH = 64
"""Deepest nesting of values a document may have, aliases expanded (a gateway config needs 7)."""
MAX_VALUES = 100_000
"""Most values (keys, scalars, lists, mappings) a document may have with its aliases expanded: a few
hundred bytes of nested aliases would otherwise expand to billions (the "billion laughs")."""


class Resolver(Protocol):
    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str: ...


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def refuse_runaway_aliases(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases refer to their own anchor or expand past MAX_DEPTH or MAX_VALUES.
    Each node is measured once, so this takes time in proportion to the text, not to its expansion."""
    sizes: dict[yaml.Node, tuple[int, int]] = {}
    inside: set[yaml.Node] = set()

    def refuse(node: yaml.Node, message: str) -> ConfigError:
        return ConfigError([ConfigProblem(source, node.start_mark.line + 1, "", message)])

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        """The number of values in ``node`` and its height, aliases expanded. ``depth``: its own."""
        known = sizes.get(node)
        if known is not None:
            return known
        if node in inside:
            raise refuse(node, "an alias refers to a value that contains it, which never ends")
        inside.add(node)
        count, height = 1, 1
        for child in _children(node):
            child_count, child_height = measure(child, depth + 1)
            count, height = count + child_count, max(height, child_height + 1)
            # Raised here, not in the child: a child reached through an alias carries its anchor's line.
            if depth + height - 1 > MAX_DEPTH:
                raise refuse(node, f"values are nested more than {MAX_DEPTH} deep (aliases expanded)")
            if count > MAX_VALUES:
                raise refuse(
                    node, f"the document has more than {MAX_VALUES:,} values with its aliases expanded"
                )
        inside.discard(node)
        sizes[node] = (count, height)
        return count, height

    measure(root, 1)


_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq")
)
"""Tags a config may write (``!!str 5``): each makes one of the values JSON has."""


def refuse_tags(loader: Resolver, root: yaml.Node, source: str) -> None:
    """Refuse a value tagged as anything but plain data: ``!!binary`` (bytes a string field would
    take as text), ``!!set``, ``!!omap``, ``!!python/...``, a custom ``!tag``. A tag the loader would
    give the value unwritten (``!!timestamp`` on a date) reads as the value written plain does."""
    seen: set[yaml.Node] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if node in seen:
            continue
        seen.add(node)
        pending.extend(_children(node))
        if node.tag in _PLAIN_TAGS:
            continue
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        if node.tag == loader.resolve(type(node), value, (True, False)):
            continue
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        mark = node.start_mark
        raise ConfigError(
            [
                ConfigProblem(
                    source,
                    mark.line + 1,
                    "",
                    f"invalid YAML: the tag {tag} is not accepted (column {mark.column + 1}): a config "
                    "holds plain values (text, numbers, true or false, lists and mappings); remove it",
                )
            ]
        )
