"""Rewrite one camera's zones, lines and motion mask in a YAML config file, keeping the rest as written.

The console saves geometry into the operator's own file, which carries comments, key order, quoting
and ``${VARIABLE}`` references that a load-and-dump round trip would normalise or lose (a comment
above the key after ``zones:`` belongs, to a YAML parser, to the last zone). So the file is not
re-serialised: the composed node tree (ruamel.yaml, with exact marks) locates the camera's ``zones:``
and ``lines:`` entries, and its ``motion:`` mapping's ``mask:``, and only those spans of text are
replaced by freshly emitted YAML, indented like their neighbouring keys; comments inside a replaced span
are carried over into its new text. Every other byte of the file stays as it was. A ``motion`` the
camera takes through a merge is refused: merges are shallow, so an own one holding only the mask would
drop the merged settings.

The file is first read as the config loader reads it (``gateway.config.loading``), so what it refuses
(nesting past MAX_DEPTH, which would exhaust the stack of ruamel's recursive composer after seconds of
work; aliases expanding past MAX_VALUES; repeated keys and anchors; unknown tags) is refused here with
its own file:line message before ruamel sees the text. An edit that would reach beyond the camera's
geometry is refused too: the camera (or the list holding it) reused elsewhere through an alias, or
merged into another camera (``<<: *gate``) that does not write its own value of each key the edit
writes, whose copy would silently change with it; or an anchor inside the replaced text that another
part of the file reuses, which the edit would take away. A key a camera takes through a merge is
overridden by writing its own, an empty list included.

Writing is atomic: a temporary file beside the target, fsynced, given the target's mode, renamed
over it, and the directory fsynced, so a power cut leaves the old file or the new one, never half.
"""

from __future__ import annotations

import io
import os
import re
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import StreamMark, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.config import LineConfig, ZoneConfig
from gateway.config.loading import load_with_lines
from gateway.durable import fsync_path
from gateway.errors import ConfigError, ConfigProblem

_MERGE = "tag:yaml.org,2002:merge"
ALIAS_REFUSED = "is a YAML alias: edit it by hand"
"""Why a shape list or motion setting written as an alias is not rewritten: written out in its place,
it would no longer follow its anchor."""
_COMMENT = re.compile(r"(?:^|(?<=\s))(#[^\n]*)", re.MULTILINE)


class GeometryEditError(ConfigError):
    """The file cannot be edited safely by the console (its shape, not its values, is the problem)."""


@dataclass(frozen=True, slots=True)
class _Edit:
    start: int
    end: int
    order: int
    """Of two insertions at one place, the lower goes first."""
    name: str
    """The key path below the camera: ``zones``, ``lines``, ``motion.mask``."""
    text: str


def replace_geometry(
    text: str,
    camera_id: str,
    zones: Sequence[ZoneConfig],
    lines: Sequence[LineConfig],
    source: str = "<config>",
    *,
    mask: Sequence[Sequence[tuple[float, float]]] | None = None,
) -> str:
    """``text`` with camera ``camera_id``'s ``zones`` and ``lines`` replaced, and its ``motion.mask``
    when ``mask`` is given (None: the file's is left as it is); the rest untouched."""
    try:
        load_with_lines(text, source)
    except ConfigError as exc:
        raise GeometryEditError(exc.problems) from exc
    document = _compose(text, source)
    camera = _camera_node(document, camera_id, source)
    merged = _merged_keys(camera)  # left unwritten, a merged list would stay in force
    wanted = (("zones", [_zone(zone) for zone in zones]), ("lines", [_line(line) for line in lines]))
    edits = [
        _list_edit(text, camera, name, items, merged=merged, order=order, camera_id=camera_id, source=source)
        for order, (name, items) in enumerate(wanted)
    ]
    if mask is not None:
        edits.append(_mask_edit(text, camera, mask, merged=merged, camera_id=camera_id, source=source))
    made = [edit for edit in edits if edit is not None]
    _refuse_reaching_beyond(document, camera, made, camera_id, source)
    # From the end backwards, so earlier offsets stay valid; of two insertions at one place the later
    # goes in first, so the earlier lands before it.
    for edit in sorted(made, key=lambda edit: (edit.start, edit.end, edit.order), reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


def _list_edit(
    text: str,
    mapping: MappingNode,
    name: str,
    items: Sequence[Any],
    *,
    merged: set[str],
    order: int,
    camera_id: str,
    source: str,
) -> _Edit | None:
    """The edit writing ``items`` as the list ``name`` (its last part a key of ``mapping``): its
    span replaced, or, absent, added after the mapping's last key."""
    key = name.rpartition(".")[2]
    indent = mapping.value[0][0].start_mark.column
    entry = _entry(mapping, key)
    if entry is None:
        if key not in merged and not items:
            return None  # nothing to say: an absent list is an empty one
        end = _line_end(text, _content_end(mapping.value[-1][1]))
        return _Edit(end, end, order, name, "\n" + _emit(key, _block_list(items), indent).rstrip("\n"))
    key_node, value_node = entry
    if _is_alias(key_node, value_node):
        raise _problem(source, key_node, f"cameras[{camera_id}].{name}", ALIAS_REFUSED)
    start = text.rfind("\n", 0, key_node.start_mark.index) + 1
    end = _line_end(text, _content_end(value_node))
    block = _keep_comments(text[start:end], _emit(key, _block_list(items), indent), indent)
    return _Edit(start, end, order, name, block.rstrip("\n"))


def _mask_edit(
    text: str,
    camera: MappingNode,
    mask: Sequence[Sequence[tuple[float, float]]],
    *,
    merged: set[str],
    camera_id: str,
    source: str,
) -> _Edit | None:
    path = f"cameras[{camera_id}].motion"
    outlines = [_flow([_point(point) for point in outline]) for outline in mask]
    entry = _entry(camera, "motion")
    if entry is not None:
        motion = _motion_mapping(*entry, path, source)
        if motion.flow_style or not motion.value:
            return _flow_mask_edit(text, motion, outlines, path, source)
        # Before an insertion after the camera's last key, which motion may be: it must land inside.
        return _list_edit(
            text, motion, "motion.mask", outlines, merged=set(), order=-1, camera_id=camera_id, source=source
        )
    if "motion" in merged:
        merge = next(key for key, _ in camera.value if str(key.tag) == _MERGE)
        raise _problem(
            source,
            merge,
            path,
            "comes through a merge (<<:), and an own motion would replace the merged one whole: write "
            "the camera's own motion, with all its settings, to save the mask here, or edit the file by hand",
        )
    if not outlines:
        return None
    indent = camera.value[0][0].start_mark.column
    end = _line_end(text, _content_end(camera.value[-1][1]))
    block = _emit("motion", CommentedMap([("mask", _block_list(outlines))]), indent)
    # After zones (0) and lines (1) added at the same place.
    return _Edit(end, end, 2, "motion.mask", "\n" + block.rstrip("\n"))


def _motion_mapping(key: Node, value: Node, path: str, source: str) -> MappingNode:
    """The camera's ``motion`` mapping, refused where the mask cannot be written as a key of its own."""
    if _is_alias(key, value):
        raise _problem(source, key, path, ALIAS_REFUSED)
    if not isinstance(value, MappingNode):
        raise _problem(
            source,
            key,
            path,
            "is not a mapping of settings: write it as one, or remove it, to save the mask here",
        )
    merge = next((inner for inner, _ in value.value if str(inner.tag) == _MERGE), None)
    if merge is not None:
        raise _problem(
            source,
            merge,
            path,
            "takes settings through a merge (<<:): write them out in it to save the mask here, or edit the "
            "file by hand",
        )
    return value


def _flow_mask_edit(
    text: str, motion: MappingNode, outlines: list[CommentedSeq], path: str, source: str
) -> _Edit | None:
    """The edit writing the mask into a ``motion`` written in flow style (``{enabled: true, ...}``, as
    DESIGN's and the README's examples write it): the mapping written again on one line, its other
    entries as written, the mask in its place or at the end."""
    start, end = motion.start_mark.index, motion.end_mark.index
    if "#" in text[start:end]:
        raise _problem(
            source,
            motion,
            path,
            "is written in flow style with comments inside its braces, which saving the mask would drop: "
            "move them out of the braces, or write it as a block mapping",
        )
    written = _emit("mask", _flow(outlines), 0).strip()
    entries: list[str] = []
    for key, value in motion.value:
        if _is_alias(key, value):
            raise _problem(source, key, f"{path}.{key.value}", ALIAS_REFUSED)
        entries.append(written if key.value == "mask" else text[key.start_mark.index : value.end_mark.index])
    if _entry(motion, "mask") is None:
        if not outlines:
            return None  # nothing to say: an absent mask is an empty one
        entries.append(written)
    return _Edit(start, end, -1, "motion.mask", "{" + ", ".join(entries) + "}")


def _is_alias(key: Node, value: Node) -> bool:
    # An alias is composed into the node its anchor names, which starts before the key.
    return bool(value.start_mark.index < key.end_mark.index)


def _keep_comments(old: str, block: str, indent: int) -> str:
    """``block`` with the comments of the ``old`` text it replaces: the key line's own comment stays
    on the key line, the others go, whole, right below it. A geometry block holds only keys, numbers
    and identifiers (no ``#`` in them), so every `` #`` in it starts a comment."""
    comments = [match.group(1).rstrip() for match in _COMMENT.finditer(old) if match.group(1).strip() != "#"]
    if not comments:
        return block
    first_line, _, rest = block.partition("\n")
    own = old.partition("\n")[0]
    if _COMMENT.search(own):
        first_line += "  " + comments.pop(0)
    kept = "".join(f"{' ' * (indent + 2)}{comment}\n" for comment in comments)
    return f"{first_line}\n{kept}{rest}"


class _NotingComposer(Composer):
    """ruamel's composer, noting each alias (where it is) and each anchored value: an alias is
    composed into the very node its anchor names, and the text keeps no trace of it there."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.aliases: list[tuple[str, StreamMark]] = []
        self.anchored: dict[str, Node] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        node = super().compose_node(parent, index)
        if isinstance(event, AliasEvent):
            self.aliases.append((event.anchor, event.start_mark))
        elif event.anchor is not None:
            self.anchored[event.anchor] = node  # the loader, run first, refuses an anchor named twice
        return node


@dataclass(slots=True)
class _Document:
    root: Node | None
    aliases: list[tuple[str, StreamMark]] = field(default_factory=list)
    """Each alias's anchor and place, in the order of the text."""
    anchored: dict[str, Node] = field(default_factory=dict)


def _compose(text: str, source: str) -> _Document:
    yaml = YAML(typ="rt")
    yaml.Composer = _NotingComposer
    try:
        root = yaml.compose(text)
    except YAMLError as exc:
        raise GeometryEditError([ConfigProblem(source, None, "", f"invalid YAML: {exc}")]) from exc
    composer: _NotingComposer = yaml.composer
    return _Document(root, composer.aliases, composer.anchored)


def _refuse_reaching_beyond(
    document: _Document, camera: MappingNode, spans: Sequence[_Edit], camera_id: str, source: str
) -> None:
    """Refuse an edit that would change, or break, what an alias elsewhere in the file stands for:
    an anchored value holding the replaced ``spans`` of text (the camera, its list, the document, the
    camera's motion when its mask is written), or one written inside them. An alias inside the spans
    goes with them and is no concern, nor one inside them of an anchor outside: the edit writes its
    value out in full. A camera merged into another (``<<: *gate``, the way to share settings) may be
    edited when the other writes its own value for each key the edit writes."""
    reused: dict[str, list[StreamMark]] = {}
    for anchor, mark in document.aliases:
        if not any(span.start <= mark.index < span.end for span in spans):
            reused.setdefault(anchor, []).append(mark)
    root = document.root
    cameras = _child(root, "cameras") if isinstance(root, MappingNode) else None
    holders = [("", root), ("cameras", cameras), (f"cameras[{camera_id}]", camera)]
    written = sorted({span.name.partition(".")[0] for span in spans})
    if "motion" in written:
        holders.append((f"cameras[{camera_id}].motion", _child(camera, "motion")))
    for anchor, node in document.anchored.items():
        marks = reused.get(anchor, [])
        holder = next((path for path, held in holders if held is node), None)
        if node is camera:
            takers = _merge_takers(root, camera)
            for taker in takers:
                missing = [key for key in written if _child(taker, key) is None]
                if missing:
                    raise _problem(source, node, holder or "", _taken_through_merge(anchor, taker, missing))
            # A taker's own alias of the camera is its merge (any other key would not validate).
            marks = [
                mark
                for mark in marks
                if not any(taker.start_mark.index <= mark.index < _content_end(taker) for taker in takers)
            ]
        if not marks:
            continue
        where = f"reused through *{anchor} on line {marks[0].line + 1}"
        if holder is not None:
            raise _problem(
                source,
                node,
                holder,
                f"is anchored as &{anchor} and {where}: saving the geometry of camera {camera_id!r} "
                "here would change that copy too; edit the file by hand",
            )
        key = next((span.name for span in spans if span.start <= node.start_mark.index < span.end), None)
        if key is not None:
            raise _problem(
                source,
                node,
                f"cameras[{camera_id}].{key}",
                f"holds the anchor &{anchor}, {where}: replacing the camera's {key} would take it "
                "away; write that copy out in full, or edit the file by hand",
            )


def _taken_through_merge(anchor: str, taker: MappingNode, missing: list[str]) -> str:
    keys = " and ".join(missing)
    them = "it" if missing == ["motion"] else "them"
    none = "" if "motion" in missing else " (an empty list for none)"
    return (
        f"is anchored as &{anchor}, and the camera on line {taker.start_mark.line + 1} takes its {keys} "
        f"from it through a merge (<<: *{anchor}): saving {them} here would change that camera's too; "
        f"write its own {keys} there{none}, or edit the file by hand"
    )


def _merge_sources(value: Node) -> list[Node]:
    return list(value.value) if isinstance(value, SequenceNode) else [value]


def _merge_takers(root: Node | None, source: MappingNode) -> list[MappingNode]:
    """The mappings that take ``source``'s keys through a merge: ``<<: *source`` or ``<<: [*source, ...]``.
    Each node is visited once: the loader, run first, bounds them by the length of the text."""
    takers: list[MappingNode] = []
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if not isinstance(node, (MappingNode, SequenceNode)) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            pending += node.value
            continue
        for key_node, value_node in node.value:
            if str(key_node.tag) == _MERGE and any(merged is source for merged in _merge_sources(value_node)):
                takers.append(node)
            pending += [key_node, value_node]
    return takers


def _camera_node(document: _Document, camera_id: str, source: str) -> MappingNode:
    root = document.root
    cameras = _child(root, "cameras") if isinstance(root, MappingNode) else None
    if not isinstance(cameras, SequenceNode):
        raise GeometryEditError([ConfigProblem(source, None, "cameras", "the file has no cameras list")])
    for camera in cameras.value:
        if isinstance(camera, MappingNode) and getattr(_child(camera, "id"), "value", None) == camera_id:
            if camera.flow_style or not camera.value:
                raise _problem(
                    source,
                    camera,
                    f"cameras[{camera_id}]",
                    "is written in flow style ({...}): write it as a block mapping to edit it here",
                )
            return camera
    raise GeometryEditError([ConfigProblem(source, None, "cameras", f"no camera {camera_id!r} in the file")])


def _merged_keys(mapping: MappingNode) -> set[str]:
    """The keys ``mapping`` takes from others through merges (``<<: *other``, ``<<: [*a, *b]``): an
    empty list must be written to take one of them away."""
    keys: set[str] = set()
    for key_node, value_node in mapping.value:
        if str(key_node.tag) != _MERGE:
            continue
        for merged in _merge_sources(value_node):
            if isinstance(merged, MappingNode):
                keys |= {key.value for key, _ in merged.value if isinstance(key, ScalarNode)}
                keys |= _merged_keys(merged)  # nested no deeper than the loader allows
    return keys


def _child(mapping: MappingNode, key: str) -> Node | None:
    entry = _entry(mapping, key)
    return None if entry is None else entry[1]


def _entry(mapping: MappingNode, key: str) -> tuple[Node, Node] | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _content_end(node: Node) -> int:
    """Where the node's last character is: a block collection ends with its last child (its own
    end mark lies past the comments that follow it), a scalar or flow collection at its end mark."""
    while isinstance(node, (SequenceNode, MappingNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return int(node.end_mark.index)


def _line_end(text: str, index: int) -> int:
    """The end of the line holding ``index - 1``: an end-of-line comment goes with its value."""
    newline = text.find("\n", max(index - 1, 0))
    return len(text) if newline < 0 else newline


def _problem(source: str, node: Node, path: str, message: str) -> GeometryEditError:
    return GeometryEditError([ConfigProblem(source, node.start_mark.line + 1, path, message)])


def _flow(items: Sequence[Any]) -> CommentedSeq:
    sequence = CommentedSeq(items)
    sequence.fa.set_flow_style()
    return sequence


def _point(point: tuple[float, float]) -> CommentedSeq:
    # Written as checked, never rounded here: a shape the client did not edit keeps the file's values
    # (the console rounds what it edits to 4 decimals where it makes them).
    return _flow([float(value) for value in point])


def _zone(zone: ZoneConfig) -> CommentedMap:
    return CommentedMap([("name", zone.name), ("polygon", _flow([_point(point) for point in zone.polygon]))])


def _line(line: LineConfig) -> CommentedMap:
    return CommentedMap(
        [
            ("name", line.name),
            ("points", _flow([_point(point) for point in line.points])),
            ("in_direction", _point(line.in_direction)),
        ]
    )


def _block_list(items: Sequence[Any]) -> CommentedSeq:
    return CommentedSeq(items) if items else _flow([])


def _emit(key: str, value: CommentedSeq | CommentedMap, indent: int) -> str:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(CommentedMap([(key, value)]), buffer)
    emitted = buffer.getvalue().splitlines(keepends=True)
    return "".join(" " * indent + line if line.strip() else line for line in emitted)


def read_only_reason(path: Path | None) -> str | None:
    """Why the console cannot save into ``path`` (None: it can)."""
    if path is None:
        return (
            "the gateway runs the embedded default config (no --config file): start it with "
            "--config FILE to edit zones and lines here"
        )
    target = path.resolve()
    try:
        mode = target.stat().st_mode
    except OSError as exc:
        return f"the config file {path} cannot be read: {exc.strerror}"
    if not stat.S_ISREG(mode):
        return f"the config {path} is not a regular file"
    if not os.access(target, os.W_OK):
        return f"the config file {path} is not writable by this process"
    if not os.access(target.parent, os.W_OK | os.X_OK):
        return f"the directory {target.parent} is not writable, and the atomic save writes beside the file"
    return None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` (through a symlink, its target) with ``text`` in one rename."""
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as output:
            output.write(text)
            output.flush()
            os.fsync(output.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_path(target.parent)
